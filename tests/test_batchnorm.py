"""BatchNorm for dense (n, m) and conv (C, H, W, m) / (C, L, m) inputs.

Training: batch statistics; prediction: running statistics (buffers saved with the model).
Checked against torch.nn.functional.batch_norm and float64 finite differences.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from oracle import numeric_gradient, rel_err

import chainrule as cr

if TYPE_CHECKING:  # only for annotations: torch is imported where it is used
    import torch


def to_torch(A: np.ndarray) -> torch.Tensor:
    """Engine (C, ..., m) -> torch (m, C, ...)."""
    import torch

    return torch.tensor(np.moveaxis(A, -1, 0), dtype=torch.float64, requires_grad=True)


def from_torch(T: torch.Tensor) -> np.ndarray:
    return np.moveaxis(T.detach().numpy(), 0, -1)


@settings(max_examples=30, deadline=None)
@given(
    st.sampled_from([(), (3,), (2, 3)]),  # spatial dims: dense, 1-D, 2-D
    st.integers(1, 4),  # C
    st.integers(2, 5),  # m
    st.booleans(),  # training?
    st.integers(0, 2**31 - 1),
)
def test_matches_torch(spatial, C, m, training, seed):
    import torch
    import torch.nn.functional as F

    rng = np.random.default_rng(seed)
    layer = cr.BatchNorm(C, momentum=0.3)
    layer.gamma = rng.standard_normal((C, 1))
    layer.beta = rng.standard_normal((C, 1))
    layer.running_mean = rng.standard_normal((C, 1))
    layer.running_var = rng.uniform(0.5, 2.0, (C, 1))
    rm = torch.tensor(layer.running_mean[:, 0].copy())
    rv = torch.tensor(layer.running_var[:, 0].copy())
    layer.training = training
    X = rng.standard_normal((C, *spatial, m)) * 3 + 1
    A = layer.forward(X)
    G = rng.standard_normal(A.shape)
    dX = layer.backward(G)
    Xt = to_torch(X)
    gt = torch.tensor(layer.gamma[:, 0], requires_grad=True)
    bt = torch.tensor(layer.beta[:, 0], requires_grad=True)
    At = F.batch_norm(Xt, rm, rv, gt, bt, training=training, momentum=0.3, eps=1e-5)
    (At * torch.tensor(np.moveaxis(G, -1, 0))).sum().backward()
    np.testing.assert_allclose(A, from_torch(At), rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(dX, from_torch(Xt.grad), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(layer.dC_dgamma[:, 0], gt.grad.numpy(), rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(layer.dC_dbeta[:, 0], bt.grad.numpy(), rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(layer.running_mean[:, 0], rm.numpy(), rtol=1e-12)
    np.testing.assert_allclose(layer.running_var[:, 0], rv.numpy(), rtol=1e-12)


@pytest.mark.parametrize("shape", [(3, 6), (2, 3, 3, 4), (2, 5, 3)])
def test_finite_differences(shape):
    rng = np.random.default_rng(0)
    layer = cr.BatchNorm(shape[0])
    layer.gamma = rng.standard_normal((shape[0], 1))
    layer.beta = rng.standard_normal((shape[0], 1))
    X = rng.standard_normal(shape)
    A = layer.forward(X)
    G = rng.standard_normal(A.shape)
    dX = layer.backward(G)
    dg, db = layer.dC_dgamma.copy(), layer.dC_dbeta.copy()

    def cost(_: np.ndarray) -> float:
        return float(np.sum(G * layer.forward(X)))

    assert rel_err(dX, numeric_gradient(cost, X)) < 1e-6
    assert rel_err(dg, numeric_gradient(cost, layer.gamma)) < 1e-6
    assert rel_err(db, numeric_gradient(cost, layer.beta)) < 1e-6


def test_hand_worked_dense():
    """One feature, batch [1, 2, 3]: mu = 2, var = 2/3, x_hat = [-1, 0, 1] / sqrt(2/3 + eps).

    With gamma = 2, beta = 1: A = 2 x_hat + 1. The running stats move 10% toward the batch:
    running_mean = 0.9 * 0 + 0.1 * 2 = 0.2, running_var = 0.9 * 1 + 0.1 * 1 (unbiased var = 1).
    The output sums to 3 * beta for any input, so an upstream gradient of all ones gives
    dC/dx = 0 exactly (normalization removes any shift).
    """
    layer = cr.BatchNorm(1, eps=1e-5)
    layer.gamma[:] = 2.0
    layer.beta[:] = 1.0
    A = layer.forward(np.array([[1.0, 2.0, 3.0]]))
    s = np.sqrt(2 / 3 + 1e-5)
    np.testing.assert_allclose(A, [[1 - 2 / s, 1.0, 1 + 2 / s]], rtol=1e-12)
    np.testing.assert_allclose(layer.running_mean, [[0.2]])
    np.testing.assert_allclose(layer.running_var, [[1.0]])
    np.testing.assert_allclose(layer.backward(np.ones((1, 3))), 0, atol=1e-12)
    np.testing.assert_allclose(layer.dC_dbeta, [[3.0]])
    np.testing.assert_allclose(layer.dC_dgamma, [[0.0]], atol=1e-12)


def test_predict_uses_running_statistics():
    layer = cr.BatchNorm(2, momentum=1.0)  # running stats = the last batch's
    X = np.random.default_rng(0).standard_normal((2, 3, 3, 50)) * 4 + 2
    train_out = layer.forward(X)
    layer.training = False
    X2 = np.random.default_rng(1).standard_normal((2, 3, 3, 7))
    out = layer.forward(X2)
    mu = X.mean(axis=(1, 2, 3)).reshape(2, 1, 1, 1)
    var = X.var(axis=(1, 2, 3), ddof=1).reshape(2, 1, 1, 1)
    np.testing.assert_allclose(out, (X2 - mu) / np.sqrt(var + 1e-5), rtol=1e-10)
    assert abs(train_out.mean()) < 1e-10
    # in prediction the output of one example does not depend on the others
    np.testing.assert_allclose(layer.forward(X2[..., :1]), out[..., :1], rtol=1e-12)


def test_gradcheck_conv_network_and_save_load_buffers(tmp_path):
    net = cr.Sequential(
        [
            cr.Conv2D(1, 2, 3, padding=1, seed=0),
            cr.BatchNorm(2),
            cr.ReLU(),
            cr.Flatten(),
            cr.Dense(32, 6, seed=1),
            cr.BatchNorm(6),
            cr.Tanh(),
            cr.Dense(6, 3, seed=2),
            cr.Softmax(),
        ],
        input_shape=(1, 4, 4),
    )
    X = np.random.default_rng(0).standard_normal((6, 1, 4, 4))
    y = [0, 1, 2, 0, 1, 2]
    report = cr.gradcheck(net, X, y)
    # a bias right before BatchNorm is removed by the mean subtraction: its gradient is exactly
    # 0, so the relative error of two ~0 vectors is meaningless; check absolute values instead
    for name in ("b[1]", "b[3]"):
        assert np.abs(report.backprop[name]).max() < 1e-12
        assert np.abs(report.numeric[name]).max() < 1e-8
    others = {k: v for k, v in report.errors.items() if k not in ("b[1]", "b[3]")}
    assert max(others.values()) < 1e-6, str(report)
    net.fit(X, y, epochs=3, batch_size=3, optimizer="adam", lr=0.01, verbose=False, seed=0)
    assert not np.allclose(net.layers[1].running_mean, 0)
    net.save(tmp_path / "bn.npz")
    back = cr.load(tmp_path / "bn.npz")
    np.testing.assert_array_equal(back.layers[1].running_var, net.layers[1].running_var)
    np.testing.assert_array_equal(back.predict_proba(X), net.predict_proba(X))


def test_bad_arguments_and_inputs():
    with pytest.raises(ValueError):
        cr.BatchNorm(0)
    with pytest.raises(ValueError):
        cr.BatchNorm(3, eps=0)
    with pytest.raises(ValueError):
        cr.BatchNorm(3, momentum=1.5)
    with pytest.raises(ValueError, match="expects input of shape"):
        cr.BatchNorm(3).forward(np.zeros((2, 5)))
    assert cr.BatchNorm(3).output_shape((3, 4, 4)) == (3, 4, 4)
    assert cr.BatchNorm(3).buffer_names == ("running_mean", "running_var")
