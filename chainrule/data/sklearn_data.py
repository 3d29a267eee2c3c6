"""scikit-learn's bundled datasets (no download): digits, iris, breast_cancer.

Each gets a fixed stratified 75/25 train/test split (random_state=0). scikit-learn is an optional
extra: ``pip install 'chainrule[sklearn]'``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.data.base import Dataset, optional_import, register

__all__ = ["load_digits", "load_iris", "load_breast_cancer"]

INSTALL = "pip install 'chainrule[sklearn]'  (or: pip install scikit-learn)"


def _load(name: str, loader: str, description: str, scale: float | None = None) -> Dataset:
    datasets: Any = optional_import("sklearn.datasets", INSTALL, f"the {name!r} dataset")
    model_selection: Any = optional_import("sklearn.model_selection", INSTALL, name)
    bunch = getattr(datasets, loader)()
    X = np.asarray(bunch.data, dtype=np.float64)
    if scale is not None:
        X = X / scale
    y = np.asarray(bunch.target, dtype=np.int64)
    Xtr, Xte, ytr, yte = model_selection.train_test_split(
        X, y, test_size=0.25, random_state=0, stratify=y
    )
    k = int(y.max()) + 1
    return Dataset(
        name=name,
        X_train=Xtr,
        y_train=ytr,
        X_test=Xte,
        y_test=yte,
        description=description,
        task="binary" if k == 2 else "multiclass",
        n_classes=k,
        feature_names=[str(f) for f in getattr(bunch, "feature_names", [])],
    )


@register("digits")
def load_digits(seed: int = 0) -> Dataset:
    """1,797 8x8 handwritten digits, pixel values scaled from 0..16 to 0..1."""
    return _load(
        "digits", "load_digits", "8x8 handwritten digits (64 features in [0, 1], 10 classes).", 16.0
    )


@register("iris")
def load_iris(seed: int = 0) -> Dataset:
    return _load("iris", "load_iris", "Fisher's iris flowers (4 features, 3 classes).")


@register("breast_cancer")
def load_breast_cancer(seed: int = 0) -> Dataset:
    return _load(
        "breast_cancer",
        "load_breast_cancer",
        "Wisconsin breast cancer (30 features, 2 classes); standardize the inputs.",
    )
