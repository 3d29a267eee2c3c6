"""Predictions through the fast engine's kept buffers: right across calls, sizes and threads."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

import chainrule as cr
from chainrule.fast import inference


def _net() -> cr.Sequential:
    net = cr.Sequential(
        [cr.Dense(6, 9, seed=0), cr.ReLU(), cr.Dense(9, 4, seed=1), cr.Softmax()],
        dtype=np.float64,
    )
    net.is_fitted = True
    return net


def _reference(net: cr.Sequential, X: np.ndarray) -> np.ndarray:
    A = X.T
    for layer in net.eval().layers:
        A = layer.forward(A)
    return A.T


def test_kept_buffers_give_fresh_right_answers_for_every_batch_size() -> None:
    net = _net()
    rng = np.random.default_rng(0)
    first = None
    for m in (5, 7, 5, 1, 7, 5):
        X = rng.standard_normal((m, 6))
        P = net.predict_proba(X)
        np.testing.assert_allclose(P, _reference(net, X), rtol=1e-13)
        if first is None:
            first, kept = P, P.copy()
    np.testing.assert_array_equal(first, kept)  # an earlier result is never overwritten
    assert len(inference._BUFFERS[net].sets) <= 2


def test_two_threads_predicting_with_one_network_do_not_mix_their_numbers() -> None:
    net = _net()
    rng = np.random.default_rng(1)
    batches = [rng.standard_normal((64, 6)) for _ in range(40)]
    expected = [_reference(net, X) for X in batches]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(net.predict_proba, batches))
    for P, R in zip(got, expected):
        np.testing.assert_allclose(P, R, rtol=1e-13)


def test_kept_products_follow_weights_changed_in_place_or_replaced() -> None:
    """The prepared products of layers 2..L hold W's address: a W updated in place is read
    as it is now, and a W replaced by a new array is prepared again (never the stale one)."""
    net = _net()
    X = np.random.default_rng(2).standard_normal((8, 6))
    net.predict_proba(X)  # prepares the products
    dense = net.layers[2]
    dense.W *= -2.0  # in place
    np.testing.assert_allclose(net.predict_proba(X), _reference(net, X), rtol=1e-13)
    dense.W = np.ascontiguousarray(dense.W[:, ::-1])  # a new array
    dense.b = dense.b + 1.0
    np.testing.assert_allclose(net.predict_proba(X), _reference(net, X), rtol=1e-13)


def test_relu_prediction_keeps_nan_and_inf_from_the_weights() -> None:
    """maximum against the zeros buffer propagates NaN as the reference ReLU does: a broken
    weight shows up in the output, never as a silent 0."""
    net = _net()
    X = np.random.default_rng(3).standard_normal((5, 6))
    net.layers[0].W[0, :] = np.nan
    P = net.predict_proba(X)
    assert np.isnan(P).all()
