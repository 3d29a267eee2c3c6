"""Learned position embeddings: each of the T positions adds its own vector to the sequence.

Attention looks at a set of vectors, not a sequence: nothing in q^T k says which token came
first. GPT-2 adds a learned vector per position to each token's embedding, so the same token at
position 3 and at position 7 enters the network as two different vectors:

    A[:, t, j] = A_prev[:, t, j] + W[:, t]          A_prev, A: (C, T, m); W: (C, block_size)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.nn.init import as_rng
from chainrule.nn.layer import Layer, register_layer
from chainrule.validation import check_positive_int

__all__ = ["PositionalEmbedding"]


@register_layer
class PositionalEmbedding(Layer):
    """A = A_prev + W[:, :T] at every position t < T <= block_size (GPT-2's ``wpe``).

    ``W`` is (n_embd, block_size), initialised N(0, 0.02) like GPT-2 (``seed`` as in Dense).
    A sequence shorter than ``block_size`` uses the first T columns (generation grows a prompt
    one token at a time); a longer one is an error.
    """

    param_names = ("W",)
    decay_names = ()  # GPT-2 / nanoGPT: embeddings are not decayed

    def __init__(self, block_size: int, n_embd: int, seed: int | np.random.Generator | None = None):
        super().__init__()
        self.block_size = check_positive_int("block_size", block_size)
        self.n_embd = check_positive_int("n_embd", n_embd)
        self.W = 0.02 * as_rng(seed).standard_normal((self.n_embd, self.block_size))
        self.dC_dW: np.ndarray | None = None
        self.T: int | None = None

    def forward(self, A_prev: np.ndarray) -> np.ndarray:
        """A = A_prev + W[:, :T, None] : (C, T, m) + (C, T, 1) -> (C, T, m)."""
        if A_prev.ndim != 3 or A_prev.shape[0] != self.n_embd:
            raise ValueError(
                f"PositionalEmbedding expects a sequence of shape ({self.n_embd}, T, m), "
                f"got {A_prev.shape}"
            )
        T = A_prev.shape[1]
        if T > self.block_size:
            raise ValueError(
                f"a sequence of {T} positions is longer than block_size {self.block_size}"
            )
        self.T = T
        return A_prev + self.W[:, :T, None]  # a fresh array

    def backward(self, dC_dA: np.ndarray) -> np.ndarray:
        """Forward: A[c, t, j] = A_prev[c, t, j] + W[c, t].

        W[c, t] is added to every example j at position t, so its gradient sums over m; the
        columns of positions that were not used get 0:
            dC_dW[:, :T] = sum_j dC_dA[:, :, j]                  : (C, T, m) -> (C, T)
        A_prev enters with coefficient 1:
            dC_dA_prev = dC_dA                                   : (C, T, m)
        """
        if self.T is None:
            raise RuntimeError("PositionalEmbedding.backward called before forward")
        dC_dW = np.zeros_like(self.W)
        dC_dW[:, : self.T] = dC_dA.sum(axis=2)  # (C, T)
        self.dC_dW = dC_dW
        return dC_dA

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        if len(input_shape) != 2 or input_shape[0] != self.n_embd:
            raise ValueError(
                f"PositionalEmbedding expects ({self.n_embd}, T) per example, got {input_shape}"
            )
        if input_shape[1] > self.block_size:
            raise ValueError(f"T = {input_shape[1]} is longer than block_size {self.block_size}")
        return tuple(input_shape)

    def config(self) -> dict[str, Any]:
        return {"block_size": self.block_size, "n_embd": self.n_embd}
