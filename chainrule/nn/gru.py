"""Gated recurrent unit (GRU), with torch.nn.GRU's equations and gate order r, z, n.

    r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)           reset gate
    z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)           update gate
    n = tanh(W_in x + b_in + r * (W_hn h + b_hn))        candidate state
    h' = (1 - z) * n + z * h

W_ih stacks [W_ir; W_iz; W_in] (3H, n_in), W_hh stacks [W_hr; W_hz; W_hn] (3H, H), and likewise
the biases (3H, 1). The reset gate multiplies W_hn h + b_hn, bias included, which is why a GRU
keeps b_hh separate from b_ih (torch's convention; the original paper applies r before W_hn).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.nn import functional as F
from chainrule.nn.layer import register_layer
from chainrule.nn.recurrent import Recurrent, result_zeros

__all__ = ["GRU"]


@register_layer
class GRU(Recurrent):
    """GRU layer A_prev (n_in, T, m) -> A (H, T, m), A[:, t-1] = h_t (torch.nn.GRU).

    Parameters
    ----------
    n_in, n_hidden:
        features per step in (n_in) and the size H of the hidden state.
    bidirectional:
        also run a second GRU over the reversed sequence (``*_reverse`` parameters); the output
        is then (2H, T, m), forward states first.
    seed:
        int, Generator or None; the same seed gives bit-identical weights.

    ``W_ih`` (3H, n_in), ``W_hh`` (3H, H), ``b_ih`` and ``b_hh`` (3H, 1), rows in the gate order
    r, z, n; all U(-1/sqrt(H), 1/sqrt(H)).
    """

    n_gates = 3
    kind = "GRU"

    def forward(self, A_prev: np.ndarray) -> np.ndarray:
        """For t = 1..T, with x = x_t = A_prev[:, t-1] (n_in, m), h = h_{t-1} (H, m), h_0 = 0:

            Z_i = W_ih @ x + b_ih        (3H, m): rows [Z_ir; Z_iz; Z_in]
            Z_h = W_hh @ h + b_hh        (3H, m): rows [Z_hr; Z_hz; Z_hn]
            r = sigmoid(Z_ir + Z_hr),  z = sigmoid(Z_iz + Z_hz),  n = tanh(Z_in + r * Z_hn)
            h_t = (1 - z) * n + z * h    (H, m)

        Returns A (H, T, m) (bidirectional: (2H, T, m)); r, z, n and Z_hn are cached per step.
        """
        return self._forward_directions(A_prev)

    def backward(self, dC_dA: np.ndarray) -> np.ndarray:
        """Back-propagation through time through the GRU cell of :meth:`forward`.

        Walk t from T down to 1 with a carried gradient g_T = 0 (all arrays (H, m) unless said):

        1. dC/dh_t = dC_dA[:, t-1] + g_t       the step's own output + the path through step t+1
        2. through h_t = (1 - z) * n + z * h_{t-1}:
               dC/dn = dC/dh_t * (1 - z)
               dC/dz = dC/dh_t * (h_{t-1} - n)
               (direct path to h_{t-1}: dC/dh_t * z)
        3. through n = tanh(S_n), S_n = Z_in + r * Z_hn:
               dC/dS_n = dC/dn * (1 - n**2)
               dC/dZ_in = dC/dS_n,   dC/dZ_hn = dC/dS_n * r,   dC/dr = dC/dS_n * Z_hn
        4. through the sigmoids: dC/dS_r = dC/dr * r * (1 - r),  dC/dS_z = dC/dz * z * (1 - z);
           S_r = Z_ir + Z_hr and S_z = Z_iz + Z_hz, so both Z's get the same gradient:
               dC/dZ_i = [dC/dS_r; dC/dS_z; dC/dS_n]          (3H, m)
               dC/dZ_h = [dC/dS_r; dC/dS_z; dC/dS_n * r]      (3H, m)
        5. g_{t-1} = W_hh.T @ dC/dZ_h + dC/dh_t * z   : (H, 3H) @ (3H, m) + (H, m) -> (H, m)
           dC/dx_t = W_ih.T @ dC/dZ_i                 : (n_in, 3H) @ (3H, m) -> (n_in, m)

        Each weight's gradient is the SUM over the steps (each product sums over m too):

            dC_dW_ih = sum_{t=1..T} dC/dZ_i,t @ x_t.T        : (3H, m) @ (m, n_in) -> (3H, n_in)
            dC_dW_hh = sum_{t=1..T} dC/dZ_h,t @ h_{t-1}.T    : (3H, m) @ (m, H)    -> (3H, H)
            dC_db_ih = sum_{t=1..T} sum_j dC/dZ_i,t[:, j]                         -> (3H, 1)
            dC_db_hh = sum_{t=1..T} sum_j dC/dZ_h,t[:, j]                         -> (3H, 1)

        (b_ih and b_hh differ only in the n rows, where r scales b_hn.) Returns dC_dA_prev
        (n_in, T, m); bidirectional layers add the reverse direction's input gradient.
        """
        return self._backward_directions(dC_dA)

    def _forward_sequence(
        self, X: np.ndarray, W_ih: np.ndarray, W_hh: np.ndarray, b_ih: np.ndarray, b_hh: np.ndarray
    ) -> tuple[np.ndarray, Any]:
        """One direction: X (n_in, T, m) -> (h_1..h_T as (H, T, m), cache)."""
        _, T, m = X.shape
        H = self.n_hidden
        Hs = result_zeros((H, T + 1, m), X, W_ih)  # Hs[:, t] = h_t; Hs[:, 0] = h_0 = 0
        R, U, N, Z_hn = (result_zeros((H, T, m), X, W_ih) for _ in range(4))  # r, z, n, Z_hn
        for t in range(1, T + 1):
            h = Hs[:, t - 1]  # (H, m)
            Z_i = W_ih @ X[:, t - 1] + b_ih  # (3H, m), rows r, z, n
            Z_h = W_hh @ h + b_hh  # (3H, m), rows r, z, n
            r = F.sigmoid(Z_i[:H] + Z_h[:H])  # (H, m)
            z = F.sigmoid(Z_i[H : 2 * H] + Z_h[H : 2 * H])  # (H, m)
            n = np.tanh(Z_i[2 * H :] + r * Z_h[2 * H :])  # (H, m)
            Hs[:, t] = (1 - z) * n + z * h  # (H, m)
            R[:, t - 1], U[:, t - 1], N[:, t - 1], Z_hn[:, t - 1] = r, z, n, Z_h[2 * H :]
        return Hs[:, 1:].copy(), (X, Hs, R, U, N, Z_hn)

    def _backward_sequence(
        self, dC_dH: np.ndarray, cache: Any, W_ih: np.ndarray, W_hh: np.ndarray
    ) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
        """BPTT for one direction (see :meth:`backward`): dC_dH (H, T, m) -> dC_dX (n_in, T, m)."""
        X, Hs, R, U, N, Z_hn = cache
        _, T, m = X.shape
        H = self.n_hidden
        like = (X, W_ih, dC_dH)
        dC_dX = result_zeros(X.shape, *like)  # (n_in, T, m)
        dC_dW_ih = result_zeros(W_ih.shape, *like)  # (3H, n_in), summed over t below
        dC_dW_hh = result_zeros(W_hh.shape, *like)  # (3H, H)
        dC_db_ih = result_zeros((3 * H, 1), *like)  # (3H, 1)
        dC_db_hh = result_zeros((3 * H, 1), *like)  # (3H, 1)
        carried = result_zeros((H, m), *like)  # g_T = 0: no step T+1
        for t in range(T, 0, -1):
            h = Hs[:, t - 1]  # h_{t-1} (H, m)
            r, z, n = R[:, t - 1], U[:, t - 1], N[:, t - 1]  # (H, m) each
            dC_dh = dC_dH[:, t - 1] + carried  # (H, m): own output + the path through step t+1
            dC_dn = dC_dh * (1 - z)  # (H, m)
            dC_dz = dC_dh * (h - n)  # (H, m)
            dC_dSn = dC_dn * (1 - n * n)  # (H, m)
            dC_dr = dC_dSn * Z_hn[:, t - 1]  # (H, m)
            dC_dSr = dC_dr * r * (1 - r)  # (H, m)
            dC_dSz = dC_dz * z * (1 - z)  # (H, m)
            dC_dZi = np.concatenate([dC_dSr, dC_dSz, dC_dSn])  # (3H, m)
            dC_dZh = np.concatenate([dC_dSr, dC_dSz, dC_dSn * r])  # (3H, m)
            dC_dW_ih += dC_dZi @ X[:, t - 1].T  # (3H, m) @ (m, n_in)
            dC_dW_hh += dC_dZh @ h.T  # (3H, m) @ (m, H)
            dC_db_ih += np.sum(dC_dZi, axis=1, keepdims=True)  # (3H, 1)
            dC_db_hh += np.sum(dC_dZh, axis=1, keepdims=True)  # (3H, 1)
            dC_dX[:, t - 1] = W_ih.T @ dC_dZi  # (n_in, m)
            carried = W_hh.T @ dC_dZh + dC_dh * z  # (H, m): g_{t-1}, both paths into h_{t-1}
        return dC_dX, (dC_dW_ih, dC_dW_hh, dC_db_ih, dC_db_hh)
