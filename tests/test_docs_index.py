"""docs/math.md's formula-to-function index names real functions: every ``chainrule.*`` path in
it imports and resolves, so a rename cannot leave the derivations pointing at nothing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from docs_paths import resolve

DOCS = Path(__file__).resolve().parent.parent / "docs"


def _index_paths() -> list[str]:
    text = (DOCS / "math.md").read_text(encoding="utf-8")
    index = text.split("## 16. Formula-to-function index", 1)[1]
    return sorted(set(re.findall(r"`(chainrule(?:\.\w+)+)`", index)))


def _resolve(path: str) -> object:
    return resolve(path)


def test_the_index_is_not_empty() -> None:
    assert len(_index_paths()) > 30


@pytest.mark.parametrize("path", _index_paths())
def test_every_indexed_function_exists(path: str) -> None:
    assert callable(_resolve(path)) or isinstance(_resolve(path), property), path
