"""Costs: C(A[L], Y), averaged over the m examples, with their gradients.

Conventions (Y is (n[L], m), like A[L]; for sequences (V, T, m), every position counts as one
example, so "m" below is T * m: the next-token cost is averaged over every (position, example)):

* binary cross-entropy   C = -(1/m) sum [Y log A + (1 - Y) log(1 - A)]       (the notebook's)
* cross-entropy          C = -(1/m) sum Y log A, Y one-hot (K, m), A = softmax(Z)
* mean squared error     C = (1/(2m)) sum (A - Y)^2   (the 1/2 makes dC/dA = (A - Y)/m)

The 1/m lives here and only here: every gradient this module returns already contains it, so no
layer divides by m again.

Matched pairs (sigmoid+BCE, softmax+CE, identity+MSE) get a fused path: the cost is computed from
the logits Z[L] (so log(0) can never happen) and dC/dZ[L] = (A[L] - Y) / m directly. docs/math.md
derives why all three pairs give the same simple formula.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from chainrule.nn import functional as F

__all__ = ["Loss", "BinaryCrossEntropy", "CrossEntropy", "MeanSquaredError", "LOSSES", "make_loss"]


class Loss:
    """Base class. ``matched_activation`` names the output activation that allows fusing."""

    name: ClassVar[str] = ""
    matched_activation: ClassVar[str] = ""
    #: probabilities are clipped to [eps, 1 - eps] on the unfused path only
    eps: ClassVar[float] = 1e-12

    def cost(self, A: np.ndarray, Y: np.ndarray) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def gradient(self, A: np.ndarray, Y: np.ndarray) -> np.ndarray:  # pragma: no cover
        """dC/dA[L] : (n[L], m), including the 1/m."""
        raise NotImplementedError

    def cost_from_logits(self, Z: np.ndarray, Y: np.ndarray) -> float:  # pragma: no cover
        raise NotImplementedError

    def fused_gradient(self, A: np.ndarray, Y: np.ndarray) -> np.ndarray:
        """dC/dZ[L] = (A[L] - Y) / m : (n[L], m), valid only with the matched output activation.

        The one fused gradient of the library (docs/math.md section 7 derives it for all three
        pairs); the fast engine computes the same numbers into its own buffer.
        """
        m = Y[0].size  # examples (and positions: T * m for sequences (V, T, m))
        dC_dZ = A - Y  # (n[L], m), a fresh array
        dC_dZ *= dC_dZ.dtype.type(1.0 / m)
        return dC_dZ

    def _clip(self, A: np.ndarray) -> np.ndarray:
        eps = max(self.eps, float(np.finfo(A.dtype).eps)) if A.dtype.kind == "f" else self.eps
        return np.clip(A, eps, 1 - eps)


class BinaryCrossEntropy(Loss):
    """Binary cross-entropy for n[L] independent sigmoid outputs (n[L] = 1 for two classes)."""

    name = "bce"
    matched_activation = "sigmoid"

    def cost(self, A: np.ndarray, Y: np.ndarray) -> float:
        m = Y[0].size
        A = self._clip(A)
        return float(-np.sum(Y * np.log(A) + (1 - Y) * np.log(1 - A)) / m)

    def gradient(self, A: np.ndarray, Y: np.ndarray) -> np.ndarray:
        """dC/dA = (1/m) (A - Y) / (A (1 - A)) : (n[L], m), from d/da[-y log a - (1-y) log(1-a)].

        A is clipped to [eps, 1 - eps] first, so a saturated output gives a large finite value.
        """
        m = Y[0].size
        A = self._clip(A)
        return (A - Y) / (A * (1 - A)) / m

    def cost_from_logits(self, Z: np.ndarray, Y: np.ndarray) -> float:
        """C from the logits Z[L] : (n[L], m), with Y : (n[L], m).

            C = -(1/m) sum [Y log sigmoid(Z) + (1-Y) log sigmoid(-Z)]
              = (1/m) sum [max(Z, 0) - Z Y + log(1 + e^-|Z|)]

        The second form never takes log(0) and never exponentiates a positive number.
        """
        m = Y[0].size
        losses = np.maximum(Z, 0) - Z * Y + np.log1p(np.exp(-np.abs(Z)))
        return float(np.sum(losses, dtype=np.float64) / m)


class CrossEntropy(Loss):
    """Categorical cross-entropy over K softmax outputs; labels 0..K-1 become one-hot columns."""

    name = "ce"
    matched_activation = "softmax"

    def cost(self, A: np.ndarray, Y: np.ndarray) -> float:
        m = Y[0].size
        return float(-np.sum(Y * np.log(self._clip(A))) / m)

    def gradient(self, A: np.ndarray, Y: np.ndarray) -> np.ndarray:
        """dC/dA = -(1/m) Y / A : (K, m), with A clipped to [eps, 1 - eps]."""
        m = Y[0].size
        return -(Y / self._clip(A)) / m

    def cost_from_logits(self, Z: np.ndarray, Y: np.ndarray) -> float:
        """-(1/m) sum Y * log_softmax(Z) for Z, Y : (K, m).

        log_softmax(Z) = Z - logsumexp(Z) mathematically, but it is computed as
        (Z - M) - log1p(sum of exp(Z - M) over all but the max entry), M the column max
        (chainrule.nn.functional.log_softmax): forming M + log(...) first would round at the
        scale of M (float32, Z ~ 1e4: off by up to 4.9e-4; this way by at most 4.2e-7).
        """
        m = Y[0].size
        return float(-np.sum(Y * F.log_softmax(Z, axis=0), dtype=np.float64) / m)


class MeanSquaredError(Loss):
    """Half mean squared error, C = (1/(2m)) sum (A - Y)^2 (sum over outputs, mean over m)."""

    name = "mse"
    matched_activation = "identity"

    def cost(self, A: np.ndarray, Y: np.ndarray) -> float:
        m = Y[0].size
        diff = A - Y
        return float(np.sum(diff * diff, dtype=np.float64) / (2 * m))

    def gradient(self, A: np.ndarray, Y: np.ndarray) -> np.ndarray:
        """dC/dA = (A - Y) / m : (n[L], m); the 1/2 in C cancels the 2 from the square."""
        return self.fused_gradient(A, Y)

    def cost_from_logits(self, Z: np.ndarray, Y: np.ndarray) -> float:
        """With the identity output A[L] = Z[L], so the cost of the logits is the cost of A."""
        return self.cost(Z, Y)


LOSSES: dict[str, type[Loss]] = {
    "bce": BinaryCrossEntropy,
    "ce": CrossEntropy,
    "mse": MeanSquaredError,
}

_ALIASES = {
    "binary_crossentropy": "bce",
    "binary_cross_entropy": "bce",
    "cross_entropy": "ce",
    "crossentropy": "ce",
    "categorical_crossentropy": "ce",
    "categorical_cross_entropy": "ce",
    "mean_squared_error": "mse",
}

#: output activation -> the cost ``mlp`` picks for it by default
DEFAULT_LOSS_FOR_OUTPUT = {"sigmoid": "bce", "softmax": "ce", "identity": "mse", "tanh": "mse"}


def make_loss(name: str | Loss) -> Loss:
    """Build a cost from its name: "bce", "ce" or "mse" (long names accepted)."""
    if isinstance(name, Loss):
        return name
    if not isinstance(name, str):
        raise TypeError(f"loss must be a name (str), got {type(name).__name__}")
    key = _ALIASES.get(name.lower(), name.lower())
    if key not in LOSSES:
        raise ValueError(
            f"unknown loss {name!r}; expected one of {', '.join(sorted(LOSSES))} "
            f"(or {', '.join(sorted(_ALIASES))})"
        )
    return LOSSES[key]()
