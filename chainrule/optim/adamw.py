"""AdamW: Adam with decoupled weight decay (Loshchilov & Hutter 2019), as torch.optim.AdamW.

L2 regularization in plain Adam adds ``weight_decay * P`` to the gradient, so the decay is
divided by sqrt(S) like everything else: weights with large gradients are barely decayed.
AdamW takes the decay out of the gradient and applies it to the parameter directly. For every
parameter P with gradient G (weights only; biases and normalization scales are not decayed):

    P *= 1 - lr * weight_decay                          (decoupled decay, before the update)
    M  = b1 M + (1 - b1) G;   S = b2 S + (1 - b2) G^2   (the raw gradient: no L2 term)
    P -= lr * (M / (1 - b1^t)) / (sqrt(S / (1 - b2^t)) + eps)

With weight_decay = 0 it is exactly :class:`~chainrule.optim.optimizer.Adam`.
"""

from __future__ import annotations

from chainrule.optim.optimizer import OPTIMIZERS, Adam, ParamGrad

__all__ = ["AdamW"]


class AdamW(Adam):
    """Adam with decoupled weight decay; matches torch.optim.AdamW (same defaults).

    ``weight_decay`` is the fraction of each decayed parameter removed per step, scaled by
    the learning rate: P *= 1 - lr * weight_decay. The gradient itself is never changed.
    """

    name = "adamw"

    def __init__(
        self,
        lr: float = 0.001,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
        weight_decay: float = 0.01,
    ) -> None:
        super().__init__(lr=lr, beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay)

    def update(self, param: ParamGrad) -> None:
        """One AdamW update of (key, P, G, decay) at step ``self.t``.

        For decay=True parameters, first P *= 1 - lr * weight_decay, then the Adam update on
        the raw gradient G. A parameter whose gradient is None (no backward yet) is skipped,
        neither decayed nor updated, as torch skips parameters whose ``.grad`` is None.
        """
        key, P, G, decay = param
        if G is None:
            return
        if decay and self.weight_decay:
            P *= P.dtype.type(1.0 - self.lr * self.weight_decay)
        self._update(key, P, G)


OPTIMIZERS[AdamW.name] = AdamW
