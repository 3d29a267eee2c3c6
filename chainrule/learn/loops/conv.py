"""Convolution with explicit loops: the definition, kept beside the im2col version to compare.

Engine layout: X (C, H, W, m), W (n_out, C, kh, kw), b (n_out, 1). These functions are slow
(pure Python loops over every output pixel) and exist for teaching and for the tests, which check
that :class:`chainrule.Conv2D` computes exactly the same numbers. Import this module by its full
path (``from chainrule.learn.loops.conv import conv2d_forward``); ``chainrule.learn.loops`` does not import it.
"""

from __future__ import annotations

import numpy as np

__all__ = ["conv2d_forward", "conv2d_backward", "conv1d_forward", "conv1d_backward"]


def _pad(X: np.ndarray, ph: int, pw: int) -> np.ndarray:
    return np.pad(X, ((0, 0), (ph, ph), (pw, pw), (0, 0)))


def conv2d_forward(
    X: np.ndarray, W: np.ndarray, b: np.ndarray, stride: int = 1, padding: int = 0
) -> np.ndarray:
    """Z[o, y, x, j] = b[o] + sum_{c, i1, i2} W[o, c, i1, i2] * Xp[c, y*s + i1, x*s + i2, j]."""
    C, H, Wd, m = X.shape
    n_out, _, kh, kw = W.shape
    Xp = _pad(X, padding, padding)
    out_h = (H + 2 * padding - kh) // stride + 1
    out_w = (Wd + 2 * padding - kw) // stride + 1
    Z = np.zeros((n_out, out_h, out_w, m), dtype=X.dtype)
    for j in range(m):
        for o in range(n_out):
            for y in range(out_h):
                for x in range(out_w):
                    patch = Xp[:, y * stride : y * stride + kh, x * stride : x * stride + kw, j]
                    Z[o, y, x, j] = np.sum(W[o] * patch) + b[o, 0]
    return Z


def conv2d_backward(
    X: np.ndarray, W: np.ndarray, dC_dZ: np.ndarray, stride: int = 1, padding: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(dC_dX, dC_dW, dC_db) by looping over every output pixel and adding its contributions:

    each Z[o, y, x, j] touched W[o] (times its patch), b[o] (times 1) and its patch (times W[o]).
    """
    C, H, Wd, m = X.shape
    n_out, _, kh, kw = W.shape
    Xp = _pad(X, padding, padding)
    dXp = np.zeros_like(Xp)
    dW = np.zeros_like(W)
    db = np.zeros((n_out, 1), dtype=W.dtype)
    _, out_h, out_w, _ = dC_dZ.shape
    for j in range(m):
        for o in range(n_out):
            for y in range(out_h):
                for x in range(out_w):
                    g = dC_dZ[o, y, x, j]
                    rows = slice(y * stride, y * stride + kh)
                    cols = slice(x * stride, x * stride + kw)
                    dW[o] += g * Xp[:, rows, cols, j]
                    db[o, 0] += g
                    dXp[:, rows, cols, j] += g * W[o]
    dX = dXp[:, padding : padding + H, padding : padding + Wd, :]
    return dX, dW, db


def conv1d_forward(
    X: np.ndarray, W: np.ndarray, b: np.ndarray, stride: int = 1, padding: int = 0
) -> np.ndarray:
    """Z[o, t, j] = b[o] + sum_{c, i} W[o, c, i] * Xp[c, t*s + i, j]  for X (C, L, m)."""
    C, L, m = X.shape
    n_out, _, k = W.shape
    Xp = np.pad(X, ((0, 0), (padding, padding), (0, 0)))
    out_len = (L + 2 * padding - k) // stride + 1
    Z = np.zeros((n_out, out_len, m), dtype=X.dtype)
    for j in range(m):
        for o in range(n_out):
            for t in range(out_len):
                Z[o, t, j] = np.sum(W[o] * Xp[:, t * stride : t * stride + k, j]) + b[o, 0]
    return Z


def conv1d_backward(
    X: np.ndarray, W: np.ndarray, dC_dZ: np.ndarray, stride: int = 1, padding: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(dC_dX, dC_dW, dC_db) for :func:`conv1d_forward`, one output position at a time."""
    C, L, m = X.shape
    n_out, _, k = W.shape
    Xp = np.pad(X, ((0, 0), (padding, padding), (0, 0)))
    dXp = np.zeros_like(Xp)
    dW = np.zeros_like(W)
    db = np.zeros((n_out, 1), dtype=W.dtype)
    for j in range(m):
        for o in range(n_out):
            for t in range(dC_dZ.shape[1]):
                g = dC_dZ[o, t, j]
                window = slice(t * stride, t * stride + k)
                dW[o] += g * Xp[:, window, j]
                db[o, 0] += g
                dXp[:, window, j] += g * W[o]
    return dXp[:, padding : padding + L, :], dW, db
