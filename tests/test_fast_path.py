"""The fast engine (:mod:`chainrule.fast`) agrees with the reference layers, piece by piece.

The reference layers (:mod:`chainrule.nn`) return fresh arrays from every call; the fast engine
computes the same numbers into buffers a plan owns (:class:`chainrule.fast.plan.MLPPlan` for
training, :func:`chainrule.fast.inference.forward` for prediction). These tests run the same
computation both ways across dtypes, activations, batch-size changes and kept references:
one batch's forward/backward, the fused cost/gradient functions, prediction in batches, and
whole ``fit`` runs against a plain loop of :func:`chainrule.train.step.train_step`.
"""

from __future__ import annotations

import numpy as np
import pytest
from oracle import numeric_gradient, rel_err

import chainrule as cr
from chainrule.data.targets import one_hot
from chainrule.fast import inference
from chainrule.fast.costs import fused_cost_and_gradient, log_sum_exp_from_softmax
from chainrule.fast.plan import MLPPlan
from chainrule.model.network import to_engine
from chainrule.nn.losses import BinaryCrossEntropy, CrossEntropy, MeanSquaredError
from chainrule.optim import SGD, Momentum
from chainrule.train.step import train_step

#: (hidden activation, output): networks both engines train (the output matches its cost)
CASES = [("relu", "softmax"), ("tanh", "sigmoid"), ("sigmoid", "identity"), ("identity", "softmax")]
#: plus outputs not matched with their cost (mse): the fast engine predicts them but does not
#: train them (a ReLU output once failed there: its activation asked for a backward mask)
INFER_CASES = [*CASES, ("relu", "tanh"), ("tanh", "relu"), ("relu", "relu")]


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
    """The reference: one forward_backward; (cost, A[L], every dC/dP), all copies."""
    cost, A = net.forward_backward(A0, Y)
    return cost, A.copy(), [np.array(G) for _, _, G, _ in net.parameters()]


def _plan(net: cr.Sequential, X: np.ndarray, y: np.ndarray, B: int = 16) -> MLPPlan:
    Xp = net.prepare_X(X)
    return MLPPlan(net, SGD(lr=0.1), Xp, net.prepare_Y(y, Xp.shape[0]), B)


def _plan_step(plan: MLPPlan, A0: np.ndarray, Tb: np.ndarray) -> tuple:
    """The fast engine: plan.forward_backward, then finish_epoch publishes dC/dP to the layers."""
    cost, A = plan.forward_backward(A0, Tb)
    plan.finish_epoch()
    return cost, A.copy(), [np.array(G) for _, _, G, _ in plan.net.parameters()]


def _assert_same(fast: tuple, plain: tuple, rtol: float, atol: float) -> None:
    assert fast[0] == pytest.approx(plain[0], rel=rtol, abs=atol)
    np.testing.assert_allclose(fast[1], plain[1], rtol=rtol, atol=atol)
    assert len(fast[2]) == len(plain[2])
    for a, b in zip(fast[2], plain[2]):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


@pytest.mark.parametrize("act,out", CASES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_forward_backward_fast_equals_plain(
    rng: np.random.Generator, act: str, out: str, dtype: type
) -> None:
    X, y = _data(rng, out, 40)
    net = _net(act, out, dtype)
    A0, Y = to_engine(net.prepare_X(X)), net.prepare_Y(y, 40)
    plain = _step(net, A0, Y)
    weights = [P.copy() for _, P, _, _ in net.parameters()]
    plan = _plan(net, X, y, B=40)
    fast = _plan_step(plan, *plan.gather.batch(None, 0, 40))
    tol = 1e-12 if dtype == np.float64 else 1e-5
    _assert_same(fast, plain, tol, tol)
    assert all(G.dtype == dtype for G in fast[2])
    for (_, P, _, _), before in zip(net.parameters(), weights):
        np.testing.assert_array_equal(P, before)  # forward_backward alone never steps


def test_a_tanh_output_predicts_fast_but_trains_on_the_reference(rng: np.random.Generator) -> None:
    """tanh + mse is not a matched pair: no plan (dC/dZ[L] is not (A - Y)/m), fit falls back."""
    X, y = _data(rng, "tanh", 20)
    net = _net("relu", "tanh", np.float64)
    with pytest.raises(ValueError, match="not the activation matched"):
        _plan(net, X, y)
    net.fit(X, y, epochs=1, batch_size=8, verbose=False)  # engine="auto": the reference
    A0 = to_engine(net.prepare_X(X))
    np.testing.assert_allclose(inference.forward(net, A0, 7), net.forward(A0), rtol=1e-13)


@pytest.mark.parametrize("act,out", CASES[:2])
@pytest.mark.parametrize("shuffle", [False, True])
def test_batch_size_changes_never_leak_stale_values(
    rng: np.random.Generator, act: str, out: str, shuffle: bool
) -> None:
    """Full batch, partial batch, full batch again, one example: each matches a fresh plain
    computation, although the plan keeps one set of buffers per batch size."""
    X, y = _data(rng, out, 30)
    net = _net(act, out, np.float64)
    Xp = net.prepare_X(X)
    Y = net.prepare_Y(y, 30)
    plan = _plan(net, X, y)
    perm = rng.permutation(30) if shuffle else None
    for start, B in ((0, 16), (16, 16), (0, 16), (3, 1), (16, 16)):
        rows = slice(start, min(start + B, 30)) if perm is None else perm[start : start + B]
        plain = _step(net, to_engine(Xp[rows]), Y[:, rows])
        fast = _plan_step(plan, *plan.gather.batch(perm, start, B))
        _assert_same(fast, plain, 1e-12, 1e-14)
    assert sorted(plan.buffers) == [1, 14, 16]


def test_gradients_overwritten_not_accumulated(rng: np.random.Generator) -> None:
    """Reference Dense: the second backward's gradients are its own, nothing accumulates."""
    layer = cr.Dense(4, 3, seed=0)
    A_prev = rng.standard_normal((4, 5))
    layer.forward(A_prev)
    layer.backward(rng.standard_normal((3, 5)))
    dZ = rng.standard_normal((3, 5))
    layer.forward(A_prev)
    dA = layer.backward(dZ)
    np.testing.assert_allclose(layer.dC_dW, dZ @ A_prev.T, rtol=1e-12)
    np.testing.assert_allclose(layer.dC_db, dZ.sum(axis=1, keepdims=True), rtol=1e-12)
    np.testing.assert_allclose(dA, layer.W.T @ dZ, rtol=1e-12)


def test_plan_gradients_overwritten_not_accumulated(rng: np.random.Generator) -> None:
    """The plan's gradient buffers are overwritten by every batch, never added to."""
    X, y = _data(rng, "softmax", 24)
    net = _net("relu", "softmax", np.float64)
    plan = _plan(net, X, y, B=12)
    plan.forward_backward(*plan.gather.batch(None, 0, 12))
    fast = _plan_step(plan, *plan.gather.batch(None, 12, 12))  # the same buffers, new batch
    fresh = _net("relu", "softmax", np.float64)
    plain = _step(fresh, to_engine(fresh.prepare_X(X[12:])), fresh.prepare_Y(y[12:], 12))
    _assert_same(fast, plain, 1e-12, 1e-14)


def test_layers_called_directly_return_fresh_arrays(rng: np.random.Generator) -> None:
    """The reference layers reuse nothing: a kept result is never overwritten, an input is
    never written to, and every backward returns (and stores) new arrays."""
    layers = (cr.Dense(4, 4, seed=0), cr.ReLU(), cr.Sigmoid(), cr.Tanh(), cr.Softmax())
    for layer in layers:
        Z1, Z2 = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
        G1, G2 = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
        inputs = [a.copy() for a in (Z1, Z2, G1, G2)]
        A1 = layer.forward(Z1)
        d1 = layer.backward(G1)
        kept = A1.copy(), d1.copy()
        stored = getattr(layer, "dC_dW", None)
        stored_copy = None if stored is None else stored.copy()
        A2 = layer.forward(Z2)
        d2 = layer.backward(G2)
        np.testing.assert_array_equal(A1, kept[0])
        np.testing.assert_array_equal(d1, kept[1])
        assert not np.shares_memory(A1, A2) and not np.shares_memory(d1, d2)
        if stored is not None:
            assert layer.dC_dW is not stored
            np.testing.assert_array_equal(stored, stored_copy)
        for a, before in zip((Z1, Z2, G1, G2), inputs):
            np.testing.assert_array_equal(a, before)


def test_the_plan_reuses_its_buffers_and_leaves_the_layers_alone(rng: np.random.Generator) -> None:
    """A[L] from the plan is its buffer (valid until its next batch of that size); the layers'
    own attributes are never touched, except the gradients finish_epoch stores as new arrays."""
    X, y = _data(rng, "softmax", 20)
    net = _net("relu", "softmax", np.float32)
    net.forward(to_engine(net.prepare_X(X)))  # give every layer its reference caches
    before = [dict(vars(layer)) for layer in net.layers]
    values = [{k: np.array(v) for k, v in d.items() if isinstance(v, np.ndarray)} for d in before]
    plan = _plan(net, X, y, B=8)
    _, first = plan.forward_backward(*plan.gather.batch(None, 0, 8))
    _, again = plan.forward_backward(*plan.gather.batch(None, 8, 8))
    _, short = plan.forward_backward(*plan.gather.batch(None, 16, 8))  # 4 examples
    assert again is first and short is not first and short.shape == (3, 4)
    for layer, attrs, vals in zip(net.layers, before, values):
        assert vars(layer).keys() == attrs.keys()
        for k, v in attrs.items():
            assert vars(layer)[k] is v, (layer, k)  # the very same objects
            if k in vals:
                np.testing.assert_array_equal(v, vals[k])  # with the same contents
    plan.finish_epoch()
    published = [G for _, _, G, _ in net.parameters()]
    plan_arrays = [a for pair in plan.grads for a in pair]
    for G in published:
        assert not any(np.shares_memory(G, a) for a in plan_arrays)
    plan.finish_epoch()  # publishing again gives new arrays again
    assert all(G is not old for (_, _, G, _), old in zip(net.parameters(), published))


def test_plan_gradients_pass_a_finite_difference_check(rng: np.random.Generator) -> None:
    X, y = _data(rng, "softmax", 12)
    net = _net("relu", "softmax", np.float64)
    plan = _plan(net, X, y, B=12)
    _plan_step(plan, *plan.gather.batch(None, 0, 12))
    A0, Y = to_engine(net.prepare_X(X)), net.prepare_Y(y, 12)
    for key, P, G, _ in net.parameters():
        numeric = numeric_gradient(lambda _: net.cost_in_batches(A0, Y), P)
        assert rel_err(G, numeric) < 1e-6, key
    trained = _net("relu", "softmax", np.float32)
    trained.fit(X, y, epochs=2, batch_size=5, engine="fast", verbose=False)
    report = cr.gradcheck(trained, X, y)  # a network the fast engine trained checks as any other
    assert report.passed, str(report)


_LOSSES = [
    (CrossEntropy(), lambda Z: cr.activations.softmax(Z, axis=0)),
    (BinaryCrossEntropy(), cr.activations.sigmoid),
    (MeanSquaredError(), lambda Z: Z),
]


def _targets(rng: np.random.Generator, loss_name: str, shape: tuple) -> np.ndarray:
    if loss_name == "ce":
        return one_hot(rng.integers(0, shape[0], shape[1]), shape[0])
    if loss_name == "bce":
        return rng.integers(0, 2, shape).astype(float)
    return rng.standard_normal(shape)


@pytest.mark.parametrize("loss,make_A", _LOSSES, ids=lambda v: getattr(v, "name", ""))
@pytest.mark.parametrize("logit_scale", [1.0, 300.0])
@pytest.mark.parametrize("scale", [1.0, 0.1])
def test_fused_cost_and_gradient_matches_the_plain_pair(
    rng: np.random.Generator, loss, make_A, logit_scale: float, scale: float
) -> None:
    """chainrule.fast.costs.fused_cost_and_gradient == (Loss.cost_from_logits, scale *
    Loss.fused_gradient); ``scale`` (plain SGD's lr) multiplies the gradient, never the cost."""
    Z = rng.standard_normal((4, 9)) * logit_scale
    Y = _targets(rng, loss.name, (4, 9))
    A = make_A(Z)
    Z_in, A_in = Z.copy(), A.copy()
    out = np.full_like(A, np.nan)
    cost = fused_cost_and_gradient(loss, Z, A, Y, out, scale)
    assert cost == pytest.approx(loss.cost_from_logits(Z, Y), rel=1e-12, abs=1e-12)
    expected = loss.fused_gradient(A, Y)
    if scale == 1.0:
        np.testing.assert_array_equal(out, expected)  # the same operations
    else:
        np.testing.assert_allclose(out, scale * expected, rtol=1e-14, atol=1e-300)
    np.testing.assert_array_equal(Z, Z_in)  # inputs untouched: out is the only array written
    np.testing.assert_array_equal(A, A_in)
    out2 = np.zeros_like(A)
    assert fused_cost_and_gradient(loss, Z, A, Y, out2, scale) == cost
    np.testing.assert_array_equal(out2, out)  # whatever ``out`` held before


@pytest.mark.parametrize("loss,make_A", _LOSSES, ids=lambda v: getattr(v, "name", ""))
def test_fused_cost_and_gradient_in_float32(rng: np.random.Generator, loss, make_A) -> None:
    Z = (rng.standard_normal((3, 8)) * 4).astype(np.float32)
    Y = _targets(rng, loss.name, (3, 8)).astype(np.float32)
    A = make_A(Z).astype(np.float32)
    out = np.empty_like(A)
    cost = fused_cost_and_gradient(loss, Z, A, Y, out, 0.5)
    assert out.dtype == np.float32
    assert cost == pytest.approx(loss.cost_from_logits(Z, Y), rel=1e-5, abs=1e-6)
    np.testing.assert_allclose(out, 0.5 * loss.fused_gradient(A, Y), rtol=1e-6, atol=1e-7)


def test_cross_entropy_fused_cost_with_soft_labels(rng: np.random.Generator) -> None:
    Z = rng.standard_normal((5, 6)) * 10
    Y = rng.random((5, 6))
    Y /= Y.sum(axis=0)
    A = cr.activations.softmax(Z, axis=0)
    out = np.full_like(A, np.nan)
    cost = fused_cost_and_gradient(CrossEntropy(), Z, A, Y, out)
    assert cost == pytest.approx(CrossEntropy().cost_from_logits(Z, Y), rel=1e-12)
    np.testing.assert_array_equal(out, CrossEntropy().fused_gradient(A, Y))


def test_log_sum_exp_from_softmax_equals_logsumexp(rng: np.random.Generator) -> None:
    for Z in (
        rng.standard_normal((4, 7)),
        rng.standard_normal((4, 7)) * 300,
        np.array([[1000.0, -1000.0], [999.0, -1001.0], [-1000.0, 0.0]]),
    ):
        A = cr.activations.softmax(Z, axis=0)
        lse = log_sum_exp_from_softmax(Z, A)
        assert lse.shape == (Z.shape[1],)
        expected = cr.activations.logsumexp(Z, axis=0).reshape(-1)
        np.testing.assert_allclose(lse, expected, rtol=1e-13)


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
    net: cr.Sequential,
    X: np.ndarray,
    y: np.ndarray,
    epochs: int,
    lr: float,
    B: int,
    seed: int,
    shuffle: bool = True,
) -> list[float]:
    """The textbook loop: shuffle, slice, train_step (forward_backward, then P -= lr * G)."""
    X = net.prepare_X(X)
    m = X.shape[0]
    Y = net.prepare_Y(y, m)
    rng = np.random.default_rng(seed)
    opt = SGD(lr=lr)
    costs = []
    for _ in range(epochs):
        perm = rng.permutation(m) if shuffle else np.arange(m)
        Xs, Ys = X[perm], Y[:, perm]
        total = 0.0
        for s in range(0, m, B):
            cost, _ = train_step(net, to_engine(Xs[s : s + B]), Ys[:, s : s + B], opt)
            total += cost * Ys[:, s : s + B].shape[1]
        costs.append(total / m)
    return costs


def _assert_same_training(a: cr.Sequential, b: cr.Sequential, rtol: float, atol: float) -> None:
    for (ka, Pa, Ga, _), (kb, Pb, Gb, _) in zip(a.parameters(), b.parameters()):
        assert ka == kb
        np.testing.assert_allclose(Pa, Pb, rtol=rtol, atol=atol, err_msg=ka)
        np.testing.assert_allclose(Ga, Gb, rtol=rtol, atol=atol, err_msg=ka)


@pytest.mark.parametrize("act,out", CASES[:3])
def test_fit_matches_the_plain_training_loop(rng: np.random.Generator, act: str, out: str) -> None:
    X, y = _data(rng, out, 53)  # 53 = 3 batches of 16 + a partial batch of 5
    X_before = X.copy()
    fast, plain, ref = (_net(act, out, np.float64) for _ in range(3))
    kw = dict(epochs=3, lr=0.05, batch_size=16, seed=7, verbose=False)
    hist = fast.fit(X, y, engine="fast", **kw)
    costs = _plain_fit(plain, X, y, epochs=3, lr=0.05, B=16, seed=7)
    h_ref = ref.fit(X, y, engine="reference", **kw)
    np.testing.assert_allclose(hist["cost"], costs, rtol=1e-10)
    np.testing.assert_allclose(h_ref["cost"], costs, rtol=1e-10)
    _assert_same_training(fast, plain, 1e-10, 1e-12)  # weights and the last batch's dC/dP
    _assert_same_training(ref, plain, 1e-10, 1e-12)
    np.testing.assert_array_equal(X, X_before)  # gathering batches never touches the user's X


def test_fit_without_shuffle_and_float32(rng: np.random.Generator) -> None:
    X, y = _data(rng, "softmax", 40)
    fast, plain = _net("relu", "softmax", np.float32), _net("relu", "softmax", np.float32)
    fast.fit(X, y, epochs=2, lr=0.1, batch_size=15, shuffle=False, engine="fast", verbose=False)
    Xp, Yp = plain.prepare_X(X), plain.prepare_Y(y, 40)
    for _ in range(2):
        for s in range(0, 40, 15):
            plain.forward_backward(to_engine(Xp[s : s + 15]), Yp[:, s : s + 15])
            for _, P, G, _ in plain.parameters():
                P -= np.float32(0.1) * G
    for (_, P1, _, _), (_, P2, _, _) in zip(fast.parameters(), plain.parameters()):
        np.testing.assert_allclose(P1, P2, rtol=1e-4, atol=1e-6)


def test_fit_without_shuffle_matches_the_plain_loop_in_float64(rng: np.random.Generator) -> None:
    X, y = _data(rng, "sigmoid", 40)
    fast, plain = _net("tanh", "sigmoid", np.float64), _net("tanh", "sigmoid", np.float64)
    hist = fast.fit(
        X, y, epochs=2, lr=0.1, batch_size=15, shuffle=False, engine="fast", verbose=False
    )
    costs = _plain_fit(plain, X, y, epochs=2, lr=0.1, B=15, seed=0, shuffle=False)
    np.testing.assert_allclose(hist["cost"], costs, rtol=1e-11)
    _assert_same_training(fast, plain, 1e-11, 1e-13)


@pytest.mark.parametrize("act,out", INFER_CASES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fast_inference_equals_the_reference_forward(
    rng: np.random.Generator, act: str, out: str, dtype: type
) -> None:
    """chainrule.fast.inference.forward == the reference layers' forward, in any batching:
    60 columns in batches of 7 are 8 full batches and a partial one of 4."""
    X, _ = _data(rng, out, 60)
    net = _net(act, out, dtype)
    net.eval()
    A0 = to_engine(net.prepare_X(X))
    expected = net.forward(A0)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    for batch_size in (7, 60, 1000, 1):
        A = inference.forward(net, A0, batch_size)
        assert A.dtype == dtype and A.shape == expected.shape
        np.testing.assert_allclose(A, expected, rtol=tol, atol=tol)
    first, second = inference.forward(net, A0, 7), inference.forward(net, A0, 7)
    assert not np.shares_memory(first, second)  # a fresh array every call
    np.testing.assert_array_equal(first, second)


def test_fast_inference_declines_networks_it_does_not_support(rng: np.random.Generator) -> None:
    """None for everything but Dense/activation stacks; forward_in_batches then runs the
    reference layers (a Dropout network predicts with the dropout off)."""
    net = cr.Sequential(
        [cr.Dense(4, 5, seed=0), cr.ReLU(), cr.Dropout(0.5, seed=0), cr.Dense(5, 2, seed=1)],
        loss="mse",
        dtype=np.float64,
    )
    A0 = rng.standard_normal((4, 9))
    assert inference.forward(net, A0, 4) is None
    net.eval()
    np.testing.assert_allclose(net.forward_in_batches(A0, batch_size=4), net.forward(A0))
    plain = _net("relu", "softmax", np.float64)
    assert inference.forward(plain, rng.standard_normal((7, 2, 3)), 4) is None  # not 2-D


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
