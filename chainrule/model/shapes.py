"""Shapes of a network: its input shape from its first layer, its output shape, the summary rows.

Every layer maps a per-example input shape (without m) to its output shape with
``layer.output_shape(input_shape)``; a network chains them at construction, so a layer that does
not fit its neighbour is reported before any training starts.
"""

from __future__ import annotations

from typing import Any

from chainrule.nn.activation import Activation
from chainrule.nn.dense import Dense
from chainrule.nn.layer import Layer
from chainrule.nn.sequential import Sequential

__all__ = ["OutputShape", "infer_input_shape", "summary_rows"]


class OutputShape(tuple):
    """A network's per-example output shape, e.g. ``(10,)``, that can also be called.

    ``net.output_shape == (10,)`` reads the shape for the network's own input shape, and
    ``net.output_shape(shape)`` maps another input shape, like every layer's
    ``output_shape(input_shape)``: that is what lets a network nest inside another one.
    """

    def __new__(cls, shape: tuple[int, ...], net: Sequential) -> OutputShape:
        obj = super().__new__(cls, shape)
        obj._net = net
        return obj

    def __call__(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return Sequential.output_shape(self._net, input_shape)


def infer_input_shape(net: Sequential) -> tuple[int, ...]:
    """(n[0],) from the first Dense layer met in forward order, or a layer's ``input_shape``."""
    for _, layer in net.named_layers():
        if isinstance(layer, Dense):
            return (layer.n_in,)
        if hasattr(layer, "input_shape") and not isinstance(layer, Sequential):
            return tuple(layer.input_shape)
        if layer.param_names and not isinstance(layer, Activation):
            break
    raise ValueError("input_shape is required when the first layer is not Dense")


def summary_rows(layer: Layer, input_shape: tuple[int, ...], prefix: str = "") -> list[Any]:
    """(dotted name, layer text, output shape, parameter count) for every layer of the tree,
    parents before their children, children indented by their depth."""
    rows: list[Any] = []
    if isinstance(layer, Sequential):
        shape = tuple(input_shape)
        for name, child in layer.named_children():
            rows += _row(child, shape, prefix + name)
            shape = child.output_shape(shape)
        return rows
    return _row(layer, input_shape, prefix.rstrip("."))


def _row(layer: Layer, shape: tuple[int, ...], name: str) -> list[Any]:
    out_shape = tuple(layer.output_shape(shape))
    text = repr(layer) if layer.is_leaf else type(layer).__name__
    rows = [("  " * name.count(".") + name, text, str(out_shape), layer.n_params)]
    if isinstance(layer, Sequential):  # children chained one after the other
        rows += summary_rows(layer, shape, name + ".")
    else:  # e.g. a Residual's block: it sees the same input
        for child_name, child in layer.named_children():
            rows += _row(child, shape, f"{name}.{child_name}")
    return rows
