"""GELU, the Gaussian error linear unit: A = Z * Phi(Z), Phi the standard normal CDF.

Two forms, as ``torch.nn.GELU(approximate=...)``:

* ``"none"`` (exact):  gelu(z) = z Phi(z) = 0.5 z (1 + erf(z / sqrt(2)))
* ``"tanh"`` (GPT-2):  gelu(z) ~ 0.5 z (1 + tanh(sqrt(2/pi) (z + 0.044715 z^3)))

NumPy has no erf. The exact form calls the C library's ``math.erfc`` once per element through
``np.frompyfunc``: correct to the last bit or two of float64, but a Python call per element,
roughly 0.1 us each (some 30 times one NumPy ufunc such as np.tanh, 3 to 4 times the whole
tanh form, measured on 1e6 float64 values). That is the readable reference; short formulas such as Abramowitz-Stegun 7.1.26 are only good to ~1e-7,
which a float64 gradient check would notice. Use ``"tanh"`` when speed matters.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule.nn.activation import Activation
from chainrule.nn.layer import register_layer

__all__ = ["GELU", "APPROXIMATE"]

_SQRT_2 = math.sqrt(2.0)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_KAPPA = 0.044715
#: the accepted values of ``approximate``, as torch.nn.GELU
APPROXIMATE = ("none", "tanh")

#: math.erfc on every element of an array (an object array back: cast it)
_erfc = np.frompyfunc(math.erfc, 1, 1)


def _Phi(Z: np.ndarray) -> np.ndarray:
    """Phi(z) = 0.5 (1 + erf(z / sqrt 2)) = 0.5 erfc(-z / sqrt 2), in Z's dtype.

    The erfc form is the same function but keeps its accuracy for negative z: at z = -10,
    1 + erf(-7.07) cancels to 0 in float64, while 0.5 erfc(7.07) = 7.6e-24 is exact.
    Computed in float64 (each element goes through math.erfc), then cast to Z's dtype.
    """
    dtype = Z.dtype if Z.dtype.kind == "f" else np.dtype(np.float64)
    z64 = np.asarray(Z, dtype=np.float64)
    return (0.5 * np.asarray(_erfc(-z64 / _SQRT_2), dtype=np.float64)).astype(dtype)


def _phi(Z: np.ndarray) -> np.ndarray:
    """phi(z) = exp(-z^2 / 2) / sqrt(2 pi), the standard normal density, in Z's dtype.

    z is clipped to [-40, 40] first: exp(-800) is already 0 in float64, so no value changes,
    but z^2 can no longer overflow float32 (|z| > 1.8e19) and warn.
    """
    zc = np.clip(Z, -40.0, 40.0)
    return np.exp(-0.5 * zc * zc) * _INV_SQRT_2PI


@register_layer
class GELU(Activation):
    """A = gelu(Z), element-wise, exact (``approximate="none"``) or the tanh form.

    The tanh form is the one GPT-2 used (and llm.c and nanoGPT reproduce); the exact form is
    torch's default. They differ by at most 4.7e-4 (near |z| = 2.7).
    """

    name = "gelu"

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if not isinstance(approximate, str):
            raise TypeError(
                f"GELU approximate must be 'none' or 'tanh' (a str), got "
                f"{type(approximate).__name__} {approximate!r}"
            )
        if approximate not in APPROXIMATE:
            raise ValueError(f"GELU approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def _tanh_inner(self, Z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(t, zc): t = tanh(u), u = sqrt(2/pi) (z + 0.044715 z^3), and the clipped z used.

        z is clipped to [-20, 20] inside u only: there u is already beyond 300, so tanh(u) is
        +-1 to the last bit and nothing changes, but z^3 can no longer overflow float32
        (|z| > 7e12) and warn.
        """
        zc = np.clip(Z, -20.0, 20.0)
        return np.tanh(_SQRT_2_OVER_PI * (zc + _KAPPA * zc * zc * zc)), zc

    def forward(self, Z: np.ndarray) -> np.ndarray:
        """A = Z * Phi(Z) (exact) or 0.5 Z (1 + tanh(u)) (tanh form) : Z's shape, fresh."""
        self.Z = Z
        if self.approximate == "tanh":
            t, zc = self._tanh_inner(Z)
            self.t, self.zc = t, zc  # backward needs tanh(u) again: keep it, not recompute it
            return 0.5 * Z * (1.0 + t)
        return Z * _Phi(Z)

    def backward(self, dC_dA: np.ndarray) -> np.ndarray:
        """dC_dZ = dC_dA * gelu'(Z)  : all of Z's shape ((n, m) or (n, T, m)).

        Exact form, A = z Phi(z): the product rule, with Phi' = phi,

            gelu'(z) = Phi(z) + z phi(z),    phi(z) = exp(-z^2 / 2) / sqrt(2 pi)

        Tanh form, A = 0.5 z (1 + t), t = tanh(u), u = sqrt(2/pi) (z + 0.044715 z^3): the product
        rule, then tanh' = 1 - tanh^2 and du/dz = sqrt(2/pi) (1 + 3 * 0.044715 z^2),

            gelu'(z) = 0.5 (1 + t) + 0.5 z (1 - t^2) sqrt(2/pi) (1 + 0.134145 z^2)

        For large |z| both tend to 1 (z > 0) or 0 (z < 0): phi and 1 - t^2 reach exactly 0
        long before z^2 could overflow (z is clipped inside them), so no warning up to any
        finite |z|.
        """
        Z = self._cached("Z")
        if self.approximate == "tanh":
            t, zc = self.t, self.zc  # cached by forward
            du_dz = _SQRT_2_OVER_PI * (1.0 + 3.0 * _KAPPA * zc * zc)  # Z's shape
            return dC_dA * (0.5 * (1.0 + t) + 0.5 * Z * (1.0 - t * t) * du_dz)
        return dC_dA * (_Phi(Z) + Z * _phi(Z))

    def config(self) -> dict[str, Any]:
        return {"approximate": self.approximate}
