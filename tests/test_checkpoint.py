"""Checkpoints: interrupted-then-resumed training is BIT-identical to uninterrupted training.

"6 epochs straight" against "3 epochs, stop, resume to 6" (and against a run killed by an
exception mid-way), compared with np.array_equal on every parameter and buffer, for every
optimizer, with shuffling, standardization, validation, Dropout's random masks and BatchNorm's
running statistics; then the same through the command line. Resuming with anything different
(network, optimizer, lr, batch size, data) is refused with a ValueError naming the difference.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule.cli.main import main
from chainrule.model.files import read_checkpoint
from chainrule.nn import BatchNorm, Dropout
from chainrule.train import checkpoint as ck

DATA = cr.datasets.load("spirals")


def fit_kwargs(**over: Any) -> dict[str, Any]:
    kw: dict[str, Any] = dict(
        lr=0.05,
        batch_size=16,
        optimizer="adam",
        standardize=True,
        verbose=False,
        seed=5,
        validation_data=(DATA.X_test, DATA.y_test),
    )
    kw.update(over)
    return kw


def make_net(kind: str = "mlp") -> cr.Sequential:
    if kind == "mlp":
        return cr.mlp([2, 12, 3], activation="tanh", seed=1)
    # dropout (layer rng) and batchnorm (buffers): state beyond W, b and the optimizer
    return cr.Sequential(
        [
            cr.Dense(2, 12, seed=1),
            BatchNorm(12),
            cr.ReLU(),
            Dropout(0.3, seed=2),
            cr.Dense(12, 3, seed=3),
            cr.Softmax(),
        ]
    )


def state(net: cr.Sequential) -> list[np.ndarray]:
    return [
        getattr(layer, name)
        for layer in net.layers
        for name in layer.param_names + layer.buffer_names
    ]


def assert_bit_identical(a: cr.Sequential, b: cr.Sequential) -> None:
    sa, sb = state(a), state(b)
    assert len(sa) == len(sb) > 0
    for x, y in zip(sa, sb):
        assert x.dtype == y.dtype and np.array_equal(x, y)


def fit(net: cr.Sequential, epochs: int, **kw: Any) -> dict[str, list[Any]]:
    return net.fit(DATA.X_train, DATA.y_train, epochs=epochs, **fit_kwargs(**kw))


def without_times(history: dict[str, list[Any]]) -> dict[str, list[Any]]:
    return {k: v for k, v in history.items() if k != "epoch_time"}


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "rmsprop", "adam"])
@pytest.mark.parametrize("kind", ["mlp", "dropout+batchnorm"])
def test_stop_and_resume_is_bit_identical(tmp_path: Path, optimizer: str, kind: str) -> None:
    path = tmp_path / "run.npz"
    straight = make_net(kind)
    h_straight = fit(straight, 6, optimizer=optimizer)

    first = make_net(kind)
    fit(first, 3, optimizer=optimizer, checkpoint=path)
    assert not np.array_equal(state(first)[0], state(straight)[0])  # really only half-trained

    resumed = make_net(kind)  # a fresh process would build the network anew, as here
    h_resumed = fit(resumed, 6, optimizer=optimizer, checkpoint=path, resume=path)
    assert_bit_identical(straight, resumed)
    assert without_times(h_resumed) == without_times(h_straight)
    assert len(h_resumed["epoch_time"]) == 6


def test_crash_mid_run_then_resume(tmp_path: Path) -> None:
    """An exception in epoch 4 of 6 (checkpoint every 2): the epoch-2 checkpoint resumes it."""
    path = tmp_path / "run.npz"
    straight = make_net("dropout+batchnorm")
    fit(straight, 6)

    def crash(net: cr.Sequential, epoch: int, logs: dict[str, Any]) -> None:
        if epoch == 3:
            raise KeyboardInterrupt

    crashed = make_net("dropout+batchnorm")
    with pytest.raises(KeyboardInterrupt):
        fit(crashed, 6, checkpoint=path, checkpoint_every=2, callbacks=[crash])
    _, meta, _ = read_checkpoint(path)
    assert meta["epoch"] == 2

    resumed = make_net("dropout+batchnorm")
    fit(resumed, 6, resume=path)
    assert_bit_identical(straight, resumed)


def test_layer_rng_state_matters(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Control: without restoring Dropout's generator the resumed weights differ."""
    path = tmp_path / "run.npz"
    straight = make_net("dropout+batchnorm")
    fit(straight, 4)
    first = make_net("dropout+batchnorm")
    fit(first, 2, checkpoint=path)
    monkeypatch.setattr(ck, "_layer_rngs", lambda net: {})
    resumed = make_net("dropout+batchnorm")
    fit(resumed, 4, resume=path)
    assert not all(np.array_equal(a, b) for a, b in zip(state(straight), state(resumed)))


def test_checkpoint_every_and_final(tmp_path: Path) -> None:
    path = tmp_path / "run.npz"
    saved_epochs = []
    real_save = ck.Checkpointer.save

    def spy(self: ck.Checkpointer, p: Path, epoch: int, history: Any) -> None:
        saved_epochs.append(epoch)
        real_save(self, p, epoch, history)

    ck.Checkpointer.save = spy  # type: ignore[method-assign]
    try:
        fit(make_net(), 7, checkpoint=path, checkpoint_every=3)
    finally:
        ck.Checkpointer.save = real_save  # type: ignore[method-assign]
    assert saved_epochs == [3, 6, 7]
    net, meta, opt_arrays = read_checkpoint(path)
    assert meta["epoch"] == 7 and len(meta["history"]["cost"]) == 7
    assert meta["optimizer"]["name"] == "adam" and meta["optimizer"]["t"] > 0
    assert {k.split(":")[0] for k in opt_arrays} == {"m", "v"}


def test_checkpoint_is_a_loadable_model(tmp_path: Path) -> None:
    path = tmp_path / "run.npz"
    net = make_net()
    fit(net, 2, checkpoint=path)
    loaded = cr.load(path)
    assert loaded.is_fitted
    assert np.array_equal(loaded.predict_proba(DATA.X_test), net.predict_proba(DATA.X_test))


def test_resume_past_the_end_trains_nothing(tmp_path: Path) -> None:
    path = tmp_path / "run.npz"
    done = make_net()
    fit(done, 4, checkpoint=path)
    again = make_net()
    history = fit(again, 3, resume=path)  # asks for 3 epochs in total; 4 are done
    assert_bit_identical(done, again)
    assert len(history["cost"]) == 4


def test_resume_adds_validation_later(tmp_path: Path) -> None:
    path = tmp_path / "run.npz"
    fit(make_net(), 2, checkpoint=path, validation_data=None)
    history = fit(make_net(), 3, resume=path)
    assert history["val_cost"][:2] == [None, None] and history["val_cost"][2] is not None


def test_generator_seed_round_trips(tmp_path: Path) -> None:
    """A user-supplied MT19937 generator (array-valued state) is saved and restored too."""
    path = tmp_path / "run.npz"

    def gen() -> np.random.Generator:
        return np.random.Generator(np.random.MT19937(11))

    straight = make_net()
    fit(straight, 4, seed=gen())
    fit(make_net(), 2, seed=gen(), checkpoint=path)
    resumed = make_net()
    fit(resumed, 4, seed=gen(), resume=path)
    assert_bit_identical(straight, resumed)


@pytest.mark.parametrize(
    ("change", "pattern"),
    [
        (dict(optimizer="sgd"), r"optimizer 'adam'.*called with 'sgd'"),
        (dict(lr=0.01), r"'lr': 0\.05.*'lr': 0\.01"),
        (dict(weight_decay=1e-3), "weight_decay"),
        (dict(batch_size=8), "batch_size was 16 in the checkpoint but is 8 now"),
        (dict(shuffle=False), "shuffle was True in the checkpoint but is False now"),
        (dict(standardize=False), "standardize was True"),
    ],
)
def test_resume_with_other_settings_is_refused(
    tmp_path: Path, change: dict[str, Any], pattern: str
) -> None:
    path = tmp_path / "run.npz"
    fit(make_net(), 2, checkpoint=path)
    with pytest.raises(ValueError, match=pattern):
        fit(make_net(), 4, resume=path, **change)


def test_resume_with_other_network_or_data_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "run.npz"
    fit(make_net(), 2, checkpoint=path)
    other = cr.mlp([2, 7, 3], activation="tanh", seed=1)
    with pytest.raises(ValueError, match=r"cannot resume from .*n_out=12.*n_out=7"):
        fit(other, 4, resume=path)
    with pytest.raises(ValueError, match=r"trained on 450 examples.*data \(X, y\) now has 449"):
        make_net().fit(DATA.X_train[:-1], DATA.y_train[:-1], epochs=4, resume=path, **fit_kwargs())
    X = DATA.X_train.copy()
    X[0, 0] += 1e-3
    with pytest.raises(ValueError, match=r"differ from the data"):
        make_net().fit(X, DATA.y_train, epochs=4, resume=path, **fit_kwargs())


def test_resume_from_plain_model_or_damaged_checkpoint(tmp_path: Path) -> None:
    net = make_net()
    fit(net, 1)
    net.save(tmp_path / "model.npz")
    with pytest.raises(ValueError, match="not a training checkpoint"):
        fit(make_net(), 2, resume=tmp_path / "model.npz")
    with pytest.raises(ValueError, match="does not exist"):
        fit(make_net(), 2, resume=tmp_path / "none.npz")
    with pytest.raises(TypeError, match="resume must be a file path"):
        fit(make_net(), 2, resume=42)
    with pytest.raises(ValueError, match="is a folder"):
        fit(make_net(), 2, checkpoint=tmp_path)
    # an optimizer moment whose shape does not fit the network
    path = tmp_path / "run.npz"
    fit(make_net(), 1, checkpoint=path)
    from chainrule.model.files import load_with_extras, save

    saved, meta, extra = load_with_extras(path)
    extra["optimizer/m:0.W"] = np.zeros((3, 3), np.float32)
    save(saved, path, extra_meta=meta, extra_arrays=extra)
    with pytest.raises(ValueError, match=r"optimizer state 'm:0\.W'.*does not fit"):
        fit(make_net(), 2, resume=path)


def test_cli_checkpoint_and_resume_bit_identical(tmp_path: Path, capsys: Any) -> None:
    common = ["train", "--data", "spirals", "--optimizer", "momentum", "--lr", "0.05", "--quiet"]
    a, b, run = (str(tmp_path / n) for n in ("a.npz", "b.npz", "run.npz"))
    assert main([*common, "--epochs", "6", "--save", a]) == 0
    assert main([*common, "--epochs", "3", "--checkpoint", run]) == 0
    assert main([*common, "--epochs", "6", "--resume", run, "--checkpoint", run, "--save", b]) == 0
    capsys.readouterr()
    assert_bit_identical(cr.load(a), cr.load(b))
    assert_bit_identical(cr.load(a), cr.load(run))  # the final checkpoint: epoch 6
