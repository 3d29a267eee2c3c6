"""The SGD step inside the dC_dW product (``chainrule.fast.blas.gemm_update``, and the fused
step of :class:`chainrule.fast.plan.MLPPlan`), each against the plain computation it replaces:
np.matmul, then a separate update pass. Every BLAS route (NumPy's own OpenBLAS through ctypes,
``scipy.linalg.blas``, and the np.matmul fallback) must give the same numbers."""

from __future__ import annotations

import copy
import os
import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
from chainrule.fast import blas
from chainrule.fast.blas import direct_blas_available, direct_blas_description, gemm_update
from chainrule.fast.plan import MLPPlan
from chainrule.nn import Dense
from chainrule.optim import SGD, Adam, Momentum


def _backend(kind: str) -> blas._DirectGemm:
    """A freshly loaded backend: "ctypes" (the default), "scipy", or "off" (the np.matmul
    fallback, as on a NumPy built without scipy-openblas)."""
    if kind == "off":
        gemm = blas._DirectGemm()
        gemm.loaded = True
        gemm.description = "off (test)"
        return gemm
    gemm = blas._ScipyGemm() if kind == "scipy" else blas._DirectGemm()
    switched_off = os.environ.pop("CHAINRULE_NO_DIRECT_BLAS", None)  # the caller's setting
    installed = blas._GEMM
    # load it installed: the self-test at load calls through the module's current backend
    # (see test_a_backend_loaded_while_another_is_installed_tests_itself)
    blas._GEMM = gemm
    try:
        gemm.load()
    finally:
        blas._GEMM = installed
        if switched_off is not None:
            os.environ["CHAINRULE_NO_DIRECT_BLAS"] = switched_off
    return gemm


@pytest.fixture
def use_backend(monkeypatch: pytest.MonkeyPatch):
    """use_backend(kind) switches chainrule.fast.blas to that backend for the rest of the test."""

    def switch(kind: str) -> blas._DirectGemm:
        gemm = _backend(kind)
        monkeypatch.setattr(blas, "_GEMM", gemm)
        return gemm

    return switch


@pytest.fixture
def fusing(use_backend) -> None:
    """A direct BLAS route, so that plans fuse: NumPy's own, else scipy's."""
    if not direct_blas_available():
        use_backend("scipy")
    assert direct_blas_available()


def _operands(rng: np.random.Generator, M: int, K: int, N: int, dtype: type, orders: str) -> tuple:
    A = np.asarray(rng.standard_normal((M, K)), dtype=dtype, order=orders[0])
    B = np.asarray(rng.standard_normal((K, N)), dtype=dtype, order=orders[1])
    C = np.asarray(rng.standard_normal((M, N)), dtype=dtype)
    return C, A, B


def test_numpys_own_openblas_is_used_where_numpy_ships_it() -> None:
    """NumPy's Linux/macOS/Windows wheels bundle scipy-openblas: there the direct path must load.
    Elsewhere (MKL, Accelerate, a system BLAS) the description says why it is off. A run with
    CHAINRULE_NO_DIRECT_BLAS or CHAINRULE_BLAS=scipy set gets the route it asked for."""
    desc = direct_blas_description()
    if os.environ.get("CHAINRULE_NO_DIRECT_BLAS"):
        assert desc == "off (CHAINRULE_NO_DIRECT_BLAS is set)", desc
    elif os.environ.get("CHAINRULE_BLAS") == "scipy":
        assert desc == "sgemm/dgemm from scipy.linalg.blas", desc
    elif any("scipy_openblas" in p.name for p in blas._candidate_libraries()):
        assert direct_blas_available(), desc
        assert "cblas_sgemm" in desc and "cblas_dgemm" in desc
    else:
        assert desc.startswith("off ("), desc


@pytest.mark.parametrize("dtype, rtol", [(np.float32, 1e-5), (np.float64, 1e-12)])
@pytest.mark.parametrize("orders", ["CC", "CF", "FC", "FF"])
@pytest.mark.parametrize("alpha", [-1.0, 0.25])
def test_gemm_update_is_c_plus_alpha_a_b(
    rng: np.random.Generator, dtype: type, rtol: float, orders: str, alpha: float
) -> None:
    C, A, B = _operands(rng, 7, 5, 9, dtype, orders)
    expected = C + alpha * (A.astype(np.float64) @ B.astype(np.float64))
    out = gemm_update(C, A, B, alpha)
    assert out is C and C.dtype == dtype
    np.testing.assert_allclose(C, expected, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("orders", ["CC", "FF"])
def test_the_fallback_gives_the_same_numbers(
    rng: np.random.Generator, orders: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    C, A, B = _operands(rng, 6, 4, 3, np.float64, orders)
    direct = gemm_update(C.copy(), A, B, -1.0)
    gemm = blas._DirectGemm()
    gemm.loaded = True
    monkeypatch.setattr(blas, "_GEMM", gemm)
    scratch = np.full_like(C, np.nan)
    fallback = gemm_update(C.copy(), A, B, -1.0, scratch=scratch)
    np.testing.assert_allclose(fallback, direct, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(scratch, A @ B, rtol=1e-13)  # the product went through scratch


def test_arrays_the_direct_call_cannot_take_still_give_the_right_answer(
    rng: np.random.Generator,
) -> None:
    C, A, B = _operands(rng, 6, 8, 5, np.float32, "CC")
    expected = C.astype(np.float64) - A[:, ::2].astype(np.float64) @ B[::2]
    gemm_update(C, A[:, ::2], B[::2], -1.0)  # strided views: neither C- nor F-contiguous
    np.testing.assert_allclose(C, expected, rtol=1e-5, atol=1e-5)
    C64 = C.astype(np.float64)
    gemm_update(C64, A[:, :4], B[:4], 1.0)  # mixed dtypes: NumPy decides the arithmetic
    np.testing.assert_allclose(C64, C + A[:, :4].astype(np.float64) @ B[:4], rtol=1e-5)
    S = rng.standard_normal((4, 4))
    expected = S + S @ S
    gemm_update(S, S, S.copy(), 1.0)  # C overlaps A: BLAS would read what it writes
    np.testing.assert_allclose(S, expected, rtol=1e-12)


def test_gemm_update_shape_errors() -> None:
    C, A, B = np.zeros((2, 3)), np.zeros((2, 4)), np.zeros((4, 3))
    with pytest.raises(ValueError, match="mismatched shapes"):
        gemm_update(C, A, B.T, 1.0)
    with pytest.raises(ValueError, match="2-D"):
        gemm_update(C.ravel(), A, B, 1.0)


def test_empty_operands_fall_back() -> None:
    C = np.ones((3, 2))
    gemm_update(C, np.zeros((3, 0)), np.zeros((0, 2)), -1.0)  # K = 0: nothing to add
    np.testing.assert_array_equal(C, 1.0)


@pytest.mark.parametrize("cls", [blas._DirectGemm, blas._ScipyGemm])
def test_the_switch_off_environment_variable(monkeypatch: pytest.MonkeyPatch, cls: type) -> None:
    monkeypatch.setenv("CHAINRULE_NO_DIRECT_BLAS", "1")
    gemm = cls()
    gemm.load()
    assert gemm.funcs == {} and "CHAINRULE_NO_DIRECT_BLAS" in gemm.description


@pytest.mark.parametrize("value, cls", [("scipy", blas._ScipyGemm), ("ctypes", blas._DirectGemm)])
def test_the_backend_environment_variable(
    monkeypatch: pytest.MonkeyPatch, value: str, cls: type
) -> None:
    monkeypatch.setenv("CHAINRULE_BLAS", value)
    assert type(blas._choose_backend()) is cls
    monkeypatch.delenv("CHAINRULE_BLAS")
    assert type(blas._choose_backend()) is blas._DirectGemm  # the default


@settings(max_examples=40, deadline=None)
@given(
    M=st.integers(1, 12),
    K=st.integers(1, 12),
    N=st.integers(1, 12),
    orders=st.sampled_from(["CC", "CF", "FC", "FF"]),
    seed=st.integers(0, 2**16),
)
def test_gemm_update_random_shapes(M: int, K: int, N: int, orders: str, seed: int) -> None:
    C, A, B = _operands(np.random.default_rng(seed), M, K, N, np.float64, orders)
    expected = C - A @ B
    gemm_update(C, A, B, -1.0)
    np.testing.assert_allclose(C, expected, rtol=1e-12, atol=1e-12)


# --- the scipy.linalg.blas backend ------------------------------------------------------------
def test_the_scipy_backend_loads() -> None:
    gemm = _backend("scipy")
    assert set(gemm.funcs) == {np.dtype(np.float32), np.dtype(np.float64)}, gemm.description
    assert gemm.description == "sgemm/dgemm from scipy.linalg.blas"


def test_a_backend_loaded_while_another_is_installed_tests_itself(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Loading a fresh backend (as these tests and a user switching routes do) self-tests THAT
    backend, not the installed one: a working scipy backend loads while the np.matmul
    fallback is installed, and a broken one fails while ctypes is installed."""
    monkeypatch.setattr(blas, "_GEMM", _backend("off"))
    gemm = blas._ScipyGemm()
    gemm.load()
    assert gemm.funcs, gemm.description


@pytest.mark.parametrize("dtype, rtol", [(np.float32, 1e-5), (np.float64, 1e-12)])
@pytest.mark.parametrize("orders", ["CC", "CF", "FC", "FF"])
@pytest.mark.parametrize("alpha", [-1.0, 0.25])
def test_scipy_backend_equals_ctypes_and_matmul(
    rng: np.random.Generator, use_backend, dtype: type, rtol: float, orders: str, alpha: float
) -> None:
    """The same C += alpha A @ B from scipy's ?gemm, the ctypes cblas_?gemm and np.matmul,
    in every layout of A and B and both dtypes, each one direct BLAS call (no fallback)."""
    C, A, B = _operands(rng, 7, 5, 9, dtype, orders)
    results = {}
    for kind in ("scipy", "ctypes", "off"):
        gemm = use_backend(kind)
        out = C.copy()
        call = blas._direct_call(out, A, B, alpha)
        assert (call is not None) == (kind == "scipy" or (kind == "ctypes" and bool(gemm.funcs)))
        assert gemm_update(out, A, B, alpha) is out
        results[kind] = out
    expected = C.astype(np.float64) + alpha * (A.astype(np.float64) @ B.astype(np.float64))
    matmul = C + np.asarray(alpha, dtype=dtype) * np.matmul(A, B)
    for kind, out in results.items():
        assert out.dtype == dtype, kind
        np.testing.assert_allclose(out, expected, rtol=rtol, atol=rtol, err_msg=kind)
        np.testing.assert_allclose(out, matmul, rtol=rtol, atol=rtol, err_msg=kind)
    np.testing.assert_allclose(results["scipy"], results["ctypes"], rtol=rtol, atol=rtol)


@settings(max_examples=30, deadline=None)
@given(
    M=st.integers(1, 9),
    K=st.integers(1, 9),
    N=st.integers(1, 9),
    orders=st.sampled_from(["CC", "CF", "FC", "FF"]),
    dtype=st.sampled_from([np.float32, np.float64]),
    seed=st.integers(0, 2**16),
)
def test_scipy_backend_random_shapes(
    M: int, K: int, N: int, orders: str, dtype: type, seed: int
) -> None:
    """Shapes with ones in them are C- and F-contiguous at once: every route must agree."""
    C, A, B = _operands(np.random.default_rng(seed), M, K, N, dtype, orders)
    expected = C.astype(np.float64) - A.astype(np.float64) @ B.astype(np.float64)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    saved = blas._GEMM
    try:
        blas._GEMM = _backend("scipy")
        out = C.copy()
        call = blas._direct_call(out, A, B, -1.0)
        assert call is not None
        call()
    finally:
        blas._GEMM = saved
    np.testing.assert_allclose(out, expected, rtol=tol, atol=tol)


@pytest.mark.parametrize("kind", ["ctypes", "scipy", "off"])
def test_a_prepared_update_reads_the_arrays_current_contents(
    rng: np.random.Generator, use_backend, kind: str
) -> None:
    gemm = use_backend(kind)
    C, A, B = _operands(rng, 5, 4, 3, np.float64, "CF")
    step = blas.GemmUpdate(C, A, B, -1.0)
    assert step.direct == bool(gemm.funcs)
    assert step.direct == (kind == "scipy" or (kind == "ctypes" and direct_blas_available()))
    for _ in range(3):  # new contents in the same arrays, as from one batch to the next
        A[...] = rng.standard_normal(A.shape)
        B[...] = rng.standard_normal(B.shape)
        expected = C - A @ B
        assert step.run() is C
        np.testing.assert_allclose(C, expected, rtol=1e-12, atol=1e-12)
    assert step.matches(C, A, B) and not step.matches(C, A, B.copy())
    with pytest.raises(ValueError, match="mismatched shapes"):
        blas.GemmUpdate(C, A, B.T, 1.0)


def test_a_prepared_update_is_never_copied() -> None:
    """Its stored addresses belong to the original arrays: a copy is None, never a call that
    would write into the original's C."""
    C, A, B = np.zeros((2, 2)), np.ones((2, 2)), np.ones((2, 2))
    step = blas.GemmUpdate(C, A, B, 1.0)
    assert copy.deepcopy(step) is None
    assert pickle.loads(pickle.dumps(step)) is None


# --- MLPPlan's fused step: the update inside the dC_dW product --------------------------------
def _net(dtype: type = np.float64, sizes=(6, 8, 5, 3)) -> cr.Sequential:
    return cr.mlp(list(sizes), activation="relu", output="softmax", seed=4, dtype=dtype)


def _data(rng: np.random.Generator, m: int, dtype: type = np.float64) -> tuple:
    return rng.standard_normal((m, 6)).astype(dtype), rng.integers(0, 3, m)


def _plan(net: cr.Sequential, X: np.ndarray, y: np.ndarray, B: int, opt=None, **kw) -> MLPPlan:
    Xp = net.prepare_X(X)
    return MLPPlan(net, opt or SGD(lr=0.1), Xp, net.prepare_Y(y, Xp.shape[0]), B, **kw)


def test_the_fused_step_is_backward_then_the_sgd_step_by_hand() -> None:
    """Hand-checkable, one Dense layer with the identity output and mse:
    W -= dC_dZ @ A_prev.T and b -= row sums of dC_dZ, inside the GEMM."""
    net = cr.Sequential([Dense(3, 2, seed=0), cr.Identity()], loss="mse", dtype=np.float64)
    layer = net.layers[0]
    layer.W[...] = [[1.0, 2.0, 0.0], [0.0, -1.0, 1.0]]
    layer.b[...] = [[0.5], [-0.5]]
    A0 = np.array([[1.0, 0.0], [2.0, 1.0], [0.0, 3.0]])  # (n[0]=3, m=2)
    # A = W @ A0 + b = [[5.5, 2.5], [-2.5, 1.5]]; targets such that dC_dZ = (A - Y) / 2 is
    # [[0.1, -0.2], [0.3, 0.0]]
    Y = np.array([[5.3, 2.9], [-3.1, 1.5]])
    plan = MLPPlan(net, SGD(lr=1.0), A0.T.copy(), Y, batch_size=2)
    assert plan.prescaled
    plan.scale = 1.0  # lr = 1: the seed is dC/dZ itself
    cost, A = plan.forward_backward(A0, Y.T.copy(), fused=True)
    np.testing.assert_allclose(A, [[5.5, 2.5], [-2.5, 1.5]], atol=1e-15)
    assert cost == pytest.approx((0.2**2 + 0.4**2 + 0.6**2) / 4, rel=1e-12)
    # dC_dZ @ A0.T = [[0.1, 0.0, -0.6], [0.3, 0.6, 0.0]]
    np.testing.assert_allclose(layer.W, [[0.9, 2.0, 0.6], [-0.3, -1.6, 1.0]], atol=1e-14)
    np.testing.assert_allclose(layer.b, [[0.6], [-0.8]], atol=1e-14)
    assert not plan.has_grads  # the fused step never wrote a gradient to publish


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("use_direct", [True, False])
def test_the_fused_step_equals_the_unfused_step(
    rng: np.random.Generator, use_backend, dtype: type, use_direct: bool
) -> None:
    """Several layers: dC/dA[l-1] must use W[l] BEFORE its in-GEMM update. The fused batch
    equals forward_backward (unfused, scale = lr), then P -= G for every parameter."""
    use_backend("ctypes" if use_direct else "off")
    X, y = _data(rng, 16, dtype)
    fused_net, plain_net = _net(dtype), _net(dtype)
    fused, plain = _plan(fused_net, X, y, B=16), _plan(plain_net, X, y, B=16)
    assert fused.fuse == (use_direct and direct_blas_available())
    batch = fused.gather.batch(None, 0, 16)
    for plan in (fused, plain):
        plan.scale = 0.1
    cost_f, _ = fused.forward_backward(*batch, fused=True)
    cost_p, _ = plain.forward_backward(*batch, fused=False)
    assert cost_f == cost_p  # the same forward
    for _, P, G, _ in plain.params:
        P -= G  # G = 0.1 * dC/dP
    tol = 1e-13 if dtype == np.float64 else 1e-6
    for (_, Pf, _, _), (_, Pp, _, _) in zip(fused_net.parameters(), plain_net.parameters()):
        np.testing.assert_allclose(Pf, Pp, rtol=tol, atol=tol)
    if direct_blas_available() and use_direct:
        assert all(step.direct for step in fused.prepared.values())


def test_fused_plan_equals_unfused_plan_over_epochs(rng: np.random.Generator, fusing) -> None:
    """Whole epochs, shuffled, with a short last batch: the same costs, accuracies, weights
    and published gradients, fused or not (the last batch of each epoch is never fused)."""
    X, y = _data(rng, 37)
    fused_net, plain_net = _net(), _net()
    fused, plain = _plan(fused_net, X, y, B=8), _plan(plain_net, X, y, B=8)
    assert fused.fuse
    plain.fuse = False
    for epoch in range(3):
        perm = np.random.default_rng(epoch).permutation(37)
        rf, rp = fused.run_epoch(perm, lambda: None), plain.run_epoch(perm, lambda: None)
        fused.finish_epoch()
        plain.finish_epoch()
        assert rf[0] == pytest.approx(rp[0], rel=1e-12) and rf[1] == rp[1]
    assert fused.opt.t == plain.opt.t == 15
    for (_, Pf, Gf, _), (_, Pp, Gp, _) in zip(fused_net.parameters(), plain_net.parameters()):
        np.testing.assert_allclose(Pf, Pp, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(Gf, Gp, rtol=1e-12, atol=1e-14)


def test_fused_step_for_regression_and_only_for_plain_sgd_without_decay_or_clipping(
    rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = []
    original = blas.GemmUpdate.run

    def counting(self: blas.GemmUpdate, scratch: np.ndarray | None = None) -> np.ndarray:
        runs.append(self.C.shape)
        return original(self, scratch)

    monkeypatch.setattr(blas.GemmUpdate, "run", counting)
    X = rng.standard_normal((24, 4))
    y = X @ np.array([1.0, -2.0, 0.5, 0.0])
    kw = dict(epochs=2, lr=0.05, batch_size=8, seed=0, verbose=False)
    reg = cr.mlp([4, 6, 1], activation="tanh", output="identity", loss="mse", seed=1)
    reg.fit(X, y, engine="fast", **kw)
    # 3 batches per epoch, the last one unfused: 2 fused batches x 2 layers x 2 epochs
    assert len(runs) == (8 if direct_blas_available() else 0)
    runs.clear()
    reg.fit(X, y, optimizer="momentum", momentum=0.9, engine="fast", **kw)  # not plain SGD
    reg.fit(X, y, weight_decay=1e-3, engine="fast", **kw)  # SGD with weight decay
    reg.fit(X, y, clip_grad_norm=1.0, engine="fast", **kw)  # clipping needs the gradients
    assert runs == []
    bn = cr.Sequential(
        [Dense(4, 6, seed=0), cr.BatchNorm(6), cr.ReLU(), Dense(6, 1, seed=1)], loss="mse"
    )
    bn.fit(X, y, **kw)  # a network the fast engine does not take: the reference, unfused
    assert runs == []
    Xp, Y = reg.prepare_X(X), reg.prepare_Y(y, 24)
    for opt, clip, prescaled in (
        (SGD(lr=0.1), None, True),
        (SGD(lr=0.1), 1.0, False),
        (SGD(lr=0.1, weight_decay=1e-3), None, False),
        (Momentum(lr=0.1), None, False),
        (Adam(), None, False),
    ):
        plan = MLPPlan(reg, opt, Xp, Y, 8, clip_grad_norm=clip)
        assert plan.prescaled == prescaled, (opt, clip)
        assert plan.fuse == (prescaled and direct_blas_available()), (opt, clip)


def test_fused_fit_on_a_strided_unshuffled_x_takes_the_fallback_and_agrees(
    rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unshuffled batches of a strided X are strided views: gemm_update must fall back (into
    the dC_dW buffer as scratch) inside the fused step and still take the same steps."""
    X = rng.standard_normal((30, 12))[:, ::2]  # (30, 6), not contiguous
    y = rng.integers(0, 3, 30)

    def make() -> cr.Sequential:
        return cr.mlp([6, 5, 3], activation="relu", output="softmax", seed=7, dtype=np.float64)

    kw = dict(epochs=2, lr=0.1, batch_size=7, shuffle=False, verbose=False)
    fused, hf, plain, hp = _fit_pair(make, X, y, monkeypatch, **kw)
    np.testing.assert_allclose(hf["cost"], hp["cost"], rtol=1e-12)
    for (_, Pf, _, _), (_, Pp, _, _) in zip(fused.parameters(), plain.parameters()):
        np.testing.assert_allclose(Pf, Pp, rtol=1e-12, atol=1e-14)


def test_prepared_gemms_are_per_plan_and_dropped_at_finish_epoch(
    rng: np.random.Generator, fusing
) -> None:
    """A plan prepares its GEMMs for its own W and buffers; finish_epoch drops them (they hold
    the buffers' addresses), and a copied plan prepares anew instead of reusing the
    original's, so it can never write into the original network's W."""
    X, y = _data(rng, 20)
    net = _net()
    twin_net = net.copy()
    plan, twin = _plan(net, X, y, B=8), _plan(twin_net, X, y, B=8)
    perm = rng.permutation(20)
    plan.run_epoch(perm, lambda: None)
    twin.run_epoch(perm, lambda: None)
    Ws = [layer.W for layer in net.layers[::2]]
    assert sorted(plan.prepared) == [(0, 8), (1, 8), (2, 8)]  # the last batch (4) is unfused
    for (l, _), step in plan.prepared.items():
        assert step.C is Ws[l]  # each update writes this plan's network, no other
        assert twin.prepared[(l, 8)] is not step
        assert twin.prepared[(l, 8)].C is twin_net.layers[2 * l].W
    copied = copy.deepcopy(plan)
    assert all(step is None for step in copied.prepared.values())
    W_before = [W.copy() for W in Ws]
    copied.scale = 0.1
    copied.forward_backward(*copied.gather.batch(perm, 0, 8), fused=True)
    for W, saved in zip(Ws, W_before):
        np.testing.assert_array_equal(W, saved)  # the copy's step touched only its own W
    assert all(isinstance(s, blas.GemmUpdate) for s in copied.prepared.values())
    assert not any(np.shares_memory(s.C, W) for s in copied.prepared.values() for W in Ws)
    plan.finish_epoch()
    assert plan.prepared == {}
    # nothing prepared is reachable from the network: copies and pickles of it are safe
    for layer in net.layers:
        assert not any(isinstance(v, blas.GemmUpdate) for v in vars(layer).values())
    pickle.loads(pickle.dumps(net))


def test_the_plan_reuses_a_prepared_gemm_only_for_the_same_arrays(
    rng: np.random.Generator,
) -> None:
    """Same W, dC_dZ buffer and input object: the same prepared call. A new input array (an
    unshuffled batch is a new view of X every time): the first layer prepares again, for the
    new address, while the deeper layers (whose inputs are the plan's buffers) keep theirs.
    Every step still takes exactly the unfused update."""
    X, y = _data(rng, 16)
    net, plain_net = _net(), _net()
    plan, plain = _plan(net, X, y, B=8), _plan(plain_net, X, y, B=8)
    plan.scale = plain.scale = 0.1
    A0, Tb = plan.gather.batch(None, 0, 8)
    A0 = A0.copy()  # an array of our own, kept for two batches
    plan.forward_backward(A0, Tb, fused=True)
    first = dict(plan.prepared)
    plan.forward_backward(A0, Tb, fused=True)  # the very same arrays
    assert all(plan.prepared[k] is first[k] for k in first)
    other = A0 * 0.5  # new contents in a new array
    plan.forward_backward(other, Tb, fused=True)
    assert plan.prepared[(0, 8)] is not first[(0, 8)]
    assert plan.prepared[(0, 8)].matches(net.layers[0].W, plan.buffers[8].dA[1], other)
    assert all(plan.prepared[(l, 8)] is first[(l, 8)] for l in (1, 2))
    A1, T1 = plan.gather.batch(None, 8, 8)
    plan.forward_backward(A1, T1, fused=True)  # a view from the gather: prepared again
    assert plan.prepared[(0, 8)].key is A1
    for A, T in ((A0, Tb), (A0, Tb), (other, Tb), (A1, T1)):
        plain.forward_backward(A, T)
        for _, P, G, _ in plain.params:
            P -= G
    for (_, Pf, _, _), (_, Pp, _, _) in zip(net.parameters(), plain_net.parameters()):
        np.testing.assert_allclose(Pf, Pp, rtol=1e-12, atol=1e-14)


# --- whole fits, on every BLAS route -----------------------------------------------------------
def _fit_pair(
    net_factory, X: np.ndarray, y: np.ndarray, monkeypatch: pytest.MonkeyPatch, **kw
) -> tuple:
    fused, plain = net_factory(), net_factory()
    h_fused = fused.fit(X, y, **kw)
    with monkeypatch.context() as mp:
        gemm = blas._DirectGemm()
        gemm.loaded = True
        mp.setattr(blas, "_GEMM", gemm)  # direct BLAS off: fit takes the unfused path
        h_plain = plain.fit(X, y, **kw)
    return fused, h_fused, plain, h_plain


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m", [40, 37])  # 37: a short last batch
def test_fit_with_the_fused_step_equals_the_unfused_fit(
    rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch, dtype: type, m: int
) -> None:
    """Same steps, costs and accuracies; afterwards the same stored gradients (the last batch's,
    which the fused path computes unfused) and no prepared GEMM left on any layer."""
    if not direct_blas_available():  # nothing to compare: both fits take the unfused path
        assert not blas._GEMM.funcs
    X = rng.standard_normal((m, 6)).astype(dtype)
    y = rng.integers(0, 3, m)

    def make() -> cr.Sequential:
        return cr.mlp([6, 8, 5, 3], activation="relu", output="softmax", seed=4, dtype=dtype)

    kw = dict(epochs=3, lr=0.2, batch_size=8, seed=5, verbose=False)
    fused, hf, plain, hp = _fit_pair(make, X, y, monkeypatch, **kw)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(hf["cost"], hp["cost"], rtol=tol)
    assert hf["accuracy"] == hp["accuracy"]
    for (_, Pf, Gf, _), (_, Pp, Gp, _) in zip(fused.parameters(), plain.parameters()):
        np.testing.assert_allclose(Pf, Pp, rtol=tol, atol=tol)
        np.testing.assert_allclose(Gf, Gp, rtol=tol, atol=tol)
    for layer in fused.layers:
        assert not any(isinstance(v, blas.GemmUpdate) for v in vars(layer).values())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shuffle", [True, False])
def test_fast_fit_is_the_same_on_every_blas_route(
    rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch, dtype: type, shuffle: bool
) -> None:
    """fit(engine="fast") with NumPy's BLAS through ctypes, with scipy.linalg.blas, and with
    direct BLAS switched off by CHAINRULE_NO_DIRECT_BLAS (np.matmul): the same weights, costs,
    accuracies and stored gradients. The two direct routes really run fused GEMMs."""
    X = rng.standard_normal((37, 6)).astype(dtype)  # 4 batches of 8 and a short one
    y = rng.integers(0, 3, 37)
    net = cr.mlp([6, 8, 5, 3], activation="relu", output="softmax", seed=4, dtype=dtype)
    ctypes_available = bool(_backend("ctypes").funcs)
    direct_runs: dict[str, int] = {}
    original = blas.GemmUpdate.run
    results = {}
    for kind in ("ctypes", "scipy", "env-off"):
        with monkeypatch.context() as mp:
            if kind == "env-off":
                mp.setenv("CHAINRULE_NO_DIRECT_BLAS", "1")
                gemm = blas._DirectGemm()  # not loaded: it reads the variable at first use
            else:
                gemm = _backend(kind)
            mp.setattr(blas, "_GEMM", gemm)
            direct_runs[kind] = 0

            def counting(self, scratch=None, kind=kind):
                direct_runs[kind] += self.direct
                return original(self, scratch)

            mp.setattr(blas.GemmUpdate, "run", counting)
            trained = net.copy()
            kw = dict(epochs=3, lr=0.2, batch_size=8, seed=5, shuffle=shuffle, verbose=False)
            results[kind] = (trained, trained.fit(X, y, engine="fast", **kw))
            on = kind == "scipy" or (kind == "ctypes" and ctypes_available)
            assert direct_blas_available() == on
    assert direct_runs["env-off"] == 0
    assert direct_runs["scipy"] == 3 * 4 * 3  # 3 epochs x 4 fused batches x 3 layers
    assert direct_runs["ctypes"] == (36 if ctypes_available else 0)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    ref_net, ref_hist = results["env-off"]
    for kind in ("ctypes", "scipy"):
        trained, hist = results[kind]
        np.testing.assert_allclose(hist["cost"], ref_hist["cost"], rtol=tol, err_msg=kind)
        assert hist["accuracy"] == ref_hist["accuracy"], kind
        for (k, Pa, Ga, _), (_, Pb, Gb, _) in zip(trained.parameters(), ref_net.parameters()):
            np.testing.assert_allclose(Pa, Pb, rtol=tol, atol=tol, err_msg=f"{kind} {k}")
            np.testing.assert_allclose(Ga, Gb, rtol=tol, atol=tol, err_msg=f"{kind} {k}")


@pytest.mark.parametrize("shuffle", [True, False])
def test_fused_fit_batches_agree_whether_views_are_new_or_reused(
    rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch, shuffle: bool
) -> None:
    """Shuffled batches reuse one gathered buffer (the prepared step is reused); unshuffled
    ones are a new slice of X each time (prepared per batch). Both equal the unfused fit, and
    no layer keeps a prepared step (or the buffers it holds) after fit."""
    X = rng.standard_normal((45, 6))
    y = rng.integers(0, 3, 45)

    def make() -> cr.Sequential:
        return cr.mlp([6, 5, 4, 3], activation="relu", output="softmax", seed=2, dtype=np.float64)

    kw = dict(epochs=3, lr=0.1, batch_size=8, shuffle=shuffle, seed=3, verbose=False)
    fused, hf, plain, hp = _fit_pair(make, X, y, monkeypatch, **kw)
    np.testing.assert_allclose(hf["cost"], hp["cost"], rtol=1e-12)
    for (_, Pf, Gf, _), (_, Pp, Gp, _) in zip(fused.parameters(), plain.parameters()):
        np.testing.assert_allclose(Pf, Pp, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(Gf, Gp, rtol=1e-12, atol=1e-14)
    for layer in fused.layers:
        assert not any(isinstance(v, blas.GemmUpdate) for v in vars(layer).values())
