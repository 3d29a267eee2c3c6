"""The fused cost and dC/dZ[L] of the matched output/cost pairs, into buffers the plan owns.

The same numbers as the reference ``Loss.cost_from_logits`` and ``Loss.fused_gradient``
(:mod:`chainrule.nn.losses`), computed without allocating per batch:

* :func:`fused_cost_and_gradient`: from the target matrix Y (n[L], B), any matched pair.
* :func:`ce_cost_and_gradient_labels`: softmax + cross-entropy from class indices (B,), so the
  one-hot Y is never gathered (what PyTorch's ``cross_entropy`` does with class indices).

``scale`` multiplies the gradient (not the cost): plain SGD passes its learning rate, so that
backward produces lr * dC/dP directly and the update is one pass (docs/course/04-vectorization.md 4.5).
"""

from __future__ import annotations

import numpy as np

from chainrule.nn.losses import Loss

__all__ = ["fused_cost_and_gradient", "ce_cost_and_gradient_labels", "log_sum_exp_from_softmax"]


def log_sum_exp_from_softmax(Z: np.ndarray, A: np.ndarray) -> np.ndarray:
    """lse = log sum_k exp(Z[k, j]) per column (B,), reusing A = softmax(Z) : (K, B).

    A[k] = exp(Z[k] - lse) for every k, so lse = Z[k] - log A[k]; at the largest entry of the
    column (the same k for Z and A: softmax keeps the order) max A >= 1/K cannot underflow, so
    lse = max Z - log(max A) needs no second exp pass over Z.
    """
    lse = Z.max(axis=0)  # (B,)
    lse -= np.log(A.max(axis=0))
    return lse


def fused_cost_and_gradient(
    loss: Loss, Z: np.ndarray, A: np.ndarray, Y: np.ndarray, out: np.ndarray, scale: float = 1.0
) -> float:
    """The cost from the logits, and scale * (A - Y) / m written into ``out`` : (n[L], B)."""
    m = Y.shape[-1]
    if loss.name == "ce":  # log_softmax(Z) = Z - lse, from the softmax already computed
        lse = log_sum_exp_from_softmax(Z, A)[None, :]  # (1, B)
        np.subtract(Z, lse, out=out)  # log_softmax(Z) : (K, B), ``out`` used as scratch
        out *= Y
        cost = -float(np.sum(out, dtype=np.float64)) / m
    else:
        cost = loss.cost_from_logits(Z, Y)
    np.subtract(A, Y, out=out)
    out *= out.dtype.type(scale / m)
    return cost


def ce_cost_and_gradient_labels(
    Z: np.ndarray, A: np.ndarray, labels: np.ndarray, out: np.ndarray, scale: float = 1.0
) -> float:
    """Softmax cross-entropy from class indices ``labels`` (B,); the gradient into ``out``.

        cost_j     = lse_j - Z[y_j, j]                            (B,)
        dC/dZ[L]   = A / m, then dC/dZ[y_j, j] = (A[y_j, j] - 1) / m      (K, B)

    Every entry equals the one-hot computation's (A - Y) / m exactly: A - 0 = A elsewhere.
    """
    m = labels.shape[0]
    at = labels * m  # flat positions of the entries (y_j, j) in the C-ordered (K, B) arrays
    at += np.arange(m)
    lse = log_sum_exp_from_softmax(Z, A)  # (B,)
    lse -= Z.reshape(-1)[at]  # (B,) -log_softmax(Z)[y_j, j]: the per-example cost
    cost = float(np.add.reduce(lse.astype(np.float64))) / m  # summed in float64
    factor = out.dtype.type(scale / m)
    np.multiply(A, factor, out=out)  # (K, B)
    true = A.reshape(-1)[at]  # (B,) the probability of each example's class
    true -= 1
    true *= factor
    if out.flags.c_contiguous:
        out.reshape(-1)[at] = true  # the plan's buffers: a flat view, one write per example
    else:  # reshape would copy: write through 2-D indices instead
        out[labels, np.arange(m)] = true
    return cost
