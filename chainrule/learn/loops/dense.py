"""A dense layer and its ReLU, written three ways: loops, per-example vectors, (batched: the engine).

The batched engine computes, for a batch of m examples in the columns of A_prev (n[l-1], m):

    forward:   Z = W @ A_prev + b                    (n[l], m)
    backward:  dC_dW = dC_dZ @ A_prev.T              (n[l], n[l-1])
               dC_db = sum over m of dC_dZ           (n[l], 1)
               dC_dA_prev = W.T @ dC_dZ              (n[l-1], m)

Here the same numbers come from explicit loops. Reading the loops from the inside out shows what
each vectorization step removes:

1. The innermost loop ``for k in range(n_in): z += W[i][k] * a[k]`` is a dot product. NumPy's
   ``W[i] @ a`` runs it in compiled code: it removes one interpreter round trip (boxing two
   floats, a multiply, an add, a loop step) per multiply-add.
2. The loop over neurons ``for i in range(n_out)`` stacks those dot products: ``W @ a`` is a
   matrix-vector product, so the n_out rows are also done in compiled code. What remains per
   example is a Python loop over m examples, and W (n[l] x n[l-1] numbers) is read from memory
   once PER EXAMPLE.
3. The loop over examples ``for j in range(m)`` becomes the matrix product ``W @ A_prev``. Now W
   is read once per BATCH and BLAS can block the product so each loaded weight is reused for many
   examples while it sits in cache and in vector registers: matrix-matrix products do O(n^3) work
   on O(n^2) data, which is what lets them run near the processor's peak.
4. The bias: ``z = b[i]`` then ``+=`` per example becomes broadcasting, ``Z += b`` with b of
   shape (n[l], 1) stretched across the m columns without being copied.

All functions take and return plain nested lists (``*_loops``) or NumPy arrays
(``*_per_example``) in the engine's layout: examples in the columns.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "dense_forward_loops",
    "dense_backward_loops",
    "relu_forward_loops",
    "relu_backward_loops",
    "dense_forward_per_example",
    "dense_backward_per_example",
    "relu_forward_per_example",
    "relu_backward_per_example",
]

Matrix = list[list[float]]


def _shape(M: Matrix) -> tuple[int, int]:
    return len(M), len(M[0]) if M else 0


# --- pure Python: per example, per neuron, per input ---------------------------------------------
def dense_forward_loops(W: Matrix, b: list[float], A_prev: Matrix) -> Matrix:
    """Z[i][j] = b[i] + sum_k W[i][k] * A_prev[k][j], one multiply-add at a time.

    W is n[l] lists of n[l-1] floats, b a list of n[l] floats, A_prev n[l-1] lists of m floats.
    Returns Z as n[l] lists of m floats. Work: n[l] * n[l-1] * m interpreted multiply-adds.
    """
    n_out, n_in = _shape(W)
    m = len(A_prev[0])
    Z = [[0.0] * m for _ in range(n_out)]
    for j in range(m):  # each example (a column of A_prev)
        a = [A_prev[k][j] for k in range(n_in)]
        for i in range(n_out):  # each neuron
            Wi = W[i]
            z = b[i]  # the bias, added once per neuron per example
            for k in range(n_in):  # each input: the dot product W[i] . a
                z += Wi[k] * a[k]
            Z[i][j] = z
    return Z


def dense_backward_loops(
    W: Matrix, A_prev: Matrix, dC_dZ: Matrix, propagate: bool = True
) -> tuple[Matrix, list[float], Matrix | None]:
    """(dC_dW, dC_db, dC_dA_prev) by the chain rule, entry by entry.

    dC_dW[i][k] = sum_j dC_dZ[i][j] * A_prev[k][j]     (each example adds its outer product)
    dC_db[i]    = sum_j dC_dZ[i][j]
    dC_dA_prev[k][j] = sum_i W[i][k] * dC_dZ[i][j]

    No 1/m: dC_dZ already carries it (it comes from the cost's gradient).
    """
    n_out, n_in = _shape(W)
    m = len(dC_dZ[0])
    dC_dW = [[0.0] * n_in for _ in range(n_out)]
    dC_db = [0.0] * n_out
    dC_dA_prev = [[0.0] * m for _ in range(n_in)] if propagate else None
    for j in range(m):  # each example contributes to every weight's gradient
        a = [A_prev[k][j] for k in range(n_in)]
        for i in range(n_out):
            d = dC_dZ[i][j]
            dC_db[i] += d
            row = dC_dW[i]
            for k in range(n_in):
                row[k] += d * a[k]
        if dC_dA_prev is not None:
            for k in range(n_in):
                s = 0.0
                for i in range(n_out):
                    s += W[i][k] * dC_dZ[i][j]
                dC_dA_prev[k][j] = s
    return dC_dW, dC_db, dC_dA_prev


def relu_forward_loops(Z: Matrix) -> Matrix:
    """A[i][j] = max(Z[i][j], 0), one comparison per entry."""
    return [[z if z > 0 else 0.0 for z in row] for row in Z]


def relu_backward_loops(A: Matrix, dC_dA: Matrix) -> Matrix:
    """dC_dZ[i][j] = dC_dA[i][j] if A[i][j] > 0 else 0 (relu'(z) = [z > 0])."""
    return [[d if a > 0 else 0.0 for a, d in zip(ra, rd)] for ra, rd in zip(A, dC_dA)]


# --- NumPy vectors, one example at a time ---------------------------------------------------------
def dense_forward_per_example(W: np.ndarray, b: np.ndarray, A_prev: np.ndarray) -> np.ndarray:
    """Z[:, j] = W @ A_prev[:, j] + b for each example j: m matrix-VECTOR products.

    The loops over neurons and inputs now run in compiled code; the loop over the m examples is
    still Python, and W is re-read from memory for every example. W: (n[l], n[l-1]),
    b: (n[l], 1), A_prev: (n[l-1], m) -> Z: (n[l], m).
    """
    m = A_prev.shape[1]
    Z = np.empty((W.shape[0], m), dtype=np.result_type(W, A_prev))
    bias = b[:, 0]  # (n[l],)
    for j in range(m):
        Z[:, j] = W @ A_prev[:, j] + bias  # (n[l], n[l-1]) @ (n[l-1],) -> (n[l],)
    return Z


def dense_backward_per_example(
    W: np.ndarray, A_prev: np.ndarray, dC_dZ: np.ndarray, propagate: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Sum the per-example gradients: dC_dW += outer(dC_dZ[:, j], A_prev[:, j]), and so on.

    Each example costs an (n[l], n[l-1]) outer product written to memory: m full passes over
    dC_dW, where the batched dC_dZ @ A_prev.T makes one.
    """
    m = A_prev.shape[1]
    dC_dW = np.zeros(W.shape, dtype=np.result_type(W, dC_dZ))
    dC_db = np.zeros((W.shape[0], 1), dtype=dC_dW.dtype)
    dC_dA_prev = np.empty(A_prev.shape, dtype=dC_dW.dtype) if propagate else None
    for j in range(m):
        d = dC_dZ[:, j]  # (n[l],)
        dC_dW += np.outer(d, A_prev[:, j])  # (n[l], n[l-1])
        dC_db[:, 0] += d
        if dC_dA_prev is not None:
            dC_dA_prev[:, j] = W.T @ d  # (n[l-1], n[l]) @ (n[l],)
    return dC_dW, dC_db, dC_dA_prev


def relu_forward_per_example(Z: np.ndarray) -> np.ndarray:
    """max(Z[:, j], 0) column by column."""
    A = np.empty_like(Z)
    for j in range(Z.shape[1]):
        A[:, j] = np.maximum(Z[:, j], 0)
    return A


def relu_backward_per_example(A: np.ndarray, dC_dA: np.ndarray) -> np.ndarray:
    """dC_dA[:, j] * [A[:, j] > 0] column by column."""
    dC_dZ = np.empty_like(dC_dA)
    for j in range(A.shape[1]):
        dC_dZ[:, j] = np.where(A[:, j] > 0, dC_dA[:, j], 0)
    return dC_dZ
