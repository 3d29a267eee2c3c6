"""The two layouts and the one place they meet: examples first (user) vs examples last (engine).

At the user boundary X is (m, features), images (m, C, H, W), sequences (m, C, T), like
scikit-learn and PyTorch. Inside the engine examples lie on the LAST axis, as in the notebook:
A[0] = X.T is (n[0], m), images (C, H, W, m), sequences (C, T, m). These two functions convert,
once per batch, and nothing else in chainrule transposes examples.
"""

from __future__ import annotations

import numpy as np

__all__ = ["to_engine", "from_engine"]


def to_engine(X: np.ndarray) -> np.ndarray:
    """(m, *shape) -> (*shape, m): examples move to the last axis (A0 = X.T for 2-D X). A view."""
    return X.T if X.ndim == 2 else np.moveaxis(X, 0, -1)


def from_engine(A: np.ndarray) -> np.ndarray:
    """(*shape, m) -> (m, *shape): the inverse of :func:`to_engine`. A view."""
    return A.T if A.ndim == 2 else np.moveaxis(A, -1, 0)
