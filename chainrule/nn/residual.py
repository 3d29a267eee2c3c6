"""A residual connection: A = A_prev + block(A_prev), where two paths meet and gradients add.

He et al. (2016) add a block's input to its output so that very deep stacks still train: the
identity path carries the gradient back unchanged, however small the block's own Jacobian is.
The MNIST-1D benchmark's MLP is ``h = h + relu(W h + b)``, i.e.
``Residual(Sequential([Dense(n, n), ReLU()]))``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from chainrule.nn.layer import Layer, check_no_shared_layers, register_layer

__all__ = ["Residual"]


@register_layer
class Residual(Layer):
    """A = A_prev + block(A_prev): ``block`` must map a shape to the same shape.

    >>> from chainrule.nn import Dense, ReLU, Residual, Sequential
    >>> res = Residual(Sequential([Dense(5, 5), ReLU()]))
    >>> [key for key, *_ in res.parameters()]
    ['block.0.W', 'block.0.b']
    """

    def __init__(self, block: Layer) -> None:
        super().__init__()
        if not isinstance(block, Layer):
            raise TypeError(f"Residual wraps one chainrule Layer, got {type(block).__name__}")
        self.block = block
        check_no_shared_layers(self)

    def named_children(self) -> Iterator[tuple[str, Layer]]:
        yield "block", self.block

    def forward(self, A_prev: np.ndarray) -> np.ndarray:
        """A = A_prev + block(A_prev) : same shape as A_prev, e.g. (n, m)."""
        return A_prev + self.block.forward(A_prev)  # a fresh array: neither input is modified

    def backward(self, dC_dA: np.ndarray) -> np.ndarray:
        """Two paths lead from A_prev to A, so the chain rule adds their contributions.

        Forward:  A = A_prev + F(A_prev)            A_prev, A: (n, m) (or (C, T, m), ...)

        A_prev reaches the cost through the identity path (dA/dA_prev = I) AND through the
        block (dA/dA_prev = dF/dA_prev). The multivariable chain rule sums over every path:

            dC/dA_prev = dC/dA * I  +  dC/dA * dF/dA_prev
                       = dC_dA      +  block.backward(dC_dA)          : (n, m) + (n, m)

        The block's backward also fills the block's parameter gradients. The identity path has
        no parameters, and it passes dC_dA back unchanged, however small dF/dA_prev is: the
        reason deep residual networks do not suffer vanishing gradients (docs/math.md,
        "Where two paths meet").
        """
        through_block = self.block.backward(dC_dA)  # dC/dA * dF/dA_prev : (n, m)
        if through_block is None:
            raise RuntimeError("the block of a Residual must return its input gradient")
        return dC_dA + through_block  # identity path + block path: gradients ADD

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        inner = self.block.output_shape(input_shape)
        if tuple(inner) != tuple(input_shape):
            raise ValueError(
                f"a Residual's block must keep the shape to add it to its input: it maps "
                f"{tuple(input_shape)} to {tuple(inner)}"
            )
        return tuple(input_shape)

    @classmethod
    def child_names(cls, count: int) -> list[str]:
        return ["block"] * count

    @classmethod
    def from_config(cls, config: dict[str, Any], children: list[Layer] | None = None) -> Layer:
        if not children or len(children) != 1:
            raise ValueError("a Residual needs exactly one child layer (its block)")
        return cls(children[0], **config)

    def __repr__(self) -> str:
        return f"Residual({self.block!r})"
