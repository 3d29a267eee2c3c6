"""Shared by the docs tests: the ``chainrule.*`` paths a page names, and resolving one."""

from __future__ import annotations

import importlib
import re

#: a backticked dotted path such as `chainrule.nn.dense.Dense.backward`
PATH = re.compile(r"`(chainrule(?:\.\w+)+)")


def named_paths(*texts: str) -> list[str]:
    """Every distinct backticked ``chainrule.*`` path in the texts, sorted."""
    return sorted({p for text in texts for p in PATH.findall(text)})


def resolve(path: str) -> object:
    """The object a dotted path names: the longest importable module prefix, then attributes."""
    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for name in parts[cut:]:
            obj = getattr(obj, name)
        return obj
    raise ModuleNotFoundError(path)
