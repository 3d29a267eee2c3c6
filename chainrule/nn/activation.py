"""Activation layers: A = g(Z), applied element-wise (softmax: per column).

Each backward applies the chain rule dC/dZ = dC/dA * dA/dZ, where for an element-wise g the
Jacobian dA/dZ is diagonal, so the product is element-wise: dC_dZ = dC_dA * g'(Z), all (n[l], m).

Every call returns fresh arrays; the fast engine (:mod:`chainrule.fast`) computes the same
numbers into buffers of its own.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.nn import functional as F
from chainrule.nn.layer import Layer, register_layer

__all__ = [
    "Activation",
    "Sigmoid",
    "Tanh",
    "ReLU",
    "LeakyReLU",
    "Softmax",
    "Identity",
    "ACTIVATIONS",
    "make_activation",
]


class Activation(Layer):
    """Base class for parameter-free element-wise activations."""

    #: the name used by ``mlp(..., activation=name)`` and the CLI
    name: str = ""

    def __init__(self) -> None:
        super().__init__()
        self.Z: np.ndarray | None = None
        self.A: np.ndarray | None = None

    def _cached(self, attr: str) -> np.ndarray:
        value = getattr(self, attr)
        if value is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        return value


@register_layer
class Sigmoid(Activation):
    """A = sigmoid(Z) = 1 / (1 + exp(-Z)), computed stably."""

    name = "sigmoid"

    def forward(self, Z: np.ndarray) -> np.ndarray:
        self.A = F.sigmoid(Z)
        return self.A

    def backward(self, dC_dA: np.ndarray) -> np.ndarray:
        """dC_dZ = dC_dA * A * (1 - A)  : all (n[l], m).

        sigmoid'(z) = sigmoid(z) (1 - sigmoid(z)), so the cached output A is all we need.
        """
        A = self._cached("A")
        return dC_dA * A * (1 - A)


@register_layer
class Tanh(Activation):
    """A = tanh(Z)."""

    name = "tanh"

    def forward(self, Z: np.ndarray) -> np.ndarray:
        self.A = np.tanh(Z)
        return self.A

    def backward(self, dC_dA: np.ndarray) -> np.ndarray:
        """dC_dZ = dC_dA * (1 - A**2)  : all (n[l], m), since tanh'(z) = 1 - tanh(z)^2."""
        A = self._cached("A")
        return dC_dA * (1 - A * A)


@register_layer
class ReLU(Activation):
    """A = max(Z, 0)."""

    name = "relu"

    def forward(self, Z: np.ndarray) -> np.ndarray:
        """A = max(Z, 0) : (n[l], m), a fresh array (Z is left as it was)."""
        self.A = np.maximum(Z, 0)
        return self.A

    def backward(self, dC_dA: np.ndarray) -> np.ndarray:
        """dC_dZ = dC_dA * [Z > 0]  : all (n[l], m).

        relu'(z) is 1 for z > 0 and 0 for z < 0; at the kink z = 0 we use 0 (PyTorch does too).
        A > 0 exactly where Z > 0, so the cached output serves as the mask.
        """
        A = self._cached("A")
        return np.where(A > 0, dC_dA, 0).astype(dC_dA.dtype, copy=False)


@register_layer
class LeakyReLU(Activation):
    """A = Z for Z > 0, alpha * Z otherwise (alpha = 0.01 by default)."""

    name = "leaky_relu"

    def __init__(self, alpha: float = 0.01) -> None:
        super().__init__()
        if not isinstance(alpha, (int, float)) or isinstance(alpha, bool) or not alpha >= 0:
            raise ValueError(f"LeakyReLU alpha must be a number >= 0, got {alpha!r}")
        self.alpha = float(alpha)

    def forward(self, Z: np.ndarray) -> np.ndarray:
        self.Z = Z
        return np.where(Z > 0, Z, Z * Z.dtype.type(self.alpha))

    def backward(self, dC_dA: np.ndarray) -> np.ndarray:
        """dC_dZ = dC_dA * (1 if Z > 0 else alpha)  : all (n[l], m)."""
        Z = self._cached("Z")
        return np.where(Z > 0, dC_dA, dC_dA * dC_dA.dtype.type(self.alpha))

    def config(self) -> dict[str, Any]:
        return {"alpha": self.alpha}


@register_layer
class Softmax(Activation):
    """A[:, j] = exp(Z[:, j]) / sum_k exp(Z[k, j]): one probability distribution per column."""

    name = "softmax"

    def forward(self, Z: np.ndarray) -> np.ndarray:
        self.A = F.softmax(Z, axis=0)  # (K, m), stable: the column max is subtracted first
        return self.A

    def backward(self, dC_dA: np.ndarray) -> np.ndarray:
        """Softmax couples the K outputs of each example, so its Jacobian is not diagonal.

        dA_i/dZ_k = A_i (delta_ik - A_k), hence for each column j:

            dC_dZ[k] = sum_i dC_dA[i] A[i] (delta_ik - A[k]) = A[k] (dC_dA[k] - sum_i dC_dA[i] A[i])

        Vectorized: dC_dZ = A * (dC_dA - sum(dC_dA * A, axis=0))   : (K, m), the sum (1, m).
        Per column this is the vector-Jacobian product J^T dC_dA (J = dA/dZ, never formed; this
        J is symmetric, but backward is always the transpose's product, as W.T @ dC_dZ in Dense).
        With cross-entropy this collapses to (A - Y)/m (see docs/math.md), which the network uses.
        """
        A = self._cached("A")
        return A * (dC_dA - np.sum(dC_dA * A, axis=0, keepdims=True))


@register_layer
class Identity(Activation):
    """A = Z (linear output, for regression)."""

    name = "identity"

    def forward(self, Z: np.ndarray) -> np.ndarray:
        return Z

    def backward(self, dC_dA: np.ndarray) -> np.ndarray:
        """dC_dZ = dC_dA, since dA/dZ = 1."""
        return dC_dA


ACTIVATIONS: dict[str, type[Activation]] = {
    cls.name: cls for cls in (Sigmoid, Tanh, ReLU, LeakyReLU, Softmax, Identity)
}


def make_activation(name: str | Activation) -> Activation:
    """Build an activation layer from its name ("sigmoid", "tanh", "relu", ...)."""
    if isinstance(name, Activation):
        return name
    if not isinstance(name, str):
        raise TypeError(f"activation must be a name (str), got {type(name).__name__}")
    key = name.lower().replace("-", "_")
    if key in ("linear", "none"):
        key = "identity"
    if key not in ACTIVATIONS:
        raise ValueError(
            f"unknown activation {name!r}; expected one of {', '.join(sorted(ACTIVATIONS))}"
        )
    return ACTIVATIONS[key]()
