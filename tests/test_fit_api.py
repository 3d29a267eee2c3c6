"""fit as a trainer is expected to behave: optimizer objects, schedules, clipping, callbacks,
early stopping, engines, and a consistent network after an interrupt at any point."""

from __future__ import annotations

import inspect
import signal
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule.train import fit as fit_module


def _data(m: int = 120, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((m, 6))
    y = (X[:, 0] + 0.5 * X[:, 1] - X[:, 2] * X[:, 3] > 0).astype(int) + (X[:, 4] > 1)
    return X, y


def _net(dtype: type = np.float64, seed: int = 1) -> cr.Sequential:
    return cr.mlp([6, 16, 8, 3], activation="relu", output="softmax", seed=seed, dtype=dtype)


def _weights(net: cr.Sequential) -> list[np.ndarray]:
    return [P.copy() for _, P, _, _ in net.parameters()]


# --- hyper-parameters in one place ------------------------------------------------------------
def test_fit_has_its_real_signature_and_docstring() -> None:
    net = _net()
    params = inspect.signature(net.fit).parameters
    for name in ("X", "y", "epochs", "lr", "optimizer", "schedule", "clip_grad_norm", "engine"):
        assert name in params, name
    assert "net" not in params  # bound to the network
    assert "engine" in (net.fit.__doc__ or "") and "interrupt" in (net.fit.__doc__ or "")


@pytest.mark.parametrize(
    "kwargs",
    [{"lr": 0.1}, {"momentum": 0.9}, {"weight_decay": 1e-4}, {"beta1": 0.8}],
)
def test_an_optimizer_object_and_fit_hyper_parameters_conflict(kwargs: dict[str, Any]) -> None:
    X, y = _data()
    with pytest.raises(ValueError, match=r"set hyper-parameters in one place"):
        _net().fit(X, y, epochs=1, optimizer=cr.optim.Adam(lr=1e-3), verbose=False, **kwargs)


def test_a_name_and_an_object_give_the_same_training() -> None:
    X, y = _data()
    a, b = _net(), _net()
    a.fit(X, y, epochs=3, optimizer="adamw", lr=3e-3, weight_decay=0.05, verbose=False, seed=0)
    b.fit(
        X, y, epochs=3, optimizer=cr.optim.AdamW(lr=3e-3, weight_decay=0.05), verbose=False, seed=0
    )
    for Pa, Pb in zip(_weights(a), _weights(b)):
        np.testing.assert_array_equal(Pa, Pb)


def test_a_schedule_sets_the_learning_rate_per_epoch_and_per_step() -> None:
    X, y = _data()
    net = _net()
    hist = net.fit(X, y, epochs=5, lr=0.1, schedule=cr.optim.StepLR(2, gamma=0.5), verbose=False)
    np.testing.assert_allclose(hist["lr"], [0.1, 0.1, 0.05, 0.05, 0.025], rtol=1e-15)
    assert net.optimizer.lr == 0.1  # the base learning rate is kept on the optimizer
    steps_per_epoch = -(-len(X) // 32)
    total = 3 * steps_per_epoch
    cos = cr.optim.CosineLR(total=total, warmup=2)
    hist = _net().fit(X, y, epochs=3, lr=0.1, schedule=cos, verbose=False)
    assert hist["lr"][-1] == pytest.approx(cos.lr(0.1, total - 1), rel=1e-12)
    with pytest.raises(TypeError, match="schedule must be a learning-rate schedule"):
        _net().fit(X, y, epochs=1, schedule="cosine", verbose=False)


@pytest.mark.parametrize("engine", ["reference", "fast"])
def test_clip_grad_norm_bounds_every_step(engine: str) -> None:
    X, y = _data(m=40)
    lr, max_norm = 0.5, 1e-3
    net = _net()
    before = _weights(net)
    net.fit(
        X, y, epochs=1, batch_size=40, lr=lr, clip_grad_norm=max_norm, engine=engine, verbose=False
    )
    moved = np.sqrt(sum(float(np.sum((P - Q) ** 2)) for P, Q in zip(_weights(net), before)))
    assert moved == pytest.approx(lr * max_norm, rel=1e-6)  # one step of length lr * max_norm
    # the stored gradients are the clipped ones, as torch's clip_grad_norm_ leaves them
    assert cr.optim.global_norm(net.parameters()) == pytest.approx(max_norm, rel=1e-5)
    # negative control: without clipping the same step is far longer
    free = _net()
    free.fit(X, y, epochs=1, batch_size=40, lr=lr, engine=engine, verbose=False)
    moved_free = np.sqrt(sum(float(np.sum((P - Q) ** 2)) for P, Q in zip(_weights(free), before)))
    assert moved_free > 10 * lr * max_norm


def test_engine_choice_is_checked() -> None:
    X, y = _data()
    with pytest.raises(ValueError, match="engine must be one of"):
        _net().fit(X, y, epochs=1, engine="turbo", verbose=False)
    conv = cr.Sequential([cr.Dense(6, 4), cr.Dropout(0.1), cr.ReLU(), cr.Dense(4, 3), cr.Softmax()])
    with pytest.raises(ValueError, match=r"engine='fast' does not support.*Dropout"):
        conv.fit(X, y, epochs=1, engine="fast", verbose=False)
    conv.fit(X, y, epochs=1, engine="auto", verbose=False)  # the reference engine trains it


# --- callbacks -------------------------------------------------------------------------------
class _Recorder(cr.callbacks.Callback):
    def __init__(self) -> None:
        self.weights: dict[int, list[np.ndarray]] = {}
        self.calls: list[str] = []

    def on_train_begin(self, net: Any, logs: dict[str, Any]) -> None:
        self.calls.append("begin")

    def on_epoch_end(self, net: Any, epoch: int, logs: dict[str, Any]) -> None:
        self.weights[epoch] = _weights(net)
        self.calls.append(f"epoch {epoch}")

    def on_train_end(self, net: Any, logs: dict[str, Any]) -> None:
        self.calls.append("end")


def _fake_metric(values: list[float]) -> Any:
    def cb(net: Any, epoch: int, logs: dict[str, Any]) -> None:
        logs["val_cost"] = values[epoch - 1]

    return cb


@pytest.mark.parametrize("restore", [True, False])
def test_early_stopping_stops_and_restores_the_best_weights(restore: bool) -> None:
    X, y = _data()
    net, rec = _net(), _Recorder()
    stopper = cr.callbacks.EarlyStopping(monitor="val_cost", patience=2, restore_best=restore)
    values = [5.0, 4.0, 3.0, 3.5, 3.6, 3.7, 3.8, 3.9]
    hist = net.fit(
        X, y, epochs=8, lr=0.1, verbose=False, callbacks=[_fake_metric(values), rec, stopper]
    )
    assert len(hist["cost"]) == 5  # epochs 4 and 5 did not improve on epoch 3
    assert (stopper.best_epoch, stopper.stopped_epoch, stopper.best) == (3, 5, 3.0)
    assert rec.calls == ["begin", "epoch 1", "epoch 2", "epoch 3", "epoch 4", "epoch 5", "end"]
    expected = rec.weights[3] if restore else rec.weights[5]
    other = rec.weights[5] if restore else rec.weights[3]
    for P, Q in zip(_weights(net), expected):
        np.testing.assert_array_equal(P, Q)
    assert any(not np.array_equal(P, R) for P, R in zip(_weights(net), other))  # it can fail


def test_early_stopping_names_a_missing_metric() -> None:
    X, y = _data()
    with pytest.raises(ValueError, match=r"monitors 'val_cost'.*validation_data"):
        _net().fit(X, y, epochs=2, verbose=False, callbacks=[cr.callbacks.EarlyStopping()])


def test_a_callback_may_predict_and_evaluate_without_changing_training() -> None:
    X, y = _data()
    seen: list[dict[str, float]] = []

    def peek(net: Any, epoch: int, logs: dict[str, Any]) -> None:
        assert net.predict(X[:5]).shape == (5,)
        seen.append(net.evaluate(X, y))

    for engine in ("reference", "fast"):
        a, b = _net(), _net()
        a.fit(X, y, epochs=3, lr=0.1, seed=0, verbose=False, callbacks=[peek], engine=engine)
        b.fit(X, y, epochs=3, lr=0.1, seed=0, verbose=False, engine=engine)
        for Pa, Pb in zip(_weights(a), _weights(b)):
            np.testing.assert_array_equal(Pa, Pb)
    assert len(seen) == 6 and all(0 <= s["accuracy"] <= 1 and s["cost"] > 0 for s in seen)


# --- an interrupt at any point leaves a consistent network ------------------------------------
def _consistent(net: cr.Sequential, X: np.ndarray, y: np.ndarray) -> bool:
    """Finite parameters, and stored gradients equal to dC/dP of the full batch right now."""
    if not all(np.all(np.isfinite(P)) for _, P, _, _ in net.parameters()):
        return False
    twin = net.copy()
    twin.loss_and_gradients(X, y)
    for (_, _, G, _), (_, _, H, _) in zip(net.parameters(), twin.parameters()):
        if G is None or not np.allclose(G, H, rtol=1e-9, atol=1e-12):
            return False
    return True


def _interrupted_fit(net: cr.Sequential, X: np.ndarray, y: np.ndarray, delay: float, **kw: Any):
    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, delay)
    try:
        with pytest.raises(KeyboardInterrupt):
            net.fit(X, y, epochs=10**7, batch_size=len(X), verbose=False, **kw)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@pytest.mark.parametrize("engine", ["reference", "fast"])
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_an_interrupt_mid_training_leaves_a_consistent_network(engine: str, optimizer: str) -> None:
    X, y = _data(m=64)
    for delay in (0.05, 0.13, 0.21):
        net = _net()
        _interrupted_fit(net, X, y, delay, lr=0.05, optimizer=optimizer, engine=engine)
        assert _consistent(net, X, y), delay
        hist = net.fit(X, y, epochs=2, lr=0.05, verbose=False, engine=engine)  # trains again
        assert len(hist["cost"]) == 2 and np.all(np.isfinite(hist["cost"]))


def test_an_interrupt_with_mini_batches_and_the_fused_sgd_step() -> None:
    X, y = _data(m=600)
    net = _net(np.float32)

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, 0.15)
    try:
        with pytest.raises(KeyboardInterrupt):
            net.fit(X, y, epochs=10**7, batch_size=16, lr=0.01, verbose=False, engine="fast")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    for _, P, G, _ in net.parameters():
        assert np.all(np.isfinite(P)) and G is not None and np.all(np.isfinite(G))
    # the stored gradients are dC/dP of one batch at the current weights, not lr * dC/dP:
    # a batch of 16's gradient norm is about that of the full batch (here 1-5x of it), where an
    # lr-scaled one (lr = 0.01) would be 100 times smaller
    twin = net.copy()
    twin.loss_and_gradients(X, y)
    ratio = cr.optim.global_norm(net.parameters()) / cr.optim.global_norm(twin.parameters())
    assert ratio > 0.2
    net.fit(X, y, epochs=1, batch_size=16, lr=0.05, verbose=False)


def test_without_recovery_the_interrupt_check_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    """Negative control: the consistency check above does catch a network left as it was."""
    monkeypatch.setattr(fit_module, "_recover", lambda *args: None)
    X, y = _data(m=64)
    net = _net()
    _interrupted_fit(net, X, y, 0.1, lr=0.05, engine="fast")
    assert not _consistent(net, X, y)


def test_an_interrupt_with_early_stopping_restoring_the_best_weights() -> None:
    """The callbacks' on_train_end runs before the gradients are recomputed: after
    EarlyStopping restores the best weights, the stored gradients are those weights' gradients."""
    X, y = _data(m=64)
    net, rec = _net(), _Recorder()
    worse = lambda net, epoch, logs: logs.__setitem__("val_cost", float(epoch))  # noqa: E731
    stopper = cr.callbacks.EarlyStopping(patience=10**9, restore_best=True)
    _interrupted_fit(net, X, y, 0.15, lr=0.05, engine="fast", callbacks=[worse, rec, stopper])
    assert stopper.best_epoch == 1 and len(rec.weights) > 2  # the best is long past
    for P, Q in zip(_weights(net), rec.weights[1]):
        np.testing.assert_array_equal(P, Q)
    assert _consistent(net, X, y)
