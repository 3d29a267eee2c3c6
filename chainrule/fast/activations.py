"""Element-wise activations computed IN PLACE in a plan's own buffers, and their derivatives.

The same functions as the reference activation layers (:mod:`chainrule.nn.activation`):

* ReLU keeps a 0.0/1.0 mask in Z's dtype, so backward is one float multiply (and on a
  (256, 128) float32 array ``greater`` + in-place ``multiply`` measured 1.3-1.4x faster than
  NumPy's float ``maximum``; on a (512, 4096) one, past the caches, ``maximum`` is faster:
  docs/vectorization.md);
* sigmoid(z) = (1 + tanh(z/2)) / 2 exactly: no exp of a large number, so it cannot overflow,
  and it runs in place;
* softmax subtracts each column's max before exp, as the reference does.

Warnings: relu, tanh, sigmoid, identity and their derivatives never overflow or warn for any
finite input, up to +-finfo.max, in float32 and float64. The softmax warns in one case:
``Z - max`` overflows when a column spans more than the dtype's range (max - min > finfo.max,
~1.8e308 in float64, ~3.4e38 in float32), e.g. the float64 column [1e308, -1e308]. NumPy then
emits "overflow encountered in subtract"; the result is still right (exp(-inf) = 0 gives
[1, 0]). Checked with ``np.errstate(over="raise", divide="raise", invalid="raise")``.
Underflow (exp of a very negative number rounding to 0) is not counted: NumPy ignores it by
default, and it is the correct result.
"""

from __future__ import annotations

import numpy as np

__all__ = ["activate_", "derivative_", "softmax_"]


def activate_(name: str, Z: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """A = g(Z), overwriting Z : (n, B). ``mask`` (n, B) receives [Z > 0] for ReLU; None
    (prediction: no backward pass will need it) computes max(Z, 0) without one."""
    if name == "relu":
        if mask is None:
            np.maximum(Z, 0, out=Z)
        else:
            np.greater(Z, 0, out=mask)  # 0.0 / 1.0
            Z *= mask
    elif name == "tanh":
        np.tanh(Z, out=Z)
    elif name == "sigmoid":
        Z *= Z.dtype.type(0.5)
        np.tanh(Z, out=Z)
        Z += 1
        Z *= Z.dtype.type(0.5)
    elif name == "softmax":
        softmax_(Z, Z)
    elif name != "identity":
        raise ValueError(f"the fast plans do not compute the activation {name!r}")
    return Z


def softmax_(Z: np.ndarray, out: np.ndarray) -> np.ndarray:
    """out = softmax(Z) over axis 0 : (K, B); ``out`` may be Z itself."""
    np.subtract(Z, Z.max(axis=0, keepdims=True), out=out)  # every exponent <= 0
    np.exp(out, out=out)
    out /= out.sum(axis=0, keepdims=True)  # (K, B) / (1, B)
    return out


def derivative_(
    name: str, dC_dA: np.ndarray, A: np.ndarray, mask: np.ndarray | None, tmp: np.ndarray | None
) -> np.ndarray:
    """dC_dZ = dC_dA * g'(Z), overwriting dC_dA : (n, B) (``tmp`` is scratch of that shape)."""
    if name == "relu":
        dC_dA *= mask  # [Z > 0]
    elif name == "sigmoid":
        assert tmp is not None
        np.subtract(1, A, out=tmp)
        tmp *= A  # A (1 - A)
        dC_dA *= tmp
    elif name == "tanh":
        assert tmp is not None
        np.multiply(A, A, out=tmp)
        np.subtract(1, tmp, out=tmp)  # 1 - A^2
        dC_dA *= tmp
    elif name != "identity":
        raise ValueError(f"the fast plans do not compute the derivative of {name!r}")
    return dC_dA
