"""Every fast path of the training hot path agrees with the plain one; gradients stay exact.

Fast mode (``Sequential.fast_mode()``, used by ``fit`` and ``predict``) makes layers write into
buffers they own. These tests run the same computation with and without it, across dtypes,
activations, batch-size changes and kept references.
"""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.nn.losses import BinaryCrossEntropy, CrossEntropy, MeanSquaredError
from chainrule.model.network import to_engine
from chainrule.optim import SGD, Momentum
from chainrule.data.targets import one_hot

CASES = [("relu", "softmax"), ("tanh", "sigmoid"), ("sigmoid", "identity"), ("relu", "tanh")]


def _data(rng: np.random.Generator, output: str, m: int, n0: int = 7, K: int = 3) -> tuple:
    X = rng.standard_normal((m, n0))
    if output == "softmax":
        y = rng.integers(0, K, m)
    elif output == "sigmoid":
        y = rng.integers(0, 2, m)
    else:
        y = rng.standard_normal(m)
    return X, y


def _net(act: str, out: str, dtype: type, K: int = 3) -> cr.Sequential:
    n_out = K if out == "softmax" else 1
    return cr.mlp([7, 6, 5, n_out], activation=act, output=out, seed=1, dtype=dtype)


def _step(net: cr.Sequential, A0: np.ndarray, Y: np.ndarray) -> tuple:
    cost, A = net.forward_backward(A0, Y)
    return cost, A.copy(), [np.array(G) for _, _, G, _ in net.parameters()]


@pytest.mark.parametrize("act,out", CASES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_forward_backward_fast_equals_plain(
    rng: np.random.Generator, act: str, out: str, dtype: type
) -> None:
    X, y = _data(rng, out, 40)
    net = _net(act, out, dtype)
    A0, Y = to_engine(net._prepare_X(X)), net._prepare_Y(y, 40)
    c1, A1, g1 = _step(net, A0, Y)
    with net.fast_mode():
        c2, A2, g2 = _step(net, A0, Y)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    assert c2 == pytest.approx(c1, rel=tol, abs=tol)
    np.testing.assert_allclose(A2, A1, rtol=tol, atol=tol)
    for a, b in zip(g2, g1):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


@pytest.mark.parametrize("act,out", CASES[:2])
def test_batch_size_changes_never_leak_stale_values(
    rng: np.random.Generator, act: str, out: str
) -> None:
    """Full batch, partial batch, full batch again: each matches a fresh plain computation."""
    X, y = _data(rng, out, 30)
    net = _net(act, out, np.float64)
    A0, Y = to_engine(net._prepare_X(X)), net._prepare_Y(y, 30)
    for sl in (slice(0, 16), slice(16, 30), slice(0, 16), slice(3, 4)):
        plain = _step(net, A0[:, sl], Y[:, sl])
        with net.fast_mode():
            fast = _step(net, A0[:, sl], Y[:, sl])
        assert fast[0] == pytest.approx(plain[0], rel=1e-12)
        np.testing.assert_allclose(fast[1], plain[1], rtol=1e-12, atol=1e-14)
        for a, b in zip(fast[2], plain[2]):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_gradients_overwritten_not_accumulated_in_fast_mode(rng: np.random.Generator) -> None:
    layer = cr.Dense(4, 3, seed=0)
    A_prev = rng.standard_normal((4, 5))
    layer.reuse_buffers = True
    layer.forward(A_prev)
    layer.backward(rng.standard_normal((3, 5)))
    dZ = rng.standard_normal((3, 5))
    layer.forward(A_prev)
    dA = layer.backward(dZ)
    np.testing.assert_allclose(layer.dC_dW, dZ @ A_prev.T, rtol=1e-12)
    np.testing.assert_allclose(layer.dC_db, dZ.sum(axis=1, keepdims=True), rtol=1e-12)
    np.testing.assert_allclose(dA, layer.W.T @ dZ, rtol=1e-12)


def test_layers_called_directly_return_fresh_arrays(rng: np.random.Generator) -> None:
    """Outside fast mode nothing is reused: a kept result is never overwritten."""
    for layer in (cr.Dense(4, 4, seed=0), cr.ReLU(), cr.Sigmoid(), cr.Tanh(), cr.Softmax()):
        Z1, Z2 = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
        A1 = layer.forward(Z1)
        kept = A1.copy()
        layer.forward(Z2)
        np.testing.assert_array_equal(A1, kept)
        assert not layer.reuse_buffers


def test_fast_mode_reuses_buffers_and_restores_the_flag() -> None:
    net = cr.mlp([3, 4, 2], seed=0)
    A0 = np.ones((3, 5), dtype=np.float32)
    with net.fast_mode():
        assert all(layer.reuse_buffers for layer in net.layers)
        first = net.layers[0].forward(A0)
        again = net.layers[0].forward(A0)
        assert again is first  # documented: valid until the layer's next call
    assert not any(layer.reuse_buffers for layer in net.layers)
    with pytest.raises(RuntimeError), net.fast_mode():
        raise RuntimeError("boom")
    assert not any(layer.reuse_buffers for layer in net.layers)


def test_gradcheck_passes_in_fast_mode(rng: np.random.Generator) -> None:
    X, y = _data(rng, "softmax", 12)
    net = _net("relu", "softmax", np.float32)
    with net.fast_mode():  # the float64 copy made by gradcheck inherits fast mode
        report = cr.gradcheck(net, X, y)
    assert report.passed, str(report)


@pytest.mark.parametrize(
    "loss,make_A",
    [
        (CrossEntropy(), lambda Z: cr.activations.softmax(Z, axis=0)),
        (BinaryCrossEntropy(), cr.activations.sigmoid),
        (MeanSquaredError(), lambda Z: Z),
    ],
)
@pytest.mark.parametrize("scale", [1.0, 300.0])
def test_fused_cost_and_gradient_matches_the_plain_pair(
    rng: np.random.Generator, loss, make_A, scale: float
) -> None:
    Z = rng.standard_normal((4, 9)) * scale
    if loss.name == "ce":
        Y = one_hot(rng.integers(0, 4, 9), 4)
    elif loss.name == "bce":
        Y = rng.integers(0, 2, (4, 9)).astype(float)
    else:
        Y = rng.standard_normal((4, 9))
    A = make_A(Z)
    out = np.full_like(A, np.nan)
    cost, grad = loss.fused_cost_and_gradient(Z, A, Y, out=out)
    assert grad is out
    assert cost == pytest.approx(loss.cost_from_logits(Z, Y), rel=1e-12, abs=1e-12)
    np.testing.assert_allclose(grad, loss.fused_gradient(A, Y), rtol=1e-14)
    cost2, grad2 = loss.fused_cost_and_gradient(Z, A, Y)
    assert cost2 == cost
    np.testing.assert_array_equal(grad2, grad)


def test_cross_entropy_fused_cost_with_soft_labels(rng: np.random.Generator) -> None:
    Z = rng.standard_normal((5, 6)) * 10
    Y = rng.random((5, 6))
    Y /= Y.sum(axis=0)
    A = cr.activations.softmax(Z, axis=0)
    cost, _ = CrossEntropy().fused_cost_and_gradient(Z, A, Y)
    assert cost == pytest.approx(CrossEntropy().cost_from_logits(Z, Y), rel=1e-12)


@pytest.mark.parametrize("opt_cls", [SGD, Momentum])
def test_in_place_updates_match_the_formula(rng: np.random.Generator, opt_cls: type) -> None:
    P = rng.standard_normal((5, 4))
    G1, G2 = rng.standard_normal((5, 4)), rng.standard_normal((5, 4))
    opt = opt_cls(lr=0.1)
    expected = P.copy()
    V = None
    for G in (G1, G2):
        if opt_cls is SGD:
            expected -= 0.1 * G
        else:
            V = G.copy() if V is None else 0.9 * V + G
            expected -= 0.1 * V
        opt.step([("w", P, G, True)])
    np.testing.assert_allclose(P, expected, rtol=1e-13)
    meta, arrays = opt.state_dict()
    assert all(not k.startswith("_") for k in arrays)  # scratch arrays are not saved
    assert opt_cls is SGD or set(arrays) == {"w"}


def _plain_fit(
    net: cr.Sequential, X: np.ndarray, y: np.ndarray, epochs: int, lr: float, B: int, seed: int
) -> list[float]:
    """The textbook loop: shuffle, slice, forward_backward, P -= lr * G, no fast paths."""
    X = net._prepare_X(X)
    m = X.shape[0]
    Y = net._prepare_Y(y, m)
    rng = np.random.default_rng(seed)
    first = net.layers[0]
    first.propagate = False
    costs = []
    for _ in range(epochs):
        perm = rng.permutation(m)
        Xs, Ys = X[perm], Y[:, perm]
        total = 0.0
        for s in range(0, m, B):
            cost, _ = net.forward_backward(to_engine(Xs[s : s + B]), Ys[:, s : s + B])
            total += cost * Ys[:, s : s + B].shape[1]
            for _, P, G, _ in net.parameters():
                P -= lr * G
        costs.append(total / m)
    first.propagate = True
    return costs


@pytest.mark.parametrize("act,out", CASES[:3])
def test_fit_matches_the_plain_training_loop(rng: np.random.Generator, act: str, out: str) -> None:
    X, y = _data(rng, out, 53)  # 53 = 3 batches of 16 + a partial batch of 5
    X_before = X.copy()
    fast, plain = _net(act, out, np.float64), _net(act, out, np.float64)
    hist = fast.fit(X, y, epochs=3, lr=0.05, batch_size=16, seed=7, verbose=False)
    costs = _plain_fit(plain, X, y, epochs=3, lr=0.05, B=16, seed=7)
    np.testing.assert_allclose(hist["cost"], costs, rtol=1e-10)
    for (_, P1, _, _), (_, P2, _, _) in zip(fast.parameters(), plain.parameters()):
        np.testing.assert_allclose(P1, P2, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(X, X_before)  # gathering batches never touches the user's X
    assert not any(layer.reuse_buffers for layer in fast.layers)


def test_fit_without_shuffle_and_float32(rng: np.random.Generator) -> None:
    X, y = _data(rng, "softmax", 40)
    fast, plain = _net("relu", "softmax", np.float32), _net("relu", "softmax", np.float32)
    fast.fit(X, y, epochs=2, lr=0.1, batch_size=15, shuffle=False, verbose=False)
    Xp, Yp = plain._prepare_X(X), plain._prepare_Y(y, 40)
    plain.layers[0].propagate = False
    for _ in range(2):
        for s in range(0, 40, 15):
            plain.forward_backward(to_engine(Xp[s : s + 15]), Yp[:, s : s + 15])
            for _, P, G, _ in plain.parameters():
                P -= np.float32(0.1) * G
    for (_, P1, _, _), (_, P2, _, _) in zip(fast.parameters(), plain.parameters()):
        np.testing.assert_allclose(P1, P2, rtol=1e-4, atol=1e-6)


def test_predict_returns_fresh_arrays_and_batches_agree(rng: np.random.Generator) -> None:
    X, y = _data(rng, "softmax", 60)
    net = _net("relu", "softmax", np.float64)
    net.fit(X, y, epochs=1, batch_size=20, verbose=False, seed=0)
    p1 = net.predict_proba(X[:10])
    kept = p1.copy()
    net.predict_proba(X[10:30])
    np.testing.assert_array_equal(p1, kept)
    A0 = to_engine(net._prepare_X(X))
    whole = net.forward_in_batches(A0, batch_size=1000)
    pieces = net.forward_in_batches(A0, batch_size=7)  # 8 full batches and a partial one
    np.testing.assert_allclose(pieces, whole, rtol=1e-12)
    net.eval()
    np.testing.assert_allclose(whole, net.forward(A0), rtol=1e-12)
    Y = net._prepare_Y(y, 60)
    in_pieces = net.cost_in_batches(A0, Y, batch_size=7)
    assert in_pieces == pytest.approx(net.cost_in_batches(A0, Y, batch_size=1000), rel=1e-12)
    assert in_pieces == pytest.approx(net.cost(X, y), rel=1e-12)


def test_fit_quiet_prints_nothing(rng: np.random.Generator, capsys: pytest.CaptureFixture) -> None:
    X, y = _data(rng, "softmax", 30)
    _net("relu", "softmax", np.float32).fit(X, y, epochs=2, verbose=False)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
