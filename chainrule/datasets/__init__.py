"""Datasets: ``chainrule.datasets.load(name)`` returns a :class:`Dataset`, all offline."""

from __future__ import annotations

from chainrule.datasets import sklearn_data, toy  # noqa: F401  (registers the loaders)
from chainrule.datasets.base import LOADERS, Dataset

__all__ = ["Dataset", "load", "names"]


def names() -> list[str]:
    """Every name ``load`` accepts."""
    return sorted(LOADERS)


def load(name: str, seed: int = 0) -> Dataset:
    """Load a dataset by name (see ``names()``); generated ones are seeded by ``seed``."""
    if not isinstance(name, str):
        raise TypeError(f"dataset name must be a str, got {type(name).__name__}")
    key = (
        name.lower().replace("_", "-")
        if name.lower().replace("_", "-") in LOADERS
        else name.lower()
    )
    if key not in LOADERS:
        raise ValueError(f"unknown dataset {name!r}; expected one of {', '.join(names())}")
    return LOADERS[key](seed=seed)
