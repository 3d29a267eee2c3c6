"""Callbacks: code that runs at the start of training, after every epoch, and at the end.

``fit(..., callbacks=[...])`` takes :class:`Callback` objects or plain functions
``f(net, epoch, logs)`` (returning True stops training). ``logs`` holds the epoch's figures
(``cost``, ``accuracy``, ``val_cost``, ...). A callback may call ``net.predict`` or
``net.evaluate(X, y)``: the network is marked trained from the first finished epoch on, and fit
switches it back to training mode afterwards.

Progress lines, checkpoints and diagnostics are callbacks too (:class:`Progress`,
:class:`Checkpoint`, :class:`DiagnosticsCallback`), added by fit from its keyword arguments.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule.validation import check_int

__all__ = [
    "Callback",
    "FunctionCallback",
    "EarlyStopping",
    "Progress",
    "Checkpoint",
    "DiagnosticsCallback",
    "as_callback",
]


class Callback:
    """Base class: override any of the three hooks. ``on_epoch_end`` returns True to stop."""

    def on_train_begin(self, net: Any, logs: dict[str, Any]) -> None:
        """Before the first epoch (after data checks and a resume)."""

    def on_epoch_end(self, net: Any, epoch: int, logs: dict[str, Any]) -> bool | None:
        """After every epoch; ``logs`` has the epoch's figures. Return True to stop training."""
        return None

    def on_train_end(self, net: Any, logs: dict[str, Any]) -> None:
        """After the last epoch, an early stop, or an interrupt."""


class FunctionCallback(Callback):
    """A plain function f(net, epoch, logs) used as a callback (the older form)."""

    def __init__(self, fn: Callable[[Any, int, dict[str, Any]], Any]) -> None:
        self.fn = fn

    def on_epoch_end(self, net: Any, epoch: int, logs: dict[str, Any]) -> bool:
        return bool(self.fn(net, epoch, logs))


def as_callback(obj: Any) -> Callback:
    if isinstance(obj, Callback):
        return obj
    if callable(obj):
        return FunctionCallback(obj)
    raise TypeError(f"a callback must be a Callback or a function, got {type(obj).__name__}")


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved for ``patience`` epochs; optionally restore the
    weights of the best epoch.

    ``monitor`` is a key of the logs (``"val_cost"`` by default; ``"cost"``, ``"val_accuracy"``,
    ...). ``mode`` is ``"min"`` (costs) or ``"max"`` (accuracies); ``"auto"`` picks max for
    names containing "accuracy". An epoch improves when it beats the best by more than
    ``min_delta``. With ``restore_best=True``, the parameters and buffers of the best epoch are
    copied back into the network when training ends (whether or not it stopped early).
    ``best_epoch``, ``best`` and ``stopped_epoch`` (None if it never stopped) are kept.
    """

    def __init__(
        self,
        monitor: str = "val_cost",
        patience: int = 5,
        min_delta: float = 0.0,
        mode: str = "auto",
        restore_best: bool = True,
    ) -> None:
        if not isinstance(monitor, str):
            raise TypeError(f"monitor must be a log name like 'val_cost', got {monitor!r}")
        self.monitor = monitor
        self.patience = check_int("patience", patience, 0)
        if isinstance(min_delta, bool) or not isinstance(min_delta, (int, float)) or min_delta < 0:
            raise ValueError(f"min_delta must be a number >= 0, got {min_delta!r}")
        self.min_delta = float(min_delta)
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
        if mode == "auto":
            mode = "max" if "accuracy" in monitor or monitor.endswith("r2") else "min"
        self.mode = mode
        self.restore_best = bool(restore_best)

    def on_train_begin(self, net: Any, logs: dict[str, Any]) -> None:
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.stopped_epoch: int | None = None
        self.wait = 0
        self._best_arrays: list[np.ndarray] | None = None

    def _improved(self, value: float) -> bool:
        if self.best is None:
            return True
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def on_epoch_end(self, net: Any, epoch: int, logs: dict[str, Any]) -> bool:
        if self.monitor not in logs:
            raise ValueError(
                f"EarlyStopping monitors {self.monitor!r}, which this fit does not record "
                f"(it records {', '.join(sorted(logs))}); pass validation_data=(X_val, y_val) "
                "or monitor='cost'"
            )
        value = float(logs[self.monitor])
        if self._improved(value):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best:  # a copy of every parameter and buffer of this epoch
                arrays = [getattr(layer, name) for _, layer, name in net.named_arrays()]
                if self._best_arrays is None:
                    self._best_arrays = [a.copy() for a in arrays]
                else:
                    for a, saved in zip(arrays, self._best_arrays):
                        saved[...] = a
            return False
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            return True
        return False

    def on_train_end(self, net: Any, logs: dict[str, Any]) -> None:
        if self.restore_best and self._best_arrays is not None:
            arrays = [getattr(layer, name) for _, layer, name in net.named_arrays()]
            for current, saved in zip(arrays, self._best_arrays):
                current[...] = saved  # in place: every view of the parameters stays valid


class Progress(Callback):
    """Per-epoch progress lines, or a tqdm bar when tqdm is installed and the output a terminal."""

    def __init__(self, epochs: int) -> None:
        from chainrule.train.progress import EpochReporter

        self.reporter = EpochReporter(epochs)

    def on_epoch_end(self, net: Any, epoch: int, logs: dict[str, Any]) -> None:
        self.reporter.update(epoch, logs)

    def on_train_end(self, net: Any, logs: dict[str, Any]) -> None:
        self.reporter.close()


class Checkpoint(Callback):
    """Writes a checkpoint every ``every`` epochs and after the last one (see
    :mod:`chainrule.train.checkpoint`). ``state["stop"]`` tells it an early stop is coming."""

    def __init__(self, checkpointer: Any, history: dict[str, list[Any]], state: dict[str, Any]):
        self.checkpointer, self.history, self.state = checkpointer, history, state

    def on_epoch_end(self, net: Any, epoch: int, logs: dict[str, Any]) -> None:
        last = self.state["stop"] or epoch == self.state["epochs"]
        self.checkpointer.epoch_end(epoch, self.history, last=last)


class DiagnosticsCallback(Callback):
    """Gradient norms, update ratios, saturated and dead units, into the history every epoch."""

    def __init__(self, diagnostics: Any) -> None:
        self.diagnostics = diagnostics

    def on_epoch_end(self, net: Any, epoch: int, logs: dict[str, Any]) -> None:
        self.diagnostics(net, epoch, logs)
