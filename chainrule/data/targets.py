"""Turning user labels y (m,) into the engine's target matrix Y (n[L], m), and back.

* binary cross-entropy: y in {0, 1}, Y = y.reshape(1, m) (or (m, k) 0/1 multi-label -> Y = y.T)
* cross-entropy: integer labels 0..K-1, Y one-hot of shape (K, m): Y[y[j], j] = 1
* mean squared error: y (m,) -> (1, m), or (m, k) -> (k, m)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.validation import check_ids, check_labels

__all__ = [
    "encode_targets",
    "expected_y",
    "encode_sequence_targets",
    "one_hot",
    "check_class_count",
    "count_correct",
]


def one_hot(labels: np.ndarray, K: int, dtype: np.dtype | type = np.float64) -> np.ndarray:
    """(m,) integer labels -> (K, m) one-hot columns."""
    m = labels.shape[0]
    Y = np.zeros((K, m), dtype=dtype)
    Y[labels, np.arange(m)] = 1
    return Y


def _integer_labels(y: np.ndarray, name: str) -> np.ndarray:
    if y.dtype.kind == "f":
        if not np.all(y == np.round(y)):
            bad = y[y != np.round(y)][0].item()
            raise ValueError(f"{name} must hold integer class labels 0..K-1, got {bad!r}")
        lo, hi = float(y.min()), float(y.max())
        if lo < -(2**62) or hi > 2**62:  # before the cast, which would wrap 1e30 around
            raise ValueError(
                f"{name} must hold integer class labels 0..K-1, got labels in {lo:g}..{hi:g}"
            )
    return y.astype(np.int64)


def expected_y(loss_name: str, m: int, n_out: int) -> str:
    """The y a cost takes, in words: "(m,) labels 0/1", "(m, k) values", ..."""
    if loss_name == "bce":
        if n_out == 1:
            return f"labels 0/1 of shape ({m},) or ({m}, 1)"
        return f"0/1 multi-label targets of shape ({m}, {n_out})"
    if loss_name == "ce":
        return f"class labels 0..{n_out - 1} (not one-hot) of shape ({m},)"
    if n_out == 1:
        return f"values of shape ({m},) or ({m}, 1)"
    return f"values of shape ({m}, {n_out})"


_COST_NAMES = {
    "bce": "binary cross-entropy",
    "ce": "softmax cross-entropy",
    "mse": "mean squared error",
}


def _check_y_shape(loss_name: str, arr: np.ndarray, m: int, n_out: int) -> None:
    """ValueError naming the expected shape for any y that is neither (m,) nor (m, 1) (nor the
    (m, n_out) a multi-output sigmoid or identity takes), before anything indexes with it."""
    if arr.ndim == 1 or (arr.ndim == 2 and arr.shape[1] == 1):
        return
    if arr.ndim == 2 and loss_name in ("bce", "mse") and n_out > 1:
        return  # (m, n_out), or a clear message about (m, k) below
    cost = _COST_NAMES.get(loss_name, loss_name)
    outputs = f"{n_out} output{'s' if n_out != 1 else ''}"
    hint = ""
    if loss_name == "ce" and arr.ndim == 2 and arr.shape == (m, n_out):
        hint = "; for one-hot rows pass y.argmax(axis=1)"
    elif loss_name == "ce" and arr.ndim == 2 and arr.shape[0] == m:
        hint = "; multi-label targets need a sigmoid output (binary cross-entropy)"
    elif arr.ndim == 2 and arr.shape[0] == m and arr.shape[1] == 0:
        hint = "; it holds no targets"
    elif loss_name == "bce" and arr.ndim == 2 and arr.shape[0] == m:
        hint = f"; {arr.shape[1]} labels per example need {arr.shape[1]} sigmoid outputs"
    elif loss_name == "mse" and arr.ndim == 2 and arr.shape[0] == m:
        hint = f"; {arr.shape[1]} values per example need {arr.shape[1]} outputs"
    shape = "a scalar" if arr.ndim == 0 else str(arr.shape)
    raise ValueError(
        f"{cost} with {outputs} needs y as {expected_y(loss_name, m, n_out)}, got {shape}{hint}"
    )


def encode_targets(
    loss_name: str, y: Any, m: int, n_out: int, dtype: np.dtype | type = np.float64
) -> np.ndarray:
    """Validate labels against the cost and the output width; return Y of shape (n[L], m)."""
    if y is None or isinstance(y, (str, bytes, dict)):
        raise TypeError(f"y must be an array of labels, got {type(y).__name__}")
    try:
        arr = np.asarray(y)
    except (ValueError, TypeError) as exc:  # ragged nested lists
        raise ValueError(
            f"y could not be converted to an array ({exc}); expected "
            f"{expected_y(loss_name, m, n_out)}"
        ) from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(
            f"y must hold numbers, got dtype {arr.dtype}; expected {expected_y(loss_name, m, n_out)}"
        )
    if arr.ndim > 0:
        _check_y_shape(loss_name, arr, m, n_out)
    if loss_name == "bce" and arr.ndim == 2 and arr.shape[1] > 1:
        arr2 = arr
        if arr2.shape != (m, n_out):
            raise ValueError(f"multi-label y must have shape ({m}, {n_out}), got {arr2.shape}")
        if arr2.dtype.kind not in "biuf":
            raise TypeError(f"y must hold numbers 0/1, got dtype {arr2.dtype}")
        if not np.isin(arr2, (0, 1)).all():
            bad = arr2[~np.isin(arr2, (0, 1))][0].item()
            raise ValueError(f"binary cross-entropy needs labels in {{0, 1}}, got {bad!r}")
        return np.ascontiguousarray(arr2.T, dtype=dtype)
    if loss_name == "mse" and arr.ndim == 2 and arr.shape[1] > 1:
        if arr.shape != (m, n_out):
            raise ValueError(
                f"y must have shape ({m}, {n_out}) for {n_out} outputs, got {arr.shape}"
            )
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"y must hold numbers, got dtype {arr.dtype}")
        if not np.all(np.isfinite(arr)):
            raise ValueError("y contains NaN or inf")
        return np.ascontiguousarray(arr.T, dtype=dtype)
    try:
        y1 = check_labels(arr, m)
    except ValueError as exc:  # the wrong number of examples: say which y this cost takes
        raise ValueError(f"{exc}; expected {expected_y(loss_name, m, n_out)}") from None
    if loss_name == "bce":
        if n_out != 1:
            raise ValueError(
                f"binary cross-entropy with {n_out} outputs needs y of shape ({m}, {n_out}); "
                "for K exclusive classes use output='softmax'"
            )
        bad = ~np.isin(y1, (0, 1))
        if bad.any():
            raise ValueError(
                f"binary cross-entropy needs labels in {{0, 1}}, got {y1[bad][0].item()!r} "
                f"(labels seen: {np.unique(y1)[:10].tolist()}); for K classes use "
                "output='softmax'"
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


def check_class_count(loss_name: str, Y: np.ndarray) -> None:
    """Training a classifier needs at least two classes; raise if every label is the same.

    ``Y`` is the encoded target matrix (n[L], m). For a single sigmoid output the classes are 0
    and 1; for softmax they are the rows of the one-hot Y. Multi-label sigmoid outputs and
    regression are not checked. Only :func:`chainrule.train.fit.fit` calls this: scoring or
    validating on a one-class subset is legitimate.
    """
    if loss_name == "bce" and Y.shape[0] == 1:
        present = np.unique(Y)
    elif loss_name == "ce":
        present = np.flatnonzero(Y.reshape(Y.shape[0], -1).any(axis=1))
    else:
        return
    if present.size < 2:
        only = present[0].item() if present.size else None
        only = int(only) if isinstance(only, float) and only.is_integer() else only
        need = "0 and 1" if loss_name == "bce" else f"0..{Y.shape[0] - 1}"
        raise ValueError(
            f"y holds a single class ({only!r} for all {Y.shape[-1]} examples); a classifier "
            f"needs at least two classes (labels {need})"
        )


def count_correct(loss_name: str, A: np.ndarray, Y: np.ndarray) -> int:
    """How many examples (columns) of the outputs A (n[L], B) are classified right.

    ``Y`` is the (n[L], B) target matrix, or for cross-entropy the (B,) class indices. For
    next-token outputs (V, T, B) every (position, example) counts once. Always 0 for regression
    (mean squared error).
    """
    if loss_name == "ce":
        classes = Y if Y.ndim == 1 else np.argmax(Y, axis=0)
        return int(np.count_nonzero(np.argmax(A, axis=0) == classes))
    if loss_name == "bce":
        return int(np.count_nonzero(np.all((A >= 0.5) == (Y >= 0.5), axis=0)))
    return 0


def encode_sequence_targets(
    y: Any, m: int, T: int, vocab_size: int, dtype: np.dtype | type = np.float64
) -> np.ndarray:
    """Next-token targets y (m, T) ids -> one-hot Y (V, T, m): Y[y[j, t], t, j] = 1."""
    try:
        shape = np.shape(y)
    except (ValueError, TypeError):  # ragged: check_ids says so
        shape = None
    if shape is not None and isinstance(y, np.ndarray | list | tuple) and shape != (m, T):
        if len(shape) in (1, 2) and shape[-1] != T:
            detail = f"{T} tokens per example, got {shape[-1]}"
        else:
            detail = f"one row of {T} targets per example of X ({m})"
        raise ValueError(
            f"next-token targets y must be token ids of shape ({m}, {T}) ({detail}), got "
            f"shape {shape}"
        )
    ids = check_ids(y, T, vocab_size, name="y")
    if ids.shape[0] != m:
        raise ValueError(
            f"y must have one row of {T} targets per example of X ({m}), got {ids.shape}"
        )
    Y = np.zeros((vocab_size, T, m), dtype=dtype)
    t, j = np.meshgrid(np.arange(T), np.arange(m), indexing="ij")  # (T, m) each
    Y[ids.T, t, j] = 1
    return Y
