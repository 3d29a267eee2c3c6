"""The training loop: mini-batch gradient descent over shuffled epochs.

One step on a batch of B examples (engine layout, A[0] is (n[0], B)):
forward -> cost -> backward (fills every dC_dW, dC_db) -> optimizer update.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from chainrule.init import as_rng
from chainrule.network import Sequential, to_engine
from chainrule.optimizers import make_optimizer
from chainrule.progress import EpochReporter
from chainrule.standardize import Standardizer
from chainrule.validation import check_positive_float, check_positive_int, check_X

__all__ = ["fit", "DivergenceWarning"]

#: a callback gets (net, epoch, logs) after every epoch; returning True stops training
Callback = Callable[[Sequential, int, dict[str, Any]], Any]


class DivergenceWarning(RuntimeWarning):
    """Training stopped because the cost became NaN or inf; the last finite weights were kept."""


def _batch_correct(loss_name: str, A: np.ndarray, Y: np.ndarray) -> int:
    """How many examples of the batch the current outputs classify correctly."""
    if loss_name == "ce":
        return int(np.count_nonzero(np.argmax(A, axis=0) == np.argmax(Y, axis=0)))
    if loss_name == "bce":
        return int(np.count_nonzero(np.all((A >= 0.5) == (Y >= 0.5), axis=0)))
    return 0


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
) -> dict[str, list[Any]]:
    """Train ``net`` on X (m, features) and y (m,); return the history of per-epoch lists.

    ``history["cost"]`` is the mean cost over each epoch's batches (the weights change during
    the epoch); ``history["accuracy"]`` the fraction of examples classified right as they were
    seen. With ``validation_data=(X_val, y_val)`` the history also holds ``val_cost`` and
    ``val_accuracy``, measured at the end of each epoch in prediction mode.

    ``standardize=True`` fits a :class:`~chainrule.standardize.Standardizer` on X and stores it in
    the network, so predict() applies the same scaling.
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
    X = check_X(X, net.input_shape, dtype=np.float64)
    if standardize:
        net.standardizer = Standardizer().fit(X)
    X = net._prepare_X(X)  # standardizes (if any) and casts to the network's dtype
    m = X.shape[0]
    Y = net._prepare_Y(y, m)
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

    net.train()
    layers_with_input = [la for la in net.layers if la.param_names]
    if layers_with_input and hasattr(layers_with_input[0], "propagate"):
        # nothing upstream of the first layer learns: skip computing dC/dA[0]
        first_index = net.layers.index(layers_with_input[0])
        if first_index == 0:
            layers_with_input[0].propagate = False
    snapshot = [(P, P.copy()) for _, P, _, _ in net.parameters()]
    # Overflow inside a diverging step must not warn: the non-finite cost is detected below.
    errstate = np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore")
    try:
        errstate.__enter__()
        for epoch in range(1, epochs + 1):
            t0 = time.perf_counter()
            if shuffle:
                perm = rng.permutation(m)
                Xs, Ys = X[perm], Y[:, perm]  # one gather per epoch: batches are slices
            else:
                Xs, Ys = X, Y
            total, correct = 0.0, 0
            for start in range(0, m, batch_size):
                A0 = to_engine(Xs[start : start + batch_size])  # (n[0], B) view
                Yb = Ys[:, start : start + batch_size]
                cost, A = net.forward_backward(A0, Yb)
                total += cost * Yb.shape[1]
                if classify:
                    correct += _batch_correct(net.loss.name, A, Yb)
                opt.step(net.parameters())
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
            if stop:
                break
    finally:
        errstate.__exit__(None, None, None)
        if reporter is not None:
            reporter.close()
        for layer in net.layers:
            if hasattr(layer, "propagate"):
                layer.propagate = True
        net.eval()
    net.is_fitted = True
    net.optimizer = opt
    net.history = history
    return history
