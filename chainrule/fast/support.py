"""Which networks the fast engine compiles: flat Dense/activation stacks (MLPs).

A network qualifies when its top-level layers are Dense layers, each followed by at most one
element-wise activation the plans implement (ReLU, sigmoid, tanh, identity), ending with an
output activation. For training the output must also be the activation matched with the cost
(softmax + cross-entropy, sigmoid + binary cross-entropy, identity + mean squared error), so
that dC/dZ[L] = (A[L] - Y) / m. Everything else (convolutions, dropout, batch norm, residual
blocks, any nested layer) trains and predicts with the reference engine.
"""

from __future__ import annotations

from typing import Any

from chainrule.nn.activation import Activation
from chainrule.nn.dense import Dense

__all__ = ["HIDDEN", "OUTPUTS", "mlp_blocks", "why_not_fast"]

#: activations the plans compute between two Dense layers
HIDDEN = ("relu", "sigmoid", "tanh", "identity")
#: activations a plan can end with
OUTPUTS = ("softmax", "sigmoid", "identity", "relu", "tanh")


def mlp_blocks(net: Any) -> list[tuple[Dense, str]] | str:
    """[(Dense layer, name of the activation after it)] for a supported network, else the
    reason (a sentence) why the fast engine does not take it."""
    if len(net.input_shape) != 1:
        return f"its input is {net.input_shape} per example (flat feature vectors only)"
    if net.dtype.name not in ("float32", "float64"):
        return f"dtype {net.dtype} (float32 or float64 only)"
    blocks: list[tuple[Dense, str]] = []
    pending = False  # the last Dense has no activation yet
    last = len(net.layers) - 1
    for i, layer in enumerate(net.layers):
        if isinstance(layer, Dense):
            blocks.append((layer, "identity"))
            pending = True
        elif isinstance(layer, Activation) and pending:
            allowed = OUTPUTS if i == last else HIDDEN
            if layer.name not in allowed:
                return f"layer {i} is a {type(layer).__name__}, which the fast plans do not compute"
            blocks[-1] = (blocks[-1][0], layer.name)
            pending = False
        else:
            return f"layer {i} is a {type(layer).__name__} (Dense and activations only)"
    if not blocks:
        return "it has no Dense layer"
    return blocks


def why_not_fast(net: Any) -> str | None:
    """None when the fast engine can TRAIN ``net``; otherwise the reason."""
    blocks = mlp_blocks(net)
    if isinstance(blocks, str):
        return blocks
    ends_linear = isinstance(net.layers[-1], Dense) and net.loss.matched_activation == "identity"
    if not (net.fused or ends_linear):  # a last Dense with mse is the identity + mse pair
        return (
            f"its output {blocks[-1][1]!r} is not the activation matched with the "
            f"{net.loss.name!r} cost (the fast plan uses dC/dZ[L] = (A[L] - Y)/m)"
        )
    return None
