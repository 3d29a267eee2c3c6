"""Language models, from Bengio's MLP to a GPT: ``cr.models.char_mlp``, ``rnn_lm``, ``gru_lm``,
``gpt``. Each is a ``chainrule.Sequential`` of the library's own layers, trained by the same
backward passes as every other network.

Token ids enter as (m, T) at the user boundary and (T, m) in the engine; an Embedding turns them
into vectors (n_embd, T, m).
"""

from __future__ import annotations

import numpy as np

from chainrule.model.network import Sequential
from chainrule.nn.activation import Softmax, Tanh
from chainrule.nn.dense import Dense
from chainrule.nn.dropout import Dropout
from chainrule.nn.embedding import Embedding
from chainrule.nn.flatten import Flatten
from chainrule.nn.gru import GRU
from chainrule.nn.init import as_rng
from chainrule.nn.layernorm import LayerNorm
from chainrule.nn.positional import PositionalEmbedding
from chainrule.nn.rnn import RNN
from chainrule.nn.transformer import TransformerBlock
from chainrule.validation import check_positive_int

__all__ = ["char_mlp", "rnn_lm", "gru_lm", "gpt"]


def char_mlp(
    vocab_size: int,
    context: int = 3,
    n_embd: int = 10,
    n_hidden: int = 200,
    seed: int | None = 0,
    dtype: np.dtype | type = np.float32,
) -> Sequential:
    """Bengio et al. (2003), makemore's MLP: the previous ``context`` characters -> the next.

    ids (context, m) -> Embedding (n_embd, context, m) -> Flatten (context*n_embd, m)
    -> Dense + tanh (n_hidden, m) -> Dense + softmax (vocab_size, m). Input X (m, context).
    """
    rng = as_rng(seed)
    V, T = check_positive_int("vocab_size", vocab_size), check_positive_int("context", context)
    layers = [
        Embedding(V, n_embd, seed=rng),
        Flatten(),
        Dense(T * n_embd, n_hidden, init="xavier", seed=rng),
        Tanh(),
        Dense(n_hidden, V, init="xavier", seed=rng),
        Softmax(),
    ]
    net = Sequential(layers, loss="ce", input_shape=(T,), dtype=dtype)
    net.seed = seed
    return net


def _recurrent_lm(
    cell: type, vocab_size: int, n_embd: int, n_hidden: int, block_size: int, seed: int | None,
    dtype: np.dtype | type,
) -> Sequential:  # fmt: skip
    rng = as_rng(seed)
    V = check_positive_int("vocab_size", vocab_size)
    layers = [
        Embedding(V, n_embd, seed=rng),
        cell(n_embd, n_hidden, seed=rng),
        Dense(n_hidden, V, init="xavier", seed=rng),
        Softmax(),
    ]
    net = Sequential(layers, loss="ce", input_shape=(block_size,), dtype=dtype)
    net.seed = seed
    return net


def rnn_lm(
    vocab_size: int,
    n_embd: int = 32,
    n_hidden: int = 128,
    block_size: int = 32,
    seed: int | None = 0,
    dtype: np.dtype | type = np.float32,
) -> Sequential:
    """ids (T, m) -> Embedding -> RNN (tanh) -> Dense + softmax at every position (V, T, m)."""
    return _recurrent_lm(RNN, vocab_size, n_embd, n_hidden, block_size, seed, dtype)


def gru_lm(
    vocab_size: int,
    n_embd: int = 32,
    n_hidden: int = 128,
    block_size: int = 32,
    seed: int | None = 0,
    dtype: np.dtype | type = np.float32,
) -> Sequential:
    """ids (T, m) -> Embedding -> GRU -> Dense + softmax at every position (V, T, m)."""
    return _recurrent_lm(GRU, vocab_size, n_embd, n_hidden, block_size, seed, dtype)


def gpt(
    vocab_size: int,
    block_size: int,
    n_layer: int = 4,
    n_head: int = 4,
    n_embd: int = 64,
    dropout: float = 0.0,
    seed: int | None = 0,
    dtype: np.dtype | type = np.float32,
) -> Sequential:
    """A GPT (GPT-2's architecture, nanoGPT's sizes): next-token probabilities at every position.

    ids (T, m) -> token Embedding + PositionalEmbedding (n_embd, T, m) -> Dropout
    -> n_layer x TransformerBlock -> LayerNorm -> Dense (vocab_size, T, m) -> Softmax.
    Weights N(0, 0.02) as GPT-2 (the blocks' output projections / sqrt(2 n_layer)).
    """
    rng = as_rng(seed)
    V = check_positive_int("vocab_size", vocab_size)
    T = check_positive_int("block_size", block_size)
    C = check_positive_int("n_embd", n_embd)
    n_layer = check_positive_int("n_layer", n_layer)
    tokens = Embedding(V, C, seed=rng)
    tokens.W = 0.02 * rng.standard_normal(tokens.W.shape)
    head = Dense(C, V)
    head.W = 0.02 * rng.standard_normal(head.W.shape)
    head.b[...] = 0.0
    layers = [
        tokens,
        PositionalEmbedding(T, C, seed=rng),
        Dropout(dropout, seed=rng),
        *[TransformerBlock(C, n_head, dropout, n_layer=n_layer, seed=rng) for _ in range(n_layer)],
        LayerNorm(C),
        head,
        Softmax(),
    ]
    net = Sequential(layers, loss="ce", input_shape=(T,), dtype=dtype)
    net.seed = seed
    return net
