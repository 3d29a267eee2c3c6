"""Conv2D / Conv1D: im2col version == naive loops == torch.autograd == finite differences.

Every comparison is in float64 on random shapes, strides and paddings. torch's layout is
(m, C, H, W); the engine's is (C, H, W, m): np.moveaxis(X, -1, 0) converts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from oracle import numeric_gradient, rel_err

import chainrule as cr
from chainrule.learn.loops.conv import (
    conv1d_backward,
    conv1d_forward,
    conv2d_backward,
    conv2d_forward,
)
from chainrule.nn.im2col import col2im, im2col

if TYPE_CHECKING:  # only for annotations: torch is imported where it is used
    import torch


def to_torch(A: np.ndarray) -> torch.Tensor:
    import torch

    return torch.tensor(np.moveaxis(A, -1, 0), dtype=torch.float64, requires_grad=True)


def from_torch(T: torch.Tensor) -> np.ndarray:
    return np.moveaxis(T.detach().numpy(), 0, -1)


def layer_case(layer: cr.Layer, X: np.ndarray, seed: int = 0) -> tuple[np.ndarray, ...]:
    """forward, a random upstream gradient G, and backward: C = sum(G * A)."""
    A = layer.forward(X)
    G = np.random.default_rng(seed).standard_normal(A.shape)
    return A, G, layer.backward(G)


conv2d_cases = st.tuples(
    st.integers(1, 3),  # C in
    st.integers(1, 4),  # C out
    st.integers(1, 4),  # kh
    st.integers(1, 4),  # kw
    st.integers(1, 3),  # stride
    st.integers(0, 2),  # padding
    st.integers(1, 3),  # m
    st.integers(0, 4),  # extra H
    st.integers(0, 4),  # extra W
    st.integers(0, 2**31 - 1),
)


@settings(max_examples=40, deadline=None)
@given(conv2d_cases)
def test_conv2d_matches_torch(case):
    import torch
    import torch.nn.functional as F

    C, O, kh, kw, s, p, m, eh, ew, seed = case
    rng = np.random.default_rng(seed)
    H, W = max(1, kh - 2 * p) + eh, max(1, kw - 2 * p) + ew
    layer = cr.Conv2D(C, O, (kh, kw), stride=s, padding=p, seed=seed)
    layer.b = rng.standard_normal(layer.b.shape)
    X = rng.standard_normal((C, H, W, m))
    A, G, dX = layer_case(layer, X, seed)
    assert A.shape == (O, *layer.output_shape((C, H, W))[1:], m)
    Xt, Wt, bt = to_torch(X), torch.tensor(layer.W, requires_grad=True), torch.tensor(layer.b[:, 0])
    bt.requires_grad_(True)
    At = F.conv2d(Xt, Wt, bt, stride=s, padding=p)
    (At * torch.tensor(np.moveaxis(G, -1, 0))).sum().backward()
    np.testing.assert_allclose(A, from_torch(At), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dX, from_torch(Xt.grad), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(layer.dC_dW, Wt.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(layer.dC_db[:, 0], bt.grad.numpy(), rtol=1e-10, atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(
    st.integers(1, 3),
    st.integers(1, 4),
    st.integers(1, 5),
    st.integers(1, 3),
    st.integers(0, 2),
    st.integers(1, 3),
    st.integers(0, 6),
    st.integers(0, 2**31 - 1),
)
def test_conv1d_matches_torch(C, O, k, s, p, m, extra, seed):
    import torch
    import torch.nn.functional as F

    rng = np.random.default_rng(seed)
    L = max(1, k - 2 * p) + extra
    layer = cr.Conv1D(C, O, k, stride=s, padding=p, seed=seed)
    layer.b = rng.standard_normal(layer.b.shape)
    X = rng.standard_normal((C, L, m))
    A, G, dX = layer_case(layer, X, seed)
    assert A.shape == (O, *layer.output_shape((C, L))[1:], m)
    Xt, Wt = to_torch(X), torch.tensor(layer.W, requires_grad=True)
    bt = torch.tensor(layer.b[:, 0], requires_grad=True)
    At = F.conv1d(Xt, Wt, bt, stride=s, padding=p)
    (At * torch.tensor(np.moveaxis(G, -1, 0))).sum().backward()
    np.testing.assert_allclose(A, from_torch(At), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dX, from_torch(Xt.grad), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(layer.dC_dW, Wt.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(layer.dC_db[:, 0], bt.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(
    "C,O,k,s,p,H,W,m",
    [(2, 3, 3, 1, 1, 5, 4, 2), (1, 2, (2, 3), 2, 0, 6, 7, 3), (3, 2, 3, 2, 2, 4, 4, 1)],
)
def test_conv2d_finite_differences(C, O, k, s, p, H, W, m):
    rng = np.random.default_rng(7)
    layer = cr.Conv2D(C, O, k, stride=s, padding=p, seed=1)
    layer.b = rng.standard_normal(layer.b.shape)
    X = rng.standard_normal((C, H, W, m))
    _, G, dX = layer_case(layer, X)

    def cost() -> float:
        return float(np.sum(G * layer.forward(X)))

    assert rel_err(dX, numeric_gradient(lambda _: cost(), X)) < 1e-6
    layer.forward(X)
    layer.backward(G)
    dW, db = layer.dC_dW.copy(), layer.dC_db.copy()
    assert rel_err(dW, numeric_gradient(lambda _: cost(), layer.W)) < 1e-6
    assert rel_err(db, numeric_gradient(lambda _: cost(), layer.b)) < 1e-6


def test_conv1d_finite_differences():
    rng = np.random.default_rng(3)
    layer = cr.Conv1D(2, 3, 3, stride=2, padding=1, seed=0)
    X = rng.standard_normal((2, 9, 3))
    _, G, dX = layer_case(layer, X)

    def cost(_: np.ndarray) -> float:
        return float(np.sum(G * layer.forward(X)))

    dW, db = layer.dC_dW.copy(), layer.dC_db.copy()
    assert rel_err(dX, numeric_gradient(cost, X)) < 1e-6
    assert rel_err(dW, numeric_gradient(cost, layer.W)) < 1e-6
    assert rel_err(db, numeric_gradient(cost, layer.b)) < 1e-6


def test_cnn_gradcheck_whole_network():
    """cr.gradcheck (float64 central differences) through Conv2D, pools, Flatten, Dense, CE."""
    net = cr.Sequential(
        [
            cr.Conv2D(1, 3, 3, padding=1, seed=0),
            cr.Tanh(),
            cr.MaxPool2D(2),
            cr.Conv2D(3, 2, 2, seed=1),
            cr.Tanh(),
            cr.AvgPool2D(2, stride=1),
            cr.Flatten(),
            cr.Dense(2, 3, seed=2),
            cr.Softmax(),
        ],
        input_shape=(1, 6, 6),
    )
    rng = np.random.default_rng(0)
    X = rng.standard_normal((4, 1, 6, 6))
    y = np.array([0, 1, 2, 1])
    report = cr.gradcheck(net, X, y)
    assert report.passed, str(report)
    assert report.max_error < 1e-6


def test_hand_worked_conv2d():
    """A 3x3 image, a 2x2 kernel, no padding: every number can be checked on paper.

    X = [[1, 2, 3], [4, 5, 6], [7, 8, 9]], W = [[1, 0], [0, -1]], b = 10
    Z[y, x] = X[y, x] - X[y+1, x+1] + 10 = [[1-5, 2-6], [4-8, 5-9]] + 10 = [[6, 6], [6, 6]].
    With dC/dZ = [[1, 2], [3, 4]]: dC/dW[i, j] = sum_yx dZ[y, x] X[y+i, x+j], i.e.
    dW = [[1+4+12+20, 2+6+15+24], [4+10+21+32, 5+12+24+36]] = [[37, 47], [67, 77]], db = 10,
    dC/dX = the full correlation of dZ with the flipped kernel:
    [[1, 2, 0], [3, 4 - 1, -2], [0, -3, -4]].
    """
    layer = cr.Conv2D(1, 1, 2, seed=0)
    layer.W = np.array([[[[1.0, 0.0], [0.0, -1.0]]]])
    layer.b = np.array([[10.0]])
    X = np.arange(1.0, 10.0).reshape(1, 3, 3, 1)
    Z = layer.forward(X)
    np.testing.assert_array_equal(Z[0, :, :, 0], [[6, 6], [6, 6]])
    dX = layer.backward(np.array([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 2, 2, 1))
    np.testing.assert_array_equal(layer.dC_dW[0, 0], [[37, 47], [67, 77]])
    np.testing.assert_array_equal(layer.dC_db, [[10]])
    np.testing.assert_array_equal(dX[0, :, :, 0], [[1, 2, 0], [3, 3, -2], [0, -3, -4]])


@pytest.mark.parametrize("s,p", [(1, 0), (2, 1), (3, 2)])
def test_loops_equal_vectorized_conv2d(s, p):
    rng = np.random.default_rng(s + p)
    layer = cr.Conv2D(2, 3, 3, stride=s, padding=p, seed=0)
    layer.b = rng.standard_normal((3, 1))
    X = rng.standard_normal((2, 7, 6, 2))
    A, G, dX = layer_case(layer, X)
    np.testing.assert_allclose(A, conv2d_forward(X, layer.W, layer.b, s, p), atol=1e-12)
    dX_l, dW_l, db_l = conv2d_backward(X, layer.W, G, s, p)
    np.testing.assert_allclose(dX, dX_l, atol=1e-12)
    np.testing.assert_allclose(layer.dC_dW, dW_l, atol=1e-12)
    np.testing.assert_allclose(layer.dC_db, db_l, atol=1e-12)


def test_loops_equal_vectorized_conv1d():
    rng = np.random.default_rng(0)
    layer = cr.Conv1D(2, 3, 4, stride=2, padding=1, seed=0)
    X = rng.standard_normal((2, 11, 3))
    A, G, dX = layer_case(layer, X)
    np.testing.assert_allclose(A, conv1d_forward(X, layer.W, layer.b, 2, 1), atol=1e-12)
    dX_l, dW_l, db_l = conv1d_backward(X, layer.W, G, 2, 1)
    np.testing.assert_allclose(dX, dX_l, atol=1e-12)
    np.testing.assert_allclose(layer.dC_dW, dW_l, atol=1e-12)
    np.testing.assert_allclose(layer.dC_db, db_l, atol=1e-12)


def test_col2im_is_the_adjoint_of_im2col():
    """<im2col(X), Y> == <X, col2im(Y)> for every X, Y: col2im is im2col's transpose."""
    rng = np.random.default_rng(1)
    X = rng.standard_normal((2, 6, 5, 3))
    cols, oh, ow = im2col(X, 3, 2, 2, 1, 1, 1)
    Y = rng.standard_normal(cols.shape)
    lhs = np.sum(cols * Y)
    rhs = np.sum(X * col2im(Y, X.shape, 3, 2, 2, 1, 1, 1))
    assert abs(lhs - rhs) < 1e-10 * abs(lhs)


def test_conv_is_one_matrix_product_and_keeps_float32():
    layer = cr.Conv2D(3, 4, 3, padding=1, seed=0, dtype=np.float32)
    X = np.random.default_rng(0).standard_normal((3, 8, 8, 5)).astype(np.float32)
    Z = layer.forward(X)
    assert Z.dtype == np.float32 and Z.shape == (4, 8, 8, 5)
    assert layer.cols.shape == (3 * 3 * 3, 8 * 8 * 5)
    assert layer.backward(np.ones_like(Z)).dtype == np.float32


def test_eval_mode_chunks_large_batches_identically(monkeypatch):
    import chainrule.nn.conv as conv_mod

    layer = cr.Conv2D(2, 3, 3, padding=1, seed=0)
    X = np.random.default_rng(0).standard_normal((2, 5, 5, 7))
    full = layer.forward(X)
    monkeypatch.setattr(conv_mod, "MAX_COLS", 100)  # forces chunks of 2 examples
    layer.training = False
    np.testing.assert_allclose(layer.forward(X), full, atol=1e-12)


def test_he_init_and_seed():
    a, b = cr.Conv2D(4, 8, 3, seed=5), cr.Conv2D(4, 8, 3, seed=5)
    np.testing.assert_array_equal(a.W, b.W)
    assert a.W.shape == (8, 4, 3, 3) and a.b.shape == (8, 1)
    assert abs(a.W.std() - np.sqrt(2 / 36)) < 0.05
    assert cr.Conv1D(2, 5, 3, seed=0).W.shape == (5, 2, 3)


@pytest.mark.parametrize(
    "args,err",
    [
        ((0, 2, 3), ValueError),
        ((1, 2, 0), ValueError),
        ((1, 2, 2.5), TypeError),
        ((1, 2, (2, 2, 2)), ValueError),
    ],
)
def test_bad_constructor_arguments(args, err):
    with pytest.raises(err):
        cr.Conv2D(*args)


def test_bad_inputs_name_the_expected_shape():
    layer = cr.Conv2D(3, 2, 3)
    with pytest.raises(ValueError, match="3 input channels"):
        layer.forward(np.zeros((2, 5, 5, 1)))
    with pytest.raises(ValueError, match=r"\(C, H, W, m\)"):
        layer.forward(np.zeros((3, 5, 1)))
    with pytest.raises(ValueError, match="does not chain"):
        cr.Sequential([cr.Conv2D(3, 2, 5), cr.Flatten()], input_shape=(3, 4, 4))
    with pytest.raises(ValueError, match="input_shape is required"):
        cr.Sequential([cr.Conv2D(1, 2, 3), cr.Flatten(), cr.Dense(2, 2), cr.Softmax()])


def test_save_load_roundtrip(tmp_path):
    net = cr.Sequential(
        [cr.Conv1D(1, 4, 3, stride=2, padding=1, seed=0), cr.ReLU(), cr.MaxPool1D(2)]
        + [cr.Flatten(), cr.Dense(20, 3, seed=1), cr.Softmax()],
        input_shape=(1, 20),
    )
    X = np.random.default_rng(0).standard_normal((6, 1, 20))
    net.fit(X, [0, 1, 2, 0, 1, 2], epochs=2, batch_size=3, verbose=False, seed=0)
    net.save(tmp_path / "m.npz")
    back = cr.load(tmp_path / "m.npz")
    np.testing.assert_array_equal(back.predict_proba(X), net.predict_proba(X))
    assert (
        isinstance(back.layers[0], cr.Conv1D) and back.layers[0].config() == net.layers[0].config()
    )
