"""Sampling text from a language model, one token at a time.

At every step the model sees the last tokens (its context), gives a probability for each token
of the vocabulary to come next, and one is drawn:

    z = logits of the next token (V,)  ->  z / temperature  ->  keep the top_k largest
      ->  p = softmax(z)  ->  next ~ p  ->  append, and repeat

A temperature below 1 sharpens p (more likely tokens, less variety), above 1 flattens it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.nn import functional as F
from chainrule.nn.activation import Softmax
from chainrule.validation import check_ids, check_int, check_positive_float

__all__ = ["generate", "next_token_logits"]


def next_token_logits(net: Any, ids: np.ndarray) -> np.ndarray:
    """Logits of the token after each row of ``ids`` (m, t): (V, m), in prediction mode.

    A model with an output at every position (GPT, RNN LM) gives (V, t, m): the last position's
    column is the next token's. A model with one output per example (the char MLP) gives (V, m).
    """
    net.eval()
    *body, last = net.layers
    A = ids.T  # (t, m): the engine's layout
    for layer in body if isinstance(last, Softmax) else net.layers:
        A = layer.forward(A)
    if not isinstance(last, Softmax):  # probabilities: their logs are logits up to a constant
        A = np.log(np.maximum(A, np.finfo(A.dtype).tiny))
    return A[:, -1, :] if A.ndim == 3 else A


def generate(
    net: Any,
    prompt_ids: Any,
    max_new_tokens: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    seed: int | None = None,
    stop_token: int | None = None,
    pad_token: int = 0,
) -> np.ndarray:
    """The prompt followed by ``max_new_tokens`` sampled tokens: (t + new,) or (m, t + new).

    ``prompt_ids`` is (t,) or (m, t) token ids (an empty prompt starts from ``pad_token``
    context). The context is the last ``block_size`` tokens (the network's input length);
    a model that needs exactly that many (the char MLP) gets the context padded on the left
    with ``pad_token`` (makemore pads with '.', id 0). Sampling stops early for a row when it
    draws ``stop_token`` (the row then repeats it), and for all rows once every row has.
    """
    V = net.vocab_size
    if V is None:
        raise ValueError(
            "generate needs a language model: a network whose first layer is an Embedding"
        )
    max_new_tokens = check_int("max_new_tokens", max_new_tokens, 0)
    temperature = check_positive_float("temperature", temperature)
    if top_k is not None:
        top_k = min(check_int("top_k", top_k, 1), V)
    single = np.ndim(prompt_ids) == 1
    prompt = np.asarray(prompt_ids)
    if prompt.size == 0:
        prompt = np.full((1, 1), pad_token, dtype=np.int64)
        skip = 1  # the pad was only a start: it is not part of the output
    else:
        prompt, skip = check_ids(prompt, None, V, name="prompt_ids"), 0
    rng = np.random.default_rng(seed)
    T = net.input_shape[0]
    per_position = len(net.output_shape) == 2  # (V, T): any context length up to T works
    ids = prompt
    done = np.zeros(ids.shape[0], dtype=bool)
    for _ in range(max_new_tokens):
        ctx = ids[:, -T:]
        if not per_position and ctx.shape[1] < T:  # exactly T tokens: pad on the left
            pad = np.full((ctx.shape[0], T - ctx.shape[1]), pad_token, dtype=ctx.dtype)
            ctx = np.concatenate([pad, ctx], axis=1)
        z = next_token_logits(net, ctx).astype(np.float64) / temperature  # (V, m)
        if top_k is not None and top_k < V:
            kth = np.partition(z, V - top_k, axis=0)[V - top_k]  # (m,) the k-th largest
            z = np.where(z < kth, -np.inf, z)
        p = F.softmax(z, axis=0)  # (V, m)
        u = rng.random(p.shape[1])  # one uniform draw per row: inverse-CDF sampling
        nxt = (np.cumsum(p, axis=0) < u).sum(axis=0).clip(0, V - 1)  # (m,)
        if stop_token is not None:
            nxt = np.where(done, stop_token, nxt)
            done |= nxt == stop_token
        ids = np.concatenate([ids, nxt[:, None].astype(ids.dtype)], axis=1)
        if stop_token is not None and done.all():
            break
    out = ids[:, skip:]
    return out[0] if single or skip else out
