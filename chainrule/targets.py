"""Turning user labels y (m,) into the engine's target matrix Y (n[L], m), and back.

* binary cross-entropy: y in {0, 1}, Y = y.reshape(1, m) (or (m, k) 0/1 multi-label -> Y = y.T)
* cross-entropy: integer labels 0..K-1, Y one-hot of shape (K, m): Y[y[j], j] = 1
* mean squared error: y (m,) -> (1, m), or (m, k) -> (k, m)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.validation import check_labels

__all__ = ["encode_targets", "one_hot"]


def one_hot(labels: np.ndarray, K: int, dtype: np.dtype | type = np.float64) -> np.ndarray:
    """(m,) integer labels -> (K, m) one-hot columns."""
    m = labels.shape[0]
    Y = np.zeros((K, m), dtype=dtype)
    Y[labels, np.arange(m)] = 1
    return Y


def _integer_labels(y: np.ndarray, name: str) -> np.ndarray:
    if y.dtype.kind == "f":
        if not np.all(y == np.round(y)):
            bad = y[y != np.round(y)][0]
            raise ValueError(f"{name} must hold integer class labels, got {bad!r}")
    return y.astype(np.int64)


def encode_targets(
    loss_name: str, y: Any, m: int, n_out: int, dtype: np.dtype | type = np.float64
) -> np.ndarray:
    """Validate labels against the cost and the output width; return Y of shape (n[L], m)."""
    arr = np.asarray(y) if not isinstance(y, (str, bytes)) else y
    if loss_name == "bce" and isinstance(arr, np.ndarray) and arr.ndim == 2 and arr.shape[1] > 1:
        arr2 = arr
        if arr2.shape != (m, n_out):
            raise ValueError(f"multi-label y must have shape ({m}, {n_out}), got {arr2.shape}")
        if not np.isin(arr2, (0, 1)).all():
            raise ValueError("binary cross-entropy needs labels in {0, 1}")
        return np.ascontiguousarray(arr2.T, dtype=dtype)
    if loss_name == "mse" and isinstance(arr, np.ndarray) and arr.ndim == 2 and arr.shape[1] > 1:
        if arr.shape != (m, n_out):
            raise ValueError(
                f"y must have shape ({m}, {n_out}) for {n_out} outputs, got {arr.shape}"
            )
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"y must hold numbers, got dtype {arr.dtype}")
        if not np.all(np.isfinite(arr)):
            raise ValueError("y contains NaN or inf")
        return np.ascontiguousarray(arr.T, dtype=dtype)
    y1 = check_labels(y, m)
    if loss_name == "bce":
        if n_out != 1:
            raise ValueError(
                f"binary cross-entropy with {n_out} outputs needs y of shape ({m}, {n_out}); "
                "for K exclusive classes use output='softmax'"
            )
        bad = ~np.isin(y1, (0, 1))
        if bad.any():
            raise ValueError(
                f"binary cross-entropy needs labels in {{0, 1}}, got {y1[bad][0]!r} "
                f"(labels seen: {np.unique(y1)[:10].tolist()})"
            )
        return y1.reshape(1, m).astype(dtype)
    if loss_name == "ce":
        labels = _integer_labels(y1, "y")
        lo, hi = int(labels.min()), int(labels.max())
        if lo < 0 or hi >= n_out:
            raise ValueError(
                f"softmax cross-entropy with {n_out} outputs needs labels in 0..{n_out - 1}, "
                f"got labels in {lo}..{hi}"
            )
        return one_hot(labels, n_out, dtype)
    if n_out != 1:
        raise ValueError(f"y must have shape ({m}, {n_out}) for {n_out} outputs, got {y1.shape}")
    return y1.reshape(1, m).astype(dtype)
