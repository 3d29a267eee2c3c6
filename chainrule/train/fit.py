"""The training loop: mini-batch gradient descent over shuffled epochs.

Each epoch shuffles the examples, and each batch runs one training step (forward, cost,
backward, optimizer update: :func:`chainrule.train.step.train_step`). The steps are run by one
of two engines that compute the same numbers: the reference engine (every layer's own forward
and backward, fresh arrays) or, for the MLPs it supports, the fast engine
(:mod:`chainrule.fast`). After each epoch the loop records the figures, checks for divergence,
and runs the callbacks (progress, user callbacks, diagnostics, checkpoints).
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule.data.layout import to_engine
from chainrule.data.standardize import Standardizer
from chainrule.data.targets import check_class_count, count_correct
from chainrule.fast.conv import ConvPlan, why_not_conv_plan
from chainrule.fast.plan import MLPPlan
from chainrule.fast.support import why_not_fast
from chainrule.nn.init import as_rng
from chainrule.optim.optimizer import Optimizer, make_optimizer
from chainrule.train.callbacks import (
    Callback,
    Checkpoint,
    DiagnosticsCallback,
    Progress,
    as_callback,
)
from chainrule.train.step import ReferenceEngine, recompute_gradients, restore_if_not_finite
from chainrule.validation import check_positive_float, check_positive_int, check_X

__all__ = ["fit", "DivergenceWarning", "resolve_optimizer", "ENGINES"]

ENGINES = ("auto", "reference", "fast")


class DivergenceWarning(RuntimeWarning):
    """Training stopped because the cost became NaN or inf; the last finite weights were kept."""


def resolve_optimizer(optimizer: str | Optimizer, lr: float | None, **hyper: Any) -> Optimizer:
    """An optimizer object from fit's arguments: an object as it is, or a name plus lr, ...

    Hyper-parameters live in one place: passing an object AND fit(lr=..., momentum=...) raises
    instead of silently ignoring one of them.
    """
    given = {k: v for k, v in {"lr": lr, **hyper}.items() if v is not None}
    if isinstance(optimizer, Optimizer):
        if given:
            names = ", ".join(f"{k}={v!r}" for k, v in given.items())
            raise ValueError(
                f"fit got {names} and an optimizer object {type(optimizer).__name__} that has "
                "its own; set hyper-parameters in one place: on the object "
                "(cr.optim.Adam(lr=1e-3)) or by name (optimizer='adam', lr=1e-3)"
            )
        return optimizer
    lr = check_positive_float("lr", 0.01 if lr is None else lr)
    return make_optimizer(optimizer, lr, **hyper)


def _check_schedule(schedule: Any) -> Any:
    if schedule is not None and not (hasattr(schedule, "lr") and hasattr(schedule, "interval")):
        raise TypeError(
            "schedule must be a learning-rate schedule such as cr.optim.StepLR(10) or "
            f"cr.optim.CosineLR(total=1000, warmup=100), got {type(schedule).__name__}"
        )
    return schedule


def _choose_engine(net: Any, engine: str) -> Any:
    """The fast engine's plan class for ``net`` (MLPPlan, or ConvPlan's engine), or None for
    the reference engine. ``"fast"`` on a network it does not support raises."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(map(repr, ENGINES))}, got {engine!r}")
    if engine == "reference":
        return None
    reason = why_not_fast(net)
    if reason is None:
        return MLPPlan
    if why_not_conv_plan(net) is None:
        return ConvEngine
    if engine == "fast":
        raise ValueError(
            f"engine='fast' does not support this network: {reason}; use engine='reference' "
            "(or 'auto', which picks the fast engine only where it applies)"
        )
    return None


class ConvEngine(ReferenceEngine):
    """The reference engine's loop with :class:`chainrule.fast.conv.ConvPlan` computing each
    batch's forward and backward (the same numbers, in the plan's buffers)."""

    name = "fast"

    def __init__(self, net: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(net, *args, **kwargs)
        self.forward_backward = ConvPlan(net).forward_backward


def _recover(net: Any, runner: Any, X: np.ndarray, Y: np.ndarray) -> None:
    """After an interrupt: stored gradients that mean dC/dP at the parameters as they are.

    The callbacks may have changed the parameters (EarlyStopping restores the best ones), so
    this runs after them: one reference forward/backward on the latest completed batch.
    """
    rows = runner.last_batch
    if rows is not None:
        recompute_gradients(net, to_engine(X[rows]), Y[..., rows])


def fit(
    net: Any,
    X: Any,
    y: Any,
    *,
    epochs: int = 100,
    lr: float | None = None,
    batch_size: int = 32,
    optimizer: str | Optimizer = "sgd",
    momentum: float | None = None,
    beta1: float | None = None,
    beta2: float | None = None,
    rho: float | None = None,
    eps: float | None = None,
    weight_decay: float | None = None,
    schedule: Any = None,
    clip_grad_norm: float | None = None,
    shuffle: bool = True,
    validation_data: tuple[Any, Any] | None = None,
    standardize: bool = False,
    verbose: bool = True,
    seed: int | None = None,
    callbacks: Sequence[Any] = (),
    diagnostics: bool = False,
    checkpoint: str | os.PathLike[str] | None = None,
    checkpoint_every: int = 1,
    resume: str | os.PathLike[str] | None = None,
    engine: str = "auto",
) -> dict[str, list[Any]]:
    """Train ``net`` on X (m, features) and y (m,); return the history of per-epoch lists.

    Optimizer: ``optimizer="sgd" | "momentum" | "rmsprop" | "adam" | "adamw"`` with ``lr``
    (default 0.01), ``momentum``, ``beta1``, ``beta2``, ``rho``, ``eps``, ``weight_decay``;
    or an object such as ``cr.optim.AdamW(lr=1e-3, weight_decay=0.01)``, which holds its own
    hyper-parameters (giving both raises). ``schedule`` changes the learning rate per epoch or
    per step (``cr.optim.StepLR``, ``CosineLR``, ``ExponentialLR``); ``clip_grad_norm=1.0``
    rescales the gradients of every step to a global norm of at most 1 (as torch's
    ``clip_grad_norm_``).

    ``history["cost"]`` is the mean cost over each epoch's batches (the weights change during
    the epoch); ``history["accuracy"]`` the fraction of examples classified right as they were
    seen. With ``validation_data=(X_val, y_val)`` the history also holds ``val_cost`` and
    ``val_accuracy``, measured at the end of each epoch in prediction mode.

    ``standardize=True`` fits a :class:`~chainrule.data.standardize.Standardizer` on X and
    stores it in the network, so predict() applies the same scaling.

    ``callbacks``: :class:`chainrule.train.callbacks.Callback` objects (e.g.
    ``cr.callbacks.EarlyStopping(patience=5)``) or functions f(net, epoch, logs) returning True
    to stop. ``diagnostics=True`` adds per-layer gradient norms, update/weight ratios, saturated
    and dead unit fractions to the history (see :mod:`chainrule.train.diagnostics`).

    ``checkpoint="run.npz"`` saves the weights, optimizer state, random-generator states and
    history every ``checkpoint_every`` epochs and at the end; ``resume="run.npz"`` continues such
    a run (``epochs`` is then the total), bit-identical to an uninterrupted one with the same
    arguments (see :mod:`chainrule.train.checkpoint`).

    ``engine``: ``"reference"`` runs every layer's own forward and backward; ``"fast"`` compiles
    an MLP into a plan with reused buffers and fused updates (:mod:`chainrule.fast`), the same
    numbers; ``"auto"`` (default) takes the fast engine when the network qualifies.

    An interrupt (Ctrl-C) at any point leaves finite parameters and stored gradients that mean
    dC/dP; ``fit`` can be called again.
    """
    epochs = check_positive_int("epochs", epochs)
    batch_size = check_positive_int("batch_size", batch_size)
    opt = resolve_optimizer(
        optimizer,
        lr,
        momentum=momentum,
        beta1=beta1,
        beta2=beta2,
        rho=rho,
        eps=eps,
        weight_decay=weight_decay,
    )
    schedule = _check_schedule(schedule)
    if clip_grad_norm is not None:
        clip_grad_norm = check_positive_float("clip_grad_norm", clip_grad_norm)
    use_fast = _choose_engine(net, engine)
    if standardize:  # statistics in float64; without it no float64 copy of X is ever made
        X = check_X(X, net.input_shape, dtype=np.float64)
        net.standardizer = Standardizer().fit(X)
    X = net.prepare_X(X)  # standardized (if any), in the network's dtype (no copy if it has it)
    m = X.shape[0]
    Y = net.prepare_Y(y, m)  # (n[L], m)
    check_class_count(net.loss.name, Y)  # "all labels equal" cannot train a classifier
    val = None
    if validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise ValueError("validation_data must be a pair (X_val, y_val)")
        X_val = net.prepare_X(validation_data[0])
        val = (to_engine(X_val), net.prepare_Y(validation_data[1], X_val.shape[0]))

    positions = m * int(np.prod(net.output_shape[1:]))  # examples, times T for sequences
    rng = as_rng(seed if seed is not None else getattr(net, "seed", None))
    history: dict[str, list[Any]] = {"cost": [], "epoch_time": []}
    classify = net.loss.name != "mse"
    if classify:
        history["accuracy"] = []
    if val is not None:
        history["val_cost"] = []
        if classify:
            history["val_accuracy"] = []
    if schedule is not None:
        history["lr"] = []

    state: dict[str, Any] = {"stop": False, "epochs": epochs}
    cbs: list[Callback] = [Progress(epochs)] if verbose else []
    cbs += [as_callback(cb) for cb in callbacks]
    if diagnostics:
        from chainrule.train.diagnostics import Diagnostics

        cbs.append(DiagnosticsCallback(Diagnostics(net, X, Y, history)))
    start_epoch = 0
    if checkpoint is not None or resume is not None:
        from chainrule.train.checkpoint import Checkpointer

        settings = {
            "batch_size": batch_size,
            "shuffle": bool(shuffle),
            "standardize": standardize,
            "schedule": repr(schedule) if schedule is not None else None,
            "clip_grad_norm": clip_grad_norm,
        }
        ckpt = Checkpointer(
            net, opt, rng, X, Y, path=checkpoint, every=checkpoint_every, settings=settings
        )
        if resume is not None:
            start_epoch = ckpt.resume(resume, history)
        cbs.append(Checkpoint(ckpt, history, state))

    engine_cls = use_fast or ReferenceEngine
    runner = engine_cls(net, opt, X, Y, batch_size, clip_grad_norm=clip_grad_norm)
    base_lr = opt.lr

    def before_step() -> None:
        if schedule is not None and schedule.interval == "step":
            opt.lr = schedule.lr(base_lr, opt.t)  # opt.t steps done so far

    snapshot = [(P, P.copy()) for _, P, _, _ in net.parameters()]
    finished = False
    try:
        for cb in cbs:
            cb.on_train_begin(net, {})
        for epoch in range(start_epoch + 1, epochs + 1):
            t0 = time.perf_counter()
            net.train()
            if schedule is not None and schedule.interval == "epoch":
                opt.lr = schedule.lr(base_lr, epoch - 1)
            perm = rng.permutation(m) if shuffle else None
            # overflow in a diverging step must not warn: the non-finite cost is caught below
            with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
                total, correct = runner.run_epoch(perm, before_step)
            runner.finish_epoch()
            epoch_lr, opt.lr = opt.lr, base_lr
            epoch_cost = total / m
            if not np.isfinite(epoch_cost):
                for P, saved in snapshot:
                    P[...] = saved
                history["diverged_at_epoch"] = [epoch]
                warnings.warn(
                    f"training diverged at epoch {epoch}: the cost became {epoch_cost}; "
                    f"stopped, keeping the weights from epoch {epoch - 1}. Try a smaller "
                    f"learning rate than lr={base_lr:g}",
                    DivergenceWarning,
                    stacklevel=3,
                )
                break
            for P, saved in snapshot:
                saved[...] = P
            net.is_fitted = True  # from here on callbacks may predict and evaluate
            history["cost"].append(epoch_cost)
            if classify:
                history["accuracy"].append(correct / positions)
            if schedule is not None:
                history["lr"].append(epoch_lr)
            if val is not None:
                history["val_cost"].append(net.cost_in_batches(*val))
                if classify:
                    A_val = net.forward_in_batches(val[0])
                    history["val_accuracy"].append(
                        count_correct(net.loss.name, A_val, val[1]) / val[1][0].size
                    )
            history["epoch_time"].append(time.perf_counter() - t0)
            logs = {k: v[-1] for k, v in history.items()}
            stop = False
            for cb in cbs:
                if isinstance(cb, Checkpoint):
                    state["stop"] = stop
                stop = bool(cb.on_epoch_end(net, epoch, logs)) or stop
            if stop:
                break
        finished = True
        net.is_fitted = True  # also after a divergence: the weights of the last good epoch
    finally:
        opt.lr = base_lr
        if not finished:
            restore_if_not_finite(net, snapshot)
        for cb in cbs:
            cb.on_train_end(net, {k: v[-1] for k, v in history.items() if v})
        if not finished:
            _recover(net, runner, X, Y)
        net.eval()
        net.optimizer = opt
        net.history = history
    return history
