"""The Dataset record every loader returns, and the registry behind ``chainrule.data.load``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Dataset", "register", "LOADERS", "optional_import"]


@dataclass
class Dataset:
    """Arrays at the user boundary: X is (m, features) or (m, C, H, W); y is (m,).

    ``task`` is "binary", "multiclass" or "regression"; ``n_classes`` is 0 for regression.
    ``image_shape`` is the per-example (C, H, W) or (C, L) for image/sequence data, else None.
    """

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    description: str
    task: str = "multiclass"
    n_classes: int = 0
    feature_names: list[str] = field(default_factory=list)
    image_shape: tuple[int, ...] | None = None

    @property
    def n_features(self) -> int:
        return int(np.prod(self.X_train.shape[1:]))

    def __repr__(self) -> str:
        return (
            f"Dataset({self.name!r}: train {self.X_train.shape}, test {self.X_test.shape}, "
            f"{self.task}, {self.n_classes} classes)"
        )


#: name -> loader(seed) -> Dataset
LOADERS: dict[str, Callable[..., Dataset]] = {}


def register(name: str) -> Callable[[Callable[..., Dataset]], Callable[..., Dataset]]:
    def deco(fn: Callable[..., Dataset]) -> Callable[..., Dataset]:
        LOADERS[name] = fn
        return fn

    return deco


def optional_import(module: str, install: str, purpose: str) -> object:
    """Import an optional dependency, or raise ImportError saying exactly how to install it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(
            f"{purpose} needs the package {module!r}; install it with: {install}"
        ) from None
