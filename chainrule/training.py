"""The training loop: mini-batch gradient descent over shuffled epochs.

One step on a batch of B examples (engine layout, A[0] is (n[0], B)):
forward -> cost -> backward (fills every dC_dW, dC_db) -> optimizer update.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from chainrule.blas import direct_blas_available
from chainrule.init import as_rng
from chainrule.layers.dense import Dense
from chainrule.network import Sequential, to_engine
from chainrule.optimizers import make_optimizer
from chainrule.progress import EpochReporter
from chainrule.standardize import Standardizer
from chainrule.targets import check_class_count
from chainrule.validation import check_positive_float, check_positive_int, check_X

__all__ = ["fit", "DivergenceWarning"]

#: a callback gets (net, epoch, logs) after every epoch; returning True stops training
Callback = Callable[[Sequential, int, dict[str, Any]], Any]


class DivergenceWarning(RuntimeWarning):
    """Training stopped because the cost became NaN or inf; the last finite weights were kept."""


def _batch_correct(loss_name: str, A: np.ndarray, Y: np.ndarray) -> int:
    """How many examples of the batch the current outputs classify correctly.

    ``Y`` is the (n[L], B) target matrix, or for cross-entropy the (B,) class indices.
    """
    if loss_name == "ce":
        classes = Y if Y.ndim == 1 else np.argmax(Y, axis=0)
        return int(np.count_nonzero(np.argmax(A, axis=0) == classes))
    if loss_name == "bce":
        return int(np.count_nonzero(np.all((A >= 0.5) == (Y >= 0.5), axis=0)))
    return 0


def _batch(
    X: np.ndarray,
    T: np.ndarray,
    perm: np.ndarray | None,
    start: int,
    batch_size: int,
    buffers: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]],
) -> tuple[np.ndarray, np.ndarray]:
    """The batch A0 = to_engine(X[perm[start:start+B]]) (..., B) and its targets
    T[perm[start:start+B]] (B, ...).

    ``T`` holds one row per example: Y.T made contiguous, (m, n[L]), or the class indices (m,)
    for cross-entropy. Gathering B of its rows reads B short contiguous runs, where gathering B
    columns of Y (n[L], m) would stride through all of it.

    Without shuffling these are views (slices). With shuffling the B rows are gathered into a
    contiguous buffer reused from batch to batch (one per batch size: the last batch may be
    shorter). This moves exactly the bytes that shuffling the whole array once per epoch would
    move, without a second copy of the training set in memory. The returned arrays are
    overwritten by the next batch; A0 is then the same view object every batch, so a layer
    can recognise its input buffer (``Dense._backward_fused`` reuses its prepared GEMM).
    """
    stop = min(start + batch_size, X.shape[0])
    if perm is None:
        return to_engine(X[start:stop]), T[start:stop]
    idx = perm[start:stop]
    B = stop - start
    bufs = buffers.get(B)
    if bufs is None:
        Xbuf = np.empty((B, *X.shape[1:]), dtype=X.dtype)
        bufs = buffers[B] = (Xbuf, np.empty((B, *T.shape[1:]), dtype=T.dtype), to_engine(Xbuf))
    # mode="clip" skips NumPy's defensive copy of ``out`` (the indices are valid anyway)
    np.take(X, idx, axis=0, out=bufs[0], mode="clip")  # (B, n[0]), seen as A0 : (n[0], B)
    Tb = np.take(T, idx, axis=0, out=bufs[1], mode="clip")  # (B, n[L]) or (B,)
    return bufs[2], Tb


def _set_fused_update(layers: list[Any], on: bool) -> None:
    """Switch Dense layers between storing dC_dW and applying the SGD step inside it."""
    for layer in layers:
        if isinstance(layer, Dense):
            layer.fused_update = on
            if not on:  # drop the prepared GEMM and the buffers it holds
                layer._sgd_step = None


def _unscale_gradients(net: Sequential, scale: float) -> None:
    """Divide every stored gradient by ``scale`` (once per epoch, after prescaled SGD steps)."""
    for _, _, G, _ in net.parameters():
        if G is not None:
            G /= G.dtype.type(scale)


def _accuracy(net: Sequential, A0: np.ndarray, Y: np.ndarray) -> float | None:
    if net.loss.name == "mse":
        return None
    A = net._forward_batched(A0)
    return _batch_correct(net.loss.name, A, Y) / A0.shape[-1]


def fit(
    net: Sequential,
    X: Any,
    y: Any,
    *,
    epochs: int = 100,
    lr: float = 0.01,
    batch_size: int = 32,
    optimizer: str = "sgd",
    momentum: float | None = None,
    beta1: float | None = None,
    beta2: float | None = None,
    rho: float | None = None,
    eps: float | None = None,
    weight_decay: float = 0.0,
    shuffle: bool = True,
    validation_data: tuple[Any, Any] | None = None,
    standardize: bool = False,
    verbose: bool = True,
    seed: int | None = None,
    callbacks: Sequence[Callback] = (),
    diagnostics: bool = False,
    checkpoint: str | os.PathLike[str] | None = None,
    checkpoint_every: int = 1,
    resume: str | os.PathLike[str] | None = None,
) -> dict[str, list[Any]]:
    """Train ``net`` on X (m, features) and y (m,); return the history of per-epoch lists.

    ``history["cost"]`` is the mean cost over each epoch's batches (the weights change during
    the epoch); ``history["accuracy"]`` the fraction of examples classified right as they were
    seen. With ``validation_data=(X_val, y_val)`` the history also holds ``val_cost`` and
    ``val_accuracy``, measured at the end of each epoch in prediction mode.

    ``standardize=True`` fits a :class:`~chainrule.standardize.Standardizer` on X and stores it in
    the network, so predict() applies the same scaling.

    ``diagnostics=True`` adds per-layer gradient norms, update/weight ratios, saturated and dead
    unit fractions to the history, once per epoch (see :mod:`chainrule.diagnostics`).

    ``checkpoint="run.npz"`` saves the weights, optimizer state, random-generator states and
    history every ``checkpoint_every`` epochs and at the end; ``resume="run.npz"`` continues such
    a run (``epochs`` is then the total), bit-identical to an uninterrupted one with the same
    arguments (see :mod:`chainrule.checkpoint`).
    """
    epochs = check_positive_int("epochs", epochs)
    batch_size = check_positive_int("batch_size", batch_size)
    lr = check_positive_float("lr", lr)
    opt = make_optimizer(
        optimizer,
        lr,
        momentum=momentum,
        beta1=beta1,
        beta2=beta2,
        rho=rho,
        eps=eps,
        weight_decay=weight_decay,
    )
    if standardize:  # statistics in float64; without it no float64 copy of X is ever made
        X = check_X(X, net.input_shape, dtype=np.float64)
        net.standardizer = Standardizer().fit(X)
    X = net._prepare_X(X)  # standardizes (if any) and casts to the network's dtype (no copy
    # when X already has it: float32 data is used as it is)
    m = X.shape[0]
    Y = net._prepare_Y(y, m)
    check_class_count(net.loss.name, Y)  # "all labels equal" cannot train a classifier
    val = None
    if validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise ValueError("validation_data must be a pair (X_val, y_val)")
        X_val = net._prepare_X(validation_data[0])
        val = (to_engine(X_val), net._prepare_Y(validation_data[1], X_val.shape[0]))

    rng = as_rng(seed if seed is not None else getattr(net, "seed", None))
    history: dict[str, list[Any]] = {"cost": [], "epoch_time": []}
    classify = net.loss.name != "mse"
    if classify:
        history["accuracy"] = []
    if val is not None:
        history["val_cost"] = []
        if classify:
            history["val_accuracy"] = []
    reporter = EpochReporter(epochs) if verbose else None
    if diagnostics:
        from chainrule.diagnostics import Diagnostics

        callbacks = [*callbacks, Diagnostics(net, X, Y, history)]

    ckpt = None
    start_epoch = 0
    if checkpoint is not None or resume is not None:
        from chainrule.checkpoint import Checkpointer

        settings = {"batch_size": batch_size, "shuffle": bool(shuffle), "standardize": standardize}
        ckpt = Checkpointer(
            net, opt, rng, X, Y, path=checkpoint, every=checkpoint_every, settings=settings
        )
        if resume is not None:
            start_epoch = ckpt.resume(resume, history)

    net.train()
    layers_with_input = [la for la in net.layers if la.param_names]
    if layers_with_input and hasattr(layers_with_input[0], "propagate"):
        # nothing upstream of the first layer learns: skip computing dC/dA[0]
        first_index = net.layers.index(layers_with_input[0])
        if first_index == 0:
            layers_with_input[0].propagate = False
    snapshot = [(P, P.copy()) for _, P, _, _ in net.parameters()]
    gather_buffers: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    # Softmax + cross-entropy trains from class indices (m,) instead of one-hot columns.
    use_labels = net.fused and net.loss.name == "ce"
    if use_labels:
        T = np.argmax(Y, axis=0).astype(np.intp)  # (m,) the class of each one-hot column
    else:
        T = np.ascontiguousarray(Y.T) if shuffle else Y.T  # (m, n[L]), see _batch
    # Plain SGD: backward produces lr * dC/dP directly and the update is P -= G (one pass).
    prescaled = opt.accepts_prescaled
    grad_scale = opt.lr if prescaled else 1.0
    # ... and when every trained layer is Dense, backward applies that update itself inside the
    # dC_dW product (Dense._backward_fused, one pass over W), except on each epoch's last batch,
    # which stores its gradients as usual for callbacks, diagnostics and the user.
    fused_layers = [la for la in net.layers if la.param_names]
    fuse = (
        prescaled
        and bool(fused_layers)
        and all(isinstance(la, Dense) for la in fused_layers)
        and direct_blas_available()
    )
    # Overflow inside a diverging step must not warn: the non-finite cost is detected below.
    errstate = np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore")
    try:
        errstate.__enter__()
        for epoch in range(start_epoch + 1, epochs + 1):
            t0 = time.perf_counter()
            perm = rng.permutation(m) if shuffle else None
            total, correct = 0.0, 0
            with net.fast_mode():  # layers reuse their buffers; nothing is allocated per batch
                last_start = (m - 1) // batch_size * batch_size
                _set_fused_update(fused_layers, fuse and last_start > 0)
                for start in range(0, m, batch_size):
                    if fuse and start == last_start:
                        _set_fused_update(fused_layers, False)
                    A0, Tb = _batch(X, T, perm, start, batch_size, gather_buffers)  # (n[0], B)
                    if use_labels:  # Tb: (B,) class indices
                        cost, A = net.forward_backward(A0, labels=Tb, grad_scale=grad_scale)
                    else:  # Tb.T: (n[L], B) targets
                        cost, A = net.forward_backward(A0, Tb.T, grad_scale=grad_scale)
                    total += cost * Tb.shape[0]
                    if classify:
                        correct += _batch_correct(net.loss.name, A, Tb if use_labels else Tb.T)
                    if prescaled:
                        if not (fuse and start != last_start):  # fused: already applied
                            opt.step_prescaled(net.parameters())
                    else:
                        opt.step(net.parameters())
                if prescaled:  # the stored gradients hold lr * dC/dP: give them back dC/dP
                    _unscale_gradients(net, grad_scale)
            epoch_cost = total / m
            if not np.isfinite(epoch_cost):
                for P, saved in snapshot:
                    P[...] = saved
                history["diverged_at_epoch"] = [epoch]
                warnings.warn(
                    f"training diverged at epoch {epoch}: the cost became {epoch_cost}; "
                    f"stopped, keeping the weights from epoch {epoch - 1}. Try a smaller "
                    f"learning rate than lr={lr:g}",
                    DivergenceWarning,
                    stacklevel=3,
                )
                break
            for P, saved in snapshot:
                saved[...] = P
            history["cost"].append(epoch_cost)
            if classify:
                history["accuracy"].append(correct / m)
            if val is not None:
                history["val_cost"].append(net._cost_engine(*val))
                if classify:
                    history["val_accuracy"].append(_accuracy(net, *val))
                net.train()
            history["epoch_time"].append(time.perf_counter() - t0)
            logs = {k: v[-1] for k, v in history.items()}
            if reporter is not None:
                reporter.update(epoch, logs)
            stop = False
            for cb in callbacks:
                stop = bool(cb(net, epoch, logs)) or stop
            if ckpt is not None:
                ckpt.epoch_end(epoch, history, last=stop or epoch == epochs)
            if stop:
                break
    finally:
        errstate.__exit__(None, None, None)
        if reporter is not None:
            reporter.close()
        for layer in net.layers:
            if hasattr(layer, "propagate"):
                layer.propagate = True
        _set_fused_update(fused_layers, False)
        net.eval()
    net.is_fitted = True
    net.optimizer = opt
    net.history = history
    return history
