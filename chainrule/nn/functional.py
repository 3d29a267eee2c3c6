"""Numerically stable activation functions and their derivatives.

Every function works element-wise on an array of any shape; the engine calls them on Z of shape
(n[l], m). The element-wise ones (sigmoid, log_sigmoid, tanh, relu, leaky_relu) never overflow
or warn for any finite input, in float32 or float64. softmax, log_softmax and logsumexp never
warn while the entries of one column span less than the dtype's largest number (|z| up to 1e4
and far beyond); a column such as [1e308, -1e308] in float64 overflows in ``z - max`` (NumPy
warns "overflow encountered in subtract"), though the result is still right.

The notebook's ``sigmoid(arr) = 1 / (1 + np.exp(-arr))`` overflows for z < -709 (float64) or
z < -88 (float32): ``np.exp(1000)`` is inf and NumPy warns. The cure is to never exponentiate a
positive number: with e = exp(-|z|), which lies in (0, 1],

    sigmoid(z) = 1 / (1 + e)    for z >= 0
    sigmoid(z) = e / (1 + e)    for z <  0

Both branches are exact rearrangements of 1 / (1 + exp(-z)).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "sigmoid",
    "log_sigmoid",
    "softmax",
    "log_softmax",
    "logsumexp",
    "tanh",
    "relu",
    "leaky_relu",
]


def sigmoid(z: np.ndarray) -> np.ndarray:
    """Stable logistic function 1 / (1 + exp(-z)); see the module docstring."""
    z = np.asarray(z)
    e = np.exp(-np.abs(z))  # in (0, 1]: never overflows
    denom = 1.0 + e
    return np.where(z >= 0, 1.0 / denom, e / denom).astype(z.dtype, copy=False)


def log_sigmoid(z: np.ndarray) -> np.ndarray:
    """log(sigmoid(z)) = -log(1 + exp(-z)) = min(z, 0) - log1p(exp(-|z|)), without overflow."""
    z = np.asarray(z)
    return np.minimum(z, 0) - np.log1p(np.exp(-np.abs(z)))


def _shift_and_log_norm(z: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The one log-sum-exp of the library: (z_max, z - z_max, log of the normalizer).

    With s = z - max (<= 0, exactly 0 at the max), log sum exp(z) = max + log(1 + sum of
    exp(s) over all but the max entry). log1p keeps an e^-10 next to the 1, and subtracting the
    max FIRST keeps z - max exact where max + log(sum) would round at the scale of max (in
    float32 1e4 + 1.0986 is off by ~1e-3). :func:`logsumexp`, :func:`log_softmax` and the
    cross-entropy cost all use it.
    """
    z = np.asarray(z)
    top = np.expand_dims(np.argmax(z, axis=axis), axis)
    z_max = np.take_along_axis(z, top, axis=axis)
    shifted = z - z_max  # <= 0, exactly 0 at the max
    e = np.exp(shifted)
    np.put_along_axis(e, top, 0, axis=axis)  # drop the max's own exp(0) = 1 ...
    return z_max, shifted, np.log1p(np.sum(e, axis=axis, keepdims=True))  # ... added back here


def logsumexp(z: np.ndarray, axis: int = 0, keepdims: bool = True) -> np.ndarray:
    """log(sum(exp(z), axis)) = max + log1p(sum of the other exp(z - max)): never overflows."""
    z_max, _, log_norm = _shift_and_log_norm(z, axis)
    out = z_max + log_norm
    return out if keepdims else np.squeeze(out, axis=axis)


def softmax(z: np.ndarray, axis: int = 0) -> np.ndarray:
    """Softmax over the classes axis (axis 0 in the engine: Z is (K, m)).

    Subtracting the per-column max leaves the result unchanged (it cancels between numerator and
    denominator) and makes every exponent <= 0, so exp never overflows.
    """
    z = np.asarray(z)
    e = np.exp(z - np.max(z, axis=axis, keepdims=True))
    e /= np.sum(e, axis=axis, keepdims=True)
    return e


def log_softmax(z: np.ndarray, axis: int = 0) -> np.ndarray:
    """log(softmax(z)) = (z - max) - log1p(sum of exp(z - max) over all but the max entry).

    Exact even when softmax underflows, in float32 too (see :func:`_shift_and_log_norm`).
    """
    _, shifted, log_norm = _shift_and_log_norm(z, axis)
    return shifted - log_norm


def tanh(z: np.ndarray) -> np.ndarray:
    """Hyperbolic tangent (NumPy's is already stable: it saturates to +-1 without overflow)."""
    return np.tanh(z)


def relu(z: np.ndarray) -> np.ndarray:
    """max(z, 0)."""
    return np.maximum(z, 0)


def leaky_relu(z: np.ndarray, alpha: float = 0.01) -> np.ndarray:
    """z for z > 0, alpha * z otherwise."""
    z = np.asarray(z)
    return np.where(z > 0, z, z * z.dtype.type(alpha) if z.dtype.kind == "f" else alpha * z)
