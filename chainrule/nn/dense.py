"""Fully connected layer: Z[l] = W[l] @ A[l-1] + b[l]."""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.nn.init import as_rng, init_weights
from chainrule.nn.layer import Layer, register_layer
from chainrule.validation import check_positive_int

__all__ = ["Dense"]


@register_layer
class Dense(Layer):
    """Affine layer with W of shape (n[l], n[l-1]) and b of shape (n[l], 1).

    Parameters
    ----------
    n_in, n_out:
        n[l-1] and n[l].
    init:
        ``"he"``, ``"xavier"`` or ``"normal"`` (see :mod:`chainrule.nn.init`).
    seed:
        int, Generator or None; the same seed gives bit-identical weights.
    """

    param_names = ("W", "b")

    def __init__(
        self,
        n_in: int,
        n_out: int,
        init: str = "xavier",
        seed: int | np.random.Generator | None = None,
        dtype: np.dtype | type = np.float64,
    ) -> None:
        super().__init__()
        self.n_in = check_positive_int("n_in", n_in)
        self.n_out = check_positive_int("n_out", n_out)
        self.init = init
        W, b = init_weights((self.n_out, self.n_in), self.n_in, self.n_out, init, as_rng(seed))
        self.W = W.astype(dtype)
        self.b = b.astype(dtype)
        self.dC_dW: np.ndarray | None = None
        self.dC_db: np.ndarray | None = None
        self.A_prev: np.ndarray | None = None

    def forward(self, A_prev: np.ndarray) -> np.ndarray:
        """Z = W @ A_prev + b : (n[l], n[l-1]) @ (n[l-1], m) + (n[l], 1) -> (n[l], m).

        The bias (n[l], 1) is broadcast across the m columns: one b per neuron, shared by every
        example.
        """
        if A_prev.ndim < 2 or A_prev.shape[0] != self.n_in:
            raise ValueError(
                f"Dense layer expects input of shape ({self.n_in}, m), got {A_prev.shape}"
            )
        self.A_prev = A_prev  # backward needs it for dC_dW
        A2 = A_prev.reshape(self.n_in, -1)  # (n[l-1], m); a sequence's (C, T, m) as (C, T*m)
        Z = self.W @ A2  # (n[l], m), a fresh array
        Z += self.b  # broadcast (n[l], 1) over m, in place into that fresh array
        return Z.reshape(self.n_out, *A_prev.shape[1:])

    def backward(self, dC_dZ: np.ndarray) -> np.ndarray | None:
        """Chain rule through Z = W @ A_prev + b.

        Forward:  Z = W @ A_prev + b          W: (n[l], n[l-1]), A_prev: (n[l-1], m), b: (n[l], 1)

        Given dC_dZ : (n[l], m) (the layer's "dC_dA" is dC/dZ, since a Dense layer outputs Z):

        1. dC_dW = dC_dZ @ A_prev.T   : (n[l], m) @ (m, n[l-1]) -> (n[l], n[l-1])
           (dZ[i, j]/dW[i, k] = A_prev[k, j]; the matrix product sums over the m examples.)
        2. dC_db = sum_j dC_dZ[:, j]  : (n[l], m) -> (n[l], 1)
           (dZ/db = 1 for every example, so the bias gradient sums dC_dZ, NOT dC_dW, over m.
           The notebook summed dC_dW, which has the wrong meaning and n[l-1] columns, not m.)
        3. dC_dA_prev = W.T @ dC_dZ   : (n[l-1], n[l]) @ (n[l], m) -> (n[l-1], m)
           (dZ[i, j]/dA_prev[k, j] = W[i, k]; the product sums over the n[l] neurons.)

        No 1/m here: dC_dZ already carries it from the cost's gradient.

        A sequence (n[l-1], T, m) goes through the same formulas as (n[l-1], T*m): the layer is
        applied at every position with the same W, so the products sum over positions too.
        """
        A_prev = self.A_prev
        if A_prev is None:
            raise RuntimeError("backward called before forward")
        A2 = A_prev.reshape(self.n_in, -1)  # (n[l-1], m) (sequences: every position a column)
        dZ2 = dC_dZ.reshape(self.n_out, -1)  # (n[l], m)
        self.dC_dW = dZ2 @ A2.T  # (n[l], n[l-1])
        self.dC_db = np.sum(dZ2, axis=1, keepdims=True)  # (n[l], 1)
        return (self.W.T @ dZ2).reshape(A_prev.shape)  # (n[l-1], m)

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        if not input_shape or input_shape[0] != self.n_in:
            raise ValueError(
                f"Dense({self.n_in}, {self.n_out}) expects {self.n_in} input features, "
                f"got input shape {tuple(input_shape)}"
            )
        return (self.n_out, *input_shape[1:])  # (n[l],) or, at every position, (n[l], T)

    def config(self) -> dict[str, Any]:
        return {"n_in": self.n_in, "n_out": self.n_out, "init": self.init}
