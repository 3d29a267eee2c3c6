"""Flatten: (C, H, W, m) images (or (C, L, m) sequences) -> (C*H*W, m) columns for Dense."""

from __future__ import annotations

import numpy as np

from chainrule.nn.layer import Layer, register_layer

__all__ = ["Flatten"]


@register_layer
class Flatten(Layer):
    """Unroll every example into one column: A (C*H*W, m) with A[(c, y, x), j] = A_prev[c, y, x, j].

    The order (c, y, x) is C order, the same order as ``X.reshape(m, -1)`` at the boundary and as
    torch.flatten on (m, C, H, W): a Dense layer after Flatten has the same weights in both.
    """

    def __init__(self) -> None:
        super().__init__()
        self.in_shape: tuple[int, ...] | None = None

    def forward(self, A_prev: np.ndarray) -> np.ndarray:
        """A = A_prev.reshape(C*H*W, m) : (C, H, W, m) -> (n, m), n = C*H*W."""
        if A_prev.ndim < 2:
            raise ValueError(f"Flatten expects input of shape (..., m), got {A_prev.shape}")
        self.in_shape = A_prev.shape
        return A_prev.reshape(-1, A_prev.shape[-1])

    def backward(self, dC_dA: np.ndarray) -> np.ndarray:
        """A reshape moves no numbers, so the gradient is reshaped back:
        dC_dA (C*H*W, m) -> dC_dA_prev (C, H, W, m)."""
        if self.in_shape is None:
            raise RuntimeError("Flatten.backward called before forward")
        return dC_dA.reshape(self.in_shape)

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return (int(np.prod(input_shape)),)
