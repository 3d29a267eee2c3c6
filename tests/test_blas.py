"""The SGD step inside the dC_dW product (``chainrule.fast.blas.gemm_update``, ``Dense._backward_fused``),
each against the plain computation it replaces: np.matmul, then a separate update pass."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
from chainrule.fast import blas
from chainrule.fast.blas import direct_blas_available, direct_blas_description, gemm_update
from chainrule.nn import Dense


@pytest.fixture
def no_direct_blas(monkeypatch: pytest.MonkeyPatch) -> None:
    """Force the NumPy fallback, as on a NumPy built without scipy-openblas."""
    gemm = blas._DirectGemm()
    gemm.loaded = True
    gemm.description = "off (test)"
    monkeypatch.setattr(blas, "_GEMM", gemm)


def _operands(rng: np.random.Generator, M: int, K: int, N: int, dtype: type, orders: str) -> tuple:
    A = np.asarray(rng.standard_normal((M, K)), dtype=dtype, order=orders[0])
    B = np.asarray(rng.standard_normal((K, N)), dtype=dtype, order=orders[1])
    C = np.asarray(rng.standard_normal((M, N)), dtype=dtype)
    return C, A, B


def test_numpys_own_openblas_is_used_where_numpy_ships_it() -> None:
    """NumPy's Linux/macOS/Windows wheels bundle scipy-openblas: there the direct path must load.
    Elsewhere (MKL, Accelerate, a system BLAS) the description says why it is off."""
    desc = direct_blas_description()
    if any("scipy_openblas" in p.name for p in blas._candidate_libraries()):
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


def test_the_switch_off_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHAINRULE_NO_DIRECT_BLAS", "1")
    gemm = blas._DirectGemm()
    gemm.load()
    assert gemm.funcs == {} and "CHAINRULE_NO_DIRECT_BLAS" in gemm.description


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


# --- Dense with the update inside backward ---------------------------------------------------
@pytest.mark.parametrize("propagate", [True, False])
def test_dense_fused_backward_is_backward_then_the_sgd_step(
    rng: np.random.Generator, propagate: bool
) -> None:
    """Hand-checkable: dC_dA_prev uses the OLD W; W -= dZ @ A.T; b -= row sums of dZ."""
    layer = Dense(3, 2, seed=0)
    layer.W[...] = [[1.0, 2.0, 0.0], [0.0, -1.0, 1.0]]
    layer.b[...] = [[0.5], [-0.5]]
    A_prev = np.array([[1.0, 0.0], [2.0, 1.0], [0.0, 3.0]])  # (n[0]=3, m=2)
    dZ = np.array([[0.1, -0.2], [0.3, 0.0]])  # (n[1]=2, m=2), already carrying lr / m
    layer.reuse_buffers = True
    layer.propagate = propagate
    layer.fused_update = True
    layer.forward(A_prev)
    out = layer.backward(dZ)
    if propagate:
        # old W.T @ dZ: [[0.1, -0.2], [0.2 - 0.3, -0.4], [0.3, 0.0]]
        np.testing.assert_allclose(out, [[0.1, -0.2], [-0.1, -0.4], [0.3, 0.0]], atol=1e-15)
    else:
        assert out is None
    # dZ @ A_prev.T = [[0.1, 0.0, -0.6], [0.3, 0.6, 0.0]]
    np.testing.assert_allclose(layer.W, [[0.9, 2.0, 0.6], [-0.3, -1.6, 1.0]], atol=1e-15)
    np.testing.assert_allclose(layer.b, [[0.6], [-0.8]], atol=1e-15)


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
    which the fused path computes unfused) and every Dense layer back to ``fused_update=False``."""
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
    assert not any(getattr(la, "fused_update", False) for la in fused.layers)


def test_fused_step_for_regression_and_only_for_plain_sgd_on_dense_layers(
    rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []
    original = Dense._backward_fused

    def counting(self: Dense, dC_dZ: np.ndarray, A_prev: np.ndarray) -> np.ndarray | None:
        calls.append(self.n_out)
        return original(self, dC_dZ, A_prev)

    monkeypatch.setattr(Dense, "_backward_fused", counting)
    X = rng.standard_normal((24, 4))
    y = X @ np.array([1.0, -2.0, 0.5, 0.0])
    kw = dict(epochs=2, lr=0.05, batch_size=8, seed=0, verbose=False)
    reg = cr.mlp([4, 6, 1], activation="tanh", output="identity", loss="mse", seed=1)
    reg.fit(X, y, **kw)
    # 3 batches per epoch, the last one unfused: 2 fused batches x 2 layers x 2 epochs
    assert len(calls) == (8 if direct_blas_available() else 0)
    calls.clear()
    reg.fit(X, y, optimizer="momentum", momentum=0.9, **kw)  # not plain SGD: unfused
    reg.fit(X, y, weight_decay=1e-3, **kw)  # SGD with weight decay: unfused
    assert calls == []
    bn = cr.Sequential(
        [Dense(4, 6, seed=0), cr.layers.BatchNorm(6), cr.layers.ReLU(), Dense(6, 1, seed=1)],
        loss="mse",
    )
    bn.fit(X, y, **kw)  # a trained layer that is not Dense: unfused
    assert calls == []


def test_fused_fit_on_a_strided_unshuffled_x_takes_the_fallback_and_agrees(
    rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unshuffled batches of a strided X are strided views: gemm_update must fall back (into
    the dC_dW buffer as scratch) inside the fused backward and still take the same steps."""
    X = rng.standard_normal((30, 12))[:, ::2]  # (30, 6), not contiguous
    y = rng.integers(0, 3, 30)

    def make() -> cr.Sequential:
        return cr.mlp([6, 5, 3], activation="relu", output="softmax", seed=7, dtype=np.float64)

    kw = dict(epochs=2, lr=0.1, batch_size=7, shuffle=False, verbose=False)
    fused, hf, plain, hp = _fit_pair(make, X, y, monkeypatch, **kw)
    np.testing.assert_allclose(hf["cost"], hp["cost"], rtol=1e-12)
    for (_, Pf, _, _), (_, Pp, _, _) in zip(fused.parameters(), plain.parameters()):
        np.testing.assert_allclose(Pf, Pp, rtol=1e-12, atol=1e-14)


# --- the prepared update (GemmUpdate), reused from batch to batch ---------------------------
@pytest.mark.parametrize("direct", [True, False])
def test_a_prepared_update_reads_the_arrays_current_contents(
    rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch, direct: bool
) -> None:
    if not direct:
        gemm = blas._DirectGemm()
        gemm.loaded = True
        monkeypatch.setattr(blas, "_GEMM", gemm)
    C, A, B = _operands(rng, 5, 4, 3, np.float64, "CF")
    step = blas.GemmUpdate(C, A, B, -1.0)
    assert step.direct == (direct and direct_blas_available())
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
    """Its stored addresses belong to the original arrays: a copy of a layer prepares anew."""
    import copy
    import pickle

    C, A, B = np.zeros((2, 2)), np.ones((2, 2)), np.ones((2, 2))
    step = blas.GemmUpdate(C, A, B, 1.0)
    assert copy.deepcopy(step) is None
    assert pickle.loads(pickle.dumps(step)) is None

    layer = Dense(3, 2, seed=0)
    layer.reuse_buffers = layer.fused_update = True
    # dC_dZ in a buffer the layer owns, as in fit: a deep copy copies it along, so a copied
    # prepared step would match the twin's arrays by identity and write to the original's W
    dZ = layer.workspace("dZ", (2, 4), np.float64)
    dZ[...] = 0.1
    layer.forward(np.ones((3, 4)))
    layer.backward(dZ)
    assert layer._sgd_step is not None
    twin = copy.deepcopy(layer)
    assert twin._sgd_step is None
    W_before = layer.W.copy()
    twin.forward(twin.A_prev)
    twin.backward(twin.workspace("dZ", (2, 4), np.float64))
    np.testing.assert_array_equal(layer.W, W_before)  # the twin's step touched only its own W
    np.testing.assert_allclose(twin.W, W_before - 0.1 * 4)


def test_dense_reuses_its_prepared_step_only_for_the_same_arrays() -> None:
    layer = Dense(3, 2, seed=0)
    layer.reuse_buffers = layer.fused_update = True
    dZ = np.full((2, 4), 0.5)
    A_prev = np.ones((3, 4))
    W0 = layer.W.copy()
    layer.forward(A_prev)
    layer.backward(dZ)
    first = layer._sgd_step
    layer.forward(A_prev)
    layer.backward(dZ)  # same W, dC_dZ and input objects: the same prepared call
    assert layer._sgd_step is first
    np.testing.assert_allclose(layer.W, W0 - 2 * 0.5 * 4)
    other = np.full((3, 4), 2.0)  # a new input array: prepared again, for the new addresses
    layer.forward(other)
    layer.backward(dZ)
    assert layer._sgd_step is not first
    np.testing.assert_allclose(layer.W, W0 - 2 * 0.5 * 4 - 0.5 * 2.0 * 4)


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
    assert all(getattr(la, "_sgd_step", None) is None for la in fused.layers)
