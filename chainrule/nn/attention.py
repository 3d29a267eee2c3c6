"""Causal multi-head self-attention, the mixing step of a GPT block (Vaswani et al. 2017).

A sequence is (C, T, m): C = n_embd features at each of T positions, m examples (examples on the
LAST axis, as everywhere in the engine). Position t may look at positions s <= t only, so the
output at t never depends on the future: the model can be trained to predict token t + 1.

    qkv = W_qkv @ x + b_qkv            (3C, T, m), split into q, k, v : (C, T, m) each
    q, k, v -> (n_head, hs, T, m)      head h owns features h*hs : (h+1)*hs,  hs = C / n_head
    S = q^T k / sqrt(hs)               (n_head, T, T, m): S[h, t, s, j] = q_t . k_s / sqrt(hs)
    P = softmax_s(S), with P = 0 where s > t (the causal mask)
    y = P v                            (n_head, hs, T, m) -> heads concatenated to (C, T, m)
    out = W_o @ y + b_o                (C, T, m)

Initialisation follows GPT-2 / nanoGPT: every weight ~ N(0, 0.02^2), every bias 0 (nanoGPT
additionally shrinks the output projection by 1/sqrt(2 n_layer), which needs the depth of the
whole model: a model builder can rescale ``W_o`` after construction).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.nn.init import as_rng
from chainrule.nn.layer import Layer, register_layer
from chainrule.validation import check_positive_int

__all__ = ["CausalSelfAttention", "causal_mask", "softmax_backward"]

#: GPT-2's weight standard deviation
INIT_STD = 0.02


def causal_mask(T: int) -> np.ndarray:
    """(T, T, 1) booleans, True where position t (row) may attend to position s (column): s <= t.

    The trailing axis of length 1 broadcasts over the m examples of (n_head, T, T, m).
    """
    return np.tril(np.ones((T, T), dtype=bool))[:, :, None]  # (T, T, 1)


def matmul_heads(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """C[h, :, :, j] = A[h, :, :, j] @ B[h, :, :, j] for every head h and example j.

    A : (nh, r, k, m) and B : (nh, k, c, m) -> C : (nh, r, c, m). The examples stay on the last
    axis, as everywhere in the engine; np.matmul wants the matrices on the last two axes, so the
    example axis is moved next to the heads for the product and back after it (views, no
    copies of the inputs). The same numbers as np.einsum("hrkm,hkcm->hrcm", A, B), through BLAS.
    """
    return np.matmul(A.transpose(0, 3, 1, 2), B.transpose(0, 3, 1, 2)).transpose(0, 2, 3, 1)


def softmax_backward(P: np.ndarray, dC_dP: np.ndarray, axis: int) -> np.ndarray:
    """dC_dS = P * (dC_dP - sum_s(dC_dP * P)) for P = softmax(S) along ``axis``.

    dP_s'/dS_s = P_s' (delta_s's - P_s), so dC_dS_s = sum_s' dC_dP_s' P_s' (delta_s's - P_s)
    = P_s (dC_dP_s - sum_s' dC_dP_s' P_s'). Where P = 0 (masked) dC_dS is exactly 0.
    """
    return P * (dC_dP - np.sum(dC_dP * P, axis=axis, keepdims=True))


@register_layer
class CausalSelfAttention(Layer):
    """Multi-head causal self-attention on (n_embd, T, m) sequences; see the module docstring.

    Parameters
    ----------
    n_embd:
        C, the number of features at each position (in and out).
    n_head:
        number of heads; must divide n_embd (head size hs = n_embd // n_head).
    dropout:
        probability of dropping an attention weight P[h, t, s, j] in training (inverted dropout:
        kept weights are divided by 1 - dropout); identity in prediction (``eval()``).
    seed:
        int, Generator or None. The weights are drawn first, then the dropout masks, from one
        generator ``rng`` (saved with checkpoints). ``freeze(True)`` keeps one dropout mask
        (gradient checks).

    Any T >= 1 works, and T may change from call to call (there is no maximum context length
    here; a positional embedding elsewhere sets one).
    """

    param_names = ("W_qkv", "b_qkv", "W_o", "b_o")
    decay_names = ("W_qkv", "W_o")

    def __init__(
        self,
        n_embd: int,
        n_head: int,
        dropout: float = 0.0,
        seed: int | np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        self.n_embd = check_positive_int("n_embd", n_embd)
        self.n_head = check_positive_int("n_head", n_head)
        if self.n_embd % self.n_head != 0:
            raise ValueError(
                f"n_head ({self.n_head}) must divide n_embd ({self.n_embd}): every head gets "
                f"n_embd / n_head features, and {self.n_embd} / {self.n_head} is not an integer"
            )
        self.head_size = self.n_embd // self.n_head
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float, np.floating)):
            raise TypeError(
                f"dropout must be a number in [0, 1), got {type(dropout).__name__} {dropout!r}"
            )
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.dropout = float(dropout)
        self.seed = seed if isinstance(seed, (int, np.integer)) else None
        self.rng: np.random.Generator = as_rng(seed)
        C = self.n_embd
        self.W_qkv = self.rng.standard_normal((3 * C, C)) * INIT_STD  # (3C, C)
        self.b_qkv = np.zeros((3 * C, 1))  # (3C, 1)
        self.W_o = self.rng.standard_normal((C, C)) * INIT_STD  # (C, C)
        self.b_o = np.zeros((C, 1))  # (C, 1)
        for name in self.param_names:
            setattr(self, "dC_d" + name, None)
        self.D: np.ndarray | None = None  # dropout mask / (1 - p) on P : (n_head, T, T, m)
        self.frozen = False
        self.cache: dict[str, np.ndarray] | None = None

    def freeze(self, flag: bool = True) -> None:
        """Reuse one dropout mask while frozen (gradient checks); unfreezing draws fresh ones."""
        self.frozen = bool(flag)
        self.D = None

    def _check_input(self, x: np.ndarray, what: str) -> None:
        if not isinstance(x, np.ndarray) or x.ndim != 3 or x.shape[0] != self.n_embd:
            got = x.shape if isinstance(x, np.ndarray) else type(x).__name__
            raise ValueError(
                f"CausalSelfAttention({self.n_embd}, {self.n_head}) expects {what} of shape "
                f"(n_embd={self.n_embd}, T, m), got {got}"
            )
        if x.shape[1] < 1 or x.shape[2] < 1:
            raise ValueError(f"{what} needs T >= 1 and m >= 1, got shape {x.shape}")

    def forward(self, x: np.ndarray) -> np.ndarray:
        """out = W_o @ concat_h(softmax_causal(q_h^T k_h / sqrt(hs)) v_h) + b_o : (C, T, m)."""
        self._check_input(x, "input")
        C, T, m = x.shape
        nh, hs = self.n_head, self.head_size
        dt = self.W_qkv.dtype.type
        qkv = self.W_qkv @ x.reshape(C, T * m) + self.b_qkv  # (3C, T*m): every position a column
        qkv = qkv.reshape(3 * C, T, m)
        q = qkv[:C].reshape(nh, hs, T, m)  # features h*hs:(h+1)*hs -> head h
        k = qkv[C : 2 * C].reshape(nh, hs, T, m)
        v = qkv[2 * C :].reshape(nh, hs, T, m)
        scale = dt(1.0 / np.sqrt(hs))
        # S[h, t, s, j] = sum_d q[h, d, t, j] k[h, d, s, j] / sqrt(hs): q_t . k_s per head
        S = matmul_heads(q.swapaxes(1, 2), k) * scale  # (nh, T, hs, m) @ (nh, hs, T, m)
        mask = causal_mask(T)  # (T, T, 1): s <= t
        # stable softmax over s: subtract the max of the UNMASKED scores (s = 0 is always one),
        # exponentiate only where the mask allows; masked entries stay exactly 0 (no -inf used)
        S_max = np.max(S, axis=2, keepdims=True, where=mask, initial=-np.inf)  # (nh, T, 1, m)
        E = np.exp(S - S_max, out=np.zeros_like(S), where=mask)  # (nh, T, T, m), in (0, 1]
        P = E / np.sum(E, axis=2, keepdims=True)  # (nh, T, T, m); each row sums to 1
        Pd = P
        if self.training and self.dropout > 0.0:
            D = self.D
            if not (self.frozen and D is not None and D.shape == P.shape and D.dtype == P.dtype):
                keep = self.rng.random(P.shape, dtype=np.float32) >= self.dropout
                D = keep.astype(P.dtype) * P.dtype.type(1.0 / (1.0 - self.dropout))
                self.D = D
            Pd = P * D  # (nh, T, T, m), the attention weights actually used
        # y[h, d, t, j] = sum_s P~[h, t, s, j] v[h, d, s, j]: each position's mix of the v_s
        y_heads = matmul_heads(v, Pd.swapaxes(1, 2))  # (nh, hs, T, m) @ (nh, T, T, m)
        y = y_heads.reshape(C, T * m)  # heads concatenated back along the features
        out = self.W_o @ y + self.b_o  # (C, T*m)
        self.cache = {"x": x, "q": q, "k": k, "v": v, "P": P, "Pd": Pd, "y": y}
        return out.reshape(C, T, m)

    def backward(self, dC_dout: np.ndarray) -> np.ndarray:
        """Chain rule back through the output projection, P v, the softmax, q^T k and the QKV
        projection. Shapes: C = n_embd, nh = n_head, hs = C / nh; j runs over the m examples.

        Forward (per head h and example j; t, s are positions):
            qkv = W_qkv @ x + b_qkv          x: (C, T, m) -> qkv: (3C, T, m) -> q, k, v
            S[t, s] = sum_d q[d, t] k[d, s] / sqrt(hs)              S, P: (nh, T, T, m)
            P[t, :] = softmax(S[t, :]) over s <= t, P[t, s] = 0 for s > t
            P~ = P * D   (dropout mask D / (1 - p), training only; otherwise P~ = P)
            y[d, t] = sum_s P~[t, s] v[d, s]                        y: (nh, hs, T, m) ~ (C, T, m)
            out = W_o @ y + b_o                                      out: (C, T, m)

        Given dC_dout : (C, T, m), every position a column (C, T*m) for the projections:

        1. dC_dW_o = dC_dout @ y^T          : (C, T*m) @ (T*m, C) -> (C, C)
           dC_db_o = sum over T*m columns   : (C, 1)
           dC_dy   = W_o^T @ dC_dout        : (C, T*m) -> (nh, hs, T, m)
        2. y = P~ v, a matrix product per head and example (y_h = v_h P~_h^T):
           dC_dP~[t, s] = sum_d dC_dy[d, t] v[d, s]    : (nh, T, T, m)
           dC_dv[d, s]  = sum_t P~[t, s] dC_dy[d, t]   : (nh, hs, T, m)   ("P^T dC_dy")
        3. dropout is element-wise: dC_dP = dC_dP~ * D  (or dC_dP~ when no dropout)
        4. softmax over s, row by row: dC_dS = P * (dC_dP - sum_s(dC_dP * P))   : (nh, T, T, m)
           Masked entries have P = 0, so their dC_dS is exactly 0: they were constants.
        5. S = q^T k / sqrt(hs):
           dC_dq[d, t] = sum_s dC_dS[t, s] k[d, s] / sqrt(hs)   : (nh, hs, T, m)
           dC_dk[d, s] = sum_t dC_dS[t, s] q[d, t] / sqrt(hs)   : (nh, hs, T, m)
        6. stack dC_dq, dC_dk, dC_dv back to dC_dqkv : (3C, T, m) (the split reversed), then
           dC_dW_qkv = dC_dqkv @ x^T : (3C, C),  dC_db_qkv = row sums : (3C, 1),
           dC_dx = W_qkv^T @ dC_dqkv : (C, T, m).

        The products over T*m columns sum every position's contribution, as in Dense. No 1/m
        here: dC_dout already carries it from the cost's gradient.
        """
        if self.cache is None:
            raise RuntimeError("CausalSelfAttention.backward called before forward")
        c = self.cache
        x, q, k, v, P, Pd, y = c["x"], c["q"], c["k"], c["v"], c["P"], c["Pd"], c["y"]
        C, T, m = x.shape
        if not isinstance(dC_dout, np.ndarray) or dC_dout.shape != x.shape:
            got = dC_dout.shape if isinstance(dC_dout, np.ndarray) else type(dC_dout).__name__
            raise ValueError(f"backward expects dC_dout of the output's shape {x.shape}, got {got}")
        nh, hs = self.n_head, self.head_size
        scale = self.W_qkv.dtype.type(1.0 / np.sqrt(hs))
        G = dC_dout.reshape(C, T * m)  # (C, T*m)
        # 1. output projection
        self.dC_dW_o = G @ y.T  # (C, C)
        self.dC_db_o = np.sum(G, axis=1, keepdims=True)  # (C, 1)
        dC_dy = (self.W_o.T @ G).reshape(nh, hs, T, m)  # (nh, hs, T, m)
        # 2. y = P~ v
        dC_dPd = matmul_heads(dC_dy.swapaxes(1, 2), v)  # sum_d dC_dy[d, t] v[d, s] : (nh, T, T, m)
        dC_dv = matmul_heads(dC_dy, Pd)  # sum_t dC_dy[d, t] P~[t, s] : (nh, hs, T, m)
        # 3. dropout on P
        dC_dP = dC_dPd * self.D if Pd is not P else dC_dPd  # (nh, T, T, m)
        # 4. softmax over s (axis 2); masked entries come out exactly 0
        dC_dS = softmax_backward(P, dC_dP, axis=2)  # (nh, T, T, m)
        # 5. S = q^T k / sqrt(hs)
        dC_dq = (
            matmul_heads(k, dC_dS.swapaxes(1, 2)) * scale
        )  # sum_s k_s dC_dS[t, s] : (nh, hs, T, m)
        dC_dk = matmul_heads(q, dC_dS) * scale  # sum_t q_t dC_dS[t, s] : (nh, hs, T, m)
        # 6. back through the split and the QKV projection
        dC_dqkv = np.concatenate(
            [dC_dq.reshape(C, T * m), dC_dk.reshape(C, T * m), dC_dv.reshape(C, T * m)], axis=0
        )  # (3C, T*m), rows in the order q, k, v
        X2 = x.reshape(C, T * m)  # (C, T*m)
        self.dC_dW_qkv = dC_dqkv @ X2.T  # (3C, C)
        self.dC_db_qkv = np.sum(dC_dqkv, axis=1, keepdims=True)  # (3C, 1)
        return (self.W_qkv.T @ dC_dqkv).reshape(C, T, m)  # (C, T, m)

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        if len(input_shape) != 2 or input_shape[0] != self.n_embd:
            raise ValueError(
                f"CausalSelfAttention({self.n_embd}, {self.n_head}) expects a per-example shape "
                f"(n_embd={self.n_embd}, T), got {tuple(input_shape)}"
            )
        return tuple(input_shape)  # (C, T) -> (C, T)

    def config(self) -> dict[str, Any]:
        return {
            "n_embd": self.n_embd,
            "n_head": self.n_head,
            "dropout": self.dropout,
            "seed": None if self.seed is None else int(self.seed),
        }
