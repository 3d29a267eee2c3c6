"""The costs and their fused gradients, written as loops and per example (twins of losses.py).

The engine computes the cost of a whole batch with a handful of array operations, e.g. for
softmax + cross-entropy on logits Z (K, m) and one-hot targets Y (K, m):

    C = -(1/m) sum(Y * log_softmax(Z))           dC/dZ = (A - Y) / m

The loop versions below spell out the same arithmetic per example and per class. Vectorizing
removes, in order: the interpreted per-class loop (a reduction such as ``max`` or ``sum`` over a
column runs in C), then the Python loop over examples (``Z.max(axis=0)`` reduces every column in
one call, ``Z - max`` broadcasts the (1, m) row of maxima over the K rows). The stable formulas
are kept in every version: the per-column maximum is subtracted before ``exp`` so nothing
overflows, and the logarithm is taken of a sum that is at least 1.

Loop functions take nested lists (K lists of m floats); ``*_per_example`` ones take arrays.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "softmax_loops",
    "cross_entropy_loops",
    "binary_cross_entropy_loops",
    "mean_squared_error_loops",
    "fused_gradient_loops",
    "softmax_per_example",
    "cross_entropy_per_example",
    "fused_gradient_per_example",
]

Matrix = list[list[float]]


# --- pure Python ---------------------------------------------------------------------------------
def softmax_loops(Z: Matrix) -> Matrix:
    """A[k][j] = exp(Z[k][j] - max_k Z[k][j]) / sum_k exp(...), column by column."""
    K, m = len(Z), len(Z[0])
    A = [[0.0] * m for _ in range(K)]
    for j in range(m):
        z_max = max(Z[k][j] for k in range(K))  # every exponent below is <= 0
        e = [math.exp(Z[k][j] - z_max) for k in range(K)]
        s = sum(e)
        for k in range(K):
            A[k][j] = e[k] / s
    return A


def cross_entropy_loops(Z: Matrix, Y: Matrix) -> float:
    """-(1/m) sum_j sum_k Y[k][j] log softmax(Z)[k][j], from the logits (never log(0)).

    log softmax(z)_k = z_k - (z_max + log sum_i exp(z_i - z_max)).
    """
    K, m = len(Z), len(Z[0])
    total = 0.0
    for j in range(m):
        z_max = max(Z[k][j] for k in range(K))
        lse = z_max + math.log(sum(math.exp(Z[k][j] - z_max) for k in range(K)))
        for k in range(K):
            total -= Y[k][j] * (Z[k][j] - lse)
    return total / m


def binary_cross_entropy_loops(Z: Matrix, Y: Matrix) -> float:
    """(1/m) sum [max(z, 0) - z y + log(1 + exp(-|z|))], the stable form of BCE(sigmoid(z), y)."""
    m = len(Z[0])
    total = 0.0
    for zr, yr in zip(Z, Y):
        for z, y in zip(zr, yr):
            total += max(z, 0.0) - z * y + math.log1p(math.exp(-abs(z)))
    return total / m


def mean_squared_error_loops(A: Matrix, Y: Matrix) -> float:
    """(1/(2m)) sum (A - Y)^2."""
    m = len(A[0])
    total = 0.0
    for ar, yr in zip(A, Y):
        for a, y in zip(ar, yr):
            total += (a - y) * (a - y)
    return total / (2 * m)


def fused_gradient_loops(A: Matrix, Y: Matrix) -> Matrix:
    """dC/dZ[L][k][j] = (A[k][j] - Y[k][j]) / m for every matched output/cost pair.

    This is where the 1/m of the mean cost lives: every layer below receives it through dC/dZ.
    """
    m = len(A[0])
    return [[(a - y) / m for a, y in zip(ar, yr)] for ar, yr in zip(A, Y)]


# --- NumPy vectors, one example at a time ---------------------------------------------------------
def softmax_per_example(Z: np.ndarray) -> np.ndarray:
    """Softmax of each column z = Z[:, j] with vector operations: exp(z - max z) / sum."""
    A = np.empty_like(Z)
    for j in range(Z.shape[1]):
        e = np.exp(Z[:, j] - Z[:, j].max())  # (K,)
        A[:, j] = e / e.sum()
    return A


def cross_entropy_per_example(Z: np.ndarray, Y: np.ndarray) -> float:
    """Cross-entropy from logits, one column at a time."""
    m = Z.shape[1]
    total = 0.0
    for j in range(m):
        z = Z[:, j]
        lse = z.max() + np.log(np.sum(np.exp(z - z.max())))
        total -= float(Y[:, j] @ (z - lse))  # (K,) . (K,)
    return total / m


def fused_gradient_per_example(A: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """(A[:, j] - Y[:, j]) / m column by column."""
    m = A.shape[1]
    dC_dZ = np.empty(A.shape, dtype=np.result_type(A, Y))
    for j in range(m):
        dC_dZ[:, j] = (A[:, j] - Y[:, j]) / m
    return dC_dZ
