"""Layers in order: the composite layer that turns a list of layers into one function.

Forward is function composition, A[l] = f_l(A[l-1]) for l = 1..L, and backward is the chain rule
applied in the opposite order: each layer receives dC/dA[l] and hands back dC/dA[l-1].

This is the bare container. :class:`chainrule.Sequential` (``chainrule.model.network``) is the
same container with a cost and the examples-first boundary (fit, predict, save); either nests
inside the other, because both are layers.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from chainrule.nn.layer import Layer, check_no_shared_layers, register_layer

__all__ = ["Sequential"]


@register_layer
class Sequential(Layer):
    """A[L] = f_L(... f_2(f_1(A[0]))): its children are named "0", "1", ... in order.

    >>> from chainrule.nn import Dense, ReLU, Sequential
    >>> block = Sequential([Dense(4, 8), ReLU(), Dense(8, 4)])
    >>> [name for name, _ in block.named_children()]
    ['0', '1', '2']
    """

    def __init__(self, layers: Iterable[Layer]) -> None:
        super().__init__()
        if isinstance(layers, Layer):
            raise TypeError(
                "Sequential takes a list of layers, got a single layer; wrap it: [layer]"
            )
        self.layers: list[Layer] = list(layers)
        if not self.layers:
            raise ValueError("a network needs at least one layer, got an empty list")
        for i, layer in enumerate(self.layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"layer {i} must be a chainrule Layer, got {type(layer).__name__}")
        check_no_shared_layers(self)

    # --- the tree -----------------------------------------------------------------------------
    def named_children(self) -> Iterator[tuple[str, Layer]]:
        for i, layer in enumerate(self.layers):
            yield str(i), layer

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, i: int) -> Layer:
        return self.layers[i]

    def __iter__(self) -> Iterator[Layer]:
        return iter(self.layers)

    # --- the contract -------------------------------------------------------------------------
    def forward(self, A_prev: np.ndarray) -> np.ndarray:
        """A[l] = layers[l-1].forward(A[l-1]) for every layer in order; returns A[L]."""
        A = A_prev
        for layer in self.layers:
            A = layer.forward(A)
        return A

    def backward(self, dC_dA: np.ndarray) -> np.ndarray | None:
        """The chain rule, last layer first.

        Forward:  A[L] = f_L(f_{L-1}(... f_1(A[0])))
        Backward: dC/dA[l-1] = layers[l-1].backward(dC/dA[l]) for l = L, ..., 1, each call
        also filling that layer's parameter gradients. Every dC/dA[l] has A[l]'s shape. Returns
        dC/dA[0] (None when a layer, e.g. an Embedding of token ids, has no input gradient).
        """
        for layer in reversed(self.layers):
            if dC_dA is None:
                raise RuntimeError(
                    f"{type(layer).__name__} needs an incoming gradient, but the layer after it "
                    "returned None (only a network's first layer may return None)"
                )
            dC_dA = layer.backward(dC_dA)
        return dC_dA

    # --- shapes and serialization -------------------------------------------------------------
    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        shape = tuple(input_shape)
        for i, layer in enumerate(self.layers):
            try:
                shape = layer.output_shape(shape)
            except ValueError as exc:
                raise ValueError(
                    f"layer {i} ({type(layer).__name__}) does not chain: {exc}"
                ) from None
        return shape

    @classmethod
    def from_config(cls, config: dict[str, Any], children: list[Layer] | None = None) -> Layer:
        if not children:
            raise ValueError("a Sequential needs its child layers")
        return cls(children, **config)

    def __repr__(self) -> str:
        inner = ", ".join(repr(la) for la in self.layers)
        return f"{type(self).__name__}([{inner}])"
