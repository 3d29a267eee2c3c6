"""Pooling layers: MaxPool2D/AvgPool2D on (C, H, W, m), MaxPool1D/AvgPool1D on (C, L, m).

Each output pixel summarises one (kh, kw) window of its own channel; there are no parameters.
The windows come from a zero-copy strided view (:func:`chainrule.nn.im2col.window_view`).

Ties in max pooling: the gradient goes to the FIRST maximum of the window in row-major scan order
(top row first, left to right), exactly one element per window, as PyTorch does. np.argmax
returns the first occurrence, which gives this rule for free.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.nn.conv import as_pair
from chainrule.nn.im2col import conv_output_size, pad_images, window_view
from chainrule.nn.layer import Layer, register_layer
from chainrule.validation import check_int

__all__ = ["MaxPool2D", "AvgPool2D", "MaxPool1D", "AvgPool1D"]


class _Pool2D(Layer):
    """Shared window bookkeeping for 2-D pooling (1-D pooling uses (C, 1, L, m) views)."""

    mode = "max"

    def _setup(
        self, kernel: tuple[int, int], stride: tuple[int, int], padding: tuple[int, int]
    ) -> None:
        self.kh, self.kw = kernel
        self.sh, self.sw = stride
        self.ph, self.pw = padding
        if self.ph > self.kh // 2 or self.pw > self.kw // 2:
            raise ValueError(
                f"pooling padding must be at most half the kernel size, got padding "
                f"{(self.ph, self.pw)} for kernel {(self.kh, self.kw)}"
            )
        self.in_shape4: tuple[int, int, int, int] | None = None
        self.argmax: np.ndarray | None = None

    def _out_hw(self, H: int, W: int) -> tuple[int, int]:
        oh = conv_output_size(H, self.kh, self.sh, self.ph)
        ow = conv_output_size(W, self.kw, self.sw, self.pw)
        if oh < 1 or ow < 1:
            raise ValueError(
                f"{type(self).__name__} window {(self.kh, self.kw)} does not fit input {(H, W)}"
            )
        return oh, ow

    def _forward4(self, X: np.ndarray) -> np.ndarray:
        C, H, W, m = X.shape
        oh, ow = self._out_hw(H, W)
        self.in_shape4 = (C, H, W, m)
        if self.mode == "max":
            Xp = pad_images(X, self.ph, self.pw, value=-np.inf)
            win = window_view(Xp, self.kh, self.kw, self.sh, self.sw, oh, ow)  # (C,oh,ow,m,kh,kw)
            flat = win.reshape(C, oh, ow, m, self.kh * self.kw)  # copies the windows once
            self.argmax = np.argmax(flat, axis=-1)  # (C, oh, ow, m): FIRST max in scan order
            return np.take_along_axis(flat, self.argmax[..., None], axis=-1)[..., 0]
        Xp = pad_images(X, self.ph, self.pw, value=0.0)
        win = window_view(Xp, self.kh, self.kw, self.sh, self.sw, oh, ow)
        return win.mean(axis=(-2, -1), dtype=X.dtype)  # (C, oh, ow, m), padding counts as 0

    def _backward4(self, dC_dA: np.ndarray) -> np.ndarray:
        if self.in_shape4 is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        C, H, W, m = self.in_shape4
        oh, ow = dC_dA.shape[1], dC_dA.shape[2]
        dXp = np.zeros((C, H + 2 * self.ph, W + 2 * self.pw, m), dtype=dC_dA.dtype)
        scale = dC_dA.dtype.type(1.0 / (self.kh * self.kw))
        k = 0
        for i1 in range(self.kh):
            rows = slice(i1, i1 + self.sh * (oh - 1) + 1, self.sh)
            for i2 in range(self.kw):
                cols = slice(i2, i2 + self.sw * (ow - 1) + 1, self.sw)
                if self.mode == "max":
                    # only the window's (first) maximum, recorded in argmax, gets the gradient
                    dXp[:, rows, cols, :] += np.where(self.argmax == k, dC_dA, 0)
                else:
                    dXp[:, rows, cols, :] += dC_dA * scale
                k += 1
        return dXp[:, self.ph : self.ph + H, self.pw : self.pw + W, :]

    def _config2(self) -> dict[str, Any]:
        return {
            "kernel_size": [self.kh, self.kw],
            "stride": [self.sh, self.sw],
            "padding": [self.ph, self.pw],
        }


class _Pool2DLayer(_Pool2D):
    def __init__(
        self,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] | None = None,
        padding: int | tuple[int, int] = 0,
    ) -> None:
        super().__init__()
        k = as_pair("kernel_size", kernel_size)
        s = k if stride is None else as_pair("stride", stride)
        self._setup(k, s, as_pair("padding", padding, minimum=0))

    def forward(self, A_prev: np.ndarray) -> np.ndarray:
        if A_prev.ndim != 4:
            raise ValueError(
                f"{type(self).__name__} expects input of shape (C, H, W, m), got {A_prev.shape}"
            )
        return self._forward4(A_prev)

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        if len(input_shape) != 3:
            raise ValueError(
                f"{type(self).__name__} expects per-example input (C, H, W), "
                f"got {tuple(input_shape)}"
            )
        return (input_shape[0], *self._out_hw(input_shape[1], input_shape[2]))

    def config(self) -> dict[str, Any]:
        return self._config2()


class _Pool1DLayer(_Pool2D):
    def __init__(self, kernel_size: int, stride: int | None = None, padding: int = 0) -> None:
        super().__init__()
        k = check_int("kernel_size", kernel_size)
        s = k if stride is None else check_int("stride", stride)
        self._setup((1, k), (1, s), (0, check_int("padding", padding, minimum=0)))

    def forward(self, A_prev: np.ndarray) -> np.ndarray:
        if A_prev.ndim != 3:
            raise ValueError(
                f"{type(self).__name__} expects input of shape (C, L, m), got {A_prev.shape}"
            )
        C, L, m = A_prev.shape
        out = self._forward4(A_prev.reshape(C, 1, L, m))
        return out.reshape(C, out.shape[2], m)

    def backward(self, dC_dA: np.ndarray) -> np.ndarray:
        """As the 2-D layers with kh = 1: dC_dA (C, out_len, m) -> dC_dA_prev (C, L, m).

        Max: each window's gradient goes to its first maximum; avg: dC_dA / k to each element.
        """
        C, out_len, m = dC_dA.shape
        dX = self._backward4(dC_dA.reshape(C, 1, out_len, m))
        return dX.reshape(C, dX.shape[2], m)

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        if len(input_shape) != 2:
            raise ValueError(
                f"{type(self).__name__} expects per-example input (C, L), got {tuple(input_shape)}"
            )
        return (input_shape[0], self._out_hw(1, input_shape[1])[1])

    def config(self) -> dict[str, Any]:
        return {"kernel_size": self.kw, "stride": self.sw, "padding": self.pw}


@register_layer
class MaxPool2D(_Pool2DLayer):
    """A[c, y, x, j] = max over the (kh, kw) window of A_prev[c, :, :, j] at (y*sh, x*sw).

    ``stride`` defaults to ``kernel_size`` (non-overlapping windows). Padding (at most half the
    kernel) pads with -inf, so padding never wins the max.
    """

    mode = "max"

    def backward(self, dC_dA: np.ndarray) -> np.ndarray:
        """Max routes the gradient to the element that won.

        Forward:  A[c,y,x,j] = A_prev[c, y*sh + i1*, x*sw + i2*, j], (i1*, i2*) = argmax of the
        window. So dA/dA_prev is 1 at the winner and 0 elsewhere:

            dC_dA_prev[c, y*sh + i1*, x*sw + i2*, j] += dC_dA[c, y, x, j]

        dC_dA : (C, out_h, out_w, m) -> dC_dA_prev : (C, H, W, m). With overlapping windows
        (stride < kernel) a pixel that wins several windows sums their gradients. Ties: the first
        maximum in row-major scan order of the window gets it all (as in PyTorch).
        """
        return self._backward4(dC_dA)


@register_layer
class AvgPool2D(_Pool2DLayer):
    """A[c, y, x, j] = mean of the (kh, kw) window (padding counts as zeros, like PyTorch)."""

    mode = "avg"

    def backward(self, dC_dA: np.ndarray) -> np.ndarray:
        """Forward: A = (1/(kh*kw)) * sum of the window, so every window element gets
        dC_dA / (kh*kw):  dC_dA (C, out_h, out_w, m) -> dC_dA_prev (C, H, W, m), summing
        over the windows that overlap a pixel."""
        return self._backward4(dC_dA)


@register_layer
class MaxPool1D(_Pool1DLayer):
    """Max over windows of length k along L: (C, L, m) -> (C, out_len, m). Ties: first max."""

    mode = "max"


@register_layer
class AvgPool1D(_Pool1DLayer):
    """Mean over windows of length k along L: (C, L, m) -> (C, out_len, m)."""

    mode = "avg"
