"""Gradient-descent optimizers. Each updates the parameters IN PLACE from the stored gradients.

For a parameter P with gradient G = dC/dP (plus ``weight_decay * P`` for weights when L2 weight
decay is on; biases are not decayed):

* SGD        P -= lr * G
* Momentum   V = mu * V + G;  P -= lr * V                      (PyTorch's convention)
* RMSProp    S = rho * S + (1 - rho) G^2;  P -= lr * G / (sqrt(S) + eps)
* Adam       M = b1 M + (1 - b1) G;  S = b2 S + (1 - b2) G^2;
             P -= lr * (M / (1 - b1^t)) / (sqrt(S / (1 - b2^t)) + eps)   (bias-corrected)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

import numpy as np

from chainrule.nn.layer import ParamGrad

__all__ = ["Optimizer", "SGD", "Momentum", "RMSProp", "Adam", "OPTIMIZERS", "make_optimizer"]


def _positive(name: str, value: Any, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    value = float(value)
    ok = value >= 0 if allow_zero else value > 0
    if not ok or not np.isfinite(value):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be a finite number {bound}, got {value}")
    return value


def _fraction(name: str, value: Any) -> float:
    value = _positive(name, value, allow_zero=True)
    if value >= 1:
        raise ValueError(f"{name} must be in [0, 1), got {value}")
    return value


class Optimizer:
    """Base class: holds the learning rate, weight decay, step count and per-parameter state."""

    name: ClassVar[str] = ""

    def __init__(self, lr: float = 0.01, weight_decay: float = 0.0) -> None:
        self.lr = _positive("lr", lr)
        self.weight_decay = _positive("weight_decay", weight_decay, allow_zero=True)
        self.t = 0
        self.state: dict[str, np.ndarray] = {}
        #: per-parameter scratch arrays for in-place updates (not part of the saved state)
        self._scratch: dict[str, np.ndarray] = {}

    def step(self, params: Iterable[ParamGrad]) -> None:
        """Advance the step counter, then apply one update to every (key, P, G, decay)."""
        self.t += 1
        for param in params:
            self.update(param)

    def update(self, param: ParamGrad) -> None:
        """One parameter's update at step ``self.t`` (already advanced by :meth:`step`).

        The parameters' updates are independent of each other: any order gives the same step.
        """
        key, P, G, decay = param
        if decay and self.weight_decay:
            G = G + P.dtype.type(self.weight_decay) * P  # L2: d/dP of (wd / 2) ||P||^2
        self._update(key, P, G)

    def _update(self, key: str, P: np.ndarray, G: np.ndarray) -> None:  # pragma: no cover
        raise NotImplementedError

    @property
    def accepts_prescaled(self) -> bool:
        """Whether :meth:`step_prescaled` applies (plain SGD without weight decay only)."""
        return False

    def step_prescaled(self, params: Iterable[ParamGrad]) -> None:
        """An update from gradients already multiplied by lr; see :meth:`SGD.step_prescaled`."""
        raise ValueError(
            "step_prescaled is for plain SGD with weight_decay=0, got "
            f"{type(self).__name__} with weight_decay={self.weight_decay:g}"
        )

    def _tmp(self, key: str, like: np.ndarray) -> np.ndarray:
        """A reusable scratch array shaped like ``like``: lr * G goes here, not into a new array."""
        scratch = self.__dict__.setdefault("_scratch", {})
        buf = scratch.get(key)
        if buf is None or buf.shape != like.shape or buf.dtype != like.dtype:
            buf = scratch[key] = np.empty_like(like)
        return buf

    def _buffer(self, key: str, like: np.ndarray) -> np.ndarray:
        buf = self.state.get(key)
        if buf is None or buf.shape != like.shape or buf.dtype != like.dtype:
            buf = np.zeros_like(like)
            self.state[key] = buf
        return buf

    # --- checkpointing ------------------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        return {"lr": self.lr, "weight_decay": self.weight_decay}

    def state_dict(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """(JSON-able scalars, arrays) that fully describe the optimizer, for checkpoints."""
        return {"name": self.name, "t": self.t, **self.config()}, dict(self.state)

    def load_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.t = int(meta.get("t", 0))
        self.state = {k: np.array(v) for k, v in arrays.items()}


class SGD(Optimizer):
    """Plain (mini-batch) gradient descent: P -= lr * G."""

    name = "sgd"

    def _update(self, key: str, P: np.ndarray, G: np.ndarray) -> None:
        # P -= lr * G without a temporary: lr * G into a reused scratch array, then subtract
        step = np.multiply(G, P.dtype.type(self.lr), out=self._tmp(key, P))
        P -= step

    @property
    def accepts_prescaled(self) -> bool:
        return type(self) is SGD and not self.weight_decay

    def step_prescaled(self, params: Iterable[ParamGrad]) -> None:
        """The same update from gradients that already hold lr * dC/dP: P -= G, one pass each.

        The fast engine uses it for plain SGD without weight decay. It seeds backward with
        lr * dC/dZ[L] (``chainrule.fast.plan.MLPPlan.forward_backward``); backward is linear in its
        seed, so every stored gradient comes out as lr * dC/dP, and the update needs no
        separate ``lr * G`` pass over the parameters (the largest cost of an epoch after the
        matrix products). Mathematically the same step as :meth:`step`.
        """
        if not self.accepts_prescaled:
            super().step_prescaled(params)  # raises
        self.t += 1
        for _, P, G, _ in params:
            P -= G  # G = lr * dC/dP already


class Momentum(Optimizer):
    """SGD with momentum: V = mu V + G; P -= lr V (matches torch.optim.SGD(momentum=mu))."""

    name = "momentum"

    def __init__(self, lr: float = 0.01, momentum: float = 0.9, weight_decay: float = 0.0) -> None:
        super().__init__(lr, weight_decay)
        self.momentum = _fraction("momentum", momentum)

    def _update(self, key: str, P: np.ndarray, G: np.ndarray) -> None:
        if key not in self.state:
            self.state[key] = np.array(G, dtype=P.dtype, copy=True)  # first step: V = G
        else:
            V = self.state[key]
            V *= P.dtype.type(self.momentum)
            V += G
        P -= np.multiply(self.state[key], P.dtype.type(self.lr), out=self._tmp(key, P))

    def config(self) -> dict[str, Any]:
        return {**super().config(), "momentum": self.momentum}


class RMSProp(Optimizer):
    """RMSProp: S = rho S + (1 - rho) G^2; P -= lr G / (sqrt(S) + eps).

    The update of torch.optim.RMSprop (centered=False, momentum=0), with torch's rho (its
    ``alpha``) = 0.99 and eps = 1e-8, but NOT torch's learning rate: torch's default is
    lr = 0.01 (torch 2.13), chainrule's 0.001. Pass lr=0.01 to match torch.
    """

    name = "rmsprop"

    def __init__(
        self, lr: float = 0.001, rho: float = 0.99, eps: float = 1e-8, weight_decay: float = 0.0
    ) -> None:
        super().__init__(lr, weight_decay)
        self.rho = _fraction("rho", rho)
        self.eps = _positive("eps", eps)

    def _update(self, key: str, P: np.ndarray, G: np.ndarray) -> None:
        S = self._buffer(key, P)
        S *= P.dtype.type(self.rho)
        S += P.dtype.type(1 - self.rho) * G * G
        P -= P.dtype.type(self.lr) * G / (np.sqrt(S) + P.dtype.type(self.eps))

    def config(self) -> dict[str, Any]:
        return {**super().config(), "rho": self.rho, "eps": self.eps}


class Adam(Optimizer):
    """Adam with bias correction (Kingma & Ba 2015); matches torch.optim.Adam."""

    name = "adam"

    def __init__(
        self,
        lr: float = 0.001,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(lr, weight_decay)
        self.beta1 = _fraction("beta1", beta1)
        self.beta2 = _fraction("beta2", beta2)
        self.eps = _positive("eps", eps)

    def _update(self, key: str, P: np.ndarray, G: np.ndarray) -> None:
        M = self._buffer("m:" + key, P)
        S = self._buffer("v:" + key, P)
        t = P.dtype.type
        M *= t(self.beta1)
        M += t(1 - self.beta1) * G
        S *= t(self.beta2)
        S += t(1 - self.beta2) * G * G
        bc1 = 1 - self.beta1**self.t
        bc2 = 1 - self.beta2**self.t
        denom = np.sqrt(S) / t(np.sqrt(bc2))
        denom += t(self.eps)
        P -= t(self.lr / bc1) * M / denom

    def config(self) -> dict[str, Any]:
        return {**super().config(), "beta1": self.beta1, "beta2": self.beta2, "eps": self.eps}


OPTIMIZERS: dict[str, type[Optimizer]] = {cls.name: cls for cls in (SGD, Momentum, RMSProp, Adam)}


def make_optimizer(name: str | Optimizer, lr: float, **kwargs: Any) -> Optimizer:
    """Build an optimizer by name ("sgd", "momentum", "rmsprop", "adam"); extra kwargs go to it.

    Keyword arguments the chosen optimizer does not take (e.g. ``momentum`` for Adam) are ignored
    when they are None.
    """
    if isinstance(name, Optimizer):
        return name
    if not isinstance(name, str):
        raise TypeError(f"optimizer must be a name (str), got {type(name).__name__}")
    key = name.lower()
    if key == "gd":
        key = "sgd"
    if key not in OPTIMIZERS:
        raise ValueError(
            f"unknown optimizer {name!r}; expected one of {', '.join(sorted(OPTIMIZERS))}"
        )
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    cls = OPTIMIZERS[key]
    import inspect

    accepted = set(inspect.signature(cls.__init__).parameters) - {"self"}
    unknown = set(kwargs) - accepted
    if unknown:
        raise ValueError(f"optimizer {key!r} does not take {', '.join(sorted(unknown))}")
    return cls(lr=lr, **kwargs)
