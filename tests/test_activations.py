"""Every activation layer checked three ways: finite differences, torch.autograd, numbers by hand.

The layer's backward gets an arbitrary upstream gradient G = dC/dA, i.e. the cost C = sum(G * A),
so the test exercises the full chain rule dC/dZ = dC/dA * dA/dZ (softmax: the full Jacobian).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from oracle import numeric_gradient, rel_err, torch_activation

import chainrule as cr
from chainrule.nn import functional as F
from chainrule.nn.activation import ACTIVATIONS, make_activation

NAMES = ["sigmoid", "tanh", "relu", "leaky_relu", "softmax", "identity"]


def _layer(name: str) -> cr.Activation:
    # a non-default alpha, so a hard-coded 0.01 in backward would be caught
    return cr.LeakyReLU(alpha=0.2) if name == "leaky_relu" else make_activation(name)


def _inputs(rng: np.random.Generator, shape: tuple[int, int] = (4, 5)) -> np.ndarray:
    """Z : (n[l], m) in float64, kept at least 0.05 away from the ReLU kink at 0."""
    Z = rng.standard_normal(shape) * 2
    Z = np.where(np.abs(Z) < 0.05, np.sign(Z + 1e-12) * 0.05 + Z, Z)
    return Z


@pytest.mark.parametrize("name", NAMES)
def test_backward_matches_finite_differences(name: str, rng: np.random.Generator) -> None:
    layer = _layer(name)
    Z = _inputs(rng)
    G = rng.standard_normal(Z.shape)  # upstream dC/dA, the cost is C = sum(G * A)
    layer.forward(Z)
    dC_dZ = layer.backward(G)
    numeric = numeric_gradient(lambda z: float(np.sum(G * _layer(name).forward(z))), Z.copy())
    assert dC_dZ.shape == Z.shape
    assert rel_err(dC_dZ, numeric) < 1e-6


@pytest.mark.parametrize("name", NAMES)
def test_forward_and_backward_match_torch(name: str, rng: np.random.Generator) -> None:
    import torch

    layer = _layer(name)
    Z = _inputs(rng, (5, 7))
    G = rng.standard_normal(Z.shape)
    A = layer.forward(Z)
    dC_dZ = layer.backward(G)

    Zt = torch.tensor(Z, requires_grad=True)
    At = torch_activation(layer, Zt)
    (At * torch.tensor(G)).sum().backward()
    np.testing.assert_allclose(A, At.detach().numpy(), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(dC_dZ, Zt.grad.numpy(), rtol=1e-10, atol=1e-14)


#: the activations chainrule.fast computes in place (leaky_relu: the reference engine only)
FAST_NAMES = ["sigmoid", "tanh", "relu", "softmax", "identity"]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", NAMES)
def test_fast_engine_activations_give_the_same_numbers(
    name: str, dtype: type, rng: np.random.Generator
) -> None:
    """chainrule.fast.activations (activate_, derivative_, softmax_: in place, in buffers the
    plans reuse) computes what the reference layer's forward and backward compute."""
    from chainrule.fast import support
    from chainrule.fast.activations import activate_, derivative_, softmax_

    assert sorted(set(support.HIDDEN) | set(support.OUTPUTS)) == sorted(FAST_NAMES)
    if name not in FAST_NAMES:  # the fast engine declines a network that uses it
        net = cr.Sequential([cr.Dense(3, 3, seed=0), _layer(name), cr.Dense(3, 2), cr.Softmax()])
        assert "LeakyReLU" in support.why_not_fast(net)
        return
    Z = _inputs(rng, (3, 6)).astype(dtype)
    G = rng.standard_normal(Z.shape).astype(dtype)
    slow = _layer(name)
    A_slow = slow.forward(Z.copy()).copy()
    d_slow = slow.backward(G.copy()).copy()
    exact = name in ("relu", "tanh", "identity")  # the same floating-point operations
    rtol = 0 if exact else (1e-14 if dtype == np.float64 else 1e-6)
    atol = 0 if exact else (1e-16 if dtype == np.float64 else 1e-7)
    # buffers the way a plan holds them, reused by the second call
    buf = np.empty_like(Z)
    mask = np.full_like(Z, np.nan) if name == "relu" else None
    tmp = np.full_like(Z, np.nan)
    dA = np.empty_like(G)
    for _ in range(2):
        buf[...] = Z
        A_fast = activate_(name, buf, mask)
        assert A_fast is buf and A_fast.dtype == dtype  # in place
        np.testing.assert_allclose(A_fast, A_slow, rtol=rtol, atol=atol)
        if name == "softmax":  # softmax_ into a separate buffer, Z kept (the output layer)
            out = np.full_like(Z, np.nan)
            assert softmax_(Z, out) is out
            np.testing.assert_allclose(out, A_slow, rtol=rtol, atol=atol)
            continue  # softmax + CE is fused: the plans never back-propagate through softmax
        dA[...] = G
        d_fast = derivative_(name, dA, A_fast, mask, tmp)
        assert d_fast is dA and d_fast.dtype == dtype
        np.testing.assert_allclose(d_fast, d_slow, rtol=rtol, atol=atol)
    if name == "relu":
        np.testing.assert_array_equal(mask, (Z > 0).astype(dtype))  # the 0.0/1.0 mask


def test_hand_worked_values() -> None:
    """Values worked out on paper."""
    z = np.array([[-2.0, 0.0, 3.0]])
    ones = np.ones_like(z)
    # sigmoid(0) = 1/2, sigmoid'(0) = 1/2 * 1/2 = 1/4; sigmoid(3) = 1/(1+e^-3)
    sig = cr.Sigmoid()
    a = sig.forward(z)
    np.testing.assert_allclose(a, [[1 / (1 + math.e**2), 0.5, 1 / (1 + math.e**-3)]], rtol=1e-15)
    np.testing.assert_allclose(sig.backward(ones)[0, 1], 0.25, rtol=1e-15)
    # tanh'(0) = 1
    th = cr.Tanh()
    th.forward(z)
    assert th.backward(ones)[0, 1] == 1.0
    # relu: [0, 0, 3], slope [0, 0, 1] (0 at the kink, like torch)
    r = cr.ReLU()
    np.testing.assert_array_equal(r.forward(z), [[0.0, 0.0, 3.0]])
    np.testing.assert_array_equal(r.backward(2 * ones), [[0.0, 0.0, 2.0]])
    # leaky relu with alpha = 0.1: [-0.2, 0, 3], slope [0.1, 0.1, 1]
    lr = cr.LeakyReLU(alpha=0.1)
    np.testing.assert_allclose(lr.forward(z), [[-0.2, 0.0, 3.0]], rtol=1e-15)
    np.testing.assert_allclose(lr.backward(ones), [[0.1, 0.1, 1.0]], rtol=1e-15)
    # identity passes the gradient through unchanged
    idn = cr.Identity()
    np.testing.assert_array_equal(idn.forward(z), z)
    np.testing.assert_array_equal(idn.backward(3 * ones), 3 * ones)


def test_softmax_hand_worked() -> None:
    """Column [0, ln 3]: exp = [1, 3], so softmax = [1/4, 3/4].

    With upstream G = [1, 0] (C = A_1): dC/dZ = A * (G - sum(G * A)) = [1/4 (1 - 1/4),
    3/4 (0 - 1/4)] = [3/16, -3/16]; the two entries sum to 0, as every softmax gradient does.
    """
    sm = cr.Softmax()
    A = sm.forward(np.array([[0.0], [math.log(3.0)]]))
    np.testing.assert_allclose(A, [[0.25], [0.75]], rtol=1e-15)
    np.testing.assert_allclose(sm.backward(np.array([[1.0], [0.0]])), [[3 / 16], [-3 / 16]])


def test_softmax_columns_are_distributions(rng: np.random.Generator) -> None:
    Z = rng.standard_normal((6, 9)) * 50
    A = cr.Softmax().forward(Z)
    np.testing.assert_allclose(A.sum(axis=0), np.ones(9), rtol=1e-14)
    assert np.all(A >= 0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_stable_sigmoid_at_plus_minus_1000(dtype: type) -> None:
    z = np.array([[-1000.0, -100.0, 0.0, 100.0, 1000.0]], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # already an error in the suite; explicit here
        a = F.sigmoid(z)
        layer_a = cr.Sigmoid().forward(z)
        log_a = F.log_sigmoid(z)
    assert a.dtype == dtype and layer_a.dtype == dtype
    assert np.all(np.isfinite(a)) and np.all(np.isfinite(log_a))
    assert a[0, 0] == 0.0 and a[0, -1] == 1.0 and a[0, 2] == 0.5
    np.testing.assert_array_equal(a, layer_a)
    assert log_a[0, 0] == pytest.approx(-1000.0) and log_a[0, -1] == 0.0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_and_logsumexp_do_not_overflow(dtype: type) -> None:
    z = np.array([[1000.0, -1000.0], [999.0, -1001.0], [-1000.0, 0.0]], dtype=dtype)
    a = F.softmax(z, axis=0)
    lse = F.logsumexp(z, axis=0)
    logp = F.log_softmax(z, axis=0)
    assert np.all(np.isfinite(a)) and np.all(np.isfinite(lse)) and np.all(np.isfinite(logp))
    expected = 1000.0 + math.log(1 + math.exp(-1))
    assert float(lse[0, 0]) == pytest.approx(expected, rel=1e-6)
    assert float(logp[2, 0]) == pytest.approx(-1000.0 - expected, rel=1e-6)  # softmax is 0


def test_tanh_saturates_without_warning() -> None:
    layer = cr.Tanh()
    A = layer.forward(np.array([[-1e4, 1e4]], dtype=np.float32))
    np.testing.assert_array_equal(A, [[-1.0, 1.0]])
    np.testing.assert_array_equal(layer.backward(np.ones_like(A)), [[0.0, 0.0]])


def test_registry_and_errors() -> None:
    assert sorted(ACTIVATIONS) == sorted(NAMES)
    assert isinstance(make_activation("Leaky-ReLU"), cr.LeakyReLU)
    assert isinstance(make_activation("linear"), cr.Identity)
    with pytest.raises(ValueError, match="unknown activation 'swish'"):
        make_activation("swish")
    with pytest.raises(TypeError, match="activation must be a name"):
        make_activation(3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="alpha"):
        cr.LeakyReLU(alpha=-1.0)
    with pytest.raises(RuntimeError, match="before forward"):
        cr.Sigmoid().backward(np.ones((1, 1)))
    assert cr.LeakyReLU(0.3).config() == {"alpha": 0.3}
