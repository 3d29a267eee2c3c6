"""Long short-term memory (LSTM), with torch.nn.LSTM's equations and gate order i, f, g, o.

    Z = W_ih x + b_ih + W_hh h + b_hh                    (4H, m): rows [Z_i; Z_f; Z_g; Z_o]
    i = sigmoid(Z_i)   input gate        f = sigmoid(Z_f)   forget gate
    g = tanh(Z_g)      candidate cell    o = sigmoid(Z_o)   output gate
    c' = f * c + i * g                   h' = o * tanh(c')

Two states travel from step to step: the cell c (the "memory", changed only by * f and + i * g,
so its gradient flows back through time multiplied by f alone) and the hidden state h, which is
also the output. c_0 = h_0 = 0.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.nn import functional as F
from chainrule.nn.layer import register_layer
from chainrule.nn.recurrent import Recurrent, result_zeros

__all__ = ["LSTM"]


@register_layer
class LSTM(Recurrent):
    """LSTM layer A_prev (n_in, T, m) -> A (H, T, m), A[:, t-1] = h_t (torch.nn.LSTM).

    Parameters
    ----------
    n_in, n_hidden:
        features per step in (n_in) and the size H of the hidden (and cell) state.
    bidirectional:
        also run a second LSTM over the reversed sequence (``*_reverse`` parameters); the output
        is then (2H, T, m), forward states first.
    seed:
        int, Generator or None; the same seed gives bit-identical weights.

    ``W_ih`` (4H, n_in), ``W_hh`` (4H, H), ``b_ih`` and ``b_hh`` (4H, 1), rows in the gate order
    i, f, g, o; all U(-1/sqrt(H), 1/sqrt(H)). Only h is output; the cell states stay inside.
    """

    n_gates = 4
    kind = "LSTM"

    def forward(self, A_prev: np.ndarray) -> np.ndarray:
        """For t = 1..T, with x_t = A_prev[:, t-1] (n_in, m) and h_0 = c_0 = 0 (H, m):

            Z_t = W_ih @ x_t + b_ih + W_hh @ h_{t-1} + b_hh            (4H, m)
            i, f, g, o = sigmoid(Z_i), sigmoid(Z_f), tanh(Z_g), sigmoid(Z_o)     (H, m) each
            c_t = f * c_{t-1} + i * g,   h_t = o * tanh(c_t)                       (H, m)

        Returns A (H, T, m) (bidirectional: (2H, T, m)); the gates, c_t and tanh(c_t) are cached.
        """
        return self._forward_directions(A_prev)

    def backward(self, dC_dA: np.ndarray) -> np.ndarray:
        """Back-propagation through time through the LSTM cell of :meth:`forward`.

        Both states carry a gradient back from step t+1: g_t into h_t (through W_hh) and
        k_t into c_t (through c_{t+1} = f * c_t + ...); g_T = k_T = 0. For t = T down to 1
        (all arrays (H, m) unless said):

        1. dC/dh_t = dC_dA[:, t-1] + g_t                  own output + the path through step t+1
        2. dC/dc_t = k_t + dC/dh_t * o * (1 - tanh(c_t)**2)     via c_{t+1}, and via h_t
        3. through h_t = o * tanh(c_t) and c_t = f * c_{t-1} + i * g:
               dC/do = dC/dh_t * tanh(c_t)     dC/di = dC/dc_t * g
               dC/df = dC/dc_t * c_{t-1}       dC/dg = dC/dc_t * i
        4. through the activations (sigmoid' = s(1 - s), tanh' = 1 - tanh^2):
               dC/dZ_t = [dC/di * i(1-i); dC/df * f(1-f); dC/dg * (1-g**2); dC/do * o(1-o)]
                                                                         (4H, m)
        5. g_{t-1} = W_hh.T @ dC/dZ_t      : (H, 4H) @ (4H, m) -> (H, m)
           k_{t-1} = dC/dc_t * f           : (H, m), the memory's path: only the forget gate
           dC/dx_t = W_ih.T @ dC/dZ_t      : (n_in, 4H) @ (4H, m) -> (n_in, m)

        Each weight's gradient is the SUM over the steps (each product sums over m too):

            dC_dW_ih = sum_{t=1..T} dC/dZ_t @ x_t.T          : (4H, m) @ (m, n_in) -> (4H, n_in)
            dC_dW_hh = sum_{t=1..T} dC/dZ_t @ h_{t-1}.T      : (4H, m) @ (m, H)    -> (4H, H)
            dC_db_ih = dC_db_hh = sum_{t=1..T} sum_j dC/dZ_t[:, j]                -> (4H, 1)

        Returns dC_dA_prev (n_in, T, m); bidirectional layers add the reverse direction's.
        """
        return self._backward_directions(dC_dA)

    def _forward_sequence(
        self, X: np.ndarray, W_ih: np.ndarray, W_hh: np.ndarray, b_ih: np.ndarray, b_hh: np.ndarray
    ) -> tuple[np.ndarray, Any]:
        """One direction: X (n_in, T, m) -> (h_1..h_T as (H, T, m), cache)."""
        _, T, m = X.shape
        H = self.n_hidden
        Hs = result_zeros((H, T + 1, m), X, W_ih)  # Hs[:, t] = h_t; Hs[:, 0] = h_0 = 0
        Cs = result_zeros((H, T + 1, m), X, W_ih)  # Cs[:, t] = c_t; Cs[:, 0] = c_0 = 0
        gates = result_zeros((4 * H, T, m), X, W_ih)  # [i; f; g; o] of step t at [:, t-1]
        tanh_c = result_zeros((H, T, m), X, W_ih)  # tanh(c_t) at [:, t-1]
        for t in range(1, T + 1):
            Z = W_ih @ X[:, t - 1] + b_ih + W_hh @ Hs[:, t - 1] + b_hh  # (4H, m)
            i = F.sigmoid(Z[:H])  # (H, m)
            f = F.sigmoid(Z[H : 2 * H])  # (H, m)
            g = np.tanh(Z[2 * H : 3 * H])  # (H, m)
            o = F.sigmoid(Z[3 * H :])  # (H, m)
            Cs[:, t] = f * Cs[:, t - 1] + i * g  # (H, m)
            tanh_c[:, t - 1] = np.tanh(Cs[:, t])  # (H, m)
            Hs[:, t] = o * tanh_c[:, t - 1]  # (H, m)
            gates[:, t - 1] = np.concatenate([i, f, g, o])  # (4H, m)
        return Hs[:, 1:].copy(), (X, Hs, Cs, gates, tanh_c)

    def _backward_sequence(
        self, dC_dH: np.ndarray, cache: Any, W_ih: np.ndarray, W_hh: np.ndarray
    ) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
        """BPTT for one direction (see :meth:`backward`): dC_dH (H, T, m) -> dC_dX (n_in, T, m)."""
        X, Hs, Cs, gates, tanh_c = cache
        _, T, m = X.shape
        H = self.n_hidden
        like = (X, W_ih, dC_dH)
        dC_dX = result_zeros(X.shape, *like)  # (n_in, T, m)
        dC_dW_ih = result_zeros(W_ih.shape, *like)  # (4H, n_in), summed over t below
        dC_dW_hh = result_zeros(W_hh.shape, *like)  # (4H, H)
        dC_db = result_zeros((4 * H, 1), *like)  # (4H, 1)
        carried_h = result_zeros((H, m), *like)  # g_T = 0
        carried_c = result_zeros((H, m), *like)  # k_T = 0
        for t in range(T, 0, -1):
            G = gates[:, t - 1]  # (4H, m)
            i, f, g, o = G[:H], G[H : 2 * H], G[2 * H : 3 * H], G[3 * H :]  # (H, m) each
            tc = tanh_c[:, t - 1]  # tanh(c_t) (H, m)
            dC_dh = dC_dH[:, t - 1] + carried_h  # (H, m): own output + the path through t+1
            dC_dc = carried_c + dC_dh * o * (1 - tc * tc)  # (H, m)
            dC_dZ = np.concatenate(
                [
                    dC_dc * g * i * (1 - i),  # dC/dZ_i
                    dC_dc * Cs[:, t - 1] * f * (1 - f),  # dC/dZ_f
                    dC_dc * i * (1 - g * g),  # dC/dZ_g
                    dC_dh * tc * o * (1 - o),  # dC/dZ_o
                ]
            )  # (4H, m)
            dC_dW_ih += dC_dZ @ X[:, t - 1].T  # (4H, m) @ (m, n_in)
            dC_dW_hh += dC_dZ @ Hs[:, t - 1].T  # (4H, m) @ (m, H)
            dC_db += np.sum(dC_dZ, axis=1, keepdims=True)  # (4H, 1)
            dC_dX[:, t - 1] = W_ih.T @ dC_dZ  # (n_in, m)
            carried_h = W_hh.T @ dC_dZ  # (H, m): g_{t-1}
            carried_c = dC_dc * f  # (H, m): k_{t-1}
        return dC_dX, (dC_dW_ih, dC_dW_hh, dC_db, dC_db.copy())
