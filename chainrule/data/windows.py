"""Fixed-context training examples from words, as makemore builds them for its MLP.

Each word is read one character at a time, starting from a context of boundary tokens ('.'):

    "emma" with context 3:   ...  -> e      ..e -> m      .em -> m      emm -> a      mma -> .

so every character (and the word's end, the boundary token again) is one example whose input is
the ``context`` characters before it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from chainrule.validation import check_positive_int

__all__ = ["context_windows"]


def context_windows(
    words: Iterable[str],
    encode: Callable[[str], np.ndarray],
    context: int = 3,
    boundary: str = ".",
) -> tuple[np.ndarray, np.ndarray]:
    """(X (m, context) ids, y (m,) the next id) for every character of every word and its end.

    ``encode`` turns a string into ids (a vocabulary's ``encode``); ``boundary`` pads the start
    of each word and marks its end, as makemore's '.' does.
    """
    context = check_positive_int("context", context)
    (pad,) = np.asarray(encode(boundary)).tolist()
    X: list[list[int]] = []
    y: list[int] = []
    for word in words:
        window = [pad] * context
        for ix in [*np.asarray(encode(word)).tolist(), pad]:
            X.append(window)
            y.append(ix)
            window = [*window[1:], ix]
    return np.asarray(X, dtype=np.int64).reshape(-1, context), np.asarray(y, dtype=np.int64)
