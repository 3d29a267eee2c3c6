"""Pooling with explicit loops, kept beside the vectorized layers in chainrule.nn.pool.

Engine layout X (C, H, W, m). Max pooling sends each window's gradient to its FIRST maximum in
row-major scan order (the same tie rule as the vectorized layer and PyTorch). Import by full
path: ``from chainrule.learn.loops.pool import maxpool2d_forward``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["maxpool2d_forward", "maxpool2d_backward", "avgpool2d_forward", "avgpool2d_backward"]


def _out(size: int, k: int, s: int) -> int:
    return (size - k) // s + 1


def maxpool2d_forward(X: np.ndarray, k: int, stride: int | None = None) -> np.ndarray:
    """A[c, y, x, j] = max of X[c, y*s : y*s + k, x*s : x*s + k, j]."""
    s = k if stride is None else stride
    C, H, W, m = X.shape
    A = np.empty((C, _out(H, k, s), _out(W, k, s), m), dtype=X.dtype)
    for c in range(C):
        for y in range(A.shape[1]):
            for x in range(A.shape[2]):
                for j in range(m):
                    A[c, y, x, j] = X[c, y * s : y * s + k, x * s : x * s + k, j].max()
    return A


def maxpool2d_backward(
    X: np.ndarray, dC_dA: np.ndarray, k: int, stride: int | None = None
) -> np.ndarray:
    """dC_dX: each window's gradient goes to its first maximum (row-major scan order)."""
    s = k if stride is None else stride
    dX = np.zeros_like(X)
    C, out_h, out_w, m = dC_dA.shape
    for c in range(C):
        for y in range(out_h):
            for x in range(out_w):
                for j in range(m):
                    window = X[c, y * s : y * s + k, x * s : x * s + k, j]
                    best_i, best_j, best = 0, 0, window[0, 0]
                    for i1 in range(k):  # scan rows top to bottom, columns left to right
                        for i2 in range(k):
                            if window[i1, i2] > best:  # strictly greater: the first max wins
                                best_i, best_j, best = i1, i2, window[i1, i2]
                    dX[c, y * s + best_i, x * s + best_j, j] += dC_dA[c, y, x, j]
    return dX


def avgpool2d_forward(X: np.ndarray, k: int, stride: int | None = None) -> np.ndarray:
    """A[c, y, x, j] = mean of X[c, y*s : y*s + k, x*s : x*s + k, j]."""
    s = k if stride is None else stride
    C, H, W, m = X.shape
    A = np.empty((C, _out(H, k, s), _out(W, k, s), m), dtype=X.dtype)
    for c in range(C):
        for y in range(A.shape[1]):
            for x in range(A.shape[2]):
                for j in range(m):
                    A[c, y, x, j] = X[c, y * s : y * s + k, x * s : x * s + k, j].mean()
    return A


def avgpool2d_backward(
    X: np.ndarray, dC_dA: np.ndarray, k: int, stride: int | None = None
) -> np.ndarray:
    """dC_dX: every element of a window receives dC_dA / k^2 from it."""
    s = k if stride is None else stride
    dX = np.zeros_like(X)
    C, out_h, out_w, m = dC_dA.shape
    for c in range(C):
        for y in range(out_h):
            for x in range(out_w):
                for j in range(m):
                    dX[c, y * s : y * s + k, x * s : x * s + k, j] += dC_dA[c, y, x, j] / (k * k)
    return dX
