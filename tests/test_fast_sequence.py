"""The fast engine's SequencePlan computes what the reference engine computes, for a GPT."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.fast.sequence import SequencePlan, TanhGELUBuffers, why_not_sequence_plan
from chainrule.nn.gelu import GELU

F64 = np.float64


def _gpt(dropout: float = 0.0) -> cr.Sequential:
    return cr.models.gpt(11, 7, n_layer=2, n_head=2, n_embd=8, dropout=dropout, dtype=F64, seed=0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_in_place_gelu_equals_the_reference(dtype: type) -> None:
    rng = np.random.default_rng(0)
    Z = (rng.standard_normal((6, 5, 3)) * 4).astype(dtype)
    Z[0, 0, 0], Z[1, 0, 0] = 1e4, -1e4  # far outside the clip: no warning, the same values
    G = rng.standard_normal(Z.shape).astype(dtype)
    ref, fast = GELU("tanh"), TanhGELUBuffers()
    tol = 1e-14 if dtype == np.float64 else 2e-6
    np.testing.assert_allclose(fast.forward(Z), ref.forward(Z), rtol=tol, atol=tol)
    np.testing.assert_allclose(fast.backward(G), ref.backward(G), rtol=tol, atol=tol)
    kept = fast.forward(Z)
    assert fast.forward(Z) is kept  # one buffer per shape, reused


def test_the_plan_gives_the_reference_cost_and_every_gradient() -> None:
    net = _gpt()
    rng = np.random.default_rng(1)
    X, y = rng.integers(0, 11, (5, 7)), rng.integers(0, 11, (5, 7))
    cost = net.loss_and_gradients(X, y)
    ref = {key: G.copy() for key, _, G, _ in net.parameters()}
    plan = SequencePlan(net)
    fast_cost, _ = plan.forward_backward(net.prepare_X(X).T, net.prepare_Y(y, 5))
    assert fast_cost == pytest.approx(cost, rel=1e-14)
    for key, _, G, _ in net.parameters():
        np.testing.assert_allclose(G, ref[key], rtol=1e-12, atol=1e-15, err_msg=key)


@pytest.mark.parametrize("dropout", [0.0, 0.2])
def test_fit_lm_on_both_engines_trains_the_same(dropout: float) -> None:
    ids = np.random.default_rng(2).integers(0, 11, 2000)
    kw = {"steps": 25, "batch_size": 4, "eval_every": 5, "verbose": False, "seed": 3}
    a, b = _gpt(dropout), _gpt(dropout)
    ha = a.fit_lm(ids, ids[:300], engine="fast", **kw)
    hb = b.fit_lm(ids, ids[:300], engine="reference", **kw)
    for (_, P, G, _), (_, Q, H, _) in zip(a.parameters(), b.parameters()):
        np.testing.assert_allclose(P, Q, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(G, H, rtol=1e-7, atol=1e-12)
    np.testing.assert_allclose(ha["val_loss"], hb["val_loss"], rtol=1e-10)


def test_which_networks_the_plan_takes() -> None:
    assert why_not_sequence_plan(_gpt()) is None
    gru = cr.models.gru_lm(11, n_embd=4, n_hidden=6, block_size=5, seed=0)
    assert "no tanh GELU" in why_not_sequence_plan(gru)
    ids = np.random.default_rng(0).integers(0, 11, 500)
    with pytest.raises(ValueError, match="engine='fast' does not support"):
        gru.fit_lm(ids, steps=2, engine="fast", verbose=False)
    with pytest.raises(ValueError, match="engine must be"):
        gru.fit_lm(ids, steps=2, engine="turbo", verbose=False)
    gru.fit_lm(ids, steps=2, engine="auto", verbose=False)  # the reference engine runs it


def test_a_wrong_fast_gelu_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """Negative control: the equality check above fails for a GELU backward missing a term."""
    net = _gpt()
    rng = np.random.default_rng(1)
    X, y = rng.integers(0, 11, (5, 7)), rng.integers(0, 11, (5, 7))
    net.loss_and_gradients(X, y)
    ref = {key: G.copy() for key, _, G, _ in net.parameters()}

    def half(self: TanhGELUBuffers, dC_dA: np.ndarray) -> np.ndarray:
        return dC_dA * 0.5 * (1.0 + self.t)  # forgets the z (1 - t^2) du/dz term

    monkeypatch.setattr(TanhGELUBuffers, "backward", half)
    SequencePlan(net).forward_backward(net.prepare_X(X).T, net.prepare_Y(y, 5))
    worst = max(
        np.abs(G - ref[k]).max() / (np.abs(ref[k]).max() + 1e-30) for k, _, G, _ in net.parameters()
    )
    assert worst > 1e-3
