"""The fast engine's ConvPlan computes what the reference layers compute, ties included."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
from chainrule.fast import conv_pool
from chainrule.fast.blas import SMALL_PRODUCT
from chainrule.fast.conv import ConvPlan, why_not_conv_plan
from chainrule.model.cnn import cnn1d, lenet

F64 = np.float64


def _reference(net: cr.Sequential, A0: np.ndarray, Y: np.ndarray) -> tuple[float, dict]:
    cost, _ = net.forward_backward(A0, Y)
    return cost, {k: G.copy() for k, _, G, _ in net.parameters()}


def _check_equal(
    net: cr.Sequential, A0: np.ndarray, Y: np.ndarray, rtol: float = 1e-12, workers: int = 1
) -> None:
    cost, ref = _reference(net, A0, Y)
    net.zero_grad()
    fast_cost, A = ConvPlan(net, workers=workers).forward_backward(A0, Y)
    assert fast_cost == pytest.approx(cost, rel=rtol)
    assert A.shape == Y.shape
    for k, _, G, _ in net.parameters():
        np.testing.assert_allclose(G, ref[k], rtol=rtol, atol=1e-14, err_msg=k)


def _net(draw: st.DrawFn) -> tuple[cr.Sequential, tuple[int, ...]]:
    C, H, W = draw(st.integers(1, 3)), draw(st.integers(5, 11)), draw(st.integers(5, 11))
    layers: list = []
    shape = (C, H, W)
    for _ in range(draw(st.integers(1, 2))):
        s, p = draw(st.integers(1, 2)), draw(st.integers(0, 1))
        k = draw(st.integers(1, min(3, shape[1] + 2 * p, shape[2] + 2 * p)))
        out = draw(st.integers(1, 4))
        conv = cr.Conv2D(shape[0], out, k, stride=s, padding=p, seed=draw(st.integers(0, 9)))
        layers.append(conv)
        shape = conv.output_shape(shape)
        if draw(st.booleans()):
            layers.append(cr.ReLU())
        pk = draw(st.sampled_from([0, 2, 3]))
        if pk and shape[1] >= pk and shape[2] >= pk:
            layers.append(cr.MaxPool2D(pk))  # stride = kernel; odd sizes leave rows out
            shape = layers[-1].output_shape(shape)
    layers.append(cr.Flatten())
    n = int(np.prod(shape))
    if draw(st.booleans()):
        layers += [cr.Dense(n, 5, seed=1), cr.ReLU()]
        n = 5
    layers += [cr.Dense(n, 3, seed=2), cr.Softmax()]
    return cr.Sequential(layers, input_shape=(C, H, W), dtype=F64), (C, H, W)


@settings(max_examples=40, deadline=None)
@given(data=st.data(), m=st.integers(1, 5), ties=st.booleans(), workers=st.integers(1, 3))
def test_random_conv_nets_equal_the_reference(
    data: st.DataObject, m: int, ties: bool, workers: int
) -> None:
    """Random strides, paddings, pools (odd sizes included), with and without slices."""
    net, (C, H, W) = _net(data.draw)
    rng = np.random.default_rng(m)
    # ties: small integers, so pooling windows often hold equal maxima (and exact zeros)
    X = rng.integers(-2, 3, (C, H, W, m)).astype(F64) if ties else rng.standard_normal((C, H, W, m))
    Y = np.eye(3)[:, rng.integers(0, 3, m)]
    _check_equal(net, X, Y, workers=workers)


@pytest.mark.parametrize(("m", "workers"), [(1, 1), (7, 1), (7, 2), (7, 3)])
def test_the_mnist_cnns_equal_the_reference(m: int, workers: int) -> None:
    rng = np.random.default_rng(0)
    net = lenet((1, 12, 12), channels=(4, 6), kernel_size=3, hidden=9, seed=0, dtype=F64)
    Y = np.eye(10)[:, rng.integers(0, 10, m)]
    _check_equal(net, rng.standard_normal((1, 12, 12, m)), Y, workers=workers)
    net1 = cnn1d((1, 40), channels=(5, 5, 5), kernel_size=(5, 3, 3), seed=0, dtype=F64)
    _check_equal(net1, rng.standard_normal((1, 40, m)), Y, workers=workers)


def _fit_on_both_engines(nets: list, X: np.ndarray, y: np.ndarray) -> None:
    """Three epochs of Adam: nets[0] on the fast engine, nets[1] on the reference, the same
    seed; their per-epoch costs agree."""
    kw = {"epochs": 3, "batch_size": 16, "optimizer": "adam", "lr": 1e-2, "verbose": False}
    ha = nets[0].fit(X, y, engine="fast", seed=0, **kw)
    hb = nets[1].fit(X, y, engine="reference", seed=0, **kw)
    np.testing.assert_allclose(ha["cost"], hb["cost"], rtol=1e-11)


def test_fit_on_the_fast_engine_trains_as_the_reference() -> None:
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((50, 1, 10, 10)), rng.integers(0, 4, 50)
    nets = [lenet((1, 10, 10), (3, 4), 3, hidden=8, n_classes=4, seed=0, dtype=F64) for _ in "ab"]
    _fit_on_both_engines(nets, X, y)
    for (k, P, G, _), (_, Q, H, _) in zip(nets[0].parameters(), nets[1].parameters()):
        np.testing.assert_allclose(P, Q, rtol=1e-10, atol=1e-13, err_msg=k)
        np.testing.assert_allclose(G, H, rtol=1e-9, atol=1e-13, err_msg=k)


def test_dropout_trains_as_the_reference_engine_trains_it() -> None:
    """Dropout after the hidden Dense layer: the plan runs the layer itself, so its masks come
    from the same generator in the same order, and weights agree after epochs of Adam."""
    rng = np.random.default_rng(2)
    X, y = rng.standard_normal((40, 1, 10, 10)), rng.integers(0, 4, 40)
    nets = [
        lenet((1, 10, 10), (3, 4), 3, hidden=8, n_classes=4, dropout=0.3, seed=0, dtype=F64)
        for _ in "ab"
    ]
    _fit_on_both_engines(nets, X, y)
    for (k, P, _, _), (_, Q, _, _) in zip(nets[0].parameters(), nets[1].parameters()):
        np.testing.assert_allclose(P, Q, rtol=1e-10, atol=1e-13, err_msg=k)
    # and in prediction mode the dropout is the identity, through the plan's forward too
    np.testing.assert_allclose(nets[0].predict_proba(X), nets[1].predict_proba(X), rtol=1e-9)


def test_which_networks_the_plan_takes() -> None:
    assert why_not_conv_plan(lenet(seed=0)) is None
    assert why_not_conv_plan(cnn1d(seed=0)) is None
    assert why_not_conv_plan(lenet(dropout=0.5, seed=0)) is None  # Dropout after a Dense
    assert ConvPlan(lenet(dropout=0.5, seed=0)).slices.workers == 1  # its masks: never sliced
    assert "BatchNorm" in why_not_conv_plan(lenet(batchnorm=True, seed=0))
    overlapping = cr.Sequential(
        [
            cr.Conv2D(1, 2, 3),
            cr.MaxPool2D(3, stride=2),
            cr.Flatten(),
            cr.Dense(18, 2),
            cr.Softmax(),
        ],
        input_shape=(1, 9, 9),
    )
    assert "stride or padding" in why_not_conv_plan(overlapping)
    mlp = cr.Sequential([cr.Dense(4, 2), cr.Softmax()])
    assert "does not start with a convolution" in why_not_conv_plan(mlp)
    X = np.random.default_rng(0).standard_normal((8, 1, 28, 28))
    with pytest.raises(ValueError, match="engine='fast' does not support"):
        lenet(batchnorm=True, seed=0).fit(
            X, np.arange(8) % 10, epochs=1, engine="fast", verbose=False
        )


def test_a_wrong_tie_rule_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """Negative control: letting the LAST maximum of a window win fails the equality check.

    Integer inputs and first-layer weights make equal values from DIFFERENT patches, so where
    a tied window sends its gradient changes dC_dW (equal patches would hide the rule).
    """
    net = lenet((1, 12, 12), channels=(3, 3), kernel_size=3, hidden=5, seed=0, dtype=F64)
    rng = np.random.default_rng(0)
    net.layers[0].W = rng.integers(-1, 2, net.layers[0].W.shape).astype(F64)
    X = rng.integers(-1, 2, (1, 12, 12, 4)).astype(F64)
    Y = np.eye(10)[:, [1, 2, 3, 4]]
    _check_equal(net, X, Y)  # the right rule passes
    scan = conv_pool.PooledConvStage._offsets
    monkeypatch.setattr(conv_pool.PooledConvStage, "_offsets", lambda self: scan(self)[::-1])
    with pytest.raises(AssertionError):
        _check_equal(net, X, Y)


@pytest.mark.parametrize("m", [1, 33, 70])
def test_predictions_through_the_plan_equal_the_reference(m: int) -> None:
    """forward_in_batches (predict, predict_proba, score) runs CNNs in chunks of the plan."""
    rng = np.random.default_rng(3)
    net = lenet((1, 10, 10), channels=(3, 4), kernel_size=3, hidden=6, seed=0, dtype=F64)
    A0 = rng.standard_normal((1, 10, 10, m))
    net.eval()
    ref = A0
    for layer in net.layers:
        ref = layer.forward(ref)
    np.testing.assert_allclose(net.forward_in_batches(A0), ref, rtol=1e-13, atol=1e-15)
    X = np.moveaxis(A0, -1, 0)
    net.is_fitted = True  # as after fit
    np.testing.assert_allclose(net.predict_proba(X), ref.T, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize(
    ("O", "K1", "P"), [(16, 10, 9000), (8, 5, 60000), (3, 4, 4097), (40, 30, 5000), (2, 3, 7)]
)
def test_weight_gradient_in_chunks_is_the_one_product(O: int, K1: int, P: int) -> None:
    """Small results over long sums run as several shorter products: the same sum."""
    rng = np.random.default_rng(5)
    dZ2, cols = rng.standard_normal((O, P)), rng.standard_normal((K1, P))
    got = conv_pool.weight_gradient(dZ2, cols, np.zeros((O, K1)))
    np.testing.assert_allclose(got, dZ2 @ cols.T, rtol=1e-12, atol=1e-12)


def test_the_mnist_cnn_with_chunked_first_layer_gradients_equals_the_reference() -> None:
    """28 x 28 images, m = 30: the first conv's sum runs over 14*14*30 = 5880 terms per offset,
    more than one fast product takes for its (16, 10) result, so [dC_dW | dC_db] is computed
    in two pieces."""
    net = lenet(channels=(16, 6), kernel_size=3, hidden=8, seed=0, dtype=F64)
    assert 5880 > SMALL_PRODUCT // (16 * 10)
    rng = np.random.default_rng(6)
    A0 = rng.random((1, 28, 28, 30))
    Y = np.eye(10)[:, rng.integers(0, 10, 30)]
    _check_equal(net, A0, Y)


def test_small_product_step_cuts_only_where_the_pieces_stay_long() -> None:
    from chainrule.fast.blas import small_product_step

    assert small_product_step(6272, 16 * 10, minimum=1024) == 3136  # 2 pieces of <= 5625
    assert small_product_step(25088, 16 * 10, minimum=1024) == 5018  # 5 pieces
    assert small_product_step(5000, 16 * 10, minimum=1024) == 5000  # one product is small
    assert small_product_step(1568, 32 * 145, minimum=1024) == 1568  # pieces would be < 1024
