"""Dense layer Z = W @ A_prev + b: forward and backward, three ways, plus the notebook's bias bug.

Backward with upstream G = dC/dZ : (n[l], m), i.e. the cost C = sum(G * Z):
    dC_dW = G @ A_prev.T : (n[l], n[l-1]);  dC_db = sum of G over m : (n[l], 1);
    dC_dA_prev = W.T @ G : (n[l-1], m).
"""

from __future__ import annotations

import numpy as np
import pytest
from oracle import numeric_gradient, rel_err

import chainrule as cr


def _dense(rng: np.random.Generator, n_in: int = 4, n_out: int = 3) -> cr.Dense:
    layer = cr.Dense(n_in, n_out, seed=0)
    layer.W = rng.standard_normal((n_out, n_in))
    layer.b = rng.standard_normal((n_out, 1))
    return layer


def test_forward_by_hand() -> None:
    """W = [[1, 2], [3, 4]], b = [[1], [-1]], two examples (columns) [1, 0] and [0, 1]:
    Z = W @ A + b = [[1 + 1, 2 + 1], [3 - 1, 4 - 1]] = [[2, 3], [2, 3]]."""
    layer = cr.Dense(2, 2)
    layer.W = np.array([[1.0, 2.0], [3.0, 4.0]])
    layer.b = np.array([[1.0], [-1.0]])
    Z = layer.forward(np.eye(2))
    np.testing.assert_array_equal(Z, [[2.0, 3.0], [2.0, 3.0]])


def test_backward_by_hand() -> None:
    """W = [[1, 2]] (n[1] = 1, n[0] = 2), A_prev = [[1, 3], [2, 4]] (m = 2), G = [[1, -1]]:
    dC_dW = G @ A_prev.T = [[1 - 3, 2 - 4]] = [[-2, -2]]
    dC_db = 1 + (-1) = 0          (the notebook's sum of dC_dW would give -4)
    dC_dA_prev = W.T @ G = [[1, -1], [2, -2]]."""
    layer = cr.Dense(2, 1)
    layer.W = np.array([[1.0, 2.0]])
    layer.b = np.zeros((1, 1))
    layer.forward(np.array([[1.0, 3.0], [2.0, 4.0]]))
    dA = layer.backward(np.array([[1.0, -1.0]]))
    np.testing.assert_array_equal(layer.dC_dW, [[-2.0, -2.0]])
    np.testing.assert_array_equal(layer.dC_db, [[0.0]])
    np.testing.assert_array_equal(dA, [[1.0, -1.0], [2.0, -2.0]])


def test_backward_matches_finite_differences(rng: np.random.Generator) -> None:
    layer = _dense(rng)
    A_prev = rng.standard_normal((4, 6))
    G = rng.standard_normal((3, 6))

    def cost(_: np.ndarray) -> float:
        return float(np.sum(G * layer.forward(A_prev)))

    layer.forward(A_prev)
    dA = layer.backward(G)
    dW, db = layer.dC_dW.copy(), layer.dC_db.copy()
    assert rel_err(dW, numeric_gradient(cost, layer.W)) < 1e-6
    assert rel_err(db, numeric_gradient(cost, layer.b)) < 1e-6
    assert rel_err(dA, numeric_gradient(cost, A_prev)) < 1e-6
    assert dW.shape == (3, 4) and db.shape == (3, 1) and dA.shape == (4, 6)


def test_backward_matches_torch(rng: np.random.Generator) -> None:
    import torch

    layer = _dense(rng, 5, 4)
    A_prev = rng.standard_normal((5, 8))
    G = rng.standard_normal((4, 8))
    Z = layer.forward(A_prev)
    dA = layer.backward(G)
    W = torch.tensor(layer.W, requires_grad=True)
    b = torch.tensor(layer.b, requires_grad=True)
    A = torch.tensor(A_prev, requires_grad=True)
    Zt = W @ A + b
    (Zt * torch.tensor(G)).sum().backward()
    np.testing.assert_allclose(Z, Zt.detach().numpy(), rtol=1e-13)
    np.testing.assert_allclose(layer.dC_dW, W.grad.numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(layer.dC_db, b.grad.numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(dA, A.grad.numpy(), rtol=1e-12, atol=1e-14)


def test_bias_gradient_sums_dC_dZ_not_dC_dW(rng: np.random.Generator) -> None:
    """The notebook's layers 1 and 2 summed dC_dW over axis 1; the right sum is over dC_dZ."""
    layer = _dense(rng, 3, 3)
    layer.forward(rng.standard_normal((3, 10)))
    G = rng.standard_normal((3, 10))
    layer.backward(G)
    np.testing.assert_allclose(layer.dC_db, G.sum(axis=1, keepdims=True), rtol=1e-14)
    notebook_bug = layer.dC_dW.sum(axis=1, keepdims=True)
    assert notebook_bug.shape == layer.dC_db.shape  # the shape assert could not catch it
    assert rel_err(notebook_bug, layer.dC_db) > 0.1


def test_gradients_are_overwritten_not_accumulated(rng: np.random.Generator) -> None:
    layer = _dense(rng)
    A_prev, G = rng.standard_normal((4, 5)), rng.standard_normal((3, 5))
    for _ in range(3):
        layer.forward(A_prev)
        layer.backward(G)
    np.testing.assert_allclose(layer.dC_dW, G @ A_prev.T, rtol=1e-14)


def test_dense_returns_fresh_arrays_and_keeps_its_input(rng: np.random.Generator) -> None:
    """The reference layer never writes into an array it received or returned before."""
    layer = _dense(rng)
    A_prev, G = rng.standard_normal((4, 7)), rng.standard_normal((3, 7))
    A_keep, G_keep = A_prev.copy(), G.copy()
    Z1 = layer.forward(A_prev)
    Z1_keep = Z1.copy()
    dA1 = layer.backward(G)
    dW1 = layer.dC_dW
    Z2 = layer.forward(A_prev[:, :3])  # a shorter batch in between
    dA2 = layer.backward(G[:, :3])
    assert Z2 is not Z1 and dA2 is not dA1 and layer.dC_dW is not dW1
    np.testing.assert_array_equal(A_prev, A_keep)
    np.testing.assert_array_equal(G, G_keep)
    np.testing.assert_array_equal(Z1, Z1_keep)
    np.testing.assert_allclose(dA1, layer.W.T @ G, rtol=1e-14)
    np.testing.assert_allclose(layer.dC_db, G[:, :3].sum(axis=1, keepdims=True), rtol=1e-14)


def test_init_shapes_and_seed() -> None:
    for init in ("he", "xavier", "normal", "torch"):
        a, b = cr.Dense(5, 7, init=init, seed=3), cr.Dense(5, 7, init=init, seed=3)
        assert a.W.shape == (7, 5) and a.b.shape == (7, 1)
        np.testing.assert_array_equal(a.W, b.W)
        np.testing.assert_array_equal(a.b, b.b)
    big = cr.Dense(400, 300, init="he", seed=0)
    assert big.W.std() == pytest.approx(np.sqrt(2 / 400), rel=0.02)
    assert not big.b.any()  # He/Xavier start biases at zero
    glorot = cr.Dense(400, 300, init="xavier", seed=0)
    assert glorot.W.std() == pytest.approx(np.sqrt(2 / 700), rel=0.02)
    # PyTorch's nn.Linear default: W and b ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    t = cr.Dense(400, 300, init="torch", seed=0)
    bound = 1 / np.sqrt(400)
    assert np.abs(t.W).max() <= bound and np.abs(t.b).max() <= bound
    assert t.W.std() == pytest.approx(bound / np.sqrt(3), rel=0.02)  # a uniform's std


def test_errors() -> None:
    with pytest.raises(TypeError, match="n_in must be an int >= 1"):
        cr.Dense(2.5, 3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="n_out must be an int >= 1"):
        cr.Dense(2, 0)
    with pytest.raises(ValueError, match="unknown init"):
        cr.Dense(2, 3, init="zeros")
    layer = cr.Dense(2, 3)
    with pytest.raises(ValueError, match=r"expects input of shape \(2, m\), got \(3, 4\)"):
        layer.forward(np.zeros((3, 4)))
    with pytest.raises(RuntimeError, match="before forward"):
        cr.Dense(2, 3).backward(np.zeros((3, 1)))
    with pytest.raises(ValueError, match="expects 2 input features"):
        layer.output_shape((5,))
    assert layer.config() == {"n_in": 2, "n_out": 3, "init": "xavier"}
    assert layer.n_params == 9
