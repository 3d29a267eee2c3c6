"""Feature standardization: x' = (x - mean) / std, per feature.

The notebook feeds raw (weight, height) values like (150, 70) into sigmoid units with N(0, 1)
weights: every Z[1] is in the hundreds, every sigmoid saturates at 0 or 1, and the network gives
the same prediction for every example (its gradients vanish too). Standardizing puts each feature
at mean 0, std 1, where sigmoids are responsive.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.validation import check_X

__all__ = ["Standardizer"]


class Standardizer:
    """Learn per-feature mean and std on training data; apply the same shift/scale everywhere."""

    def __init__(self) -> None:
        self.mean_: np.ndarray | None = None
        self.scale_: np.ndarray | None = None

    def fit(self, X: Any) -> Standardizer:
        X = np.asarray(X)
        X = check_X(X, tuple(X.shape[1:]) if X.ndim >= 2 else None)
        self.mean_ = X.mean(axis=0)
        std = X.std(axis=0)
        self.scale_ = np.where(std > 0, std, 1.0)  # constant features: leave them centered
        return self

    def transform(self, X: Any) -> np.ndarray:
        if self.mean_ is None or self.scale_ is None:
            raise ValueError("Standardizer is not fitted: call fit(X) first")
        X = np.asarray(X)
        if X.shape[1:] != self.mean_.shape:
            raise ValueError(
                f"Standardizer was fitted on per-example shape {self.mean_.shape}, "
                f"got {X.shape[1:]}"
            )
        dtype = X.dtype if X.dtype.kind == "f" else np.float64
        return ((X - self.mean_) / self.scale_).astype(dtype, copy=False)

    def fit_transform(self, X: Any) -> np.ndarray:
        return self.fit(X).transform(X)
