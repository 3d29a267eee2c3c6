"""Inverted dropout: zero each unit with probability p during training, identity in predict."""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.nn.init import as_rng
from chainrule.nn.layer import Layer, register_layer

__all__ = ["Dropout"]


@register_layer
class Dropout(Layer):
    """A = A_prev * D, with D = mask / (1 - p) and mask ~ Bernoulli(1 - p), one per entry.

    *Inverted* dropout divides by the keep probability (1 - p) during training, so the expected
    activation is unchanged and prediction (``net.eval()``, ``training = False``) is the identity.
    Works on any shape: (n, m), (C, H, W, m), (C, L, m).

    ``rng`` is a ``numpy.random.Generator`` (seeded by ``seed``); its state can be saved with a
    checkpoint (``rng.bit_generator.state``). ``freeze(True)`` keeps the current mask (a fresh
    one is drawn at the next forward, then reused): a gradient check sees one fixed function.
    """

    def __init__(self, p: float = 0.5, seed: int | np.random.Generator | None = None) -> None:
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, (int, float, np.floating)):
            raise TypeError(f"Dropout p must be a number in [0, 1), got {type(p).__name__} {p!r}")
        if not 0.0 <= float(p) < 1.0:
            raise ValueError(f"Dropout p must be in [0, 1), got {p}")
        self.p = float(p)
        self.seed = seed if isinstance(seed, (int, np.integer)) else None
        self.rng: np.random.Generator = as_rng(seed)
        self.D: np.ndarray | None = None
        self.frozen = False

    def freeze(self, flag: bool = True) -> None:
        """Reuse one mask while frozen (gradient checks); unfreezing draws fresh masks again."""
        self.frozen = bool(flag)
        self.D = None

    def forward(self, A_prev: np.ndarray) -> np.ndarray:
        """A = A_prev * D in training (D = mask / (1 - p)); A = A_prev in prediction."""
        if not self.training or self.p == 0.0:
            return A_prev
        if not (self.frozen and self.D is not None and self.D.shape == A_prev.shape):
            keep = self.rng.random(A_prev.shape, dtype=np.float32) >= self.p
            self.D = keep.astype(A_prev.dtype) * A_prev.dtype.type(1.0 / (1.0 - self.p))
        return A_prev * self.D

    def backward(self, dC_dA: np.ndarray) -> np.ndarray:
        """Forward A = A_prev * D is element-wise linear in A_prev, so
        dC_dA_prev = dC_dA * D : same shape as A_prev ((n, m) or (C, H, W, m)).
        Dropped units pass no gradient; kept ones are scaled by 1/(1 - p). Identity in predict."""
        if not self.training or self.p == 0.0:
            return dC_dA
        if self.D is None:
            raise RuntimeError("Dropout.backward called before forward")
        return dC_dA * self.D

    def config(self) -> dict[str, Any]:
        return {"p": self.p, "seed": self.seed}
