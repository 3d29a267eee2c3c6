"""The training loop's shortcuts, each against the plain computation it replaces:

* class indices instead of one-hot targets (``CrossEntropy.fused_cost_and_gradient_labels``,
  ``forward_backward(labels=)``), and
* gradients pre-scaled by the learning rate (``forward_backward(grad_scale=lr)`` with
  ``SGD.step_prescaled``), which ``fit`` undoes at the end of every epoch,
* ReLU overwriting its neighbours' scratch buffers when it sits between two Dense layers, and
* the one-pass finiteness check used on every input batch.
"""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.nn.losses import CrossEntropy
from chainrule.model.network import to_engine
from chainrule.optim import SGD, Adam, Momentum
from chainrule.data.targets import one_hot
from chainrule.validation import _all_finite


def _softmax_net(dtype: type = np.float64, K: int = 4) -> cr.Sequential:
    return cr.mlp([6, 5, 5, K], activation="relu", output="softmax", seed=3, dtype=dtype)


def _grads(net: cr.Sequential) -> list[np.ndarray]:
    return [np.array(G) for _, _, G, _ in net.parameters()]


@pytest.mark.parametrize("logit_scale", [1.0, 50.0])
@pytest.mark.parametrize("use_out", [False, True])
def test_labels_cost_and_gradient_equal_the_one_hot_ones(
    rng: np.random.Generator, logit_scale: float, use_out: bool
) -> None:
    K, m = 5, 11
    Z = rng.standard_normal((K, m)) * logit_scale
    A = cr.activations.softmax(Z, axis=0)
    labels = rng.integers(0, K, m)
    Y = one_hot(labels, K)
    loss = CrossEntropy()
    out = np.full_like(A, np.nan) if use_out else None
    cost, grad = loss.fused_cost_and_gradient_labels(Z, A, labels, out=out)
    if use_out:
        assert grad is out
    cost_1h, grad_1h = loss.fused_cost_and_gradient(Z, A, Y)
    assert cost == pytest.approx(cost_1h, rel=1e-13)
    assert cost == pytest.approx(loss.cost_from_logits(Z, Y), rel=1e-12)
    np.testing.assert_array_equal(grad, grad_1h)  # the same floating-point operations
    cost_s, grad_s = loss.fused_cost_and_gradient_labels(Z, A, labels, scale=0.25)
    assert cost_s == cost  # scale touches the gradient only
    np.testing.assert_array_equal(grad_s, grad * 0.25)  # 0.25 is exact in binary


def test_hand_worked_labels_example() -> None:
    """Z = 0 for K = 2 classes: A = 1/2 everywhere, cost log 2, gradient (1/2 - [k = y]) / m."""
    Z = np.zeros((2, 2))
    A = cr.activations.softmax(Z, axis=0)
    cost, grad = CrossEntropy().fused_cost_and_gradient_labels(Z, A, np.array([0, 1]))
    assert cost == pytest.approx(np.log(2), rel=1e-15)
    np.testing.assert_allclose(grad, [[-0.25, 0.25], [0.25, -0.25]], rtol=1e-15)


@pytest.mark.parametrize("fast", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_forward_backward_with_labels_and_scale(
    rng: np.random.Generator, fast: bool, dtype: type
) -> None:
    X = rng.standard_normal((9, 6)).astype(dtype)
    labels = rng.integers(0, 4, 9)
    a, b, c = _softmax_net(dtype), _softmax_net(dtype), _softmax_net(dtype)
    A0 = to_engine(X)
    with a.fast_mode(fast), b.fast_mode(fast), c.fast_mode(fast):
        cost_a, _ = a.forward_backward(A0, one_hot(labels, 4, dtype))
        cost_b, _ = b.forward_backward(A0, labels=labels)
        cost_c, _ = c.forward_backward(A0, labels=labels, grad_scale=0.1)
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    assert cost_b == pytest.approx(cost_a, rel=rtol)
    assert cost_c == cost_b
    for Ga, Gb, Gc in zip(_grads(a), _grads(b), _grads(c)):
        np.testing.assert_allclose(Gb, Ga, rtol=rtol, atol=1e-7 if dtype == np.float32 else 0)
        # backward is linear in its seed: every gradient comes out times the scale
        np.testing.assert_allclose(Gc, 0.1 * Gb, rtol=rtol, atol=1e-8 if dtype == np.float32 else 0)


def test_forward_backward_argument_errors(rng: np.random.Generator) -> None:
    A0 = rng.standard_normal((6, 3))
    with pytest.raises(ValueError, match="targets"):
        _softmax_net().forward_backward(A0)
    sig = cr.mlp([6, 4, 1], activation="tanh", output="sigmoid", seed=0)
    with pytest.raises(ValueError, match="softmax output"):
        sig.forward_backward(A0, labels=np.array([0, 1, 0]))


def test_grad_scale_on_an_unfused_network(rng: np.random.Generator) -> None:
    """Softmax with MSE is not a matched pair: the scale still multiplies every gradient."""
    X = rng.standard_normal((5, 6))
    Y = one_hot(rng.integers(0, 4, 5), 4)
    nets = [cr.mlp([6, 5, 4], output="softmax", loss="mse", seed=1) for _ in range(2)]
    assert not nets[0].fused
    nets[0].forward_backward(to_engine(X), Y)
    nets[1].forward_backward(to_engine(X), Y, grad_scale=0.5)
    for G1, G2 in zip(_grads(nets[0]), _grads(nets[1])):
        np.testing.assert_allclose(G2, 0.5 * G1, rtol=1e-14)


def test_step_prescaled_is_the_same_update(rng: np.random.Generator) -> None:
    P1 = rng.standard_normal((3, 4))
    P2 = P1.copy()
    G = rng.standard_normal((3, 4))
    SGD(lr=0.1).step([("w", P1, G, True)])
    opt = SGD(lr=0.1)
    assert opt.accepts_prescaled
    opt.step_prescaled([("w", P2, 0.1 * G, True)])
    np.testing.assert_allclose(P2, P1, rtol=1e-15)
    assert opt.t == 1
    for other in (SGD(lr=0.1, weight_decay=1e-3), Momentum(lr=0.1), Adam()):
        assert not other.accepts_prescaled
        with pytest.raises(ValueError, match="plain SGD"):
            other.step_prescaled([("w", P2, G, True)])


@pytest.mark.parametrize("shuffle", [True, False])
def test_fit_with_prescaled_sgd_equals_the_unscaled_update(
    rng: np.random.Generator, shuffle: bool
) -> None:
    """SGD (prescaled path) and momentum 0 (plain path) take the same steps; afterwards the
    stored gradients are plain dC/dP again (the last batch's, in both)."""
    X = rng.standard_normal((45, 6))
    y = rng.integers(0, 4, 45)
    a, b = _softmax_net(), _softmax_net()
    kw = dict(epochs=3, lr=0.3, batch_size=8, seed=2, verbose=False, shuffle=shuffle)
    ha = a.fit(X, y, optimizer="sgd", **kw)
    hb = b.fit(X, y, optimizer="momentum", momentum=0.0, **kw)
    np.testing.assert_allclose(ha["cost"], hb["cost"], rtol=1e-12)
    assert ha["accuracy"] == hb["accuracy"]
    for (_, Pa, Ga, _), (_, Pb, Gb, _) in zip(a.parameters(), b.parameters()):
        np.testing.assert_allclose(Pa, Pb, rtol=1e-11, atol=1e-13)
        np.testing.assert_allclose(Ga, Gb, rtol=1e-10, atol=1e-13)


def test_fit_history_accuracy_counts_from_labels(rng: np.random.Generator) -> None:
    """The epoch accuracy (from class indices) is the argmax accuracy of the batches seen."""
    X = rng.standard_normal((30, 6))
    y = rng.integers(0, 4, 30)
    net = _softmax_net()
    before = net.copy()
    hist = net.fit(X, y, epochs=1, lr=1e-12, batch_size=30, shuffle=False, verbose=False)
    before.is_fitted = True  # one batch with a negligible step: accuracy of the initial weights
    assert hist["accuracy"][0] == pytest.approx(np.mean(before.predict(X) == y))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_all_finite_one_pass_and_its_fallback(dtype: type) -> None:
    ok = np.arange(12, dtype=dtype).reshape(3, 4)
    assert _all_finite(ok)
    assert _all_finite(ok[:, ::2])  # not contiguous: min/max path
    huge = np.full((2, 2), np.finfo(dtype).max / 2, dtype=dtype)
    assert _all_finite(huge)  # the squares overflow, the values are finite
    for bad in (np.nan, np.inf, -np.inf):
        arr = ok.copy()
        arr[1, 2] = bad
        assert not _all_finite(arr)
        assert not _all_finite(arr[:, ::2] if bad is np.nan else arr.T)
    mixed = huge.copy()
    mixed[0, 0] = np.inf
    assert not _all_finite(mixed)


def test_labels_gradient_into_any_memory_layout(rng: np.random.Generator) -> None:
    """Z, A and the output buffer may be Fortran-ordered views: results are the same."""
    Z = rng.standard_normal((3, 7))
    A = cr.activations.softmax(Z, axis=0)
    labels = rng.integers(0, 3, 7)
    cost, grad = CrossEntropy().fused_cost_and_gradient_labels(Z, A, labels)
    out_F = np.asfortranarray(np.full_like(A, np.nan))
    cost_F, grad_F = CrossEntropy().fused_cost_and_gradient_labels(
        np.asfortranarray(Z), np.asfortranarray(A), labels, out=out_F
    )
    assert grad_F is out_F
    assert cost_F == cost
    np.testing.assert_array_equal(grad_F, grad)


def test_relu_in_place_only_between_dense_layers(rng: np.random.Generator) -> None:
    X = rng.standard_normal((8, 6))
    y = rng.integers(0, 4, 8)
    net = _softmax_net()
    relus = [la for la in net.layers if isinstance(la, cr.ReLU)]
    first = cr.Sequential([cr.ReLU(), cr.Dense(6, 4, seed=0), cr.Softmax()])
    with net.fast_mode(), first.fast_mode():
        assert all(r.in_place for r in relus)
        assert not first.layers[0].in_place  # its input is the caller's data
        A0 = to_engine(X)
        kept = X.copy()
        first.forward(A0)
        np.testing.assert_array_equal(X, kept)
    assert not any(r.in_place for r in relus)  # restored on exit
    plain = _softmax_net()
    cost_plain, _ = plain.forward_backward(to_engine(X), one_hot(y, 4))
    with net.fast_mode():
        cost_fast, _ = net.forward_backward(to_engine(X), labels=y)
    assert cost_fast == pytest.approx(cost_plain, rel=1e-12)
    for G1, G2 in zip(_grads(net), _grads(plain)):
        np.testing.assert_allclose(G1, G2, rtol=1e-12, atol=1e-15)
