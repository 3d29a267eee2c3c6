"""Convolution layers: Conv2D on images (C, H, W, m) and Conv1D on sequences (C, L, m).

Like Dense, a convolution is an affine map Z = W * A_prev + b, but each output pixel sees only a
(kh, kw) patch of every input channel and all positions share the same weights. With im2col (see
:mod:`chainrule.nn.im2col`) the whole layer is ONE matrix product:

    cols = im2col(A_prev)                          (n_in*kh*kw, out_h*out_w*m)
    Z    = W2 @ cols + b                       (n_out, out_h*out_w*m) -> (n_out, out_h, out_w, m)

where W2 = W.reshape(n_out, n_in*kh*kw) plays the role of Dense's W (n[l], n[l-1]).
(Strictly speaking this is cross-correlation, as in every deep-learning library.)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.nn.im2col import col2im, conv_output_size, im2col
from chainrule.nn.init import as_rng, init_weights
from chainrule.nn.layer import Layer, register_layer
from chainrule.validation import check_int

__all__ = ["Conv2D", "Conv1D", "as_pair", "MAX_COLS"]

#: in prediction mode, the most entries an im2col matrix may hold before examples are chunked
MAX_COLS = 16 * 2**20


def as_pair(name: str, value: object, minimum: int = 1) -> tuple[int, int]:
    """An int or a pair of ints -> (int, int), each >= minimum."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
        return check_int(name, value[0], minimum), check_int(name, value[1], minimum)
    v = check_int(name, value, minimum)
    return v, v


class _Conv(Layer):
    """Shared machinery: a 2-D convolution; Conv1D runs it on (C, 1, L, m) views."""

    param_names = ("W", "b")

    def _setup(
        self,
        in_channels: int,
        out_channels: int,
        kernel: tuple[int, int],
        stride: tuple[int, int],
        padding: tuple[int, int],
        w_shape: tuple[int, ...],
        init: str,
        seed: int | np.random.Generator | None,
        dtype: np.dtype | type,
    ) -> None:
        self.in_channels = check_int("in_channels", in_channels)
        self.out_channels = check_int("out_channels", out_channels)
        self.kh, self.kw = kernel
        self.sh, self.sw = stride
        self.ph, self.pw = padding
        self.init = init
        fan_in = self.in_channels * self.kh * self.kw
        fan_out = self.out_channels * self.kh * self.kw
        W, b = init_weights(w_shape, fan_in, fan_out, init, as_rng(seed))
        self.W = W.astype(dtype)
        self.b = b.astype(dtype)
        self.dC_dW: np.ndarray | None = None
        self.dC_db: np.ndarray | None = None
        self.cols: np.ndarray | None = None
        self.in_shape4: tuple[int, int, int, int] | None = None

    # --- the 2-D core on (C, H, W, m) ---------------------------------------------------------
    def _forward4(self, A_prev: np.ndarray) -> np.ndarray:
        C, H, Wd, m = A_prev.shape
        if C != self.in_channels:
            raise ValueError(
                f"{type(self).__name__} expects {self.in_channels} input channels, got {C} "
                f"(engine input of shape {A_prev.shape}, channels first, examples last)"
            )
        if H + 2 * self.ph < self.kh or Wd + 2 * self.pw < self.kw:
            raise ValueError(
                f"{type(self).__name__}: kernel {(self.kh, self.kw)} is larger than the padded "
                f"input {(H + 2 * self.ph, Wd + 2 * self.pw)}"
            )
        W2 = self.W.reshape(self.out_channels, -1)  # (n_out, n_in*kh*kw)
        if not self.training:
            # prediction keeps no cache: convolve in chunks of examples so that the columns of
            # a big batch (e.g. 10,000 test images) never take more than ~MAX_COLS entries
            out_h = conv_output_size(H, self.kh, self.sh, self.ph)
            out_w = conv_output_size(Wd, self.kw, self.sw, self.pw)
            step = max(1, MAX_COLS // max(1, W2.shape[1] * out_h * out_w))
            if m > step:
                self.cols = None
                parts = [self._forward4(A_prev[..., s : s + step]) for s in range(0, m, step)]
                return np.concatenate(parts, axis=-1)
        cols, out_h, out_w = im2col(A_prev, self.kh, self.kw, self.sh, self.sw, self.ph, self.pw)
        self.cols = cols  # (n_in*kh*kw, out_h*out_w*m)
        self.in_shape4 = (C, H, Wd, m)
        Z = W2 @ cols  # (n_out, out_h*out_w*m)
        Z += self.b  # (n_out, 1) broadcast over every position and example
        return Z.reshape(self.out_channels, out_h, out_w, m)

    def _backward4(self, dC_dZ: np.ndarray) -> np.ndarray | None:
        if self.cols is None or self.in_shape4 is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        dZ2 = dC_dZ.reshape(self.out_channels, -1)  # (n_out, out_h*out_w*m)
        self.dC_dW = (dZ2 @ self.cols.T).reshape(self.W.shape)  # (n_out, n_in*kh*kw) -> W.shape
        self.dC_db = np.sum(dZ2, axis=1, keepdims=True)  # (n_out, 1)
        W2 = self.W.reshape(self.out_channels, -1)
        dcols = W2.T @ dZ2  # (n_in*kh*kw, out_h*out_w*m)
        return col2im(dcols, self.in_shape4, self.kh, self.kw, self.sh, self.sw, self.ph, self.pw)


@register_layer
class Conv2D(_Conv):
    """2-D convolution: A_prev (n_in, H, W, m) -> Z (n_out, out_h, out_w, m).

    W has shape (out_channels, in_channels, kh, kw) (as Dense's W is (n[l], n[l-1])), b has
    shape (out_channels, 1): one bias per output channel, shared by every position.
    out_h = floor((H + 2*padding - kh) / stride) + 1, likewise out_w.

    ``kernel_size``, ``stride`` and ``padding`` take an int or a pair (vertical, horizontal).
    ``init`` defaults to He (fan_in = in_channels*kh*kw); ``seed`` as in Dense.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        init: str = "he",
        seed: int | np.random.Generator | None = None,
        dtype: np.dtype | type = np.float64,
    ) -> None:
        super().__init__()
        k = as_pair("kernel_size", kernel_size)
        s = as_pair("stride", stride)
        p = as_pair("padding", padding, minimum=0)
        shape = (check_int("out_channels", out_channels), check_int("in_channels", in_channels))
        self._setup(in_channels, out_channels, k, s, p, shape + k, init, seed, dtype)

    def forward(self, A_prev: np.ndarray) -> np.ndarray:
        """Z = W2 @ im2col(A_prev) + b : (n_out, n_in*kh*kw) @ (n_in*kh*kw, out_h*out_w*m)."""
        if A_prev.ndim != 4:
            raise ValueError(
                f"Conv2D expects input of shape (C, H, W, m) in the engine, got {A_prev.shape}"
            )
        return self._forward4(A_prev)

    def backward(self, dC_dZ: np.ndarray) -> np.ndarray | None:
        """Chain rule through Z = W2 @ cols + b, cols = im2col(A_prev).

        Shapes: dC_dZ (n_out, out_h, out_w, m), viewed as dZ2 (n_out, P) with P = out_h*out_w*m;
        cols (K, P) with K = n_in*kh*kw; W2 = W.reshape(n_out, K).

        1. dC_dW = dZ2 @ cols.T          : (n_out, P) @ (P, K) -> (n_out, K) -> W.shape
           (each weight is shared by every position of every example: the product sums them.)
        2. dC_db = sum over P of dZ2     : (n_out, 1)
        3. dC_dcols = W2.T @ dZ2         : (K, n_out) @ (n_out, P) -> (K, P)
        4. dC_dA_prev = col2im(dC_dcols) : (n_in, H, W, m); col2im is the transpose of im2col, so
           a pixel read by several overlapping patches receives the SUM of their gradients, and
           gradients landing on padding are dropped.

        No 1/m here: dC_dZ already carries it from the cost's gradient.
        """
        return self._backward4(dC_dZ)

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        if len(input_shape) != 3 or input_shape[0] != self.in_channels:
            raise ValueError(
                f"Conv2D expects per-example input (C={self.in_channels}, H, W), "
                f"got {tuple(input_shape)}"
            )
        _, H, W = input_shape
        oh = conv_output_size(H, self.kh, self.sh, self.ph)
        ow = conv_output_size(W, self.kw, self.sw, self.pw)
        if oh < 1 or ow < 1:
            raise ValueError(f"Conv2D kernel {(self.kh, self.kw)} does not fit input {(H, W)}")
        return (self.out_channels, oh, ow)

    def config(self) -> dict[str, Any]:
        return {
            "in_channels": self.in_channels,
            "out_channels": self.out_channels,
            "kernel_size": [self.kh, self.kw],
            "stride": [self.sh, self.sw],
            "padding": [self.ph, self.pw],
            "init": self.init,
        }


@register_layer
class Conv1D(_Conv):
    """1-D convolution: A_prev (n_in, L, m) -> Z (n_out, out_len, m).

    W has shape (out_channels, in_channels, k), b (out_channels, 1);
    out_len = floor((L + 2*padding - k) / stride) + 1. Internally the sequence is a 1-pixel-high
    image (n_in, 1, L, m) and the kernel (1, k): the same im2col product as Conv2D.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        init: str = "he",
        seed: int | np.random.Generator | None = None,
        dtype: np.dtype | type = np.float64,
    ) -> None:
        super().__init__()
        k = check_int("kernel_size", kernel_size)
        s = check_int("stride", stride)
        p = check_int("padding", padding, minimum=0)
        shape = (check_int("out_channels", out_channels), check_int("in_channels", in_channels), k)
        self._setup(in_channels, out_channels, (1, k), (1, s), (0, p), shape, init, seed, dtype)

    def forward(self, A_prev: np.ndarray) -> np.ndarray:
        """Z = W2 @ im2col(A_prev) + b : (n_out, n_in*k) @ (n_in*k, out_len*m)."""
        if A_prev.ndim != 3:
            raise ValueError(
                f"Conv1D expects input of shape (C, L, m) in the engine, got {A_prev.shape}"
            )
        C, L, m = A_prev.shape
        Z = self._forward4(A_prev.reshape(C, 1, L, m))
        return Z.reshape(self.out_channels, Z.shape[2], m)

    def backward(self, dC_dZ: np.ndarray) -> np.ndarray | None:
        """Chain rule through Z = W2 @ cols + b, exactly as Conv2D.backward with kh = 1.

        dC_dZ (n_out, out_len, m) -> dZ2 (n_out, out_len*m); cols (n_in*k, out_len*m);
        dC_dW = dZ2 @ cols.T -> (n_out, n_in, k); dC_db = row sums (n_out, 1);
        dC_dA_prev = col2im(W2.T @ dZ2) -> (n_in, L, m), summing overlapping windows.
        """
        dX = self._backward4(dC_dZ)
        if dX is None:
            return None
        C, _, L, m = dX.shape
        return dX.reshape(C, L, m)

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        if len(input_shape) != 2 or input_shape[0] != self.in_channels:
            raise ValueError(
                f"Conv1D expects per-example input (C={self.in_channels}, L), "
                f"got {tuple(input_shape)}"
            )
        out_len = conv_output_size(input_shape[1], self.kw, self.sw, self.pw)
        if out_len < 1:
            raise ValueError(f"Conv1D kernel {self.kw} does not fit length {input_shape[1]}")
        return (self.out_channels, out_len)

    def config(self) -> dict[str, Any]:
        return {
            "in_channels": self.in_channels,
            "out_channels": self.out_channels,
            "kernel_size": self.kw,
            "stride": self.sw,
            "padding": self.pw,
            "init": self.init,
        }
