"""Predictions through the fast engine's kept buffers: right across calls, sizes and threads."""

from __future__ import annotations

import gc
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import chainrule as cr
from chainrule.fast import inference
from chainrule.model.cnn import lenet


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
    assert len(inference._BUFFERS[id(net)].sets) <= 2


def test_a_collected_network_leaves_no_buffers_behind() -> None:
    net = _net()
    net.predict_proba(np.ones((3, 6)))
    key = id(net)
    assert key in inference._BUFFERS
    del net
    gc.collect()
    assert key not in inference._BUFFERS


def test_two_threads_predicting_with_one_network_do_not_mix_their_numbers() -> None:
    net = _net()
    rng = np.random.default_rng(1)
    batches = [rng.standard_normal((64, 6)) for _ in range(40)]
    expected = [_reference(net, X) for X in batches]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(net.predict_proba, batches))
    for P, R in zip(got, expected):
        np.testing.assert_allclose(P, R, rtol=1e-13)


def test_kept_shifts_follow_weights_and_biases_changed_in_place_or_replaced() -> None:
    """The plan carries every hidden ReLU layer's bias into the next layer (e[l]), made again
    at every call: a W or b updated in place, or replaced by a new array, changes e, and the
    next prediction uses the new one (never a stale bias)."""
    net = _net()
    X = np.random.default_rng(2).standard_normal((8, 6))
    net.predict_proba(X)  # keeps the shifts
    first, second = net.layers[0], net.layers[2]
    for change in (
        lambda: first.b.__iadd__(0.5),  # the shifted layer's own bias, in place
        lambda: first.W.__imul__(-2.0),  # its weights do not enter e[1], but Z' changes
        lambda: second.W.__imul__(-2.0),  # e[2] = b[2] + W[2] @ e[1]
        lambda: second.b.__isub__(0.25),  # the output's e[2], in place
        lambda: setattr(second, "b", second.b * 3.0),  # and replaced
        lambda: setattr(first, "b", first.b - 1.0),  # a new array
        lambda: setattr(second, "W", np.ascontiguousarray(second.W[:, ::-1])),
    ):
        change()
        np.testing.assert_allclose(net.predict_proba(X), _reference(net, X), rtol=1e-13)


def test_relu_prediction_keeps_nan_and_inf_from_the_weights() -> None:
    """maximum against -e propagates NaN as the reference ReLU does: a broken
    weight shows up in the output, never as a silent 0."""
    net = _net()
    X = np.random.default_rng(3).standard_normal((5, 6))
    net.layers[0].W[0, :] = np.nan
    P = net.predict_proba(X)
    assert np.isnan(P).all()


def _mlp32() -> cr.Sequential:
    net = cr.mlp([6, 9, 4], activation="relu", output="softmax", seed=0, dtype=np.float32)
    net.is_fitted = True
    return net


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("where", [(0, 0), (3, 5), (4500, 2)])  # (4500, 2): the 2nd batch
def test_a_nan_or_inf_in_x_raises_from_the_first_product(bad: float, where: tuple) -> None:
    """predict reads X's NaN/inf check off Z[1]'s column sums: the same ValueError, naming
    the same first index, as the up-front scan of check_X."""
    X = np.random.default_rng(4).standard_normal((5000, 6)).astype(np.float32)
    X[where] = bad
    with pytest.raises(
        ValueError, match=rf"X contains NaN or inf \(first at index \({where[0]}, {where[1]}\)\)"
    ):
        _mlp32().predict_proba(X)


def test_an_inf_meeting_a_zero_weight_is_still_caught() -> None:
    """inf * 0 = NaN: a feature whose every weight is 0 still poisons its column of Z[1]."""
    net = _mlp32()
    net.layers[0].W[:, 2] = 0.0
    X = np.ones((7, 6), np.float32)
    X[5, 2] = np.inf
    with pytest.raises(ValueError, match=r"first at index \(5, 2\)"):
        net.predict(X)


def test_a_finite_x_whose_product_overflows_is_not_refused() -> None:
    """Z[1] overflowing (huge weights) is not bad input: X is scanned, found finite, and the
    prediction goes on with the reference's numbers."""
    net = _mlp32()
    net.layers[0].W[0, :] = np.float32(3e38)
    X = np.ones((3, 6), np.float32)
    with np.errstate(
        over="ignore", invalid="ignore"
    ):  # the softmax meets the inf as the reference does
        got = net.predict_proba(X)
        ref = _reference(net, X)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))


def test_other_networks_check_x_before_predicting() -> None:
    """A CNN (the conv plan) and a network the fast engine does not take (reference layers)
    refuse a NaN the same way."""
    cnn = lenet((1, 8, 8), channels=(2, 2), kernel_size=3, hidden=4, seed=0)
    cnn.is_fitted = True
    images = np.zeros((3, 1, 8, 8), np.float32)
    images[1, 0, 4, 5] = np.nan
    with pytest.raises(ValueError, match=r"first at index \(1, 0, 4, 5\)"):
        cnn.predict(images)
    other = cr.Sequential([cr.Dense(6, 3, seed=0), cr.LayerNorm(3), cr.Softmax()])
    other.is_fitted = True
    X = np.ones((4, 6))
    X[2, 1] = -np.inf
    with pytest.raises(ValueError, match=r"first at index \(2, 1\)"):
        other.predict_proba(X)


def test_a_float64_inf_for_a_float32_network_is_named_as_such() -> None:
    X = np.ones((4, 6))
    X[1, 3] = np.inf
    with pytest.raises(ValueError, match=r"NaN or inf \(first at index \(1, 3\)\)"):
        _mlp32().predict(X)


def test_prediction_puts_every_network_in_eval_mode() -> None:
    """The MLP plan sets training = False on the net and its layers itself (its stacks are
    all leaves); the conv plan and the reference layers go through net.eval()."""
    rng = np.random.default_rng(4)
    mlp = _net()
    cnn = lenet((1, 8, 8), channels=(2, 2), kernel_size=3, hidden=4, seed=0)
    other = cr.Sequential([cr.Dense(6, 3, seed=0), cr.Dropout(0.5, seed=0), cr.Softmax()])
    for net, X in (
        (mlp, rng.standard_normal((5, 6))),
        (cnn, rng.standard_normal((3, 1, 8, 8)).astype(np.float32)),
        (other, rng.standard_normal((4, 6))),
    ):
        net.is_fitted = True
        net.train()
        net.predict_proba(X)
        assert not any(layer.training for _, layer in net.named_layers())
