"""The plain (Elman) recurrent layer: h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh).

One hidden state h_t (H, m) is carried from step to step, with the same W_ih, W_hh, b_ih, b_hh
at every step; the layer outputs every h_t. torch.nn.RNN with its default tanh, same parameters.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.nn.layer import register_layer
from chainrule.nn.recurrent import Recurrent, result_zeros

__all__ = ["RNN"]


@register_layer
class RNN(Recurrent):
    """Recurrent layer A_prev (n_in, T, m) -> A (H, T, m), A[:, t-1] = h_t (torch.nn.RNN).

    Parameters
    ----------
    n_in, n_hidden:
        features per step in (n_in) and the size H of the hidden state.
    bidirectional:
        also run a second RNN over the reversed sequence (``*_reverse`` parameters); the output
        is then (2H, T, m), forward states first.
    seed:
        int, Generator or None; the same seed gives bit-identical weights.

    ``W_ih`` (H, n_in), ``W_hh`` (H, H), ``b_ih`` and ``b_hh`` (H, 1), all U(-1/sqrt(H), 1/sqrt(H)).
    """

    n_gates = 1
    kind = "RNN"

    def forward(self, A_prev: np.ndarray) -> np.ndarray:
        """h_t = tanh(Z_t),  Z_t = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh,  h_0 = 0.

        x_t = A_prev[:, t-1] : (n_in, m), Z_t and h_t : (H, m); returns A (H, T, m) with
        A[:, t-1] = h_t (bidirectional: (2H, T, m)). Every h_t is cached for backward.
        """
        return self._forward_directions(A_prev)

    def backward(self, dC_dA: np.ndarray) -> np.ndarray:
        """Back-propagation through time (BPTT) over the whole sequence.

        Forward, for t = 1..T (h_0 = 0):

            Z_t = W_ih @ x_t + b_ih + W_hh @ h_{t-1} + b_hh     (H, n_in)@(n_in, m) + (H, H)@(H, m)
            h_t = tanh(Z_t)                                       (H, m), output A[:, t-1] = h_t

        h_t reaches the cost along two paths: through its own output A[:, t-1], and through
        h_{t+1} = tanh(W_ih x_{t+1} + ... + W_hh h_t + b_hh), the next step. So, walking t from
        T down to 1 with a carried gradient g_T = 0:

        1. dC/dh_t = dC_dA[:, t-1] + g_t          : (H, m), the output's path + the next step's
        2. dC/dZ_t = dC/dh_t * (1 - h_t**2)       : (H, m), tanh'(Z) = 1 - tanh(Z)^2
        3. g_{t-1} = W_hh.T @ dC/dZ_t             : (H, H) @ (H, m) -> (H, m), carried to step t-1
        4. dC/dx_t = W_ih.T @ dC/dZ_t             : (n_in, H) @ (H, m) -> (n_in, m) = dC_dA_prev[:, t-1]

        The same weights act at every step, so each weight's gradient is the SUM over the steps
        of that step's Dense-like gradient (each product also sums over the m examples):

            dC_dW_ih = sum_{t=1..T} dC/dZ_t @ x_t.T          : (H, m) @ (m, n_in) -> (H, n_in)
            dC_dW_hh = sum_{t=1..T} dC/dZ_t @ h_{t-1}.T      : (H, m) @ (m, H)    -> (H, H)
            dC_db_ih = dC_db_hh = sum_{t=1..T} sum_j dC/dZ_t[:, j]               -> (H, 1)

        (the t = 1 term of dC_dW_hh is 0, since h_0 = 0). Returns dC_dA_prev (n_in, T, m).
        Bidirectional: the reverse direction does the same on the reversed sequence, and the two
        input gradients are added.
        """
        return self._backward_directions(dC_dA)

    def _forward_sequence(
        self, X: np.ndarray, W_ih: np.ndarray, W_hh: np.ndarray, b_ih: np.ndarray, b_hh: np.ndarray
    ) -> tuple[np.ndarray, Any]:
        """One direction: X (n_in, T, m) -> (h_1..h_T as (H, T, m), cache)."""
        _, T, m = X.shape
        Hs = result_zeros((self.n_hidden, T + 1, m), X, W_ih)  # Hs[:, t] = h_t; Hs[:, 0] = h_0 = 0
        for t in range(1, T + 1):
            Z = W_ih @ X[:, t - 1] + b_ih + W_hh @ Hs[:, t - 1] + b_hh  # (H, m)
            Hs[:, t] = np.tanh(Z)  # (H, m)
        return Hs[:, 1:].copy(), (X, Hs)

    def _backward_sequence(
        self, dC_dH: np.ndarray, cache: Any, W_ih: np.ndarray, W_hh: np.ndarray
    ) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
        """BPTT for one direction (see :meth:`backward`): dC_dH (H, T, m) -> dC_dX (n_in, T, m)."""
        X, Hs = cache
        _, T, m = X.shape
        dC_dX = result_zeros(X.shape, X, W_ih, dC_dH)  # (n_in, T, m)
        dC_dW_ih = result_zeros(W_ih.shape, X, W_ih, dC_dH)  # (H, n_in), summed over t below
        dC_dW_hh = result_zeros(W_hh.shape, X, W_ih, dC_dH)  # (H, H)
        dC_db = result_zeros((self.n_hidden, 1), X, W_ih, dC_dH)  # (H, 1)
        carried = result_zeros((self.n_hidden, m), X, W_ih, dC_dH)  # g_T = 0: no step T+1
        for t in range(T, 0, -1):
            dC_dh = dC_dH[:, t - 1] + carried  # (H, m): own output + the path through step t+1
            dC_dZ = dC_dh * (1 - Hs[:, t] ** 2)  # (H, m)
            dC_dW_ih += dC_dZ @ X[:, t - 1].T  # (H, m) @ (m, n_in)
            dC_dW_hh += dC_dZ @ Hs[:, t - 1].T  # (H, m) @ (m, H)
            dC_db += np.sum(dC_dZ, axis=1, keepdims=True)  # (H, 1)
            dC_dX[:, t - 1] = W_ih.T @ dC_dZ  # (n_in, m)
            carried = W_hh.T @ dC_dZ  # (H, m): g_{t-1}, the gradient into h_{t-1}
        return dC_dX, (dC_dW_ih, dC_dW_hh, dC_db, dC_db.copy())
