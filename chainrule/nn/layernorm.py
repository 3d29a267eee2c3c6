"""Layer normalization over the feature axis, for dense (n, m) and sequence (n, T, m) inputs.

Unlike BatchNorm, which normalizes each feature over the batch, LayerNorm normalizes each
POSITION (each column x = A_prev[:, t, j]) over its n features, so it behaves the same in
training and prediction, for any batch size, and has no running statistics.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.nn.layer import Layer, register_layer
from chainrule.validation import check_positive_float, check_positive_int

__all__ = ["LayerNorm"]


@register_layer
class LayerNorm(Layer):
    """Normalize every position over its n features, then scale and shift per feature.

    For each position (column) x of n values (x = A_prev[:, j] for (n, m) input,
    A_prev[:, t, j] for (n, T, m)):

        mu = mean(x),  var = mean((x - mu)^2)      (biased, over the n features, as torch)
        rstd = 1 / sqrt(var + eps)                 one number per position
        x_hat = (x - mu) * rstd
        A = gamma * x_hat + beta                   gamma, beta: (n, 1), trainable

    gamma starts at ones and beta at zeros, so a fresh layer only standardizes. The same as
    ``torch.nn.LayerNorm(n)`` applied to the input moved to (m, T, n). No weight decay on gamma
    or beta (``decay_names`` is empty), as for BatchNorm's scale and shift.
    """

    param_names = ("gamma", "beta")
    decay_names = ()

    def __init__(self, n: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.n = check_positive_int("n", n)
        self.eps = check_positive_float("eps", eps)
        self.gamma = np.ones((self.n, 1))  # float64
        self.beta = np.zeros((self.n, 1))
        self.dC_dgamma: np.ndarray | None = None
        self.dC_dbeta: np.ndarray | None = None
        self.mean: np.ndarray | None = None
        self.rstd: np.ndarray | None = None
        self.x_hat: np.ndarray | None = None

    def _bshape(self, A: np.ndarray, what: str) -> tuple[int, ...]:
        """The shape (n, 1, ..., 1) that broadcasts a (n, 1) parameter over ``A``'s positions."""
        if A.ndim < 2 or A.shape[0] != self.n:
            raise ValueError(
                f"LayerNorm({self.n}) expects {what} of shape ({self.n}, m) or ({self.n}, T, m), "
                f"got {A.shape}"
            )
        return (self.n,) + (1,) * (A.ndim - 1)

    def forward(self, A_prev: np.ndarray) -> np.ndarray:
        """A = gamma * (A_prev - mu) * rstd + beta, statistics over axis 0 at every position.

        Shapes for (n, T, m) input: mean, rstd (1, T, m); x_hat and A (n, T, m).

        Cached for backward, following llm.c's layernorm: mean and rstd per position (two small
        arrays, 1/n of the input) AND x_hat. llm.c recomputes x_hat = (x - mean) * rstd in its
        backward to save memory (it already keeps the input for the matmul before); here x_hat
        is kept, one input-sized array, because backward uses it twice (dgamma and dx) and the
        backward then reads as the derivation below, line for line, without redoing forward.
        """
        bshape = self._bshape(A_prev, "input")
        mean = A_prev.mean(axis=0, keepdims=True)  # (1, T, m)
        xc = A_prev - mean  # (n, T, m), centred: a fresh array
        var = np.mean(xc * xc, axis=0, keepdims=True)  # (1, T, m), two-pass: no cancellation
        rstd = (1.0 / np.sqrt(var + self.eps)).astype(A_prev.dtype, copy=False)  # (1, T, m)
        x_hat = xc * rstd  # (n, T, m)
        self.mean, self.rstd, self.x_hat = mean, rstd, x_hat
        return self.gamma.reshape(bshape) * x_hat + self.beta.reshape(bshape)  # (n, T, m)

    def backward(self, dC_dA: np.ndarray) -> np.ndarray:
        """Chain rule through the normalization of each position over its n features.

        Forward (per position, i over the n features): x_hat_i = (x_i - mu) * rstd,
        A_i = gamma_i x_hat_i + beta_i. Shapes for (n, T, m): x, x_hat, dC_dA, dC_dx are
        (n, T, m); mu, rstd are (1, T, m); gamma, beta and their gradients (n, 1).

        1. dC_dbeta  = sum over positions of dC_dA            : (n, T, m) -> (n, 1)
           (beta_i is added at every position: one path per position, the paths add up.)
        2. dC_dgamma = sum over positions of dC_dA * x_hat    : (n, T, m) -> (n, 1)
        3. dC_dx_hat = dC_dA * gamma                          : (n, T, m)
        4. Within one position, mu and rstd depend on every x_k:

               dmu/dx_k   = 1/n
               dvar/dx_k  = 2/n (x_k - mu)          (the mu term: sum_i (x_i - mu) = 0)
               drstd/dx_k = -1/2 (var + eps)^(-3/2) dvar/dx_k = -rstd^2 x_hat_k / n
               dx_hat_i/dx_k = (delta_ik - 1/n) rstd + (x_i - mu) drstd/dx_k
                             = rstd (delta_ik - 1/n - x_hat_i x_hat_k / n)

           so dC_dx_k = sum_i dC_dx_hat_i dx_hat_i/dx_k, i.e., with means over the n features,

               dC_dx = rstd * (dC_dx_hat - mean(dC_dx_hat) - x_hat * mean(dC_dx_hat * x_hat))

           : (1, T, m) * ((n, T, m) - (1, T, m) - (n, T, m) * (1, T, m)) -> (n, T, m).
           Dropping the first mean (the path through mu) or the second (through rstd) gives
           a wrong gradient; the tests check that each term is needed.
        """
        if self.x_hat is None or self.rstd is None:
            raise RuntimeError("LayerNorm.backward called before forward")
        x_hat, rstd = self.x_hat, self.rstd
        if dC_dA.shape != x_hat.shape:
            raise ValueError(
                f"LayerNorm.backward expects dC_dA of the forward input's shape {x_hat.shape}, "
                f"got {dC_dA.shape}"
            )
        bshape = self._bshape(dC_dA, "dC_dA")
        axes = tuple(range(1, dC_dA.ndim))  # every axis but the features: T and m
        self.dC_dbeta = dC_dA.sum(axis=axes).reshape(self.n, 1)  # (n, 1)
        self.dC_dgamma = (dC_dA * x_hat).sum(axis=axes).reshape(self.n, 1)  # (n, 1)
        dC_dx_hat = dC_dA * self.gamma.reshape(bshape)  # (n, T, m)
        mean_d = dC_dx_hat.mean(axis=0, keepdims=True)  # (1, T, m)
        mean_dx = (dC_dx_hat * x_hat).mean(axis=0, keepdims=True)  # (1, T, m)
        return rstd * (dC_dx_hat - mean_d - x_hat * mean_dx)  # (n, T, m)

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        if not input_shape or input_shape[0] != self.n:
            raise ValueError(
                f"LayerNorm({self.n}) expects {self.n} features, got input shape "
                f"{tuple(input_shape)}"
            )
        return tuple(input_shape)

    def config(self) -> dict[str, Any]:
        return {"n": self.n, "eps": self.eps}
