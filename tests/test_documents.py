"""Streams of documents: windows that start at a document, and makemore's whole-name loss."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.nn.functional import log_softmax
from chainrule.train.documents import document_loss, document_starts, split_documents
from chainrule.train.lm import sample_windows

F64 = np.float64
SEP = 0


def _gpt(block: int = 6) -> cr.Sequential:
    return cr.models.gpt(5, block, n_layer=1, n_head=2, n_embd=8, dtype=F64, seed=0)


def test_split_documents_and_their_starts() -> None:
    ids = np.array([0, 1, 2, 0, 0, 3, 0, 4])
    assert [d.tolist() for d in split_documents(ids, SEP)] == [[1, 2], [3], [4]]
    assert document_starts(ids, 2, SEP).tolist() == [0, 3, 4]  # s + 2 < 8
    with pytest.raises(ValueError, match="starts with the separator"):
        document_starts(np.array([1, 2, 3, 4]), 2, SEP)


def test_sampled_windows_begin_at_a_separator() -> None:
    rng = np.random.default_rng(0)
    ids = np.array([0, 1, 2, 0, 3, 3, 3, 0, 4, 1, 0, 2, 2])
    X, Y = sample_windows(ids, 3, 50, rng, document_starts(ids, 3, SEP))
    assert (X[:, 0] == SEP).all()
    np.testing.assert_array_equal(X[:, 1:], Y[:, :-1])


def test_document_loss_by_hand() -> None:
    """Each name from its own '.', scored over its letters and its closing '.' only."""
    net = _gpt()
    ids = np.array([0, 1, 2, 0, 3, 0, 4, 4, 1, 0])  # .ab.c.dda.  ->  ab, c, dda
    got = document_loss(net, ids, SEP)
    total, n = 0.0, 0
    for doc in ([1, 2], [3], [4, 4, 1]):
        x = np.array([[SEP] + doc])  # (1, t): one document alone, nothing after it
        A = x.T
        for layer in net.layers[:-1]:
            A = layer.forward(A)
        logp = log_softmax(A, axis=0)[:, :, 0]  # (V, t)
        targets = doc + [SEP]
        total -= sum(logp[tok, t] for t, tok in enumerate(targets))
        n += len(targets)
    assert got == pytest.approx(total / n, rel=1e-12)


def test_document_loss_refuses_what_it_cannot_score() -> None:
    net = _gpt(block=3)
    with pytest.raises(ValueError, match="longest document has 3 tokens"):
        document_loss(net, np.array([0, 1, 2, 3, 0]), SEP)
    with pytest.raises(ValueError, match="no document"):
        document_loss(net, np.array([0, 0, 0]), SEP)
    with pytest.raises(ValueError, match="ids"):
        document_loss(net, np.array([0, 9, 0]), SEP)


def test_fit_lm_with_start_token_trains_on_documents() -> None:
    rng = np.random.default_rng(1)
    words = [rng.integers(1, 5, rng.integers(1, 5)).tolist() for _ in range(300)]
    ids = np.array([t for w in words for t in [SEP, *w]] + [SEP])
    net = _gpt()
    before = document_loss(net, ids[:400], SEP)
    hist = net.fit_lm(ids, ids[:400], steps=60, batch_size=8, lr=1e-2, eval_every=30,
                      verbose=False, start_token=SEP)  # fmt: skip
    assert hist["val_loss"][-1] < hist["val_loss"][0]
    assert document_loss(net, ids[:400], SEP) < before
    with pytest.raises(ValueError, match="start_token"):
        net.fit_lm(ids, steps=2, verbose=False, start_token=7)
