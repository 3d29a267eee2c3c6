"""Datasets: ``chainrule.data.load(name)`` returns a :class:`Dataset`, all offline."""

from __future__ import annotations

from chainrule.data import (  # noqa: F401  (importing registers the loaders)
    fashion_mnist,
    mnist,
    mnist1d,
    sklearn_data,
    toy,
)
from chainrule.data.base import LOADERS, Dataset

__all__ = ["Dataset", "load", "names"]


def names() -> list[str]:
    """Every name ``load`` accepts."""
    return sorted(LOADERS)


def load(name: str, seed: int = 0) -> Dataset:
    """Load a dataset by name (see ``names()``); generated ones are seeded by ``seed``."""
    if not isinstance(name, str):
        raise TypeError(f"dataset name must be a str, got {type(name).__name__}")
    # "-" and "_" are interchangeable: fashion_mnist, breast-cancer
    lowered = name.lower()
    candidates = (lowered, lowered.replace("_", "-"), lowered.replace("-", "_"))
    key = next((c for c in candidates if c in LOADERS), lowered)
    if key not in LOADERS:
        raise ValueError(f"unknown dataset {name!r}; expected one of {', '.join(names())}")
    return LOADERS[key](seed=seed)
