"""Token embedding: A = W[:, ids], the vector of each token id, at every position.

An Embedding is a Dense layer without bias whose input is the one-hot code of each id:

    Z = W @ onehot(ids) = W[:, ids]        W: (n_embd, vocab_size), onehot: (vocab_size, T*m)

Column j of W is token j's vector. Indexing is the same product without building the one-hot
matrix (vocab_size times larger than the ids), and the backward is the same product's transpose
without it either: a scatter-add of the upstream gradient into the columns that were used.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.nn.init import as_rng
from chainrule.nn.layer import Layer, register_layer
from chainrule.validation import check_positive_int

__all__ = ["Embedding"]


@register_layer
class Embedding(Layer):
    """A lookup table of ``vocab_size`` trainable vectors of length ``n_embd``.

    Parameters
    ----------
    vocab_size:
        How many distinct token ids there are; ids lie in [0, vocab_size).
    n_embd:
        The length of each token's vector (the number of features the next layer sees).
    seed:
        int, Generator or None; the same seed gives bit-identical weights.

    W has shape (n_embd, vocab_size) and starts N(0, 1), as torch.nn.Embedding's weight (which is
    stored transposed, (vocab_size, n_embd): torch's ``weight`` is this layer's ``W.T``).

    ``decay_names`` is empty: no L2 / AdamW weight decay by default. A decayed embedding pulls
    every vector toward 0 at each step, also the vectors of tokens absent from the batch, whose
    gradient is 0; torch's AdamW decays an embedding only when it is put in a decayed group, and
    GPT-2 style training recipes (nanoGPT, llm.c) keep embeddings out of it too. A subclass
    can set ``decay_names = ("W",)`` to decay them.
    """

    param_names = ("W",)
    decay_names = ()

    def __init__(
        self,
        vocab_size: int,
        n_embd: int,
        seed: int | np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        self.vocab_size = check_positive_int("vocab_size", vocab_size)
        self.n_embd = check_positive_int("n_embd", n_embd)
        rng = as_rng(seed)
        self.W = rng.standard_normal((self.n_embd, self.vocab_size))  # float64, N(0, 1)
        self.dC_dW: np.ndarray | None = None
        self.ids: np.ndarray | None = None

    def _check_ids(self, ids: Any) -> np.ndarray:
        """``ids`` as an integer array with every entry in [0, vocab_size), or a clear error."""
        if isinstance(ids, (str, bytes, dict)) or ids is None:
            raise TypeError(
                f"Embedding expects an integer array of token ids, got {type(ids).__name__}"
            )
        arr = np.asarray(ids)
        if arr.dtype.kind not in "iu":  # bools, floats, strings, objects: refused
            raise TypeError(
                f"Embedding expects integer token ids (dtype int or uint), got dtype {arr.dtype}"
                + (
                    "; convert whole-number ids with ids.astype(np.int64)"
                    if arr.dtype.kind == "f"
                    else ""
                )
            )
        if arr.size:
            low, high = int(arr.min()), int(arr.max())
            if low < 0 or high >= self.vocab_size:
                bad = low if low < 0 else high
                where = tuple(int(i) for i in np.argwhere(arr == bad)[0])
                raise ValueError(
                    f"Embedding({self.vocab_size}, {self.n_embd}) expects token ids in "
                    f"[0, {self.vocab_size}), got {bad} at index {where}"
                )
        return arr.astype(np.intp)  # a copy: a later change to the caller's ids cannot reach it

    def forward(self, ids: np.ndarray) -> np.ndarray:
        """A = W[:, ids] : (n_embd, vocab_size) indexed by (T, m) -> (n_embd, T, m).

        Any integer shape works: ids (m,) (one position) gives (n_embd, m), ids (T, m) gives
        (n_embd, T, m). Fancy indexing copies, so A is a fresh array.
        """
        self.ids = self._check_ids(ids)
        return self.W[:, self.ids]  # (n_embd, *ids.shape)

    def backward(self, dC_dA: np.ndarray) -> None:
        """Chain rule through A = W @ onehot(ids); returns None (ids are not differentiable).

        Forward, with the positions flattened, P = T*m columns:

            A = W @ H      W: (n_embd, vocab_size), H = onehot(ids): (vocab_size, P), A: (n_embd, P)

        As for a Dense layer, dC_dW = dC_dA @ H.T : (n_embd, P) @ (P, vocab_size). Column j of
        H.T selects the positions p where ids[p] == j, so

            dC_dW[:, j] = sum over {p : ids[p] == j} of dC_dA[:, p]     : (n_embd,)

        and columns of tokens that were not used are 0. A token used twice (at two positions,
        or in two examples) gets the SUM of the two gradients: the same column W[:, j] reaches
        the cost through both positions, and the multivariable chain rule adds the
        contributions of every path. ``dC_dW[:, ids] = dC_dA`` would ASSIGN, so the last
        use would silently overwrite the others; ``np.add.at`` is the unbuffered add that adds
        once per occurrence (``dC_dW[:, ids] += dC_dA`` has the same bug: buffered indexing
        adds only once per distinct id).

        The scatter runs on the transposes, dC_dW.T (vocab_size, n_embd), one row per token:
        row ids[p] += dC_dA[:, p]. No 1/m: dC_dA already carries it.
        """
        ids = self.ids
        if ids is None:
            raise RuntimeError("Embedding.backward called before forward")
        expected = (self.n_embd, *ids.shape)
        if dC_dA.shape != expected:
            raise ValueError(
                f"Embedding.backward expects dC_dA of shape {expected} (n_embd, *ids.shape), "
                f"got {dC_dA.shape}"
            )
        dC_dW = np.zeros_like(self.W)  # (n_embd, vocab_size)
        np.add.at(dC_dW.T, ids.reshape(-1), dC_dA.reshape(self.n_embd, -1).T)  # (P, n_embd) rows
        self.dC_dW = dC_dW
        return None

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """(T,) -> (n_embd, T); () (one id per example) -> (n_embd,)."""
        return (self.n_embd, *tuple(input_shape))

    def config(self) -> dict[str, Any]:
        return {"vocab_size": self.vocab_size, "n_embd": self.n_embd}
