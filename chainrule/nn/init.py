"""Weight initialisation schemes for a layer with fan_in inputs and fan_out outputs.

* ``"he"`` (Kaiming): W ~ N(0, 2 / fan_in). Keeps the variance of ReLU activations constant from
  layer to layer (ReLU zeroes half of its inputs, hence the 2).
* ``"xavier"`` (Glorot normal): W ~ N(0, 2 / (fan_in + fan_out)). Keeps the variance of both the
  forward signal and the backward gradient roughly constant for tanh/sigmoid layers.
* ``"torch"``: PyTorch's default for nn.Linear and nn.Conv*d: W and b ~ U(-1/sqrt(fan_in),
  1/sqrt(fan_in)) (its kaiming_uniform with a = sqrt(5)), so a model can start as a PyTorch
  model of the same architecture would (MNIST-1D's published runs use it).
* ``"normal"``: W ~ N(0, 1) and b ~ N(0, 1), exactly the notebook's ``np.random.randn``. With
  more than a handful of inputs this saturates sigmoids; it is here to show why.

He and Xavier start biases at zero.
"""

from __future__ import annotations

import numpy as np

from chainrule.validation import check_int

__all__ = ["INITS", "default_init", "init_weights", "as_rng"]

INITS = ("he", "xavier", "normal", "torch")


def as_rng(seed: int | np.random.Generator | None) -> np.random.Generator:
    """Turn a seed (or an existing Generator, or None for fresh entropy) into a Generator."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is not None:
        seed = check_int("seed", seed, 0)
    return np.random.default_rng(seed)


def default_init(activation: str | None) -> str:
    """He for the ReLU family, Xavier for everything else."""
    return "he" if activation in ("relu", "leaky_relu") else "xavier"


def init_weights(
    shape_W: tuple[int, ...],
    fan_in: int,
    fan_out: int,
    scheme: str,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Return (W, b) in float64: W of ``shape_W``, b of shape (shape_W[0], 1)."""
    if scheme not in INITS:
        raise ValueError(f"unknown init {scheme!r}; expected one of {', '.join(INITS)}")
    n_out = shape_W[0]
    if scheme == "normal":
        W = rng.standard_normal(shape_W)
        b = rng.standard_normal((n_out, 1))
        return W, b
    if scheme == "torch":
        bound = 1.0 / np.sqrt(fan_in)
        W = rng.uniform(-bound, bound, shape_W)
        return W, rng.uniform(-bound, bound, (n_out, 1))
    std = np.sqrt(2.0 / fan_in) if scheme == "he" else np.sqrt(2.0 / (fan_in + fan_out))
    W = rng.standard_normal(shape_W) * std
    return W, np.zeros((n_out, 1))
