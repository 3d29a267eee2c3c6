"""Explain a network that is a tree of layers: every layer's forward and backward, with shapes.

For a plain MLP :func:`chainrule.learn.explain.explain` numbers the layers as the notebook does
(Z[1], A[1], ...). A network with composite layers (``Residual``, nested ``Sequential``) is
walked as a tree instead: each layer appears under its dotted path, with its per-example input
and output shapes, the formula of its forward pass and of its backward pass. The backward of a
composite layer shows where the gradients of two paths are ADDED.
"""

from __future__ import annotations

from typing import Any

from chainrule.nn.activation import Activation
from chainrule.nn.dense import Dense
from chainrule.nn.layer import Layer
from chainrule.nn.residual import Residual
from chainrule.nn.sequential import Sequential

__all__ = ["explain_tree", "layer_formulas"]

_ACT_BACKWARD = {
    "sigmoid": "dC_dZ = dC_dA * A * (1 - A)",
    "tanh": "dC_dZ = dC_dA * (1 - A**2)",
    "relu": "dC_dZ = dC_dA * (Z > 0)",
    "leaky_relu": "dC_dZ = dC_dA * where(Z > 0, 1, alpha)",
    "softmax": "dC_dZ = A * (dC_dA - sum(dC_dA * A, axis=0))",
    "identity": "dC_dZ = dC_dA",
}


def _shape(shape: tuple[int, ...]) -> str:
    return "(" + ",".join(str(s) for s in (*shape, "m")) + ")"


def layer_formulas(layer: Layer) -> tuple[str, list[str]]:
    """(forward formula, backward formulas) of one layer, in the notebook's names."""
    if isinstance(layer, Dense):
        return "Z = W @ A_prev + b", [
            "dC_dW = dC_dZ @ A_prev.T",
            "dC_db = sum(dC_dZ, axis=1)",
            "dC_dA_prev = W.T @ dC_dZ",
        ]
    if isinstance(layer, Activation):
        g = "Z" if layer.name == "identity" else f"{layer.name}(Z)"
        return f"A = {g}", [_ACT_BACKWARD.get(layer.name, "dC_dZ = dC_dA * g'(Z)")]
    if isinstance(layer, Residual):
        return "A = A_prev + block(A_prev)", [
            "dC_dA_prev = dC_dA + block.backward(dC_dA)   (two paths meet: gradients ADD)"
        ]
    if isinstance(layer, Sequential):
        return "A = f_k(... f_1(A_prev))", ["backward through the children, last first"]
    doc = (type(layer).__doc__ or type(layer).__name__).strip().splitlines()[0]
    return doc, [f"{type(layer).__name__}.backward (see its docstring)"]


def _walk(layer: Layer, shape: tuple[int, ...], name: str, depth: int, lines: list[str]) -> Any:
    out = tuple(layer.output_shape(shape))
    forward, backward = layer_formulas(layer)
    pad = "  " * depth
    lines.append(
        f"{pad}{name or 'network'}: {type(layer).__name__}, {_shape(shape)} -> {_shape(out)}"
    )
    lines.append(f"{pad}  forward   {forward}")
    for b in backward:
        lines.append(f"{pad}  backward  {b}")
    if layer.param_names:
        key = f"{name}." if name else ""
        arrays = ", ".join(f"{key}{n} {getattr(layer, n).shape}" for n in layer.param_names)
        lines.append(f"{pad}  params    {arrays}: {layer.n_params:,}")
    inner = shape
    for child_name, child in layer.named_children():
        full = f"{name}.{child_name}" if name else child_name
        child_out = _walk(child, inner, full, depth + 1, lines)
        if isinstance(layer, Sequential):  # children are chained; other composites share input
            inner = child_out
    return out


def explain_tree(net: Any) -> str:
    """Every layer of ``net``'s tree: dotted path, shapes, forward and backward formulas."""
    lines = [
        f"network of {sum(1 for _ in net.named_layers()) - 1} layers, input {_shape(net.input_shape)},"
        f" cost: {net.loss.name}",
        "(shapes per layer: features first, the m examples last; backward runs bottom to top)",
        "",
    ]
    shape = tuple(net.input_shape)
    for name, child in net.named_children():
        shape = _walk(child, shape, name, 0, lines)
    if net.fused:
        lines += ["", "the output activation and the cost fuse: dC_dZ[L] = (A[L] - Y) / m"]
    lines.append(f"\nparameters: {net.n_params:,}")
    return "\n".join(lines)
