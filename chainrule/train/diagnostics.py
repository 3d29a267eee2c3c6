"""Training diagnostics: the numbers that tell a learner WHY a network learns slowly.

``fit(..., diagnostics=True)`` measures, once per epoch, on a fixed sample batch of the training
data (at most 256 examples, drawn once), and appends to the history:

* ``grad_norm/W[l]``     ||dC_dW[l]|| (Frobenius) on the sample batch. Vanishing gradients show up
  as norms that shrink by a constant factor per layer going from W[L] back to W[1].
* ``update_ratio/W[l]``  ||W[l] after the epoch - W[l] before|| / ||W[l] before||: how much the
  epoch moved the weights, relative to their size. A ratio near 0 means the layer is frozen.
* ``saturated/A[l]``     for hidden sigmoid/tanh layers: the fraction of activations (units x
  examples) in the flat tails, where g'(Z) is tiny: sigmoid A < 0.01 or A > 0.99 (g' < 0.0099),
  tanh |A| > 0.99. Saturated units pass back almost no gradient: dC_dZ = dC_dA * g'(Z) ~ 0.
* ``dead_relu/A[l]``     for hidden ReLU layers: the fraction of units that output 0 for EVERY
  example of the sample batch. A dead unit has zero gradient and never recovers.

Why the notebook learns slowly, in these numbers: raw (weight, height) inputs such as (150, 70)
make every Z[1] huge, so ``saturated/A[1]`` is close to 1 and ``grad_norm/W[1]`` is close to 0;
standardizing the inputs brings the saturation down and the gradient back. In a deep sigmoid
stack each layer multiplies the backward signal by W.T and by g'(Z) <= 1/4, so ``grad_norm/W[1]``
is orders of magnitude below ``grad_norm/W[L]``; with ReLU (g' = 1 where active) it is not.

:func:`diagnose` computes the same numbers for a network once, without training.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.data.layout import to_engine
from chainrule.nn.activation import Activation, ReLU, Sigmoid, Tanh

__all__ = ["Diagnostics", "diagnose", "per_layer", "format_diagnostics", "SAMPLE_SIZE"]

#: examples in the fixed sample batch the diagnostics are measured on
SAMPLE_SIZE = 256
#: sigmoid outputs below this or above 1 - this count as saturated (tanh: |A| > 1 - this)
SATURATION_MARGIN = 0.01

PREFIXES = ("grad_norm", "update_ratio", "saturated", "dead_relu")


def _dense_layers(net: Any) -> list[tuple[int, Any]]:
    """(l, layer) for the layers with a weight W, numbered like W[1]..W[L] (as in gradcheck)."""
    out = []
    l = 0
    for layer in _leaves(net):
        if layer.param_names:
            l += 1
            if "W" in layer.param_names:
                out.append((l, layer))
    return out


def _leaves(net: Any) -> list[Any]:
    """The leaf layers of the tree in forward order (for a flat network: ``net.layers``)."""
    return [layer for _, layer in net.named_layers() if layer.is_leaf]


def _hidden_activations(net: Any) -> list[tuple[int, Activation]]:
    """(l, activation) for every hidden activation; l is the number of the layer it follows."""
    out = []
    l = 0
    leaves = _leaves(net)
    for i, layer in enumerate(leaves):
        if layer.param_names:
            l += 1
        elif isinstance(layer, Activation) and i != len(leaves) - 1:
            out.append((l, layer))
    return out


def _activation_stats(layer: Activation, A: np.ndarray) -> tuple[str, float] | None:
    """("saturated", fraction) or ("dead_relu", fraction) for one activation output A (n, m)."""
    A = np.asarray(A)
    if isinstance(layer, Sigmoid):
        sat = (A < SATURATION_MARGIN) | (A > 1 - SATURATION_MARGIN)  # (n[l], m)
        return "saturated", float(np.mean(sat))
    if isinstance(layer, Tanh):
        return "saturated", float(np.mean(np.abs(A) > 1 - SATURATION_MARGIN))
    if isinstance(layer, ReLU):
        units = A.reshape(-1, A.shape[-1])  # (units, m): (n[l], m), or (C*H*W, m) for images
        dead = ~np.any(units > 0, axis=1)  # a unit is dead when it is 0 for every example
        return "dead_relu", float(np.mean(dead))
    return None


def _measure(net: Any, A0: np.ndarray, Y: np.ndarray) -> dict[str, float]:
    """Gradient norms and activation statistics of ``net`` on one engine-layout batch.

    Runs one forward and backward pass in training mode. Buffers (e.g. running statistics) are
    restored afterwards, so the measurement does not change what the network has learned.
    """
    saved = [(value, value.copy()) for _, value in net.buffers()]
    net.train()
    out: dict[str, float] = {}
    with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
        net.forward_backward(A0, Y)
    for l, layer in _dense_layers(net):
        G = getattr(layer, "dC_dW", None)
        if G is not None:
            out[f"grad_norm/W[{l}]"] = float(np.linalg.norm(np.asarray(G, dtype=np.float64)))
    for l, layer in _hidden_activations(net):
        A = getattr(layer, "A", None)
        if A is None:
            continue
        stat = _activation_stats(layer, A)
        if stat is not None:
            out[f"{stat[0]}/A[{l}]"] = stat[1]
    for value, copy in saved:
        value[...] = copy  # running statistics as they were before the measurement
    return out


class Diagnostics:
    """A per-epoch callback for :func:`chainrule.train.fit.fit` that fills ``history``.

    ``X`` and ``Y`` are the prepared training arrays: X (m, features) already standardized and in
    the network's dtype, Y (n[L], m). The sample batch is drawn once, with ``seed``.
    """

    def __init__(
        self,
        net: Any,
        X: np.ndarray,
        Y: np.ndarray,
        history: dict[str, list[Any]],
        sample_size: int = SAMPLE_SIZE,
        seed: int = 0,
    ) -> None:
        m = X.shape[0]
        idx = np.sort(np.random.default_rng(seed).permutation(m)[: min(m, sample_size)])
        self.A0 = np.ascontiguousarray(to_engine(X[idx]))  # (n[0], m_sample)
        self.Y = np.ascontiguousarray(Y[..., idx])  # (n[L], m_sample)
        self.history = history
        self.previous = {l: layer.W.copy() for l, layer in _dense_layers(net)}

    def __call__(self, net: Any, epoch: int, logs: dict[str, Any]) -> bool:
        values = _measure(net, self.A0, self.Y)
        for l, layer in _dense_layers(net):
            before = self.previous.get(l)
            if before is None or before.shape != layer.W.shape:
                continue
            size = float(np.linalg.norm(before))
            moved = float(np.linalg.norm(layer.W - before))
            values[f"update_ratio/W[{l}]"] = moved / size if size > 0 else float("inf")
            before[...] = layer.W
        for key, value in values.items():
            self.history.setdefault(key, []).append(value)
            logs[key] = value
        return False


def diagnose(net: Any, X: Any, y: Any, sample_size: int = SAMPLE_SIZE) -> dict[str, float]:
    """Gradient norms, saturation and dead-ReLU fractions of ``net`` on (X, y), right now.

    X is (m, features) at the user boundary (the network's stored Standardizer, if any, is
    applied). The network's gradients are overwritten; its weights are not changed.
    """
    Xp = net.prepare_X(X)
    Y = net.prepare_Y(y, Xp.shape[0])
    m = Xp.shape[0]
    idx = np.sort(np.random.default_rng(0).permutation(m)[: min(m, sample_size)])
    out = _measure(net, to_engine(Xp[idx]), Y[..., idx])
    net.eval()
    return out


def per_layer(history: dict[str, list[Any]], prefix: str) -> dict[str, np.ndarray]:
    """{"W[1]": values per epoch, ...} for one diagnostic (``"grad_norm"``, ``"saturated"``, ...)."""
    if prefix not in PREFIXES:
        raise ValueError(f"unknown diagnostic {prefix!r}; expected one of {', '.join(PREFIXES)}")
    out = {
        key.split("/", 1)[1]: np.asarray(values, dtype=np.float64)
        for key, values in history.items()
        if key.startswith(prefix + "/")
    }
    return dict(sorted(out.items(), key=lambda kv: _layer_number(kv[0])))


def _layer_number(label: str) -> int:
    try:
        return int(label[label.index("[") + 1 : label.index("]")])
    except ValueError:
        return 0


def format_diagnostics(values: dict[str, float]) -> str:
    """A small table of one measurement (the dict from :func:`diagnose`, or a history's last row)."""
    lines = []
    for prefix, title in (
        ("grad_norm", "gradient norm ||dC_dW||"),
        ("update_ratio", "update / weight ratio"),
        ("saturated", "saturated units (sigmoid/tanh)"),
        ("dead_relu", "dead ReLU units"),
    ):
        items = sorted(
            ((k.split("/", 1)[1], v) for k, v in values.items() if k.startswith(prefix + "/")),
            key=lambda kv: _layer_number(kv[0]),
        )
        if not items:
            continue
        lines.append(title)
        for label, value in items:
            shown = f"{value:.1%}" if prefix in ("saturated", "dead_relu") else f"{value:.3e}"
            lines.append(f"  {label:<8}{shown:>12}")
    return "\n".join(lines)
