"""Fully connected layer: Z[l] = W[l] @ A[l-1] + b[l]."""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.blas import GemmUpdate
from chainrule.init import as_rng, init_weights
from chainrule.layers.base import Layer, register_layer

__all__ = ["Dense"]


def _check_size(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be a positive int, got {type(value).__name__} {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be a positive int, got {value}")
    return int(value)


@register_layer
class Dense(Layer):
    """Affine layer with W of shape (n[l], n[l-1]) and b of shape (n[l], 1).

    Parameters
    ----------
    n_in, n_out:
        n[l-1] and n[l].
    init:
        ``"he"``, ``"xavier"`` or ``"normal"`` (see :mod:`chainrule.init`).
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
        self.n_in = _check_size("n_in", n_in)
        self.n_out = _check_size("n_out", n_out)
        self.init = init
        W, b = init_weights((self.n_out, self.n_in), self.n_in, self.n_out, init, as_rng(seed))
        self.W = W.astype(dtype)
        self.b = b.astype(dtype)
        self.dC_dW: np.ndarray | None = None
        self.dC_db: np.ndarray | None = None
        self.A_prev: np.ndarray | None = None
        self._ones: np.ndarray | None = None
        #: False for a network's first layer during training: its dC/dA[0] is never used.
        self.propagate = True
        #: Set by ``fit`` for plain SGD with a pre-scaled seed (see :meth:`_backward_fused`):
        #: the fast backward then applies the update itself instead of storing dC_dW.
        self.fused_update = False
        #: the prepared GEMM of the fused step (chainrule.blas.GemmUpdate), reused from batch to
        #: batch while W, the dC_dZ buffer and the input buffer are the same arrays
        self._sgd_step: GemmUpdate | None = None

    def forward(self, A_prev: np.ndarray) -> np.ndarray:
        """Z = W @ A_prev + b : (n[l], n[l-1]) @ (n[l-1], m) + (n[l], 1) -> (n[l], m).

        The bias (n[l], 1) is broadcast across the m columns: one b per neuron, shared by every
        example.
        """
        if A_prev.ndim != 2 or A_prev.shape[0] != self.n_in:
            raise ValueError(
                f"Dense layer expects input of shape ({self.n_in}, m), got {A_prev.shape}"
            )
        self.A_prev = A_prev
        if self.reuse_buffers:  # fast mode: write into this layer's own (n[l], m) buffer
            Z = self.workspace("Z", (self.n_out, A_prev.shape[1]), self.W.dtype)
            np.matmul(self.W, A_prev, out=Z)  # (n[l], m)
        else:
            Z = self.W @ A_prev  # (n[l], m)
        Z += self.b  # broadcast (n[l], 1) over m, in place: no extra temporary
        return Z

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
           (dZ[i, j]/dA_prev[k, j] = W[i, k]; the product sums over the n[l] neurons. Skipped,
           returning None, when ``propagate`` is False: a first layer's dC/dA[0] is never used.)

        No 1/m here: dC_dZ already carries it from the cost's gradient.

        In fast mode (``reuse_buffers``) the same three products write into arrays the layer
        owns (``out=``): dC_dW and dC_db are overwritten in place, and the sum over m of step 2
        becomes a matrix-vector product with a vector of ones, dC_dZ @ 1 : (n[l], m) @ (m,).
        """
        A_prev = self.A_prev
        if A_prev is None:
            raise RuntimeError("backward called before forward")
        if self.reuse_buffers:
            return self._backward_fast(dC_dZ, A_prev)
        self.dC_dW = dC_dZ @ A_prev.T  # (n[l], n[l-1])
        self.dC_db = np.sum(dC_dZ, axis=1, keepdims=True)  # (n[l], 1)
        if not self.propagate:
            return None
        return self.W.T @ dC_dZ  # (n[l-1], m)

    def _backward_fast(self, dC_dZ: np.ndarray, A_prev: np.ndarray) -> np.ndarray | None:
        """The same three steps as :meth:`backward`, without allocating (see its docstring)."""
        if self.fused_update:
            return self._backward_fused(dC_dZ, A_prev)
        dtype = self.W.dtype
        dC_dW = self.dC_dW
        if dC_dW is None or dC_dW.shape != self.W.shape or dC_dW.dtype != dtype:
            dC_dW = self.dC_dW = np.empty_like(self.W)
        np.matmul(dC_dZ, A_prev.T, out=dC_dW)  # (n[l], m) @ (m, n[l-1])
        self._bias_gradient_fast(dC_dZ)
        if not self.propagate:
            return None
        dC_dA_prev = self.workspace("dC_dA_prev", (self.n_in, dC_dZ.shape[1]), dtype)
        return np.matmul(self.W.T, dC_dZ, out=dC_dA_prev)  # (n[l-1], n[l]) @ (n[l], m)

    def _bias_gradient_fast(self, dC_dZ: np.ndarray) -> np.ndarray:
        """dC_db = dC_dZ @ 1 : (n[l], m) @ (m,) -> (n[l],), into the stored (n[l], 1) array."""
        dtype, m = self.W.dtype, dC_dZ.shape[1]
        dC_db = self.dC_db
        if dC_db is None or dC_db.shape != self.b.shape or dC_db.dtype != dtype:
            dC_db = self.dC_db = np.empty_like(self.b)
        ones = getattr(self, "_ones", None)
        if ones is None or ones.shape[0] != m or ones.dtype != dtype:
            ones = self._ones = np.ones(m, dtype=dtype)  # (m,), refilled only when m changes
        np.matmul(dC_dZ, ones, out=dC_db[:, 0])  # a matrix-vector product sums over m
        return dC_db

    def _backward_fused(self, dC_dZ: np.ndarray, A_prev: np.ndarray) -> np.ndarray | None:
        """Backward with the plain-SGD step folded into the products (``fused_update``).

        Used by ``fit`` only, when backward was seeded with lr * dC/dZ[L] (docs/math.md 7.2),
        so the incoming dC_dZ (n[l], m) already carries lr and the SGD step is W -= dC_dZ @ A.T:

        1. dC_dA_prev = W.T @ dC_dZ : (n[l-1], n[l]) @ (n[l], m), FIRST, with the old W
           (skipped when ``propagate`` is False).
        2. W += -1 * dC_dZ @ A_prev.T : (n[l], m) @ (m, n[l-1]), one GEMM with beta = 1
           (:class:`chainrule.blas.GemmUpdate`, prepared once and reused while W, dC_dZ and
           A_prev are the same arrays as in the previous batch): the gradient is added into
           W as it is computed, never stored, and W is read and written once (docs/math.md 7.3).
        3. dC_db = dC_dZ @ 1 : (n[l],), then b -= dC_db (n[l], 1).

        dC_dW is not meaningful afterwards (at most scratch for ``gemm_update``'s fallback):
        ``fit`` switches this off for the last batch of every epoch, so after each epoch the
        stored gradients are that batch's, as on the unfused path.
        """
        dtype = self.W.dtype
        m = dC_dZ.shape[1]
        dC_dA_prev = None
        if self.propagate:
            dC_dA_prev = self.workspace("dC_dA_prev", (self.n_in, m), dtype)
            np.matmul(self.W.T, dC_dZ, out=dC_dA_prev)  # (n[l-1], n[l]) @ (n[l], m)
        step = self._sgd_step  # the previous batch's prepared W -= dC_dZ @ A_prev.T
        if step is None or not step.matches(self.W, dC_dZ, A_prev):
            step = self._sgd_step = GemmUpdate(self.W, dC_dZ, A_prev.T, -1.0, key=A_prev)
        scratch = self.dC_dW if self.dC_dW is not None and self.dC_dW.dtype == dtype else None
        step.run(scratch)  # W += -1 * dC_dZ @ A_prev.T : (n[l], m) @ (m, n[l-1]), one GEMM
        self.b -= self._bias_gradient_fast(dC_dZ)  # (n[l], 1)
        return dC_dA_prev

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        if tuple(input_shape) != (self.n_in,):
            raise ValueError(
                f"Dense({self.n_in}, {self.n_out}) expects {self.n_in} input features, "
                f"got input shape {tuple(input_shape)}"
            )
        return (self.n_out,)

    def config(self) -> dict[str, Any]:
        return {"n_in": self.n_in, "n_out": self.n_out, "init": self.init}
