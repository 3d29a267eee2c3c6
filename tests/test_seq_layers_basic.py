"""Embedding, LayerNorm and GELU: finite differences, torch.autograd, numbers by hand, errors.

Every backward gets an arbitrary upstream gradient R = dC/dA, i.e. the cost C = sum(R * A).
torch is imported inside the tests that use it: the finite-difference tests run without it.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from oracle import numeric_gradient, rel_err

import chainrule as cr
from chainrule.io.tree import build_layer, layer_spec
from chainrule.nn import GELU, Embedding, LayerNorm


def _cost(layer: cr.Layer, X: np.ndarray, R: np.ndarray) -> float:
    return float(np.sum(R * layer.forward(X)))


# --- Embedding --------------------------------------------------------------------------------
def test_embedding_by_hand() -> None:
    """W = [[0, 1, 2], [10, 11, 12]]: token j's vector is column j = (j, 10 + j).

    ids (T=2, m=2) = [[2, 0], [2, 1]] -> A[:, t, j] = W[:, ids[t, j]]. Token 2 appears twice, so
    with dC_dA = 1 everywhere column 2 of dC_dW is (1 + 1, 1 + 1) = (2, 2); unused tokens get 0.
    """
    layer = Embedding(3, 2)
    layer.W = np.array([[0.0, 1.0, 2.0], [10.0, 11.0, 12.0]])
    ids = np.array([[2, 0], [2, 1]])
    A = layer.forward(ids)
    assert A.shape == (2, 2, 2)
    np.testing.assert_array_equal(A[:, 0, 0], [2.0, 12.0])
    np.testing.assert_array_equal(A[:, 1, 1], [1.0, 11.0])
    onehot = np.eye(3)[ids.reshape(-1)].T  # (vocab, T*m): the Dense view Z = W @ onehot
    np.testing.assert_array_equal(A.reshape(2, -1), layer.W @ onehot)
    assert not np.shares_memory(A, layer.W)
    assert layer.backward(np.ones_like(A)) is None  # no gradient for integer ids
    np.testing.assert_array_equal(layer.dC_dW, [[1.0, 1.0, 2.0], [1.0, 1.0, 2.0]])
    layer.backward(np.ones_like(A))  # overwritten, never accumulated
    np.testing.assert_array_equal(layer.dC_dW, [[1.0, 1.0, 2.0], [1.0, 1.0, 2.0]])
    np.testing.assert_array_equal(ids, [[2, 0], [2, 1]])  # input untouched


def test_embedding_finite_differences_and_assign_control(rng: np.random.Generator) -> None:
    layer = Embedding(5, 3, seed=0)
    ids = np.array([[0, 4, 4], [1, 4, 0]])  # (T=2, m=3), tokens 0 and 4 repeat, 2 and 3 unused
    R = rng.standard_normal((3, 2, 3))
    layer.forward(ids)
    layer.backward(R)
    numeric = numeric_gradient(lambda W: _cost(layer, ids, R), layer.W)
    assert rel_err(layer.dC_dW, numeric) < 1e-6
    # negative controls: assigning (or buffered +=) keeps one use of a repeated token
    assigned = np.zeros_like(layer.W)
    assigned[:, ids.reshape(-1)] = R.reshape(3, -1)
    buffered = np.zeros_like(layer.W)
    buffered[:, ids.reshape(-1)] += R.reshape(3, -1)
    assert rel_err(assigned, numeric) > 1e-2
    assert rel_err(buffered, numeric) > 1e-2


def test_embedding_matches_torch(rng: np.random.Generator) -> None:
    import torch

    layer = Embedding(7, 4, seed=1)
    ids = rng.integers(0, 7, size=(5, 3))  # (T, m)
    A = layer.forward(ids)
    R = rng.standard_normal(A.shape)
    layer.backward(R)
    emb = torch.nn.Embedding(7, 4, dtype=torch.float64)
    with torch.no_grad():
        emb.weight.copy_(torch.tensor(layer.W.T))  # torch stores (vocab, n_embd)
    out = emb(torch.tensor(ids.T))  # (m, T) -> (m, T, n_embd)
    (out * torch.tensor(R.transpose(2, 1, 0))).sum().backward()
    assert rel_err(A, out.detach().numpy().transpose(2, 1, 0)) < 1e-10
    assert rel_err(layer.dC_dW, emb.weight.grad.numpy().T) < 1e-10


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 6),  # T
    st.integers(1, 5),  # m
    st.integers(1, 5),  # n_embd
    st.integers(1, 8),  # vocab_size
    st.integers(0, 2**31 - 1),
)
def test_embedding_is_dense_on_one_hot(T: int, m: int, n: int, vocab: int, seed: int) -> None:
    """Forward and backward agree with the one-hot Dense layer they replace, at any shape."""
    rng = np.random.default_rng(seed)
    layer = Embedding(vocab, n, seed=seed)
    ids = rng.integers(0, vocab, size=(T, m))
    A = layer.forward(ids)
    assert A.shape == (n, T, m) and layer.output_shape((T,)) == (n, T)
    onehot = np.eye(vocab)[ids.reshape(-1)].T  # (vocab, T*m)
    np.testing.assert_allclose(A.reshape(n, -1), layer.W @ onehot, rtol=0, atol=1e-12)
    R = rng.standard_normal(A.shape)
    layer.backward(R)
    np.testing.assert_allclose(layer.dC_dW, R.reshape(n, -1) @ onehot.T, rtol=0, atol=1e-12)


def test_embedding_shapes_init_and_errors() -> None:
    layer = Embedding(10, 3, seed=0)
    assert layer.output_shape((6,)) == (3, 6) and layer.output_shape(()) == (3,)
    assert layer.forward(np.array([1, 2, 9])).shape == (3, 3)  # (m,): one position
    assert layer.forward(np.array([1, 2], dtype=np.uint8)).shape == (3, 2)
    np.testing.assert_array_equal(Embedding(10, 3, seed=0).W, layer.W)  # seeded
    big = Embedding(1000, 100, seed=0).W  # N(0, 1), as torch.nn.Embedding
    assert big.dtype == np.float64 and abs(big.mean()) < 0.01 and abs(big.std() - 1) < 0.01
    assert [p.decay for p in layer.parameters()] == [False]
    with pytest.raises(TypeError, match="integer token ids.*float64.*astype"):
        layer.forward(np.array([[1.0, 2.0]]))
    with pytest.raises(TypeError, match="integer token ids.*bool"):
        layer.forward(np.array([True, False]))
    with pytest.raises(ValueError, match=r"ids in \[0, 10\), got 10 at index \(1, 0\)"):
        layer.forward(np.array([[1, 2], [10, 3]]))
    with pytest.raises(ValueError, match="got -1"):
        layer.forward(np.array([-1, 2]))
    with pytest.raises(TypeError, match="vocab_size must be an int"):
        Embedding(2.5, 3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="n_embd must be an int >= 1, got 0"):
        Embedding(5, 0)
    with pytest.raises(RuntimeError, match="before forward"):
        Embedding(5, 2).backward(np.zeros((2, 1, 1)))
    layer.forward(np.array([[1, 2]]))
    with pytest.raises(ValueError, match=r"dC_dA of shape \(3, 1, 2\)"):
        layer.backward(np.zeros((3, 2)))


# --- LayerNorm --------------------------------------------------------------------------------
def test_layernorm_by_hand() -> None:
    """x = [1, 2, 3]: mu = 2, var = 2/3, rstd = 1/sqrt(2/3 + 1e-5) = 1.2247357, x_hat = [-r, 0, r].

    Backward with dC_dA = [1, 0, 0], gamma = 1: mean(d) = 1/3, mean(d * x_hat) = -r/3, so
    dC_dx = r ([1, 0, 0] - 1/3 - x_hat (-r/3)) = r [2/3 - r^2/3, -1/3, r^2/3 - 1/3]
          = [0.2041318, -0.4082452, 0.2041134]   (with eps -> 0: r [1/6, -1/3, 1/6]).
    """
    layer = LayerNorm(3)
    A = layer.forward(np.array([[1.0], [2.0], [3.0]]))
    np.testing.assert_allclose(A[:, 0], [-1.2247357, 0.0, 1.2247357], atol=1e-7)
    np.testing.assert_allclose(layer.mean, [[2.0]])
    np.testing.assert_allclose(layer.rstd, [[1.2247357]], atol=1e-7)
    dx = layer.backward(np.array([[1.0], [0.0], [0.0]]))
    np.testing.assert_allclose(dx[:, 0], [0.2041318, -0.4082452, 0.2041134], atol=1e-7)
    np.testing.assert_allclose(layer.dC_dbeta, [[1.0], [0.0], [0.0]])
    np.testing.assert_allclose(layer.dC_dgamma, [[-1.2247357], [0.0], [0.0]], atol=1e-7)


def _random_layernorm(rng: np.random.Generator, n: int) -> LayerNorm:
    layer = LayerNorm(n, eps=1e-3)
    layer.gamma = rng.standard_normal((n, 1))
    layer.beta = rng.standard_normal((n, 1))
    return layer


@pytest.mark.parametrize("shape", [(4, 5), (4, 3, 2)])
def test_layernorm_finite_differences(shape: tuple[int, ...], rng: np.random.Generator) -> None:
    layer = _random_layernorm(rng, shape[0])
    X = rng.standard_normal(shape) * 2 + 1
    X0 = X.copy()
    R = rng.standard_normal(shape)
    layer.forward(X)
    dX = layer.backward(R)
    np.testing.assert_array_equal(X, X0)  # input untouched
    assert rel_err(dX, numeric_gradient(lambda x: _cost(layer, x, R), X)) < 1e-6
    for name in ("gamma", "beta"):
        layer.forward(X)
        layer.backward(R)
        numeric = numeric_gradient(lambda p: _cost(layer, X, R), getattr(layer, name))
        assert rel_err(getattr(layer, "dC_d" + name), numeric) < 1e-6


def test_layernorm_missing_terms_fail(rng: np.random.Generator) -> None:
    """Negative controls: dropping the path through mu, or through rstd, is caught."""
    layer = _random_layernorm(rng, 5)
    X, R = rng.standard_normal((5, 3, 2)), rng.standard_normal((5, 3, 2))
    layer.forward(X)
    numeric = numeric_gradient(lambda x: _cost(layer, x, R), X.copy())
    layer.forward(X)
    x_hat, rstd = layer.x_hat, layer.rstd
    d = R * layer.gamma.reshape(5, 1, 1)
    no_mean = rstd * (d - x_hat * (d * x_hat).mean(axis=0, keepdims=True))
    no_rstd_path = rstd * (d - d.mean(axis=0, keepdims=True))
    assert rel_err(no_mean, numeric) > 1e-2
    assert rel_err(no_rstd_path, numeric) > 1e-2
    assert rel_err(layer.backward(R), numeric) < 1e-6


@pytest.mark.parametrize("shape", [(6, 4), (6, 5, 3)])
def test_layernorm_matches_torch(shape: tuple[int, ...], rng: np.random.Generator) -> None:
    import torch

    layer = _random_layernorm(rng, shape[0])
    X = rng.standard_normal(shape) * 3 - 1
    A = layer.forward(X)
    R = rng.standard_normal(shape)
    dX = layer.backward(R)
    ln = torch.nn.LayerNorm(shape[0], eps=1e-3, dtype=torch.float64)
    with torch.no_grad():
        ln.weight.copy_(torch.tensor(layer.gamma[:, 0]))
        ln.bias.copy_(torch.tensor(layer.beta[:, 0]))
    Xt = torch.tensor(X.T.copy(), requires_grad=True)  # (m, T, n): features last
    out = ln(Xt)
    (out * torch.tensor(R.T.copy())).sum().backward()
    assert rel_err(A, out.detach().numpy().T) < 1e-10
    assert rel_err(dX, Xt.grad.numpy().T) < 1e-10
    assert rel_err(layer.dC_dgamma[:, 0], ln.weight.grad.numpy()) < 1e-10
    assert rel_err(layer.dC_dbeta[:, 0], ln.bias.grad.numpy()) < 1e-10


def test_layernorm_dtype_shapes_and_errors() -> None:
    layer = LayerNorm(4)
    assert layer.output_shape((4, 7)) == (4, 7) and layer.output_shape((4,)) == (4,)
    assert [p.decay for p in layer.parameters()] == [False, False]
    layer.cast_(np.float32)
    A = layer.forward(np.ones((4, 3, 2), dtype=np.float32))
    assert A.dtype == np.float32 and layer.backward(A).dtype == np.float32
    with pytest.raises(ValueError, match="expects 4 features"):
        layer.output_shape((3, 7))
    with pytest.raises(ValueError, match=r"LayerNorm\(4\) expects input of shape \(4, m\)"):
        layer.forward(np.ones((3, 2)))
    with pytest.raises(ValueError, match="of shape"):
        layer.forward(np.ones(4))
    with pytest.raises(ValueError, match="n must be an int >= 1, got 0"):
        LayerNorm(0)
    with pytest.raises(ValueError, match="eps must be a finite number > 0"):
        LayerNorm(3, eps=0.0)
    with pytest.raises(TypeError, match="eps must be a number"):
        LayerNorm(3, eps="small")  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="before forward"):
        LayerNorm(2).backward(np.ones((2, 1)))
    with pytest.raises(ValueError, match=r"forward input's shape \(4, 3, 2\)"):
        layer.backward(np.ones((4, 6)))


# --- GELU -------------------------------------------------------------------------------------
def test_gelu_by_hand() -> None:
    """Exact: gelu(1) = Phi(1) = 0.8413447, gelu(-1) = -Phi(-1) = -0.1586553, and
    gelu'(1) = Phi(1) + phi(1) = 0.8413447 + 0.2419707 = 1.0833155, gelu'(0) = 1/2.
    Tanh form: gelu(1) = 0.5 (1 + tanh(0.7978846 * 1.044715)) = 0.8411920, gelu'(1) = 1.0829641.
    """
    Z = np.array([[1.0, -1.0, 0.0]])
    exact, approx = GELU(), GELU("tanh")
    np.testing.assert_allclose(exact.forward(Z), [[0.8413447, -0.1586553, 0.0]], atol=1e-7)
    np.testing.assert_allclose(
        exact.backward(np.ones((1, 3))), [[1.0833155, -0.0833155, 0.5]], atol=1e-7
    )
    np.testing.assert_allclose(approx.forward(Z)[0, 0], 0.8411920, atol=1e-7)
    np.testing.assert_allclose(approx.backward(np.ones((1, 3)))[0, 0], 1.0829641, atol=1e-7)
    # the erf is exact, not a ~1e-7 approximation: compare with math.erf element by element
    z = np.linspace(-6, 6, 101)
    want = [0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in z]
    np.testing.assert_allclose(GELU().forward(z), want, rtol=1e-14, atol=2e-15)
    # atol: for z < 0 the reference's 1 + erf cancels (error ~|z| 1e-16); the layer's
    # 0.5 erfc(-z / sqrt 2) does not, and keeps Phi(-10) = 7.6198530e-24 exact
    np.testing.assert_allclose(GELU().forward(np.array([-10.0])), [-7.619853024160527e-23])


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_finite_differences(approximate: str, rng: np.random.Generator) -> None:
    layer = GELU(approximate)
    Z = rng.standard_normal((4, 3, 2)) * 2
    R = rng.standard_normal(Z.shape)
    layer.forward(Z)
    dZ = layer.backward(R)
    assert rel_err(dZ, numeric_gradient(lambda z: _cost(layer, z, R), Z)) < 1e-6


def test_gelu_missing_density_term_fails(rng: np.random.Generator) -> None:
    """Negative control: gelu'(z) = Phi(z) alone (forgetting the product rule) is caught."""
    Z, R = rng.standard_normal((5, 4)), rng.standard_normal((5, 4))
    layer = GELU()
    numeric = numeric_gradient(lambda z: _cost(layer, z, R), Z)
    wrong = R * np.array([[0.5 * (1 + math.erf(v / math.sqrt(2))) for v in row] for row in Z])
    assert rel_err(wrong, numeric) > 1e-2


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_matches_torch(approximate: str, rng: np.random.Generator) -> None:
    import torch

    layer = GELU(approximate)
    Z = rng.standard_normal((6, 5, 4)) * 3
    A = layer.forward(Z)
    R = rng.standard_normal(Z.shape)
    dZ = layer.backward(R)
    Zt = torch.tensor(Z, requires_grad=True)
    out = torch.nn.functional.gelu(Zt, approximate=approximate)
    (out * torch.tensor(R)).sum().backward()
    assert rel_err(A, out.detach().numpy()) < 1e-10
    assert rel_err(dZ, Zt.grad.numpy()) < 1e-10


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_large_inputs_without_warnings(approximate: str, dtype: type) -> None:
    huge = 1e30 if dtype == np.float64 else 3e38
    Z = np.array([[-1e4, -50.0, 50.0, 1e4, -huge, huge]], dtype=dtype)
    layer = GELU(approximate)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        A = layer.forward(Z)
        dZ = layer.backward(np.ones_like(Z))
    assert A.dtype == dtype and dZ.dtype == dtype
    np.testing.assert_array_equal(A, np.array([[0.0, 0.0, 50.0, 1e4, 0.0, huge]], dtype=dtype))
    np.testing.assert_array_equal(dZ, [[0.0, 0.0, 1.0, 1.0, 0.0, 1.0]])


def test_gelu_errors_and_registry() -> None:
    assert isinstance(GELU(), cr.Activation) and GELU.name == "gelu"
    assert GELU().output_shape((3, 4)) == (3, 4)
    with pytest.raises(ValueError, match="'none' or 'tanh', got 'exact'"):
        GELU("exact")
    with pytest.raises(TypeError, match="a str"):
        GELU(True)  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="before forward"):
        GELU().backward(np.ones((2, 2)))


# --- serialization ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "layer", [Embedding(11, 4), LayerNorm(6, eps=1e-3), GELU("tanh"), GELU()], ids=repr
)
def test_config_round_trip(layer: cr.Layer) -> None:
    spec = layer_spec(layer)
    rebuilt = build_layer(spec, "layer 0", "0.", {}, Path("memory"))
    assert type(rebuilt) is type(layer) and rebuilt.config() == layer.config()
    assert layer_spec(rebuilt) == spec


def test_save_load_networks(tmp_path: Path, rng: np.random.Generator) -> None:
    norm = LayerNorm(4)
    norm.gamma, norm.beta = rng.standard_normal((4, 1)), rng.standard_normal((4, 1))
    net = cr.Sequential(
        [norm, cr.Dense(4, 3, seed=0), GELU("tanh"), cr.Dense(3, 2, seed=1), cr.Softmax()],
        input_shape=(4,),
        dtype=np.float64,
    )
    A0 = rng.standard_normal((4, 5))  # (n, m), engine layout (an unfitted net has no predict)
    net.save(tmp_path / "ln.npz")
    loaded = cr.load(tmp_path / "ln.npz")
    assert isinstance(loaded.layers[0], LayerNorm) and loaded.layers[2].approximate == "tanh"
    np.testing.assert_allclose(loaded.forward(A0), net.forward(A0), rtol=1e-12)
    tokens = cr.Sequential(
        [Embedding(9, 3, seed=2), LayerNorm(3), cr.Dense(3, 9, seed=3)],
        input_shape=(5,),  # T = 5 positions per example
        loss="mse",
        dtype=np.float64,
    )
    assert tokens.output_shape == (9, 5)
    tokens.save(tmp_path / "emb.npz")
    back = cr.load(tmp_path / "emb.npz")
    ids = rng.integers(0, 9, size=(5, 2))  # (T, m) engine layout
    np.testing.assert_array_equal(back.layers[0].W, tokens.layers[0].W)
    np.testing.assert_allclose(back.forward(ids), tokens.forward(ids), rtol=1e-12)
    assert back.backward(np.ones((9, 5, 2))) is None  # the first layer: no gradient for ids
    assert back.layers[0].dC_dW.shape == (3, 9)
