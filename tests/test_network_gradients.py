"""Whole networks: backprop == torch.autograd == finite differences, and a net worked by hand.

The hypothesis test draws networks of random depth, width, hidden activation, output/cost pair
(matched pairs take the fused dC/dZ[L] = (A - Y)/m path, the others the unfused chain) and
initialisation, in float64.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from oracle import (
    TorchTwin,
    chainrule_gradients,
    engine_targets,
    fast_engine_gradients,
    rel_err,
)

import chainrule as cr
from chainrule.model.network import to_engine

HIDDEN = ["sigmoid", "tanh", "relu", "leaky_relu", "identity"]
#: (output activation, cost): the three matched pairs and four unfused ones
HEADS = [
    ("sigmoid", "bce"),
    ("softmax", "ce"),
    ("identity", "mse"),
    ("sigmoid", "mse"),
    ("tanh", "mse"),
    ("softmax", "mse"),
    ("leaky_relu", "mse"),
]


def _labels(loss: str, n_out: int, m: int, rng: np.random.Generator) -> np.ndarray:
    if loss == "ce":
        return rng.integers(0, n_out, size=m)
    if loss == "bce":
        y = rng.integers(0, 2, size=(m, n_out))
        return y[:, 0] if n_out == 1 else y
    y = rng.standard_normal((m, n_out))
    return y[:, 0] if n_out == 1 else y


def _away_from_kinks(net: cr.Sequential, X: np.ndarray, margin: float = 1e-4) -> bool:
    """True when no pre-activation of a ReLU-type layer lies within ``margin`` of 0."""
    A = to_engine(X)
    for i, layer in enumerate(net.layers):
        A = layer.forward(A)
        nxt = net.layers[i + 1] if i + 1 < len(net.layers) else None
        if isinstance(nxt, (cr.ReLU, cr.LeakyReLU)) and np.min(np.abs(A)) < margin:
            return False
    return True


def _agree(a: np.ndarray, b: np.ndarray, rel: float, floor: float = 1e-14) -> bool:
    """Relative error below ``rel``, or, for vanishing gradients (a saturated or deep net whose
    gradients are ~1e-9), an absolute difference at the level of float64 rounding of O(1)
    intermediate terms: cancellation there makes a relative test meaningless."""
    return rel_err(a, b) < rel or float(np.max(np.abs(a - b), initial=0.0)) < floor


def check_network(
    sizes: list[int], hidden: str, head: tuple[str, str], init: str, m: int, seed: int
) -> bool:
    """Backprop vs torch vs fast mode vs finite differences on one random network.

    Returns False (nothing checked) when a ReLU pre-activation lies on the kink.
    """
    output, loss = head
    sizes = list(sizes)
    if output == "softmax":
        sizes[-1] = max(sizes[-1], 2)  # a 1-way softmax is constant
    net = cr.mlp(
        sizes, activation=hidden, output=output, loss=loss, init=init, seed=seed, dtype=np.float64
    )
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((m, sizes[0]))
    y = _labels(loss, sizes[-1], m, rng)
    if not _away_from_kinks(net, X):
        return False

    cost = net.loss_and_gradients(X, y)
    ours = chainrule_gradients(net)
    t_cost, theirs, _ = TorchTwin(net).cost_and_gradients(X, engine_targets(net, y))
    assert cost == pytest.approx(t_cost, rel=1e-12, abs=1e-15)
    assert list(ours) == list(theirs)  # W[1], b[1], W[2], ... in order
    for label in ours:
        assert ours[label].shape == theirs[label].shape, label
        assert _agree(ours[label], theirs[label], 1e-10), (
            label,
            rel_err(ours[label], theirs[label]),
        )

    # fit() runs the same pass in the fast engine (its own buffers, fused cost): same numbers
    fast_cost, fast = fast_engine_gradients(net, X, y)
    assert fast_cost == pytest.approx(cost, rel=1e-12, abs=1e-15)
    for label in ours:
        assert _agree(fast[label], ours[label], 1e-12), label

    # central differences: their noise is ~|C| 1e-16 / eps = 1e-10 per entry, so a parameter
    # whose whole gradient is below 1e-3 is held to an absolute 1e-8 instead of 1e-6 relative
    report = cr.gradcheck(net, X, y)
    assert list(report.errors) == list(ours)
    for label, err in report.errors.items():
        bp, num = report.backprop[label], report.numeric[label]
        if np.linalg.norm(bp) > 1e-3:
            assert err < 1e-6, str(report)
        else:
            assert np.max(np.abs(bp - num)) < 1e-8, str(report)
    return True


@settings(max_examples=25, deadline=None, derandomize=True)
@given(
    sizes=st.lists(st.integers(1, 6), min_size=2, max_size=5),
    hidden=st.sampled_from(HIDDEN),
    head=st.sampled_from(HEADS),
    init=st.sampled_from(["he", "xavier", "normal"]),
    m=st.integers(1, 7),
    seed=st.integers(0, 2**16),
)
def test_random_networks_match_torch_and_finite_differences(
    sizes: list[int], hidden: str, head: tuple[str, str], init: str, m: int, seed: int
) -> None:
    assume(check_network(sizes, hidden, head, init, m, seed))


def test_well_conditioned_random_networks_pass_gradcheck_outright(
    rng: np.random.Generator,
) -> None:
    """Xavier/He-initialised nets with matched heads: report.passed with no special casing."""
    for i in range(6):
        sizes = [int(n) for n in rng.integers(2, 6, size=int(rng.integers(2, 5)))]
        hidden = HIDDEN[i % 2]  # sigmoid, tanh: no kinks
        output, loss = HEADS[i % 3]
        if output == "softmax":
            sizes[-1] = max(sizes[-1], 2)
        net = cr.mlp(sizes, activation=hidden, output=output, seed=i, dtype=np.float64)
        X = rng.standard_normal((5, sizes[0]))
        report = cr.gradcheck(net, X, _labels(loss, sizes[-1], 5, rng))
        assert report.passed and report.max_error < 1e-6, str(report)


def test_one_unit_network_by_hand() -> None:
    """x = 1, w = ln 3, b = 0, y = 1, m = 1 (sigmoid output, BCE), worked on paper:

    z = ln 3, a = 1/(1 + 1/3) = 3/4, C = -log(3/4) = log(4/3),
    dC/dz = a - y = -1/4, dC/dw = dC/dz * x = -1/4, dC/db = dC/dz = -1/4.
    """
    net = cr.Sequential([cr.Dense(1, 1), cr.Sigmoid()], dtype=np.float64)
    net.layers[0].W = np.array([[math.log(3.0)]])
    net.layers[0].b = np.array([[0.0]])
    cost = net.loss_and_gradients(np.array([[1.0]]), np.array([1]))
    assert cost == pytest.approx(math.log(4 / 3), rel=1e-14)
    assert net.layers[0].dC_dW[0, 0] == pytest.approx(-0.25, rel=1e-14)
    assert net.layers[0].dC_db[0, 0] == pytest.approx(-0.25, rel=1e-14)


# The notebook's 2-3-3-1 sigmoid net with small fixed weights, on two standardized examples.
W1 = [[0.1, -0.2], [0.3, 0.1], [-0.1, 0.2]]
B1 = [0.05, -0.05, 0.0]
W2 = [[0.2, -0.1, 0.1], [0.0, 0.3, -0.2], [0.1, 0.1, 0.1]]
B2 = [0.0, 0.1, -0.1]
W3 = [[0.3, -0.2, 0.1]]
B3 = [0.02]
XS = [[1.0, -0.5], [-1.0, 2.0]]
YS = [1, 0]


def _sig(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


def _by_hand() -> tuple[float, dict[str, list]]:
    """The chain rule one scalar at a time (no matrices): the notebook's equations unrolled."""
    m = len(XS)
    g = {
        "W1": [[0.0] * 2 for _ in range(3)],
        "b1": [0.0] * 3,
        "W2": [[0.0] * 3 for _ in range(3)],
        "b2": [0.0] * 3,
        "W3": [[0.0] * 3],
        "b3": [0.0],
    }
    cost = 0.0
    for x, y in zip(XS, YS):
        z1 = [sum(W1[i][k] * x[k] for k in range(2)) + B1[i] for i in range(3)]
        a1 = [_sig(z) for z in z1]
        z2 = [sum(W2[i][k] * a1[k] for k in range(3)) + B2[i] for i in range(3)]
        a2 = [_sig(z) for z in z2]
        a3 = _sig(sum(W3[0][k] * a2[k] for k in range(3)) + B3[0])
        cost += -(y * math.log(a3) + (1 - y) * math.log(1 - a3)) / m
        dz3 = (a3 - y) / m  # sigmoid + BCE, the 1/m here only
        for k in range(3):
            g["W3"][0][k] += dz3 * a2[k]
        g["b3"][0] += dz3
        dz2 = [W3[0][i] * dz3 * a2[i] * (1 - a2[i]) for i in range(3)]
        for i in range(3):
            for k in range(3):
                g["W2"][i][k] += dz2[i] * a1[k]
            g["b2"][i] += dz2[i]  # the bias collects dC/dZ, not dC/dW
        da1 = [sum(W2[i][k] * dz2[i] for i in range(3)) for k in range(3)]  # W2.T @ dz2
        dz1 = [da1[i] * a1[i] * (1 - a1[i]) for i in range(3)]
        for i in range(3):
            for k in range(2):
                g["W1"][i][k] += dz1[i] * x[k]
            g["b1"][i] += dz1[i]
    return cost, g


def _notebook_net() -> cr.Sequential:
    net = cr.mlp([2, 3, 3, 1], activation="sigmoid", output="sigmoid", seed=0, dtype=np.float64)
    for layer, W, b in zip(net.layers[::2], (W1, W2, W3), (B1, B2, B3)):
        layer.W = np.array(W, dtype=np.float64)
        layer.b = np.array(b, dtype=np.float64).reshape(-1, 1)
    return net


def test_notebook_2_3_3_1_net_by_hand() -> None:
    net = _notebook_net()
    cost = net.loss_and_gradients(np.array(XS), np.array(YS))
    hand_cost, g = _by_hand()
    assert cost == pytest.approx(hand_cost, rel=1e-13)
    for l, layer in enumerate(net.layers[::2], start=1):
        np.testing.assert_allclose(layer.dC_dW, g[f"W{l}"], rtol=1e-11, atol=1e-16)
        np.testing.assert_allclose(layer.dC_db[:, 0], g[f"b{l}"], rtol=1e-11, atol=1e-16)
    # and the same net against torch and finite differences
    _, theirs, _ = TorchTwin(net).cost_and_gradients(np.array(XS), np.array([YS], dtype=float))
    for label, ours in chainrule_gradients(net).items():
        assert rel_err(ours, theirs[label]) < 1e-12
    # b[1]'s gradient is tiny, so eps = 1e-6 leaves ~1e-7 of rounding noise (|C| 1e-16 / eps
    # relative to it); eps = 1e-5 keeps truncation and rounding both below 1e-8
    assert cr.gradcheck(net, np.array(XS), np.array(YS), eps=1e-5).max_error < 1e-7


def test_notebook_raw_toy_data_matches_torch() -> None:
    """The notebook's unscaled data and randn weights: saturated, tiny gradients, still exact."""
    data = cr.datasets.load("toy")
    net = cr.mlp(
        [2, 3, 3, 1],
        activation="sigmoid",
        output="sigmoid",
        init="normal",
        seed=1,
        dtype=np.float64,
    )
    cost = net.loss_and_gradients(data.X_train, data.y_train)
    t_cost, theirs, _ = TorchTwin(net).cost_and_gradients(
        data.X_train, engine_targets(net, data.y_train)
    )
    assert cost == pytest.approx(t_cost, rel=1e-12)
    for label, ours in chainrule_gradients(net).items():
        assert rel_err(ours, theirs[label]) < 1e-10


def test_float32_network_agrees_with_float64(rng: np.random.Generator) -> None:
    net32 = cr.mlp([5, 8, 3], activation="tanh", output="softmax", seed=2)
    assert net32.dtype == np.float32
    net64 = net32.astype(np.float64)
    X, y = rng.standard_normal((16, 5)), rng.integers(0, 3, size=16)
    c32 = net32.loss_and_gradients(X, y)
    c64 = net64.loss_and_gradients(X, y)
    assert c32 == pytest.approx(c64, rel=1e-5)
    g32, g64 = chainrule_gradients(net32), chainrule_gradients(net64)
    for label in g64:
        assert g32[label].dtype == np.float32
        assert rel_err(g32[label], g64[label]) < 1e-5
