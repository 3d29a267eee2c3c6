"""Reference solutions of the exercises, written plainly in the notebook's notation.

These are what ``chainrule exercise check NAME FILE --show-solution`` prints. They use NumPy
only: no chainrule import, one formula a line, the shape of every line in its comment. The
checker does NOT grade against them (it grades against the library's layers, see
:mod:`chainrule.learn.exercises.references`); tests prove every one of them passes the checker.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "dense_backward",
    "sigmoid_backward",
    "softmax_ce_gradient",
    "conv2d_backward",
    "batchnorm_backward",
    "gru_step_backward",
    "attention_backward",
]


def dense_backward(
    A_prev: np.ndarray, W: np.ndarray, b: np.ndarray, dC_dZ: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Z = W @ A_prev + b  ->  (dC_dW, dC_db, dC_dA_prev)."""
    dC_dW = dC_dZ @ A_prev.T  # (n[l], m) @ (m, n[l-1]) -> (n[l], n[l-1]); sums over m
    dC_db = np.sum(dC_dZ, axis=1, keepdims=True)  # (n[l], 1): sum dC_dZ (not dC_dW) over m
    dC_dA_prev = W.T @ dC_dZ  # (n[l-1], n[l]) @ (n[l], m) -> (n[l-1], m)
    return dC_dW, dC_db, dC_dA_prev


def sigmoid_backward(Z: np.ndarray, dC_dA: np.ndarray) -> np.ndarray:
    """A = sigmoid(Z)  ->  dC_dZ = dC_dA * A * (1 - A)."""
    A = 1.0 / (1.0 + np.exp(-Z))  # (n, m); the derivative needs A, not Z
    return dC_dA * A * (1 - A)  # (n, m), element by element


def softmax_ce_gradient(Z: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """C = -(1/m) sum Y log softmax(Z)  ->  dC_dZ = (A - Y) / m."""
    m = Z.shape[1]
    E = np.exp(Z - Z.max(axis=0, keepdims=True))  # (K, m), shifted per column for stability
    A = E / E.sum(axis=0, keepdims=True)  # (K, m), every column sums to 1
    return (A - Y) / m  # (K, m); the 1/m of the cost lives here


def conv2d_backward(
    A_prev: np.ndarray,
    W: np.ndarray,
    b: np.ndarray,
    stride: int,
    padding: int,
    dC_dZ: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Z[o, y, x, j] = sum_{c, u, v} W[o, c, u, v] A_pad[c, y*s + u, x*s + v, j] + b[o]."""
    C_out, C_in, kh, kw = W.shape
    _, H, Wd, m = A_prev.shape
    _, out_h, out_w, _ = dC_dZ.shape
    s, p = stride, padding
    A_pad = np.pad(A_prev, ((0, 0), (p, p), (p, p), (0, 0)))  # (C_in, H + 2p, W + 2p, m)
    dC_dA_pad = np.zeros_like(A_pad)
    dC_dW = np.zeros_like(W)  # (C_out, C_in, kh, kw)
    for u in range(kh):  # one kernel offset at a time: every output position reads one pixel
        for v in range(kw):
            rows = slice(u, u + s * out_h, s)  # the out_h input rows this offset reads
            cols = slice(v, v + s * out_w, s)
            patch = A_pad[:, rows, cols, :]  # (C_in, out_h, out_w, m)
            dC_dW[:, :, u, v] = np.einsum("oyxj,cyxj->oc", dC_dZ, patch)  # sums positions and m
            dC_dA_pad[:, rows, cols, :] += np.einsum("oc,oyxj->cyxj", W[:, :, u, v], dC_dZ)
    dC_db = np.sum(dC_dZ, axis=(1, 2, 3)).reshape(C_out, 1)  # (C_out, 1): positions and m
    dC_dA_prev = dC_dA_pad[:, p : p + H, p : p + Wd, :]  # drop the padding: (C_in, H, W, m)
    return dC_dW, dC_db, dC_dA_prev


def batchnorm_backward(
    x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float, dC_dA: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A = gamma * (x - mu) / sqrt(var + eps) + beta, mu and var over the m examples of a row."""
    N = x.shape[1]
    mu = np.mean(x, axis=1, keepdims=True)  # (n, 1)
    var = np.mean((x - mu) ** 2, axis=1, keepdims=True)  # (n, 1), biased
    inv_std = 1.0 / np.sqrt(var + eps)  # (n, 1)
    x_hat = (x - mu) * inv_std  # (n, m)
    dC_dbeta = np.sum(dC_dA, axis=1, keepdims=True)  # (n, 1)
    dC_dgamma = np.sum(dC_dA * x_hat, axis=1, keepdims=True)  # (n, 1)
    # mu and var depend on every x of the row; the three paths simplify to one line
    dC_dx = gamma * inv_std / N * (N * dC_dA - dC_dbeta - x_hat * dC_dgamma)  # (n, m)
    return dC_dgamma, dC_dbeta, dC_dx


def gru_step_backward(
    x: np.ndarray,
    h_prev: np.ndarray,
    W_ih: np.ndarray,
    W_hh: np.ndarray,
    b_ih: np.ndarray,
    b_hh: np.ndarray,
    dC_dh: np.ndarray,
) -> tuple[np.ndarray, ...]:
    """One GRU step (torch's equations, gate rows r, z, n) back from dC_dh = dC/dh_t."""
    H = h_prev.shape[0]
    Z_i = W_ih @ x + b_ih  # (3H, m)
    Z_h = W_hh @ h_prev + b_hh  # (3H, m)
    r = 1.0 / (1.0 + np.exp(-(Z_i[:H] + Z_h[:H])))  # (H, m)
    z = 1.0 / (1.0 + np.exp(-(Z_i[H : 2 * H] + Z_h[H : 2 * H])))  # (H, m)
    n = np.tanh(Z_i[2 * H :] + r * Z_h[2 * H :])  # (H, m)
    # h = (1 - z) * n + z * h_prev
    dC_dn = dC_dh * (1 - z)  # (H, m)
    dC_dz = dC_dh * (h_prev - n)  # (H, m)
    dC_dS_n = dC_dn * (1 - n**2)  # (H, m), through the tanh
    dC_dr = dC_dS_n * Z_h[2 * H :]  # (H, m)
    dC_dS_r = dC_dr * r * (1 - r)  # (H, m), through the sigmoid
    dC_dS_z = dC_dz * z * (1 - z)  # (H, m)
    dC_dZ_i = np.concatenate([dC_dS_r, dC_dS_z, dC_dS_n])  # (3H, m)
    dC_dZ_h = np.concatenate([dC_dS_r, dC_dS_z, dC_dS_n * r])  # (3H, m): r scales Z_hn
    dC_dx = W_ih.T @ dC_dZ_i  # (n_in, m)
    dC_dh_prev = W_hh.T @ dC_dZ_h + dC_dh * z  # (H, m): through the gates + the direct path
    dC_dW_ih = dC_dZ_i @ x.T  # (3H, n_in)
    dC_dW_hh = dC_dZ_h @ h_prev.T  # (3H, H)
    dC_db_ih = np.sum(dC_dZ_i, axis=1, keepdims=True)  # (3H, 1)
    dC_db_hh = np.sum(dC_dZ_h, axis=1, keepdims=True)  # (3H, 1)
    return dC_dx, dC_dh_prev, dC_dW_ih, dC_dW_hh, dC_db_ih, dC_db_hh


def attention_backward(
    q: np.ndarray, k: np.ndarray, v: np.ndarray, dC_dy: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """y = softmax_causal(q^T k / sqrt(hs)) v per head and example; all (nh, hs, T, m)."""
    nh, hs, T, m = q.shape
    S = np.einsum("hdtj,hdsj->htsj", q, k) / np.sqrt(hs)  # (nh, T, T, m): q_t . k_s
    mask = np.tril(np.ones((T, T), dtype=bool))[None, :, :, None]  # s <= t
    S = np.where(mask, S, -np.inf)  # the future gets weight exp(-inf) = 0
    E = np.exp(S - S.max(axis=2, keepdims=True))  # (nh, T, T, m)
    P = E / E.sum(axis=2, keepdims=True)  # softmax over s
    dC_dP = np.einsum("hdtj,hdsj->htsj", dC_dy, v)  # (nh, T, T, m)
    dC_dv = np.einsum("htsj,hdtj->hdsj", P, dC_dy)  # (nh, hs, T, m): P^T dC_dy
    dC_dS = P * (dC_dP - np.sum(dC_dP * P, axis=2, keepdims=True))  # the softmax's Jacobian
    dC_dq = np.einsum("htsj,hdsj->hdtj", dC_dS, k) / np.sqrt(hs)  # (nh, hs, T, m)
    dC_dk = np.einsum("htsj,hdtj->hdsj", dC_dS, q) / np.sqrt(hs)  # (nh, hs, T, m)
    return dC_dq, dC_dk, dC_dv
