"""The fast engine's batch slices (chainrule/fast/parallel.py) compute what the whole batch does."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.fast import parallel
from chainrule.fast.blas import blas_threads, set_blas_threads
from chainrule.fast.parallel import BatchSlices, why_not_slices
from chainrule.fast.sequence import SequencePlan
from chainrule.train.step import train_step

F64 = np.float64


def _gpt(dropout: float = 0.0) -> cr.Sequential:
    return cr.models.gpt(11, 7, n_layer=2, n_head=2, n_embd=8, dropout=dropout, dtype=F64, seed=0)


def _batch(m: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 11, (m, 7)), rng.integers(0, 11, (m, 7))


def _worst(net: cr.Sequential, ref: dict[str, np.ndarray]) -> float:
    return max(
        float(np.abs(G - ref[k]).max() / (np.abs(ref[k]).max() + 1e-30))
        for k, _, G, _ in net.parameters()
    )


@pytest.mark.parametrize(("workers", "m"), [(2, 6), (2, 7), (3, 7), (7, 7), (4, 2)])
def test_sliced_batches_give_the_reference_cost_and_every_gradient(workers: int, m: int) -> None:
    net = _gpt()
    X, y = _batch(m)
    cost = net.loss_and_gradients(X, y)
    ref = {key: G.copy() for key, _, G, _ in net.parameters()}
    net.zero_grad()
    plan = SequencePlan(net, workers=workers)
    assert plan.slices is not None and plan.slices.slices_for(m) == min(workers, m)
    fast_cost, A = plan.forward_backward(net.prepare_X(X).T, net.prepare_Y(y, m))
    assert fast_cost == pytest.approx(cost, rel=1e-13)
    assert A.shape == (11, 7, m)
    assert _worst(net, ref) < 1e-12
    # the replicas computed with the network's own arrays, not copies
    for k in range(1, plan.slices.slices_for(m)):
        for own, copy in plan.slices._pairs(k):
            for name in own.param_names:
                assert getattr(copy, name) is getattr(own, name)


def test_training_steps_on_slices_equal_the_reference_engine() -> None:
    a, b = _gpt(), _gpt()
    opt_a, opt_b = cr.optim.AdamW(lr=1e-2), cr.optim.AdamW(lr=1e-2)
    plan = SequencePlan(a, workers=3)
    for step in range(4):
        X, y = _batch(5, seed=10 + step)
        A0, Y = a.prepare_X(X).T, a.prepare_Y(y, 5)
        ca, _ = train_step(a, A0, Y, opt_a, 1.0, plan.forward_backward)
        cb, _ = train_step(b, A0, Y, opt_b, 1.0)
        assert ca == pytest.approx(cb, rel=1e-10)
    for (_, P, _, _), (_, Q, _, _) in zip(a.parameters(), b.parameters()):
        np.testing.assert_allclose(P, Q, rtol=1e-9, atol=1e-12)


def test_fit_lm_slices_the_batch_as_the_blas_has_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel, "MIN_SLICE_WORK", 1.0)  # this tiny GPT too
    runs: list[int] = []
    real_run = BatchSlices.run
    monkeypatch.setattr(BatchSlices, "run", lambda self, *a: runs.append(1) or real_run(self, *a))
    ids = np.random.default_rng(2).integers(0, 11, 2000)
    kw = {"steps": 12, "batch_size": 4, "eval_every": 4, "verbose": False, "seed": 3}
    before = blas_threads()
    a, b = _gpt(), _gpt()
    set_blas_threads(2)
    try:
        ha = a.fit_lm(ids, ids[:300], engine="fast", **kw)
    finally:
        if before is not None:
            set_blas_threads(before)
    assert blas_threads() == before  # the slices hand the BLAS its threads back
    assert len(runs) == 12  # every step ran in slices
    hb = b.fit_lm(ids, ids[:300], engine="reference", **kw)
    for (_, P, _, _), (_, Q, _, _) in zip(a.parameters(), b.parameters()):
        np.testing.assert_allclose(P, Q, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ha["val_loss"], hb["val_loss"], rtol=1e-10)


def test_what_is_never_sliced() -> None:
    before = blas_threads() or 1
    assert why_not_slices(_gpt().layers) is None
    assert "dropout" in why_not_slices(_gpt(dropout=0.1).layers)
    assert SequencePlan(_gpt(dropout=0.1)).slices is None  # runs whole, as the reference
    bn = [cr.Dense(3, 4), cr.BatchNorm(4)]
    assert "BatchNorm" in why_not_slices(bn)
    assert BatchSlices([cr.Dense(3, 4)], workers=1).slices_for(10) == 1
    # small batches run whole: a slice needs MIN_SLICE_WORK multiply-adds
    small = BatchSlices([cr.Dense(3, 4)], work_per_example=parallel.MIN_SLICE_WORK / 4)
    assert small.slices_for(4) == 1
    set_blas_threads(2)
    try:
        assert small.slices_for(8) == 2 and small.slices_for(1000) == 2  # at most the threads
    finally:
        set_blas_threads(before)


def test_forgetting_a_slice_gradient_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """Negative control: without the addition of the slices' gradients, the check above fails."""
    net = _gpt()
    X, y = _batch(6)
    net.loss_and_gradients(X, y)
    ref = {key: G.copy() for key, _, G, _ in net.parameters()}
    monkeypatch.setattr(BatchSlices, "_add_gradients", lambda self, k: None)
    SequencePlan(net, workers=2).forward_backward(net.prepare_X(X).T, net.prepare_Y(y, 6))
    assert _worst(net, ref) > 0.1


def test_a_failing_slice_raises_and_restores_the_blas_threads() -> None:
    before = blas_threads()
    slices = BatchSlices([cr.Dense(3, 2)], workers=2)

    def step(layers: list, A0: np.ndarray, Y: np.ndarray, w: float) -> tuple[float, np.ndarray]:
        if layers is not slices.layers:
            raise ValueError("slice 1 failed")
        return 0.0, A0

    with pytest.raises(ValueError, match="slice 1 failed"):
        slices.run(step, np.zeros((3, 4)), np.zeros((2, 4)))
    assert blas_threads() == before
