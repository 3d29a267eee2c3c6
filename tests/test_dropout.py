"""Dropout: inverted scaling, identity in predict, seeded masks, freeze for gradient checks."""

from __future__ import annotations

import numpy as np
import pytest
from oracle import numeric_gradient, rel_err

import chainrule as cr


def test_inverted_dropout_keeps_the_mean_and_scales_kept_units():
    layer = cr.Dropout(0.25, seed=0)
    X = np.ones((200, 500), dtype=np.float32)
    A = layer.forward(X)
    assert A.dtype == np.float32
    kept = A[A != 0]
    np.testing.assert_allclose(kept, 1 / 0.75, rtol=1e-6)  # 1 / (1 - p)
    assert abs((A == 0).mean() - 0.25) < 0.01
    assert abs(A.mean() - 1.0) < 0.01


def test_identity_in_predict_mode():
    layer = cr.Dropout(0.5, seed=0)
    layer.training = False
    X = np.random.default_rng(0).standard_normal((3, 4, 4, 2))
    assert layer.forward(X) is X
    assert layer.backward(X) is X
    net = cr.Sequential([cr.Dense(4, 8, seed=0), cr.Dropout(0.5, seed=1), cr.Dense(8, 2, seed=2)])
    net.is_fitted = True
    Xb = np.random.default_rng(1).standard_normal((5, 4))
    np.testing.assert_array_equal(net.predict_proba(Xb), net.predict_proba(Xb))


def test_backward_uses_the_same_mask_hand_worked():
    layer = cr.Dropout(0.5, seed=3)
    X = np.arange(1.0, 9.0).reshape(2, 4)
    A = layer.forward(X)
    D = layer.D
    assert set(np.unique(D)) <= {0.0, 2.0}
    np.testing.assert_array_equal(A, X * D)
    np.testing.assert_array_equal(layer.backward(np.ones_like(X)), D)


def test_seeded_and_rng_state_can_be_saved():
    a, b = cr.Dropout(0.3, seed=42), cr.Dropout(0.3, seed=42)
    X = np.ones((10, 10))
    np.testing.assert_array_equal(a.forward(X), b.forward(X))
    state = a.rng.bit_generator.state
    first = a.forward(X)
    a.rng.bit_generator.state = state
    np.testing.assert_array_equal(a.forward(X), first)
    assert isinstance(a.rng, np.random.Generator)


def test_freeze_reuses_one_mask_and_unfreeze_draws_new_ones():
    layer = cr.Dropout(0.5, seed=0)
    X = np.ones((20, 30))
    layer.freeze(True)
    m1 = layer.forward(X).copy()
    np.testing.assert_array_equal(layer.forward(X), m1)
    layer.freeze(False)
    assert not np.array_equal(layer.forward(X), m1)


def test_matches_torch_with_a_fixed_mask():
    """torch.nn.functional.dropout can't take a mask, so the torch twin is X * mask / (1 - p)."""
    import torch

    rng = np.random.default_rng(0)
    layer = cr.Dropout(0.4, seed=1)
    X = rng.standard_normal((3, 5, 5, 4))
    A = layer.forward(X)
    G = rng.standard_normal(A.shape)
    dX = layer.backward(G)
    mask = torch.tensor((layer.D != 0).astype(np.float64))
    Xt = torch.tensor(X, requires_grad=True)
    At = Xt * mask / (1 - 0.4)
    (At * torch.tensor(G)).sum().backward()
    np.testing.assert_allclose(A, At.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(dX, Xt.grad.numpy(), rtol=1e-12)
    # torch's own dropout draws the same kind of mask: zeros or x / (1 - p)
    out = torch.nn.functional.dropout(torch.ones(1000, dtype=torch.float64), 0.4, training=True)
    assert set(np.unique(out.numpy()).round(12)) <= {0.0, round(1 / 0.6, 12)}


def test_finite_differences_with_frozen_mask():
    layer = cr.Dropout(0.5, seed=2)
    layer.freeze(True)
    X = np.random.default_rng(0).standard_normal((4, 6))
    A = layer.forward(X)
    G = np.random.default_rng(1).standard_normal(A.shape)
    dX = layer.backward(G)
    num = numeric_gradient(lambda _: float(np.sum(G * layer.forward(X))), X)
    assert rel_err(dX, num) < 1e-9


def test_gradcheck_network_with_dropout_uses_freeze():
    net = cr.Sequential(
        [
            cr.Conv2D(1, 2, 3, padding=1, seed=0),
            cr.Tanh(),
            cr.Dropout(0.5, seed=0),
            cr.Flatten(),
            cr.Dense(32, 3, seed=1),
            cr.Softmax(),
        ],
        input_shape=(1, 4, 4),
    )
    X = np.random.default_rng(0).standard_normal((5, 1, 4, 4))
    report = cr.gradcheck(net, X, [0, 1, 2, 0, 1])
    assert report.passed, str(report)


def test_bad_p_and_save_load(tmp_path):
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        cr.Dropout(1.0)
    with pytest.raises(TypeError):
        cr.Dropout("0.5")
    net = cr.Sequential(
        [cr.Dense(3, 4, seed=0), cr.ReLU(), cr.Dropout(0.2, seed=7), cr.Dense(4, 2), cr.Softmax()]
    )
    net.is_fitted = True
    net.save(tmp_path / "d.npz")
    back = cr.load(tmp_path / "d.npz")
    assert back.layers[2].config() == {"p": 0.2, "seed": 7}
