"""im2col / col2im: turn a convolution into ONE matrix product.

A 2-D convolution slides a (C, kh, kw) kernel over a (C, H, W) image. Every output position reads
one (C, kh, kw) patch of the input. Laying each patch out as one column gives the matrix

    cols : (C*kh*kw, out_h*out_w*m)          (one column per output position and example)

and the convolution of all out_channels kernels at once is a single product

    Z = W.reshape(out_channels, C*kh*kw) @ cols  : (out_channels, out_h*out_w*m)

which reshapes for free to the engine layout (out_channels, out_h, out_w, m), because the columns
are ordered (out_h, out_w, m) with the examples fastest, like everything else in the engine.

``col2im`` is the adjoint (the transpose) of ``im2col``: it sends each column entry back to the
input pixel it was copied from, ADDING where patches overlap (a pixel read by several patches
receives the sum of their gradients). It is what the backward pass needs:
dC_dA_prev = col2im(W2.T @ dC_dZ2).

Both work on the engine layout (C, H, W, m). 1-D signals (C, L, m) are treated as (C, 1, L, m).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = ["conv_output_size", "pad_images", "im2col", "col2im", "window_view"]


def conv_output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """floor((size + 2*padding - kernel) / stride) + 1, the output length along one axis."""
    return (size + 2 * padding - kernel) // stride + 1


def pad_images(X: np.ndarray, ph: int, pw: int, value: float = 0.0) -> np.ndarray:
    """Pad the two spatial axes of X (C, H, W, m) -> (C, H + 2 ph, W + 2 pw, m)."""
    if ph == 0 and pw == 0:
        return X
    return np.pad(X, ((0, 0), (ph, ph), (pw, pw), (0, 0)), constant_values=value)


def window_view(
    Xp: np.ndarray, kh: int, kw: int, sh: int, sw: int, out_h: int, out_w: int
) -> np.ndarray:
    """A zero-copy view of every (kh, kw) window of a padded X (C, Hp, Wp, m).

    Returns shape (C, out_h, out_w, m, kh, kw): entry [c, y, x, j, i1, i2] is
    Xp[c, y*sh + i1, x*sw + i2, j].
    """
    windows = sliding_window_view(Xp, (kh, kw), axis=(1, 2))  # (C, Hp-kh+1, Wp-kw+1, m, kh, kw)
    return windows[:, : (out_h - 1) * sh + 1 : sh, : (out_w - 1) * sw + 1 : sw]


def im2col(
    X: np.ndarray, kh: int, kw: int, sh: int = 1, sw: int = 1, ph: int = 0, pw: int = 0
) -> tuple[np.ndarray, int, int]:
    """Patches of X (C, H, W, m) as columns: (C*kh*kw, out_h*out_w*m), plus out_h, out_w.

    Row index = (c, i1, i2) in C order, the same order as W[o].reshape(-1) for W (out, C, kh, kw);
    column index = (y, x, j) in C order, so the product reshapes to (out, out_h, out_w, m).
    """
    C, H, W, m = X.shape
    out_h = conv_output_size(H, kh, sh, ph)
    out_w = conv_output_size(W, kw, sw, pw)
    Xp = pad_images(X, ph, pw)
    win = window_view(Xp, kh, kw, sh, sw, out_h, out_w)  # (C, out_h, out_w, m, kh, kw)
    cols = np.ascontiguousarray(win.transpose(0, 4, 5, 1, 2, 3))  # (C, kh, kw, out_h, out_w, m)
    return cols.reshape(C * kh * kw, out_h * out_w * m), out_h, out_w


def col2im(
    cols: np.ndarray,
    input_shape: tuple[int, int, int, int],
    kh: int,
    kw: int,
    sh: int = 1,
    sw: int = 1,
    ph: int = 0,
    pw: int = 0,
) -> np.ndarray:
    """The adjoint of :func:`im2col`: (C*kh*kw, out_h*out_w*m) -> (C, H, W, m), summing overlaps.

    One vectorized add per kernel offset (i1, i2): the (C, out_h, out_w, m) block of columns for
    that offset lands on the strided input pixels Xp[:, i1 + sh*y, i2 + sw*x, :].
    """
    C, H, W, m = input_shape
    out_h = conv_output_size(H, kh, sh, ph)
    out_w = conv_output_size(W, kw, sw, pw)
    blocks = cols.reshape(C, kh, kw, out_h, out_w, m)
    dXp = np.zeros((C, H + 2 * ph, W + 2 * pw, m), dtype=cols.dtype)
    for i1 in range(kh):
        rows = slice(i1, i1 + sh * (out_h - 1) + 1, sh)
        for i2 in range(kw):
            dXp[:, rows, i2 : i2 + sw * (out_w - 1) + 1 : sw, :] += blocks[:, i1, i2]
    if ph == 0 and pw == 0:
        return dXp
    return dXp[:, ph : ph + H, pw : pw + W, :]
