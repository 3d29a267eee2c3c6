"""Explain a network: every forward and backward formula, in the notebook's notation, with shapes.

>>> from chainrule.learn.explain import explain_layers
>>> text = explain_layers([2, 3, 3, 1])
>>> print(text.splitlines()[5].strip())
Z[1] = W[1] @ A[0] + b[1]     : (3,2)@(2,m) + (3,1) -> (3,m)

FLOPs are counted per example, with the usual conventions: a multiply-add is 2 FLOPs (so W @ A
costs 2 n[l] n[l-1] per example), every element-wise operation is 1 FLOP (exp counted as one).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from chainrule.learn.explain_tree import explain_tree
from chainrule.model.builders import mlp
from chainrule.model.network import Sequential
from chainrule.nn.activation import Activation
from chainrule.nn.dense import Dense

__all__ = ["explain", "explain_layers", "count_flops", "LayerCost"]

#: element-wise FLOPs of g(Z) (forward) and of dC_dZ = dC_dA * g'(Z) (backward), per unit
_ACT_FLOPS = {
    "sigmoid": (4, 3),  # 1 / (1 + exp(-z)); dC_dA * A * (1 - A)
    "tanh": (1, 3),  # tanh(z); dC_dA * (1 - A * A)
    "relu": (1, 1),  # max(z, 0); dC_dA * [Z > 0]
    "leaky_relu": (2, 2),
    "softmax": (4, 4),  # exp, sum, divide (+ max shift); A * (dC_dA - sum(dC_dA * A))
    "identity": (0, 0),
}

_DERIVATIVE = {
    "sigmoid": "dC_dA[{l}] * A[{l}] * (1 - A[{l}])",
    "tanh": "dC_dA[{l}] * (1 - A[{l}]**2)",
    "relu": "dC_dA[{l}] * (Z[{l}] > 0)",
    "leaky_relu": "dC_dA[{l}] * where(Z[{l}] > 0, 1, alpha)",
    "softmax": "A[{l}] * (dC_dA[{l}] - sum(dC_dA[{l}] * A[{l}], axis=0))",
    "identity": "dC_dA[{l}]",
}

_COST = {
    "bce": "C = -(1/m) sum(Y * log(A[{L}]) + (1 - Y) * log(1 - A[{L}]))",
    "ce": "C = -(1/m) sum(Y * log(A[{L}]))",
    "mse": "C = (1/(2m)) sum((A[{L}] - Y)**2)",
}

_COST_GRADIENT = {
    "bce": "dC_dA[{L}] = (1/m) (A[{L}] - Y) / (A[{L}] * (1 - A[{L}]))",
    "ce": "dC_dA[{L}] = -(1/m) Y / A[{L}]",
    "mse": "dC_dA[{L}] = (1/m) (A[{L}] - Y)",
}


@dataclass
class LayerCost:
    """Parameters and per-example FLOPs of one Dense layer and the activation that follows it."""

    l: int
    n_in: int
    n_out: int
    activation: str
    params: int
    forward_flops: int
    backward_flops: int


def _shape(n: int, *rest: int | str) -> str:
    return "(" + ",".join(str(v) for v in (n, *rest)) + ")"


def _blocks(net: Sequential) -> list[tuple[Dense, str]]:
    """[(dense layer, name of the activation after it)], or ValueError for other layers."""
    blocks: list[tuple[Dense, str]] = []
    for i, layer in enumerate(net.layers):
        if isinstance(layer, Dense):
            blocks.append((layer, "identity"))
        elif isinstance(layer, Activation) and blocks and blocks[-1][1] == "identity":
            blocks[-1] = (blocks[-1][0], layer.name)
        elif type(layer).__name__ == "Dropout":
            continue
        else:
            raise ValueError(
                f"explain supports Dense layers each followed by at most one activation; "
                f"layer {i} is {type(layer).__name__}"
            )
    if not blocks:
        raise ValueError("explain needs a network with at least one Dense layer")
    return blocks


def count_flops(net: Sequential) -> list[LayerCost]:
    """Parameter count and forward/backward FLOPs per example, layer by layer."""
    out = []
    blocks = _blocks(net)
    L = len(blocks)
    for l, (dense, act) in enumerate(blocks, start=1):
        n_in, n_out = dense.n_in, dense.n_out
        matmul = 2 * n_in * n_out
        act_fwd, act_bwd = _ACT_FLOPS.get(act, (1, 1))
        if l == L and act == net.loss.matched_activation:
            act_bwd = 2  # fused: dC_dZ[L] = (A[L] - Y) / m
        forward = matmul + n_out + act_fwd * n_out  # W @ A + b, then g
        # dC_dZ, dC_dW = dC_dZ @ A.T, dC_db = row sums, and dC_dA[l-1] = W.T @ dC_dZ (if l > 1)
        backward = act_bwd * n_out + matmul + n_out + (matmul if l > 1 else 0)
        out.append(LayerCost(l, n_in, n_out, act, dense.n_params, forward, backward))
    return out


def explain(net: Sequential) -> str:
    """The forward pass, the cost, the backward pass with shapes, parameters and FLOPs of ``net``.

    A network with composite layers (Residual, nested Sequential) is explained as a tree, layer
    by layer under its dotted path (:func:`chainrule.learn.explain_tree.explain_tree`).
    """
    if not net.is_flat:
        return explain_tree(net)
    blocks = _blocks(net)
    L = len(blocks)
    sizes = [blocks[0][0].n_in] + [d.n_out for d, _ in blocks]
    loss = net.loss.name
    loss_title = {"bce": "binary cross-entropy", "ce": "cross-entropy", "mse": "mean squared error"}
    fused = blocks[-1][1] == net.loss.matched_activation
    lines = [
        f"network n = {sizes}  (L = {L}), cost: {loss_title.get(loss, loss)}",
        f"A[0] = X.T : (m,{sizes[0]}).T -> {_shape(sizes[0], 'm')}   (m examples, one per column)",
        "",
        "forward pass",
    ]
    for l, (dense, act) in enumerate(blocks, start=1):
        a, b = dense.n_out, dense.n_in
        lines.append(f"  layer {l}: Dense {b} -> {a}, {act}")
        lines.append(
            f"    {f'Z[{l}] = W[{l}] @ A[{l - 1}] + b[{l}]':<30}: "
            f"{_shape(a, b)}@{_shape(b, 'm')} + {_shape(a, 1)} -> {_shape(a, 'm')}"
        )
        g = f"Z[{l}]" if act == "identity" else f"{act}(Z[{l}])"
        lines.append(f"    {f'A[{l}] = {g}':<30}: {_shape(a, 'm')} -> {_shape(a, 'm')}")
    nL = sizes[-1]
    lines += ["", "cost"]
    lines.append(
        f"  {_COST.get(loss, 'C = cost(A[{L}], Y)').format(L=L)}"
        f" : {_shape(nL, 'm')}, {_shape(nL, 'm')} -> scalar"
    )
    lines += ["", "backward pass (the 1/m enters once, in the cost's gradient)"]
    for l in range(L, 0, -1):
        dense, act = blocks[l - 1]
        a, b = dense.n_out, dense.n_in
        lines.append(f"  layer {l}:")
        if l == L and fused:
            lines.append(
                f"    {f'dC_dZ[{l}] = (1/m) (A[{l}] - Y)':<40}: "
                f"{_shape(a, 'm')} - {_shape(a, 'm')} -> {_shape(a, 'm')}"
                f"   ({act} + {loss} fused)"
            )
        else:
            if l == L:
                grad = _COST_GRADIENT.get(loss, "dC_dA[{L}] = dC/dA[{L}]").format(L=L)
                lines.append(f"    {grad:<40}: {_shape(a, 'm')}")
            rhs = _DERIVATIVE.get(act, "dC_dA[{l}] * g'(Z[{l}])").format(l=l)
            lines.append(
                f"    {f'dC_dZ[{l}] = {rhs}':<40}: {_shape(a, 'm')} * {_shape(a, 'm')} "
                f"-> {_shape(a, 'm')}"
            )
        lines.append(
            f"    {f'dC_dW[{l}] = dC_dZ[{l}] @ A[{l - 1}].T':<40}: "
            f"{_shape(a, 'm')}@{_shape('m', b)} -> {_shape(a, b)}"
        )
        lines.append(
            f"    {f'dC_db[{l}] = sum(dC_dZ[{l}], axis=1)':<40}: "
            f"{_shape(a, 'm')} -> {_shape(a, 1)}   (keepdims; sums over the m examples)"
        )
        if l > 1:
            lines.append(
                f"    {f'dC_dA[{l - 1}] = W[{l}].T @ dC_dZ[{l}]':<40}: "
                f"{_shape(b, a)}@{_shape(a, 'm')} -> {_shape(b, 'm')}   (the propagator)"
            )
        else:
            lines.append("    (dC_dA[0] is not needed: nothing upstream of W[1] learns)")
    costs = count_flops(net)
    lines += ["", f"{'layer':<8}{'W':>10}{'b':>8}{'params':>10}{'fwd FLOPs':>12}{'bwd FLOPs':>12}"]
    for c in costs:
        lines.append(
            f"{c.l:<8}{_shape(c.n_out, c.n_in):>10}{_shape(c.n_out, 1):>8}{c.params:>10,}"
            f"{c.forward_flops:>12,}{c.backward_flops:>12,}"
        )
    total_p = sum(c.params for c in costs)
    fwd = sum(c.forward_flops for c in costs)
    bwd = sum(c.backward_flops for c in costs)
    lines.append(f"{'total':<26}{total_p:>10,}{fwd:>12,}{bwd:>12,}")
    lines += [
        "",
        f"parameters: {total_p:,}",
        f"FLOPs per example: {fwd:,} to predict (forward), {fwd + bwd:,} to train "
        f"(forward + backward; a multiply-add counts as 2)",
    ]
    return "\n".join(lines)


def explain_layers(
    sizes: Sequence[int], activation: str = "sigmoid", output: str | None = None
) -> str:
    """:func:`explain` for ``mlp(sizes, activation, output)``; the output defaults to sigmoid for
    one output unit (the notebook's) and softmax for more."""
    if output is None:
        output = "sigmoid" if list(sizes)[-1:] == [1] else "softmax"
    return explain(mlp(sizes, activation=activation, output=output, seed=0))
