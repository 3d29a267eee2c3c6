"""The fast engine's training shortcuts, each against the plain computation it replaces:

* class indices instead of one-hot targets (``chainrule.fast.costs.ce_cost_and_gradient_labels``,
  what :class:`chainrule.fast.plan.MLPPlan` trains softmax + cross-entropy from),
* gradients pre-scaled by the learning rate (``plan.scale = lr`` with ``SGD.step_prescaled``),
  which ``MLPPlan.finish_epoch`` undoes when it publishes the gradients,
* activations (ReLU's mask, sigmoid, tanh) computed in place in the plan's own buffers, which
  must never be an array a reference layer still holds, and
* the one-pass finiteness check used on every input batch.
"""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.data.targets import one_hot
from chainrule.fast import inference
from chainrule.fast.costs import ce_cost_and_gradient_labels, fused_cost_and_gradient
from chainrule.fast.plan import MLPPlan
from chainrule.model.network import to_engine
from chainrule.nn.losses import CrossEntropy
from chainrule.optim import SGD, Adam, Momentum
from chainrule.validation import _all_finite


def _softmax_net(dtype: type = np.float64, K: int = 4) -> cr.Sequential:
    return cr.mlp([6, 5, 5, K], activation="relu", output="softmax", seed=3, dtype=dtype)


def _grads(net: cr.Sequential) -> list[np.ndarray]:
    return [np.array(G) for _, _, G, _ in net.parameters()]


def _plan(net: cr.Sequential, X: np.ndarray, y: np.ndarray, B: int, opt=None, **kw) -> MLPPlan:
    Xp = net.prepare_X(X)
    return MLPPlan(net, opt or SGD(lr=0.1), Xp, net.prepare_Y(y, Xp.shape[0]), B, **kw)


@pytest.mark.parametrize("logit_scale", [1.0, 50.0])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_labels_cost_and_gradient_equal_the_one_hot_ones(
    rng: np.random.Generator, logit_scale: float, dtype: type
) -> None:
    K, m = 5, 11
    Z = (rng.standard_normal((K, m)) * logit_scale).astype(dtype)
    A = cr.activations.softmax(Z, axis=0)
    labels = rng.integers(0, K, m)
    Y = one_hot(labels, K, dtype)
    loss = CrossEntropy()
    out = np.full_like(A, np.nan)
    cost = ce_cost_and_gradient_labels(Z, A, labels, out)
    out_1h = np.full_like(A, np.nan)
    cost_1h = fused_cost_and_gradient(loss, Z, A, Y, out_1h)
    rtol = 1e-13 if dtype == np.float64 else 1e-6
    assert cost == pytest.approx(cost_1h, rel=rtol)
    assert cost == pytest.approx(loss.cost_from_logits(Z, Y), rel=1e-12 if rtol < 1e-6 else 1e-5)
    np.testing.assert_array_equal(out, out_1h)  # A - 0 = A and A - 1: the same operations
    np.testing.assert_array_equal(out, loss.fused_gradient(A, Y))
    out_s = np.full_like(A, np.nan)
    cost_s = ce_cost_and_gradient_labels(Z, A, labels, out_s, scale=0.25)
    assert cost_s == cost  # scale touches the gradient only
    np.testing.assert_array_equal(out_s, out * dtype(0.25))  # 0.25 is exact in binary
    out_1h_s = np.empty_like(A)
    assert fused_cost_and_gradient(loss, Z, A, Y, out_1h_s, scale=0.25) == cost_1h
    np.testing.assert_array_equal(out_s, out_1h_s)


def test_hand_worked_labels_example() -> None:
    """Z = 0 for K = 2 classes: A = 1/2 everywhere, cost log 2, gradient (1/2 - [k = y]) / m."""
    Z = np.zeros((2, 2))
    A = cr.activations.softmax(Z, axis=0)
    out = np.full_like(A, np.nan)
    cost = ce_cost_and_gradient_labels(Z, A, np.array([0, 1]), out)
    assert cost == pytest.approx(np.log(2), rel=1e-15)
    np.testing.assert_allclose(out, [[-0.25, 0.25], [0.25, -0.25]], rtol=1e-15)
    # with lr = 0.5 pre-scaled in: every entry halves, the cost stays log 2
    assert ce_cost_and_gradient_labels(Z, A, np.array([0, 1]), out, 0.5) == cost
    np.testing.assert_allclose(out, [[-0.125, 0.125], [0.125, -0.125]], rtol=1e-15)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_plan_forward_backward_with_labels_and_scale(rng: np.random.Generator, dtype: type) -> None:
    """The plan trains softmax + CE from class indices: the same cost and gradients as the
    reference with one-hot Y; with scale 0.1 every gradient comes out 0.1 times as large."""
    X = rng.standard_normal((9, 6)).astype(dtype)
    labels = rng.integers(0, 4, 9)
    a, b = _softmax_net(dtype), _softmax_net(dtype)
    cost_a, _ = a.forward_backward(to_engine(X), one_hot(labels, 4, dtype))
    plan = _plan(b, X, labels, B=9)
    A0, Tb = plan.gather.batch(None, 0, 9)
    assert Tb.shape == (9,) and Tb.dtype.kind == "i"  # class indices, no one-hot Y
    np.testing.assert_array_equal(Tb, labels)
    cost_b, _ = plan.forward_backward(A0, Tb)
    plan.finish_epoch()
    G_b = _grads(b)
    plan.scale = 0.1  # what _step sets for plain SGD with lr = 0.1
    cost_c, _ = plan.forward_backward(A0, Tb)
    raw = [np.array(g) for pair in plan.grads for g in pair]  # 0.1 * dC/dP in the buffers
    plan.finish_epoch()  # published divided back by the scale
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    atol = 0 if dtype == np.float64 else 1e-7
    assert cost_b == pytest.approx(cost_a, rel=rtol)
    assert cost_c == cost_b
    for Ga, Gb, Gc, R in zip(_grads(a), G_b, _grads(b), raw):
        np.testing.assert_allclose(Gb, Ga, rtol=rtol, atol=atol)
        # backward is linear in its seed: every gradient comes out times the scale
        np.testing.assert_allclose(R, 0.1 * Gb, rtol=rtol, atol=atol)
        np.testing.assert_allclose(Gc, Gb, rtol=rtol, atol=atol)


def test_targets_by_cost_and_argument_errors(rng: np.random.Generator) -> None:
    """Class indices for CE, one contiguous target row per example otherwise; a plan for a
    network whose output does not match its cost is refused."""
    X = rng.standard_normal((6, 6))
    sig = cr.mlp([6, 4, 2], activation="tanh", output="sigmoid", seed=0, dtype=np.float64)
    y2 = rng.integers(0, 2, (6, 2))
    plan = _plan(sig, X, y2, B=4)
    _, Tb = plan.gather.batch(None, 0, 4)
    assert Tb.shape == (4, 2) and Tb.flags.c_contiguous and not plan.use_labels
    np.testing.assert_array_equal(Tb, y2[:4])
    unmatched = cr.mlp([6, 5, 4], output="softmax", loss="mse", seed=1)
    assert not unmatched.fused
    with pytest.raises(ValueError, match="not the activation matched"):
        _plan(unmatched, X, one_hot(rng.integers(0, 4, 6), 4).T, B=4)


@pytest.mark.parametrize(
    "act,out,n_out", [("relu", "softmax", 3), ("tanh", "sigmoid", 2), ("sigmoid", "identity", 2)]
)
def test_the_scale_multiplies_every_gradient_for_every_matched_pair(
    rng: np.random.Generator, act: str, out: str, n_out: int
) -> None:
    X = rng.standard_normal((7, 6))
    y = {
        "softmax": rng.integers(0, 3, 7),
        "sigmoid": rng.integers(0, 2, (7, 2)),
        "identity": rng.standard_normal((7, 2)),
    }[out]
    net = cr.mlp([6, 5, n_out], activation=act, output=out, seed=2, dtype=np.float64)
    plan = _plan(net, X, y, B=7)
    batch = plan.gather.batch(None, 0, 7)
    plan.forward_backward(*batch)
    plain = [np.array(g) for pair in plan.grads for g in pair]
    plan.scale = 0.5
    plan.forward_backward(*batch)
    for G, G_half in zip(plain, (g for pair in plan.grads for g in pair)):
        np.testing.assert_array_equal(G_half, 0.5 * G)  # 0.5 is exact: the very same bits


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
        np.testing.assert_allclose(Ga, Gb, rtol=1e-11, atol=1e-13)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("lr_schedule", [False, True])
def test_a_prescaled_plan_equals_the_same_plan_unscaled(
    rng: np.random.Generator, dtype: type, lr_schedule: bool
) -> None:
    """Plain SGD pre-scaled (and fused where BLAS allows) against the same plan with both
    switched off (plan.step(), P -= lr * G): the same weights, costs and published dC/dP,
    also when the learning rate changes from step to step."""
    X = rng.standard_normal((37, 6)).astype(dtype)
    y = rng.integers(0, 4, 37)
    fast_net, plain_net = _softmax_net(dtype), _softmax_net(dtype)
    fast = _plan(fast_net, X, y, B=8)
    plain = _plan(plain_net, X, y, B=8)
    assert fast.prescaled
    plain.prescaled = plain.fuse = False
    base = 0.2
    for epoch in range(3):
        perm = np.random.default_rng(epoch).permutation(37)
        results = []
        for plan in (fast, plain):

            def before_step(plan: MLPPlan = plan) -> None:
                if lr_schedule:
                    plan.opt.lr = base * 0.9**plan.opt.t

            results.append(plan.run_epoch(perm, before_step))
            plan.finish_epoch()
        (cost_f, right_f), (cost_p, right_p) = results
        rtol = 1e-12 if dtype == np.float64 else 1e-5
        assert cost_f == pytest.approx(cost_p, rel=rtol)
        assert right_f == right_p
    assert fast.opt.t == plain.opt.t == 3 * 5
    rtol, atol = (1e-11, 1e-13) if dtype == np.float64 else (1e-4, 1e-6)
    for (_, Pf, Gf, _), (_, Pp, Gp, _) in zip(fast_net.parameters(), plain_net.parameters()):
        np.testing.assert_allclose(Pf, Pp, rtol=rtol, atol=atol)
        np.testing.assert_allclose(Gf, Gp, rtol=rtol, atol=atol)


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
    huge = np.full((3, 2), np.finfo(dtype).max / 2, dtype=dtype)
    assert _all_finite(huge)  # the column sums overflow, the values are finite
    assert _all_finite(np.ones((4, 2, 3), dtype))  # images: (m, ...) summed as (m, n)
    for bad in (np.nan, np.inf, -np.inf):
        arr = ok.copy()
        arr[1, 2] = bad
        assert not _all_finite(arr)
        assert not _all_finite(arr[:, ::2] if bad is np.nan else arr.T)
    mixed = huge.copy()
    mixed[0, 0] = np.inf
    assert not _all_finite(mixed)
    opposite = ok.copy()
    opposite[0, 1], opposite[2, 1] = np.inf, -np.inf  # their column's sum is NaN
    assert not _all_finite(opposite)
    image = np.ones((4, 2, 3), dtype)
    image[3, 1, 2] = np.nan
    assert not _all_finite(image)


def test_labels_gradient_from_any_memory_layout(rng: np.random.Generator) -> None:
    """Z and A may be Fortran-ordered or strided views: the results are the same.

    ``out`` must be C-contiguous: the function writes the true-class entries through
    ``out.reshape(-1)``, which is a view only for a C-ordered array. The plan's dC/dZ[L]
    buffer always is (checked here); other callers must pass one too.
    """
    Z = rng.standard_normal((3, 7))
    A = cr.activations.softmax(Z, axis=0)
    labels = rng.integers(0, 3, 7)
    out = np.full_like(A, np.nan)
    cost = ce_cost_and_gradient_labels(Z, A, labels, out)
    np.testing.assert_array_equal(out, CrossEntropy().fused_gradient(A, one_hot(labels, 3)))
    wide_Z, wide_A = np.zeros((3, 14)), np.zeros((3, 14))
    wide_Z[:, ::2], wide_A[:, ::2] = Z, A
    for Z_in, A_in in (
        (np.asfortranarray(Z), np.asfortranarray(A)),
        (wide_Z[:, ::2], wide_A[:, ::2]),  # strided views
        (np.asfortranarray(Z), A),
    ):
        out_C = np.full((3, 7), np.nan)
        assert ce_cost_and_gradient_labels(Z_in, A_in, labels, out_C) == cost
        np.testing.assert_array_equal(out_C, out)
    net = _softmax_net(K=3)
    plan = _plan(net, rng.standard_normal((10, 6)), np.arange(10) % 3, B=4)
    plan.run_epoch(None, lambda: None)
    assert sorted(plan.buffers) == [2, 4]
    assert all(bufs.dZ_out.flags.c_contiguous for bufs in plan.buffers.values())


@pytest.mark.parametrize("loss_name", ["ce", "bce", "mse"])
def test_one_hot_gradient_into_any_memory_layout(rng: np.random.Generator, loss_name: str) -> None:
    """fused_cost_and_gradient works through ufuncs only: Z, A, Y and ``out`` may each be
    C-ordered, Fortran-ordered or a strided view, and the numbers are the same."""
    loss = cr.nn.losses.make_loss(loss_name)
    Z = rng.standard_normal((3, 7)) * 3
    if loss_name == "ce":
        A, Y = cr.activations.softmax(Z, axis=0), one_hot(rng.integers(0, 3, 7), 3)
    elif loss_name == "bce":
        A, Y = cr.activations.sigmoid(Z), rng.integers(0, 2, (3, 7)).astype(float)
    else:
        A, Y = Z.copy(), rng.standard_normal((3, 7))
    out = np.full_like(A, np.nan)
    cost = fused_cost_and_gradient(loss, Z, A, Y, out, 0.3)
    wide = np.full((3, 14), np.nan)
    layouts = [np.asfortranarray, np.ascontiguousarray]
    for to_layout in layouts:
        out_any = to_layout(np.full_like(A, np.nan))
        args = (to_layout(Z), to_layout(A), to_layout(Y))
        assert fused_cost_and_gradient(loss, *args, out_any, 0.3) == pytest.approx(cost, rel=1e-15)
        np.testing.assert_array_equal(out_any, out)
    strided = wide[:, ::2]
    assert fused_cost_and_gradient(loss, Z, A, Y, strided, 0.3) == pytest.approx(cost, rel=1e-15)
    np.testing.assert_array_equal(strided, out)


def _held_arrays(net: cr.Sequential) -> dict[str, np.ndarray]:
    """Every array a reference layer holds after forward/backward (caches and gradients)."""
    held = {}
    for i, layer in enumerate(net.layers):
        for name, value in vars(layer).items():
            if isinstance(value, np.ndarray):
                held[f"{i}.{name}"] = value
    return held


def _plan_arrays(plan: MLPPlan) -> list[np.ndarray]:
    arrays = [a for pair in plan.grads for a in pair]
    for bufs in plan.buffers.values():
        for value in vars(bufs).values():
            arrays += [a for a in value if a is not None] if isinstance(value, list) else [value]
    for Xbuf, Tbuf, _ in plan.gather.buffers.values():
        arrays += [Xbuf, Tbuf]
    return arrays


@pytest.mark.parametrize("act", ["relu", "sigmoid", "tanh"])
def test_no_layer_writes_into_an_array_another_layer_still_holds(
    rng: np.random.Generator, act: str
) -> None:
    """The plan computes ReLU (and sigmoid, tanh) in place, but only in its own buffers: the
    arrays the reference layers cache or return are never the plan's, and training with the
    fast engine leaves every one of them as it was."""
    X = rng.standard_normal((20, 6))
    y = rng.integers(0, 4, 20)
    net = cr.mlp([6, 5, 5, 4], activation=act, output="softmax", seed=3, dtype=np.float64)
    A0 = to_engine(net.prepare_X(X[:8]))
    cost, A_L = net.forward_backward(A0, one_hot(y[:8], 4))
    held = _held_arrays(net)
    assert any(k.endswith(".A") for k in held) and any(k.endswith(".A_prev") for k in held)
    kept = {k: v.copy() for k, v in held.items()}
    A_L_kept = A_L.copy()
    X_kept = X.copy()

    plan = _plan(net, X, y, B=8)  # trains the same net: weights change, caches must not
    for epoch in range(2):
        plan.run_epoch(np.random.default_rng(epoch).permutation(20), lambda: None)
        plan.finish_epoch()
    ours = _plan_arrays(plan)
    for key, value in held.items():
        if key.endswith((".W", ".b", ".dC_dW", ".dC_db")):
            continue  # the parameters are trained; the gradients were replaced (checked below)
        np.testing.assert_array_equal(value, kept[key], err_msg=key)
        assert not any(np.shares_memory(value, a) for a in ours), key
    np.testing.assert_array_equal(A_L, A_L_kept)
    np.testing.assert_array_equal(X, X_kept)  # the caller's data is never written either

    # after training, a reference pass caches and returns arrays that are not the plan's
    net.train()
    A = net.forward(A0)
    for key, value in [*_held_arrays(net).items(), ("output", A)]:
        assert not any(np.shares_memory(value, a) for a in ours), key
    snapshot = {k: v.copy() for k, v in _held_arrays(net).items()}
    plan.run_epoch(None, lambda: None)  # the plan runs again: the new caches stay as they are
    for key, value in _held_arrays(net).items():
        if not key.endswith((".W", ".b")):
            np.testing.assert_array_equal(value, snapshot[key], err_msg=key)


def test_a_relu_first_network_is_never_computed_in_place(rng: np.random.Generator) -> None:
    """A ReLU whose input is the caller's data: the fast engine declines the network, so no
    in-place activation can ever run on the user's X; the reference leaves X as it was."""
    X = rng.standard_normal((8, 6))
    first = cr.Sequential([cr.ReLU(), cr.Dense(6, 4, seed=0), cr.Softmax()], dtype=np.float64)
    kept = X.copy()
    assert inference.forward(first, to_engine(X), 4) is None
    with pytest.raises(ValueError, match="layer 0 is a ReLU"):
        _plan(first, X, np.arange(8) % 4, B=4)
    first.forward_in_batches(to_engine(X), batch_size=3)
    first.fit(X, np.arange(8) % 4, epochs=1, batch_size=4, verbose=False)
    np.testing.assert_array_equal(X, kept)
