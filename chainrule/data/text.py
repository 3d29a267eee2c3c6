"""Character vocabularies and token streams for character-level language models.

A :class:`Vocabulary` is the sorted set of characters of a text; a character's id is its index
in that order, so ids run 0 .. size-1 and are stable for a given character set (a model file
stores ``vocab.to_config()`` and rebuilds it with ``Vocabulary.from_config``). A
:class:`TextDataset` holds the train/val(/test) token streams as 1-D int64 id arrays.

``load_text(path)`` (``chainrule.data.load("text", path=...)``) reads any UTF-8 file and splits
it like nanoGPT's ``shakespeare_char/prepare.py``: the first 90% of the characters train, the
last 10% validate; the vocabulary is built from the whole file.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.data.base import optional_import, register

__all__ = [
    "Vocabulary",
    "CharVocab",
    "TextDataset",
    "load_text",
    "split_stream",
    "check_val_fraction",
]

CONFIG_TYPE = "char_vocabulary"


class Vocabulary:
    """Sorted unique characters; ``encode`` maps text to int64 ids, ``decode`` maps back."""

    def __init__(self, chars: Iterable[str]) -> None:
        unique = set()
        for c in chars:
            if not isinstance(c, str) or len(c) != 1:
                raise ValueError(f"a vocabulary holds single characters, got {c!r}")
            unique.add(c)
        if not unique:
            raise ValueError("a vocabulary needs at least one character, got none")
        self.chars: tuple[str, ...] = tuple(sorted(unique))
        self._codes = np.array([ord(c) for c in self.chars], dtype=np.uint32)
        # code point -> id (-1: not in the vocabulary); the table spans 0 .. max code point
        self._table = np.full(int(self._codes[-1]) + 1, -1, dtype=np.int64)
        self._table[self._codes] = np.arange(len(self.chars), dtype=np.int64)
        self._codes.setflags(write=False)
        self._table.setflags(write=False)

    @classmethod
    def from_text(cls, text: str) -> Vocabulary:
        """The vocabulary of every character that occurs in ``text``."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        return cls(text)

    @property
    def size(self) -> int:
        return len(self.chars)

    def __len__(self) -> int:
        return len(self.chars)

    def __contains__(self, char: object) -> bool:
        return isinstance(char, str) and char in self.chars

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocabulary) and self.chars == other.chars

    def __hash__(self) -> int:
        return hash(self.chars)

    def __repr__(self) -> str:
        shown = "".join(self.chars)
        if len(shown) > 40:
            shown = shown[:37] + "..."
        return f"Vocabulary(size={self.size}, chars={shown!r})"

    def encode(self, text: str) -> np.ndarray:
        """``text`` as a 1-D int64 array of ids; ValueError naming the first unknown character."""
        if not isinstance(text, str):
            raise TypeError(f"encode expects a str, got {type(text).__name__}")
        codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4")
        ids = np.full(codes.shape, -1, dtype=np.int64)
        known = codes < len(self._table)
        ids[known] = self._table[codes[known]]
        bad = np.flatnonzero(ids < 0)
        if bad.size:
            i = int(bad[0])
            missing = sorted(set(text) - set(self.chars))
            listed = "".join(missing[:20]) + ("..." if len(missing) > 20 else "")
            raise ValueError(
                f"character {text[i]!r} at position {i} is not in the vocabulary of "
                f"{self.size} characters ({len(missing)} unknown: {listed!r})"
            )
        return ids

    def decode(self, ids: Any) -> str:
        """The text of a 1-D sequence of ids in 0 .. size-1."""
        if isinstance(ids, (str, bytes)):
            raise TypeError(f"decode expects integer ids, got {type(ids).__name__}")
        arr = np.asarray(ids)
        if arr.size == 0:
            return ""
        if arr.dtype.kind not in "iu":
            raise TypeError(f"decode expects integer ids, got dtype {arr.dtype}")
        if arr.ndim != 1:
            raise ValueError(f"decode expects a 1-D sequence of ids, got shape {arr.shape}")
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0 or hi >= self.size:
            bad = lo if lo < 0 else hi
            raise ValueError(f"id {bad} is out of range for a vocabulary of size {self.size}")
        codes = self._codes[arr.astype(np.int64, copy=False)]
        return codes.astype("<u4").tobytes().decode("utf-32-le", "surrogatepass")

    def to_config(self) -> dict[str, Any]:
        """A JSON-able description: the characters in id order."""
        return {"type": CONFIG_TYPE, "chars": "".join(self.chars)}

    @classmethod
    def from_config(cls, config: Any) -> Vocabulary:
        """Rebuild from ``to_config()``; the characters must be sorted and unique (ids = order)."""
        if not isinstance(config, dict) or config.get("type") != CONFIG_TYPE:
            raise ValueError(
                f"expected a vocabulary config {{'type': {CONFIG_TYPE!r}, 'chars': ...}}, "
                f"got {config!r:.80}"
            )
        chars = config.get("chars")
        if not isinstance(chars, str) or not chars:
            raise ValueError(f"vocabulary config 'chars' must be a non-empty str, got {chars!r}")
        if list(chars) != sorted(set(chars)):
            raise ValueError(
                "vocabulary config 'chars' must be sorted and unique (a character's id is its "
                "position), got " + repr(chars[:80])
            )
        return cls(chars)


#: the short name
CharVocab = Vocabulary


@dataclass
class TextDataset:
    """Token streams: ``train_ids``/``val_ids`` (/``test_ids``) are 1-D int64 ids into ``vocab``.

    Word lists (e.g. ``names``) also keep the words of each split; their streams are the words
    joined and surrounded by the boundary token (``".emma.olivia."``).
    """

    name: str
    vocab: Vocabulary
    train_ids: np.ndarray
    val_ids: np.ndarray
    description: str
    test_ids: np.ndarray | None = None
    train_words: list[str] | None = None
    val_words: list[str] | None = None
    test_words: list[str] | None = None
    task: str = "language-model"

    @property
    def vocab_size(self) -> int:
        return self.vocab.size

    def __repr__(self) -> str:
        sizes = f"train {len(self.train_ids):,}, val {len(self.val_ids):,}"
        if self.test_ids is not None:
            sizes += f", test {len(self.test_ids):,}"
        return f"TextDataset({self.name!r}: {sizes} tokens, vocabulary {self.vocab.size})"


def check_val_fraction(val_fraction: Any) -> float:
    """``val_fraction`` as a float strictly between 0 and 1."""
    if isinstance(val_fraction, bool) or not isinstance(val_fraction, (int, float)):
        raise TypeError(f"val_fraction must be a number in (0, 1), got {val_fraction!r}")
    if not 0.0 < float(val_fraction) < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    return float(val_fraction)


def split_stream(ids: np.ndarray, val_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """First ``1 - val_fraction`` of the stream for training, the rest for validation."""
    n_train = int(len(ids) * (1.0 - check_val_fraction(val_fraction)))
    if n_train < 1 or n_train >= len(ids):
        raise ValueError(
            f"a text of {len(ids)} characters is too short to split with "
            f"val_fraction={val_fraction}: both train and val need at least one character"
        )
    return ids[:n_train].copy(), ids[n_train:].copy()


def read_utf8(path: str | os.PathLike[str]) -> str:
    """The text of a UTF-8 file (a leading BOM dropped, newlines normalized to ``\\n``)."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or path, got {type(path).__name__}")
    p = Path(path)
    if not p.exists():
        raise ValueError(f"text file {str(p)!r} does not exist")
    if not p.is_file():
        raise ValueError(f"{str(p)!r} is not a file")
    raw = p.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"{str(p)!r} is not UTF-8 text: byte 0x{raw[exc.start]:02x} at offset {exc.start} "
            f"({exc.reason}); convert it first, e.g. iconv -f latin1 -t utf-8"
        ) from None
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text:
        raise ValueError(f"text file {str(p)!r} is empty")
    return text


def text_dataset(name: str, text: str, val_fraction: float, description: str) -> TextDataset:
    """Vocabulary of the whole text, then the fixed head/tail split."""
    vocab = Vocabulary.from_text(text)
    train, val = split_stream(vocab.encode(text), val_fraction)
    return TextDataset(name, vocab, train, val, description)


@register("text")
def load_text(
    path: str | os.PathLike[str], val_fraction: float = 0.1, seed: int = 0
) -> TextDataset:
    """Any UTF-8 file as a character stream: first 90% train, last 10% val (``seed`` unused)."""
    text = read_utf8(path)
    ds = text_dataset("text", text, val_fraction, "")
    ds.description = (
        f"{os.fspath(path)}: {len(text):,} characters, vocabulary {ds.vocab.size}; fixed split, "
        f"first {len(ds.train_ids):,} characters train, last {len(ds.val_ids):,} val."
    )
    return ds


def package_dir(module: str, install: str, purpose: str) -> Path:
    """The folder of an installed package, found WITHOUT importing it (its data files are read
    directly); ImportError with the install command when it is absent."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        optional_import(module, install, purpose)  # raises, naming the install command
        raise ImportError(f"{purpose} needs the package {module!r}; install it with: {install}")
    return Path(next(iter(spec.submodule_search_locations)))
