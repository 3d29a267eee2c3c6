"""Datasets: ``chainrule.data.load(name)`` returns a :class:`Dataset`, all offline.

The text datasets (``text``, ``names``, ``shakespeare``) return a :class:`TextDataset` of
character-id streams instead; options beyond ``seed`` go to the loader as keyword arguments,
e.g. ``load("text", path="input.txt")``.
"""

from __future__ import annotations

import inspect
from typing import Any

from chainrule.data import (  # noqa: F401  (importing registers the loaders)
    babynames,
    fashion_mnist,
    mnist,
    mnist1d,
    shakespeare,
    sklearn_data,
    text,
    toy,
)
from chainrule.data.base import LOADERS, Dataset
from chainrule.data.text import TextDataset, Vocabulary

__all__ = ["Dataset", "TextDataset", "Vocabulary", "load", "names"]


def names() -> list[str]:
    """Every name ``load`` accepts."""
    return sorted(LOADERS)


def _check_options(key: str, loader: Any, options: dict[str, Any]) -> None:
    """TypeError naming the options a loader does not take, or the ones it needs."""
    params = inspect.signature(loader).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return
    accepted = [n for n, p in params.items() if n != "seed" and p.kind is not p.VAR_POSITIONAL]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        takes = ", ".join(accepted) if accepted else "no options besides seed"
        raise TypeError(
            f"dataset {key!r} got unexpected option(s) {', '.join(unknown)}; it takes: {takes}"
        )
    required = [
        n for n in accepted if params[n].default is inspect.Parameter.empty and n not in options
    ]
    if required:
        example = ", ".join(f"{n}=..." for n in required)
        raise TypeError(f"dataset {key!r} needs {example}, e.g. load({key!r}, {example})")


def load(name: str, seed: int = 0, **options: Any) -> Dataset | TextDataset:
    """Load a dataset by name (see ``names()``); generated ones are seeded by ``seed``.

    Extra keyword ``options`` go to the loader (``load("text", path=...)``,
    ``load("moons", m=1000)``).
    """
    if not isinstance(name, str):
        raise TypeError(f"dataset name must be a str, got {type(name).__name__}")
    # "-" and "_" are interchangeable: fashion_mnist, breast-cancer
    lowered = name.lower()
    candidates = (lowered, lowered.replace("_", "-"), lowered.replace("-", "_"))
    key = next((c for c in candidates if c in LOADERS), lowered)
    if key not in LOADERS:
        raise ValueError(f"unknown dataset {name!r}; expected one of {', '.join(names())}")
    loader = LOADERS[key]
    _check_options(key, loader, options)
    return loader(seed=seed, **options)
