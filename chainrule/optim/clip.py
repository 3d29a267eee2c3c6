"""Gradient clipping by the global norm, as ``torch.nn.utils.clip_grad_norm_``.

With every gradient G_k of the network seen as one long vector, its norm is

    ||g|| = sqrt(sum_k sum_i G_k[i]^2)

and when it exceeds ``max_norm`` every gradient is multiplied by max_norm / (||g|| + 1e-6), so
the step keeps its direction but not its length. A single bad batch (an exploding gradient in a
recurrent network, a loss spike) then cannot throw the weights far away.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from chainrule.nn.layer import ParamGrad
from chainrule.validation import check_positive_float

__all__ = ["clip_grad_norm", "global_norm"]


def global_norm(params: Iterable[ParamGrad]) -> float:
    """sqrt of the sum of every squared gradient entry (each array's in its own dtype, the
    total in float64)."""
    total = 0.0
    for p in params:
        if p.G is not None:
            g = np.asarray(p.G).reshape(-1)
            total += float(g @ g)
    return float(np.sqrt(total))


def clip_grad_norm(params: Iterable[ParamGrad], max_norm: float) -> float:
    """Scale every stored gradient IN PLACE so that their global norm is at most ``max_norm``.

    Returns the norm before clipping (as torch does). The factor is
    min(1, max_norm / (norm + 1e-6)), torch's formula, so a norm just below ``max_norm`` is
    left unchanged.
    """
    max_norm = check_positive_float("clip_grad_norm", max_norm)
    params = list(params)
    norm = global_norm(params)
    factor = max_norm / (norm + 1e-6)
    if factor < 1.0:
        for p in params:
            if p.G is not None:
                np.multiply(p.G, p.G.dtype.type(factor), out=p.G)  # in place: the stored array
    return norm
