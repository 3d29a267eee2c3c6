"""MaxPool2D/1D and AvgPool2D/1D: vectorized == loops == torch.autograd == finite differences.

Tie rule under test: the gradient of a max-pooling window goes to its FIRST maximum in
row-major scan order (as in PyTorch), exactly one element per window.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from oracle import numeric_gradient, rel_err

import chainrule as cr
from chainrule.learn.loops.pool import (
    avgpool2d_backward,
    avgpool2d_forward,
    maxpool2d_backward,
    maxpool2d_forward,
)

if TYPE_CHECKING:  # only for annotations: torch is imported where it is used
    import torch


def to_torch(A: np.ndarray) -> torch.Tensor:
    import torch

    return torch.tensor(np.moveaxis(A, -1, 0), dtype=torch.float64, requires_grad=True)


def from_torch(T: torch.Tensor) -> np.ndarray:
    return np.moveaxis(T.detach().numpy(), 0, -1)


def run(layer: cr.Layer, X: np.ndarray, seed: int = 0):
    A = layer.forward(X)
    G = np.random.default_rng(seed).standard_normal(A.shape)
    return A, G, layer.backward(G)


@settings(max_examples=40, deadline=None)
@given(
    st.sampled_from(["max", "avg"]),
    st.integers(1, 3),  # C
    st.integers(1, 4),  # kh
    st.integers(1, 4),  # kw
    st.integers(1, 3),  # sh
    st.integers(1, 3),  # sw
    st.booleans(),  # pad?
    st.integers(1, 3),  # m
    st.integers(0, 4),
    st.integers(0, 4),
    st.integers(0, 2**31 - 1),
)
def test_pool2d_matches_torch(mode, C, kh, kw, sh, sw, pad, m, eh, ew, seed):
    import torch
    import torch.nn.functional as F

    rng = np.random.default_rng(seed)
    p = (kh // 2, kw // 2) if pad else (0, 0)
    X = rng.standard_normal((C, kh + eh, kw + ew, m))
    cls, fn = (cr.MaxPool2D, F.max_pool2d) if mode == "max" else (cr.AvgPool2D, F.avg_pool2d)
    layer = cls((kh, kw), stride=(sh, sw), padding=p)
    A, G, dX = run(layer, X, seed)
    Xt = to_torch(X)
    At = fn(Xt, (kh, kw), (sh, sw), p)
    (At * torch.tensor(np.moveaxis(G, -1, 0))).sum().backward()
    assert A.shape[:-1] == layer.output_shape(X.shape[:-1])
    np.testing.assert_allclose(A, from_torch(At), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dX, from_torch(Xt.grad), rtol=1e-12, atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(
    st.sampled_from(["max", "avg"]),
    st.integers(1, 3),
    st.integers(1, 5),
    st.integers(1, 3),
    st.booleans(),
    st.integers(1, 3),
    st.integers(0, 6),
    st.integers(0, 2**31 - 1),
)
def test_pool1d_matches_torch(mode, C, k, s, pad, m, extra, seed):
    import torch
    import torch.nn.functional as F

    rng = np.random.default_rng(seed)
    p = k // 2 if pad else 0
    X = rng.standard_normal((C, k + extra, m))
    cls, fn = (cr.MaxPool1D, F.max_pool1d) if mode == "max" else (cr.AvgPool1D, F.avg_pool1d)
    layer = cls(k, stride=s, padding=p)
    A, G, dX = run(layer, X, seed)
    Xt = to_torch(X)
    At = fn(Xt, k, s, p)
    (At * torch.tensor(np.moveaxis(G, -1, 0))).sum().backward()
    assert A.shape[:-1] == layer.output_shape(X.shape[:-1])
    np.testing.assert_allclose(A, from_torch(At), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dX, from_torch(Xt.grad), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("cls", [cr.MaxPool2D, cr.AvgPool2D])
@pytest.mark.parametrize("k,s", [(2, None), (3, 2), (2, 1)])
def test_pool2d_finite_differences(cls, k, s):
    X = np.random.default_rng(4).standard_normal((2, 6, 5, 2))  # distinct values: no ties
    layer = cls(k, stride=s)
    _, G, dX = run(layer, X)
    num = numeric_gradient(lambda _: float(np.sum(G * layer.forward(X))), X)
    assert rel_err(dX, num) < 1e-6


def test_maxpool1d_finite_differences():
    X = np.random.default_rng(5).standard_normal((2, 9, 3))
    layer = cr.MaxPool1D(3, stride=2, padding=1)
    _, G, dX = run(layer, X)
    num = numeric_gradient(lambda _: float(np.sum(G * layer.forward(X))), X)
    assert rel_err(dX, num) < 1e-6


def test_hand_worked_maxpool_and_ties():
    """4x4 image, 2x2 windows. Top-left window [[1, 3], [3, 2]] has a tie at 3: the FIRST 3 in
    row-major order (row 0, col 1) takes the whole gradient. The top-right window is all 5s:
    its top-left element wins."""
    import torch
    import torch.nn.functional as F

    X = np.array(
        [
            [1.0, 3.0, 5.0, 5.0],
            [3.0, 2.0, 5.0, 5.0],
            [0.0, -1.0, 7.0, 8.0],
            [-2.0, -3.0, 9.0, 6.0],
        ]
    ).reshape(1, 4, 4, 1)
    layer = cr.MaxPool2D(2)
    A = layer.forward(X)
    np.testing.assert_array_equal(A[0, :, :, 0], [[3, 5], [0, 9]])
    dX = layer.backward(np.array([[10.0, 20.0], [30.0, 40.0]]).reshape(1, 2, 2, 1))
    expected = np.array(
        [
            [0.0, 10.0, 20.0, 0.0],
            [0.0, 0.0, 0.0, 0.0],
            [30.0, 0.0, 0.0, 0.0],
            [0.0, 0.0, 40.0, 0.0],
        ]
    )
    np.testing.assert_array_equal(dX[0, :, :, 0], expected)
    # PyTorch routes ties the same way
    Xt = to_torch(X)
    F.max_pool2d(Xt, 2).backward(
        torch.tensor([[[[10.0, 20.0], [30.0, 40.0]]]], dtype=torch.float64)
    )
    np.testing.assert_array_equal(from_torch(Xt.grad), dX)


def test_ties_random_integers_match_torch_and_loops():
    """Many ties (small integers), overlapping windows: one winner per window, the first one."""
    import torch
    import torch.nn.functional as F

    X = np.random.default_rng(0).integers(0, 3, size=(2, 7, 7, 3)).astype(np.float64)
    layer = cr.MaxPool2D(3, stride=2)
    A, G, dX = run(layer, X)
    Xt = to_torch(X)
    F.max_pool2d(Xt, 3, 2).backward(torch.tensor(np.moveaxis(G, -1, 0)))
    np.testing.assert_allclose(dX, from_torch(Xt.grad), atol=1e-12)
    np.testing.assert_allclose(dX, maxpool2d_backward(X, G, 3, 2), atol=1e-12)
    # exactly one winner per window: the gradient mass is conserved
    np.testing.assert_allclose(dX.sum(), G.sum())


def test_hand_worked_avgpool():
    X = np.arange(16.0).reshape(1, 4, 4, 1)
    layer = cr.AvgPool2D(2)
    np.testing.assert_array_equal(layer.forward(X)[0, :, :, 0], [[2.5, 4.5], [10.5, 12.5]])
    dX = layer.backward(np.full((1, 2, 2, 1), 4.0))
    np.testing.assert_array_equal(dX, np.ones_like(X))


@pytest.mark.parametrize("k,s", [(2, None), (3, 1), (3, 2)])
def test_loops_equal_vectorized(k, s):
    X = np.random.default_rng(k).standard_normal((3, 8, 7, 2))
    for layer, fwd, bwd in [
        (cr.MaxPool2D(k, stride=s), maxpool2d_forward, maxpool2d_backward),
        (cr.AvgPool2D(k, stride=s), avgpool2d_forward, avgpool2d_backward),
    ]:
        A, G, dX = run(layer, X)
        np.testing.assert_allclose(A, fwd(X, k, s), atol=1e-12)
        np.testing.assert_allclose(dX, bwd(X, G, k, s), atol=1e-12)


def test_float32_in_float32_out_and_no_parameters():
    X = np.random.default_rng(0).standard_normal((2, 4, 4, 3)).astype(np.float32)
    for layer in (cr.MaxPool2D(2), cr.AvgPool2D(2)):
        A = layer.forward(X)
        assert A.dtype == np.float32 and layer.backward(A).dtype == np.float32
        assert layer.n_params == 0


def test_bad_arguments_and_inputs():
    with pytest.raises(ValueError, match="at most half"):
        cr.MaxPool2D(2, padding=2)
    with pytest.raises(TypeError):
        cr.MaxPool2D(2.0)
    with pytest.raises(ValueError):
        cr.MaxPool1D(0)
    with pytest.raises(ValueError, match=r"\(C, H, W, m\)"):
        cr.MaxPool2D(2).forward(np.zeros((1, 4, 4)))
    with pytest.raises(ValueError, match="does not fit"):
        cr.MaxPool2D(5).output_shape((1, 4, 4))
    assert cr.MaxPool2D(2).output_shape((3, 7, 9)) == (3, 3, 4)
    assert cr.AvgPool1D(3, stride=2).output_shape((2, 9)) == (2, 4)
