"""Token streams made of documents (names, lines, stories) separated by one token.

The names data is one stream, ``.emma.olivia.ava.``, with ``.`` (id 0) between names. Random
windows of it start anywhere, often in the middle of a name, so the first letters of a window
are predicted from almost no context, and a loss measured on such windows mixes in those blind
guesses. makemore (Karpathy's names model) instead feeds every name from its start,
``.emma`` -> ``emma.``, and averages the loss over the letters of whole names. This module gives
both halves of that:

* :func:`document_starts` - the positions where a window may start so that it begins with the
  separator, that is, at the beginning of a document (``fit_lm(start_token=0)`` trains on such
  windows, as makemore does; the window then runs on into the next names);
* :func:`document_loss` - makemore's measurement: every document read from its separator, the
  mean next-token cross-entropy over all its tokens and the separator that ends it, nothing
  from any other document in the context.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.nn.activation import Softmax
from chainrule.nn.functional import log_softmax
from chainrule.validation import check_ids, check_int, check_positive_int

__all__ = ["document_loss", "document_starts", "split_documents"]


def split_documents(ids: np.ndarray, separator: int) -> list[np.ndarray]:
    """The non-empty runs of tokens between separators: ``.ab..c.`` -> [ab, c]."""
    cuts = np.flatnonzero(ids == separator)
    pieces = np.split(ids, cuts)  # each piece but the first starts with the separator
    docs = [p[1:] if i else p for i, p in enumerate(pieces)]
    return [d for d in docs if d.size]


def document_starts(ids: np.ndarray, block_size: int, separator: int) -> np.ndarray:
    """Positions s with ids[s] == separator and room for a window: s + block_size < len(ids)."""
    starts = np.flatnonzero(ids[: max(ids.shape[0] - block_size, 0)] == separator)
    if starts.size == 0:
        raise ValueError(
            f"no window of block_size {block_size} starts with the separator token {separator}: "
            "the stream needs that token before a document and block_size + 1 tokens after it"
        )
    return starts


def document_loss(net: Any, ids: Any, separator: int, batch_size: int = 1024) -> float:
    """Mean next-token cross-entropy over whole documents, each read from its separator.

    ``ids`` is a stream of documents separated by ``separator`` (``.emma.ava.``). Document d of
    n tokens becomes the input ``[sep, d_1 .. d_n-1 ... ]`` and the targets ``[d_1 .. d_n, sep]``:
    n + 1 predictions, each from the document's own prefix only. The result is the average over
    every prediction of every document (makemore's test loss). Each document needs
    n + 1 <= block_size positions; padding after it is never scored.
    """
    V, T = net.vocab_size, net.input_shape[0]
    if V is None or len(net.output_shape) != 2:
        raise ValueError("document_loss needs a language model: ids in, (V, T) out")
    separator = check_int("separator", separator, 0)
    batch_size = check_positive_int("batch_size", batch_size)
    stream = check_ids(np.asarray(ids).reshape(1, -1), None, V, name="ids")[0]
    docs = split_documents(stream, separator)
    if not docs:
        raise ValueError("ids holds no document: only separators")
    longest = max(d.size for d in docs)
    if longest + 1 > T:
        raise ValueError(
            f"the longest document has {longest} tokens: with its separators it needs "
            f"{longest + 1} positions, more than the model's block_size {T}"
        )
    m = len(docs)
    X = np.full((T, m), separator, dtype=np.int64)  # (T, m): the engine's layout
    Y = np.full((T, m), separator, dtype=np.int64)
    scored = np.zeros((T, m), dtype=bool)
    for j, d in enumerate(docs):
        X[1 : d.size + 1, j] = d  # [sep, d_1, ..., d_n]
        Y[: d.size, j] = d  # [d_1, ..., d_n, sep]
        scored[: d.size + 1, j] = True
    net.eval()
    *body, last = net.layers
    total = 0.0
    for s in range(0, m, batch_size):
        A = X[:, s : s + batch_size]
        for layer in body if isinstance(last, Softmax) else net.layers:
            A = layer.forward(A)  # the logits Z : (V, T, b)
        logp = (
            log_softmax(A, axis=0)
            if isinstance(last, Softmax)
            else np.log(np.maximum(A, np.finfo(A.dtype).tiny))
        )
        Yb, keep = Y[:, s : s + batch_size], scored[:, s : s + batch_size]
        picked = np.take_along_axis(logp, Yb[None], axis=0)[0]  # log p(target) : (T, b)
        total -= float(picked[keep].sum())
    return total / int(scored.sum())
