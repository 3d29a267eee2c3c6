"""Learning-rate schedules as objects: the learning rate as a function of time.

A schedule does not hold an optimizer or a state; it is a pure function

    lr(base_lr, t) = the learning rate to use during interval number t   (t = 0, 1, 2, ...)

where an interval is an epoch or a mini-batch step (``interval="epoch"`` or ``"step"``) and
t = 0 is the first one. Each formula is the closed form of the torch.optim.lr_scheduler class
named in its docstring, so a run with ``base_lr`` gives the same sequence as torch's scheduler
stepped once per interval.

>>> sched = StepLR(step_size=2, gamma=0.5)
>>> [sched.lr(1.0, t) for t in range(5)]
[1.0, 1.0, 0.5, 0.5, 0.25]
"""

from __future__ import annotations

import math
import numbers
from typing import Any, ClassVar

from chainrule.validation import check_int, check_positive_float, check_positive_int

__all__ = ["Schedule", "StepLR", "ExponentialLR", "CosineLR", "SCHEDULES", "make_schedule"]

#: what one unit of t counts
INTERVALS = ("epoch", "step")


def _check_interval(interval: Any) -> str:
    if not isinstance(interval, str):
        raise TypeError(
            f"interval must be one of {', '.join(map(repr, INTERVALS))}, "
            f"got {type(interval).__name__} {interval!r}"
        )
    if interval not in INTERVALS:
        raise ValueError(
            f"interval must be one of {', '.join(map(repr, INTERVALS))}, got {interval!r}"
        )
    return interval


def _check_fraction(name: str, value: Any) -> float:
    """``value`` as a float in (0, 1]."""
    value = check_positive_float(name, value)
    if value > 1:
        raise ValueError(f"{name} must be in (0, 1], got {value}")
    return value


def _check_nonnegative_float(name: str, value: Any) -> float:
    """``value`` as a finite float >= 0 (check_positive_float, with 0 let through)."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool) and value == 0:
        return 0.0
    try:
        return check_positive_float(name, value)
    except TypeError:
        raise TypeError(
            f"{name} must be a number >= 0, got {type(value).__name__} {value!r}"
        ) from None
    except ValueError:
        raise ValueError(f"{name} must be a finite number >= 0, got {value}") from None


class Schedule:
    """Base class: ``lr(base_lr, t)`` is the learning rate during interval t (t = 0 first).

    Subclasses implement ``_lr(base_lr, t)`` on checked arguments and ``config()`` with their
    constructor arguments, so that ``SCHEDULES[s.name](**s.config())`` rebuilds ``s``.
    """

    name: ClassVar[str] = ""

    def __init__(self, interval: str = "epoch") -> None:
        self.interval = _check_interval(interval)

    def lr(self, base_lr: float, t: int) -> float:
        """The learning rate to use during interval ``t`` (t = 0 for the first epoch or step)."""
        base_lr = check_positive_float("base_lr", base_lr)
        t = check_int("t", t, minimum=0)
        return float(self._lr(base_lr, t))

    def _lr(self, base_lr: float, t: int) -> float:  # pragma: no cover
        raise NotImplementedError

    def config(self) -> dict[str, Any]:
        """The constructor arguments, JSON-able."""
        return {"interval": self.interval}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Schedule):
            return NotImplemented
        return type(self) is type(other) and self.config() == other.config()

    __hash__ = None  # type: ignore[assignment]  # mutable attributes: not hashable


class StepLR(Schedule):
    """Decay by ``gamma`` every ``step_size`` intervals (torch.optim.lr_scheduler.StepLR):

    lr(t) = base_lr * gamma ** (t // step_size)
    """

    name = "step"

    def __init__(self, step_size: int, gamma: float = 0.1, interval: str = "epoch") -> None:
        super().__init__(interval)
        self.step_size = check_positive_int("step_size", step_size)
        self.gamma = _check_fraction("gamma", gamma)

    def _lr(self, base_lr: float, t: int) -> float:
        return base_lr * self.gamma ** (t // self.step_size)

    def config(self) -> dict[str, Any]:
        return {"step_size": self.step_size, "gamma": self.gamma, **super().config()}


class ExponentialLR(Schedule):
    """Decay by ``gamma`` every interval (torch.optim.lr_scheduler.ExponentialLR):

    lr(t) = base_lr * gamma ** t
    """

    name = "exponential"

    def __init__(self, gamma: float, interval: str = "epoch") -> None:
        super().__init__(interval)
        self.gamma = _check_fraction("gamma", gamma)

    def _lr(self, base_lr: float, t: int) -> float:
        return base_lr * self.gamma**t

    def config(self) -> dict[str, Any]:
        return {"gamma": self.gamma, **super().config()}


class CosineLR(Schedule):
    """Linear warmup, then cosine annealing to ``min_lr`` at interval ``total``:

        t <  warmup:           lr = base_lr * (s + (1 - s) * t / warmup)
        warmup <= t <= total:  lr = min_lr + (base_lr - min_lr) * (1 + cos(pi * k / T)) / 2
                               with k = t - warmup and T = total - warmup
        t >  total:            lr = min_lr

    where s = ``warmup_start_factor``. Over t = 0 .. total this is exactly torch's
    ``SequentialLR([LinearLR(start_factor=s, end_factor=1.0, total_iters=warmup),
    CosineAnnealingLR(T_max=total - warmup, eta_min=min_lr)], milestones=[warmup])`` (plain
    ``CosineAnnealingLR(T_max=total, eta_min=min_lr)`` when warmup = 0). Past ``total`` torch's
    cosine would rise again (it is periodic); this schedule stays at ``min_lr``.

    ``warmup_start_factor`` defaults to 1 / (warmup + 1), which makes the warmup a uniform ramp
    lr(t) = base_lr * (t + 1) / (warmup + 1): the first step is already nonzero and the ramp
    reaches base_lr at t = warmup, where the cosine starts. It must be None when warmup = 0.
    ``interval`` defaults to "step": warmup and cosine are usually counted in mini-batches.
    """

    name = "cosine"

    def __init__(
        self,
        total: int,
        warmup: int = 0,
        min_lr: float = 0.0,
        warmup_start_factor: float | None = None,
        interval: str = "step",
    ) -> None:
        super().__init__(interval)
        self.total = check_positive_int("total", total)
        self.warmup = check_int("warmup", warmup, minimum=0)
        if self.warmup >= self.total:
            raise ValueError(
                f"warmup must be < total (the cosine needs at least one interval), "
                f"got warmup={self.warmup} and total={self.total}"
            )
        self.min_lr = _check_nonnegative_float("min_lr", min_lr)
        if warmup_start_factor is not None:
            if self.warmup == 0:
                raise ValueError(
                    "warmup_start_factor only applies with warmup > 0, got "
                    f"warmup_start_factor={warmup_start_factor!r} and warmup=0"
                )
            warmup_start_factor = _check_fraction("warmup_start_factor", warmup_start_factor)
        self.warmup_start_factor = warmup_start_factor

    @property
    def start_factor(self) -> float:
        """The warmup's first factor s: ``warmup_start_factor``, or 1 / (warmup + 1)."""
        if self.warmup_start_factor is not None:
            return self.warmup_start_factor
        return 1.0 / (self.warmup + 1)

    def _lr(self, base_lr: float, t: int) -> float:
        if self.min_lr > base_lr:
            raise ValueError(
                f"min_lr must be <= base_lr (the cosine anneals down to it), "
                f"got min_lr={self.min_lr} and base_lr={base_lr}"
            )
        if t < self.warmup:
            s = self.start_factor
            return base_lr * (s + (1.0 - s) * t / self.warmup)
        if t >= self.total:
            return self.min_lr
        k, T = t - self.warmup, self.total - self.warmup
        return self.min_lr + (base_lr - self.min_lr) * (1.0 + math.cos(math.pi * k / T)) / 2

    def config(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "warmup": self.warmup,
            "min_lr": self.min_lr,
            "warmup_start_factor": self.warmup_start_factor,
            **super().config(),
        }


SCHEDULES: dict[str, type[Schedule]] = {cls.name: cls for cls in (StepLR, ExponentialLR, CosineLR)}


def make_schedule(obj: Schedule) -> Schedule:
    """Return ``obj`` if it is a :class:`Schedule`; raise TypeError for anything else.

    Schedules are always passed as objects (``StepLR(10, gamma=0.5)``); to rebuild one from a
    saved config, use ``SCHEDULES[name](**config)``.
    """
    if isinstance(obj, Schedule):
        return obj
    raise TypeError(
        "schedule must be a Schedule object such as StepLR(step_size=10) or CosineLR(total=1000), "
        f"got {type(obj).__name__} {obj!r}"
    )
