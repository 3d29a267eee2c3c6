"""Costs: value and gradient against torch and finite differences, fused vs unfused, by hand.

chainrule's conventions (Y and A are (n[L], m)):
    BCE = -(1/m) sum over units and examples of [Y log A + (1 - Y) log(1 - A)]
    CE  = -(1/m) sum Y log A                      (Y one-hot, A = softmax(Z))
    MSE = (1/(2m)) sum (A - Y)^2                  (sum over outputs, mean over m)
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from oracle import numeric_gradient, rel_err, torch_cost

import chainrule as cr
from chainrule.data.targets import one_hot
from chainrule.fast.costs import fused_cost_and_gradient
from chainrule.nn.activation import make_activation
from chainrule.nn.losses import BinaryCrossEntropy, CrossEntropy, MeanSquaredError, make_loss

PAIRS = [("bce", "sigmoid"), ("ce", "softmax"), ("mse", "identity")]


def _case(loss: str, rng: np.random.Generator, n: int = 3, m: int = 7):
    """(Z, A = g(Z), Y) for the matched pair of ``loss``, in float64."""
    Z = rng.standard_normal((n, m)) * 1.5
    if loss == "bce":
        return Z, cr.activations.sigmoid(Z), rng.integers(0, 2, size=(n, m)).astype(float)
    if loss == "ce":
        return Z, cr.activations.softmax(Z), one_hot(rng.integers(0, n, size=m), n)
    return Z, Z.copy(), rng.standard_normal((n, m))


@pytest.mark.parametrize("loss", ["bce", "ce", "mse"])
def test_cost_and_gradient_match_torch(loss: str, rng: np.random.Generator) -> None:
    import torch

    Z, A, Y = _case(loss, rng)
    L = make_loss(loss)
    At = torch.tensor(A, requires_grad=True)
    Ct = torch_cost(loss, At, torch.tensor(Y))
    Ct.backward()
    assert L.cost(A, Y) == pytest.approx(float(Ct.detach()), rel=1e-12)
    np.testing.assert_allclose(L.gradient(A, Y), At.grad.numpy(), rtol=1e-10, atol=1e-14)
    # the same cost from the logits, against torch's own stable formulas
    Zt = torch.tensor(Z)
    C_logits = torch_cost(loss, Zt if loss == "mse" else torch.tensor(A), torch.tensor(Y), Zt)
    assert L.cost_from_logits(Z, Y) == pytest.approx(float(C_logits), rel=1e-12)


@pytest.mark.parametrize("loss", ["bce", "ce", "mse"])
def test_gradient_matches_finite_differences(loss: str, rng: np.random.Generator) -> None:
    _, A, Y = _case(loss, rng, n=3, m=4)
    L = make_loss(loss)
    numeric = numeric_gradient(lambda a: L.cost(a, Y), A.copy())
    assert rel_err(L.gradient(A, Y), numeric) < 1e-6


@pytest.mark.parametrize("loss,act", PAIRS)
def test_fused_shortcut_equals_the_unfused_chain(
    loss: str, act: str, rng: np.random.Generator
) -> None:
    """dC/dZ[L] = (A - Y)/m must equal activation.backward(dC/dA) for the matched pairs."""
    Z, _, Y = _case(loss, rng, n=4, m=6)
    L = make_loss(loss)
    layer = make_activation(act)
    A = layer.forward(Z)
    unfused = layer.backward(L.gradient(A, Y))
    fused = L.fused_gradient(A, Y)
    np.testing.assert_allclose(fused, unfused, rtol=1e-10, atol=1e-15)
    np.testing.assert_allclose(fused, (A - Y) / Z.shape[1], rtol=1e-15)
    # and both equal the derivative of the cost-from-logits with respect to Z
    numeric = numeric_gradient(lambda z: L.cost_from_logits(z, Y), Z.copy())
    assert rel_err(fused, numeric) < 1e-6
    # the fast engine's one-call version, into its own buffer
    out = np.empty_like(A)
    cost = fused_cost_and_gradient(L, Z, A, Y, out)
    np.testing.assert_allclose(out, fused, rtol=1e-15)
    assert cost == pytest.approx(L.cost_from_logits(Z, Y), rel=1e-12)


def test_one_unit_sigmoid_bce_by_hand() -> None:
    """One unit, two examples, worked on paper.

    z = [0, ln 3], y = [1, 0]: a = sigmoid(z) = [1/2, 3/4].
    C = -(1/2) [log(1/2) + log(1 - 3/4)] = (1/2)(log 2 + log 4) = (3/2) log 2.
    dC/dz = (a - y)/m = [(1/2 - 1)/2, (3/4 - 0)/2] = [-1/4, 3/8].
    dC/da = (1/m)(a - y)/(a(1 - a)) = [(-1/2)/(1/4)/2, (3/4)/(3/16)/2] = [-1, 2].
    """
    Z = np.array([[0.0, math.log(3.0)]])
    Y = np.array([[1.0, 0.0]])
    A = cr.activations.sigmoid(Z)
    np.testing.assert_allclose(A, [[0.5, 0.75]], rtol=1e-15)
    L = BinaryCrossEntropy()
    assert L.cost(A, Y) == pytest.approx(1.5 * math.log(2), rel=1e-14)
    assert L.cost_from_logits(Z, Y) == pytest.approx(1.5 * math.log(2), rel=1e-14)
    np.testing.assert_allclose(L.fused_gradient(A, Y), [[-0.25, 0.375]], rtol=1e-15)
    np.testing.assert_allclose(L.gradient(A, Y), [[-1.0, 2.0]], rtol=1e-14)


def test_ce_and_mse_by_hand() -> None:
    """CE: one column, A = softmax([0, ln 3]) = [1/4, 3/4], label 1: C = -log(3/4).
    MSE: A = [[1, 2]], Y = [[0, 0]], m = 2: C = (1/4)(1 + 4) = 5/4, dC/dA = [[1/2, 1]].
    """
    Z = np.array([[0.0], [math.log(3.0)]])
    Y = np.array([[0.0], [1.0]])
    ce = CrossEntropy()
    A = cr.activations.softmax(Z)
    assert ce.cost(A, Y) == pytest.approx(-math.log(0.75), rel=1e-14)
    assert ce.cost_from_logits(Z, Y) == pytest.approx(-math.log(0.75), rel=1e-14)
    np.testing.assert_allclose(ce.fused_gradient(A, Y), [[0.25], [-0.25]], rtol=1e-14)
    mse = MeanSquaredError()
    A2, Y2 = np.array([[1.0, 2.0]]), np.zeros((1, 2))
    assert mse.cost(A2, Y2) == 1.25
    np.testing.assert_array_equal(mse.gradient(A2, Y2), [[0.5, 1.0]])


def test_sums_over_units_means_over_m(rng: np.random.Generator) -> None:
    """Doubling m with a copy of the data keeps the cost; adding units adds their costs."""
    for loss in ("bce", "mse"):
        _, A, Y = _case(loss, rng, n=2, m=5)
        L = make_loss(loss)
        both = L.cost(np.hstack([A, A]), np.hstack([Y, Y]))
        assert both == pytest.approx(L.cost(A, Y), rel=1e-13)
        per_unit = L.cost(A[:1], Y[:1]) + L.cost(A[1:], Y[1:])
        assert L.cost(A, Y) == pytest.approx(per_unit, rel=1e-13)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_costs_from_logits_never_take_log_zero(dtype: type) -> None:
    Z = np.array([[-1000.0, 1000.0]], dtype=dtype)
    Y = np.array([[1.0, 0.0]], dtype=dtype)
    assert BinaryCrossEntropy().cost_from_logits(Z, Y) == pytest.approx(1000.0, rel=1e-6)
    Zk = np.array([[1000.0], [-1000.0]], dtype=dtype)
    Yk = np.array([[0.0], [1.0]], dtype=dtype)
    assert CrossEntropy().cost_from_logits(Zk, Yk) == pytest.approx(2000.0, rel=1e-6)
    # saturated probabilities on the unfused path: clipped, finite, no warning
    A = cr.activations.sigmoid(Z)
    assert np.isfinite(BinaryCrossEntropy().cost(A, Y))
    assert np.all(np.isfinite(BinaryCrossEntropy().gradient(A, Y)))


def test_make_loss_names_and_errors() -> None:
    assert isinstance(make_loss("binary_crossentropy"), BinaryCrossEntropy)
    assert isinstance(make_loss("categorical_crossentropy"), CrossEntropy)
    assert isinstance(make_loss("MSE"), MeanSquaredError)
    L = CrossEntropy()
    assert make_loss(L) is L
    with pytest.raises(ValueError, match="unknown loss 'hinge'"):
        make_loss("hinge")
    with pytest.raises(TypeError, match="loss must be a name"):
        make_loss(1)  # type: ignore[arg-type]


def test_network_picks_the_matching_cost() -> None:
    for act, loss in [("sigmoid", "bce"), ("softmax", "ce"), ("identity", "mse")]:
        net = cr.mlp([2, 3, 2 if act == "softmax" else 1], output=act, seed=0)
        assert net.loss.name == loss and net.fused
    net = cr.mlp([2, 3, 1], output="sigmoid", loss="mse", seed=0)
    assert not net.fused
