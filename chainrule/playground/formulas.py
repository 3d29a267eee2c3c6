"""The formula panel: one layer's forward and backward formulas in the notebook's notation, with
the live shapes (m = the batch) and the current values, recomputed on the last batch.

    Z[l] = W[l] @ A[l-1] + b[l]          dC_dW[l] = dC_dZ[l] @ A[l-1].T
    A[l] = g(Z[l])                       dC_db[l] = sum over m of dC_dZ[l]
                                         dC_dA[l-1] = W[l].T @ dC_dZ[l]

The numbers come from running the network's own layers forward and backward on the batch, the
same calls ``net.forward_backward`` makes, keeping every intermediate array.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.learn.explain import count_flops
from chainrule.nn.activation import Activation

__all__ = ["layer_formulas", "record_pass"]

_DERIVATIVE = {
    "sigmoid": "dC_dA[{l}] * A[{l}] * (1 - A[{l}])",
    "tanh": "dC_dA[{l}] * (1 - A[{l}]**2)",
    "relu": "dC_dA[{l}] * (Z[{l}] > 0)",
}
_ACTIVATION = {"sigmoid": "sigmoid(Z[{l}])", "tanh": "tanh(Z[{l}])", "relu": "max(Z[{l}], 0)"}
_COST = {
    "bce": "C = -(1/m) sum(Y * log(A[{L}]) + (1 - Y) * log(1 - A[{L}]))",
    "ce": "C = -(1/m) sum(Y * log(A[{L}]))",
}


def record_pass(net: Any, A0: np.ndarray, Y: np.ndarray) -> dict[str, Any]:
    """Forward and backward through ``net.layers`` keeping Z[l], A[l], dC_dZ[l], dC_dA[l].

    Fills every dC_dP as ``net.forward_backward`` does (a matched output and cost start the
    backward pass at dC_dZ[L] = (A[L] - Y) / m). Returns {"A": [A0..AL], "Z": [None, Z1..ZL],
    "dZ": [None, dZ1..dZL], "dA": [dA0..dAL-1, None], "cost": C}.
    """
    A, Zs, As = A0, [None], [A0]
    for layer in net.layers:
        A = layer.forward(A)
        (As if isinstance(layer, Activation) else Zs).append(A)
    L = len(Zs) - 1
    dZ: list[Any] = [None] * (L + 1)
    dA: list[Any] = [None] * (L + 1)
    if net.fused:
        cost = net.loss.cost_from_logits(Zs[L], Y)
        grad = net.loss.fused_gradient(As[L], Y)  # dC_dZ[L] : (n[L], m)
        dZ[L] = grad
        for layer in reversed(net.layers[:-1]):
            grad = layer.backward(grad)
            if isinstance(layer, Activation):
                dZ[_layer_of(net, layer)] = grad
            else:
                dA[_layer_of(net, layer) - 1] = grad
    else:  # pragma: no cover - the playground's outputs are always matched to their cost
        cost = net.loss.cost(As[L], Y)
        grad = net.loss.gradient(As[L], Y)
        dA[L] = grad
        for layer in reversed(net.layers):
            grad = layer.backward(grad)
            l = _layer_of(net, layer)
            if isinstance(layer, Activation):
                dZ[l] = grad
            else:
                dA[l - 1] = grad
    return {"A": As, "Z": Zs, "dZ": dZ, "dA": dA, "cost": float(cost)}


def _layer_of(net: Any, layer: Any) -> int:
    """The number l of a layer in a Dense/activation MLP: layers 2(l-1) and 2(l-1)+1."""
    index = next(i for i, other in enumerate(net.layers) if other is layer)
    return index // 2 + 1


def _shape(*dims: int | str) -> str:
    return "(" + ",".join(str(d) for d in dims) + ")"


def _values(a: np.ndarray | None, column: bool = False) -> Any:
    """Small arrays as nested lists rounded to 4 digits; (n, m) arrays as their first column."""
    if a is None:
        return None
    a = np.asarray(a, dtype=np.float64)
    if column:
        a = a[:, :1]
    return np.round(np.nan_to_num(a), 4).tolist()


def _line(formula: str, shape: str, value: Any = None, norm: float | None = None, note: str = ""):
    return {"formula": formula, "shape": shape, "value": value, "norm": norm, "note": note}


def _norm(a: np.ndarray | None) -> float | None:
    return None if a is None else float(np.linalg.norm(np.nan_to_num(a)))


def layer_formulas(net: Any, l: int, A0: np.ndarray, Y: np.ndarray, activation: str) -> dict:
    """The panel for layer l (1..L) on the batch A0 (n[0], m), Y (n[L], m)."""
    dense = net.layers[2 * (l - 1)]
    L = len(net.layers) // 2
    rec = record_pass(net, A0, Y)
    a, b, m = dense.n_out, dense.n_in, A0.shape[1]
    act = net.layers[2 * (l - 1) + 1].name if l == L else activation
    g = _ACTIVATION.get(act, f"{act}(Z[{l}])").format(l=l)
    first = "(first example's column shown)"
    forward = [
        _line(f"A[{l - 1}]", _shape(b, m), _values(rec["A"][l - 1], True), note=first),
        _line(f"W[{l}]", _shape(a, b), _values(dense.W), _norm(dense.W)),
        _line(f"b[{l}]", _shape(a, 1), _values(dense.b), _norm(dense.b)),
        _line(
            f"Z[{l}] = W[{l}] @ A[{l - 1}] + b[{l}]",
            f"{_shape(a, b)}@{_shape(b, m)} + {_shape(a, 1)} -> {_shape(a, m)}",
            _values(rec["Z"][l], True),
        ),
        _line(f"A[{l}] = {g}", f"{_shape(a, m)} -> {_shape(a, m)}", _values(rec["A"][l], True)),
    ]
    backward = []
    if l == L:
        backward.append(
            _line(
                _COST[net.loss.name].format(L=L),
                f"{_shape(a, m)}, {_shape(a, m)} -> scalar",
                round(rec["cost"], 6),
            )
        )
        backward.append(
            _line(
                f"dC_dZ[{l}] = (1/m) (A[{l}] - Y)",
                f"{_shape(a, m)} - {_shape(a, m)} -> {_shape(a, m)}",
                _values(rec["dZ"][l], True),
                _norm(rec["dZ"][l]),
                f"{act} + {net.loss.name} fused: the 1/m enters here, once",
            )
        )
    else:
        backward.append(
            _line(
                f"dC_dZ[{l}] = {_DERIVATIVE[act].format(l=l)}",
                f"{_shape(a, m)} * {_shape(a, m)} -> {_shape(a, m)}",
                _values(rec["dZ"][l], True),
                _norm(rec["dZ"][l]),
            )
        )
    backward += [
        _line(
            f"dC_dW[{l}] = dC_dZ[{l}] @ A[{l - 1}].T",
            f"{_shape(a, m)}@{_shape(m, b)} -> {_shape(a, b)}",
            _values(dense.dC_dW),
            _norm(dense.dC_dW),
        ),
        _line(
            f"dC_db[{l}] = sum over m of dC_dZ[{l}]",
            f"{_shape(a, m)} -> {_shape(a, 1)}",
            _values(dense.dC_db),
            _norm(dense.dC_db),
            "np.sum(dC_dZ, axis=1, keepdims=True)",
        ),
    ]
    if l > 1:
        backward.append(
            _line(
                f"dC_dA[{l - 1}] = W[{l}].T @ dC_dZ[{l}]",
                f"{_shape(b, a)}@{_shape(a, m)} -> {_shape(b, m)}",
                _values(rec["dA"][l - 1], True),
                _norm(rec["dA"][l - 1]),
                "the propagator: what layer l-1 receives",
            )
        )
    else:
        backward.append(_line("dC_dA[0] is not needed", "", note="nothing upstream of W[1] learns"))
    cost = count_flops(net)[l - 1]
    return {
        "layer": l,
        "title": f"layer {l}: Dense {b} -> {a}, {act}" + (" (output)" if l == L else ""),
        "m": m,
        "forward": forward,
        "backward": backward,
        "params": cost.params,
        "forward_flops": cost.forward_flops,
        "backward_flops": cost.backward_flops,
    }
