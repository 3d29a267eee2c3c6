"""Gradient checking: backprop's gradients against central finite differences, in float64.

For every parameter entry p:

    dC/dp ~= (C(p + eps) - C(p - eps)) / (2 eps)          error O(eps^2)

and for each parameter array (W[1], b[1], ...) the relative error

    ||g_backprop - g_numeric|| / (||g_backprop|| + ||g_numeric||)

which is ~1e-9 for a correct backward pass and far larger for a wrong one: the notebook's db bug
(dC_db summed from dC_dW) gives 0.63, 0.25 and 0.12 for b[1], b[2], b[3] on the standardized toy
data (docs/math.md section 10.1), and two unrelated gradients of similar size give about 0.7.
Float64 is essential: in float32 the finite differences alone are only accurate to about 1e-3.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chainrule.model.network import Sequential, to_engine

__all__ = ["gradcheck", "GradcheckReport", "relative_error"]


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    """||a - b|| / (||a|| + ||b||), and 0 when both are exactly zero."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    denom = float(np.linalg.norm(a) + np.linalg.norm(b))
    return 0.0 if denom == 0 else float(np.linalg.norm(a - b)) / denom


@dataclass
class GradcheckReport:
    """Per-parameter relative errors; ``passed`` when every one is below ``tolerance``."""

    errors: dict[str, float]
    tolerance: float
    backprop: dict[str, np.ndarray] = field(repr=False, default_factory=dict)
    numeric: dict[str, np.ndarray] = field(repr=False, default_factory=dict)

    @property
    def max_error(self) -> float:
        return max(self.errors.values(), default=0.0)

    @property
    def passed(self) -> bool:
        return self.max_error < self.tolerance

    def __str__(self) -> str:
        w = max([12, *(len(name) + 2 for name in self.errors)])
        lines = [f"{'parameter':<{w}}{'shape':<16}{'relative error':>16}"]
        for name, err in self.errors.items():
            shape = str(self.backprop[name].shape) if name in self.backprop else ""
            flag = "ok" if err < self.tolerance else "FAIL"
            lines.append(f"{name:<{w}}{shape:<16}{err:>16.3e}  {flag}")
        verdict = "PASSED" if self.passed else "FAILED"
        lines.append(f"max error {self.max_error:.3e} (tolerance {self.tolerance:g}): {verdict}")
        return "\n".join(lines)


def _cost_only(net: Sequential, A0: np.ndarray, Y: np.ndarray) -> float:
    if net.fused:
        Z = A0
        for layer in net.layers[:-1]:
            Z = layer.forward(Z)
        return net.loss.cost_from_logits(Z, Y)
    return net.loss.cost(net.forward(A0), Y)


def gradcheck(
    net: Sequential,
    X: Any,
    y: Any,
    eps: float = 1e-6,
    tolerance: float = 1e-6,
    max_entries: int | None = None,
    seed: int = 0,
) -> GradcheckReport:
    """Compare backprop with central differences for every parameter of a float64 copy of ``net``.

    ``max_entries`` limits how many entries of each parameter array are perturbed (chosen at
    random with ``seed``); None checks all of them. ``net`` itself is never modified.
    """
    net64 = net.astype(np.float64)
    net64.train()
    X64 = net64.prepare_X(X)
    Y = net64.prepare_Y(y, X64.shape[0])
    A0 = to_engine(X64)
    for _, layer in net64.named_layers():
        if hasattr(layer, "freeze"):  # e.g. Dropout keeps one mask for the whole check
            layer.freeze(True)
    net64.forward_backward(A0, Y)
    rng = np.random.default_rng(seed)
    errors: dict[str, float] = {}
    backprop: dict[str, np.ndarray] = {}
    numeric: dict[str, np.ndarray] = {}
    for label, layer, name in net64.named_parameters():
        P = getattr(layer, name)
        G = getattr(layer, "dC_d" + name)
        flat = P.reshape(-1)  # a view: writing to it perturbs P
        idx = np.arange(flat.size)
        if max_entries is not None and flat.size > max_entries:
            idx = np.sort(rng.choice(flat.size, size=max_entries, replace=False))
        num = np.empty(idx.size)
        for k, i in enumerate(idx):
            old = flat[i]
            flat[i] = old + eps
            c_plus = _cost_only(net64, A0, Y)
            flat[i] = old - eps
            c_minus = _cost_only(net64, A0, Y)
            flat[i] = old
            num[k] = (c_plus - c_minus) / (2 * eps)
        bp = np.asarray(G).reshape(-1)[idx]
        errors[label] = relative_error(bp, num)
        backprop[label] = np.array(G) if max_entries is None else bp
        numeric[label] = num.reshape(P.shape) if idx.size == flat.size else num
    for _, layer in net64.named_layers():
        if hasattr(layer, "freeze"):
            layer.freeze(False)
    return GradcheckReport(errors, tolerance, backprop, numeric)
