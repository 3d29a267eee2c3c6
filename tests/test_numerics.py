"""Numerics: activations and costs exact and warning-free up to |z| = 1e4; divergence stops cleanly.

References are written independently with the ``math`` module, one scalar at a time, using
closed forms that never overflow (softplus(x) = max(x, 0) + log1p(exp(-|x|)), a shifted
log-sum-exp with math.fsum). Warnings are errors in this suite, and every check also runs under
``np.errstate(over/invalid/divide="raise")``, so an overflow anywhere fails the test.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule.nn import functional as F
from chainrule.nn.losses import BinaryCrossEntropy, CrossEntropy

DTYPES = [np.float32, np.float64]
Z_GRID = [
    -1e4, -3e3, -1e3, -745.0, -709.0, -200.0, -103.0, -88.7, -50.0, -20.0, -1.0, -1e-8,
    0.0, 1e-8, 1.0, 15.0, 20.0, 36.0, 50.0, 88.7, 100.0, 709.0, 1e3, 3e3, 1e4,
]  # fmt: skip


@pytest.fixture(autouse=True)
def strict_floats() -> Any:
    with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
        yield


# --- scalar references with the math module ---------------------------------------------------
def softplus(x: float) -> float:
    """log(1 + e^x), never overflowing."""
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


def ref_sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))


def ref_log_sigmoid(z: float) -> float:
    return -softplus(-z)


def ref_logsumexp(zs: list[float]) -> float:
    k = zs.index(max(zs))
    return zs[k] + math.log1p(math.fsum(math.exp(z - zs[k]) for i, z in enumerate(zs) if i != k))


def ref_softmax(zs: list[float]) -> list[float]:
    top = max(zs)
    total = math.fsum(math.exp(z - top) for z in zs)
    return [math.exp(z - top) / total for z in zs]


def ref_log_softmax(zs: list[float]) -> list[float]:
    """(z - max) - log1p(sum of the other exp(z - max)): z - max is exact, nothing cancels."""
    k = zs.index(max(zs))
    log_total = math.log1p(math.fsum(math.exp(z - zs[k]) for i, z in enumerate(zs) if i != k))
    return [(z - zs[k]) - log_total for z in zs]


def close(got: np.ndarray, ref: Any, dtype: type) -> None:
    """Within a few ulp of the reference, or both below the smallest normal number."""
    eps = float(np.finfo(dtype).eps)
    np.testing.assert_allclose(
        np.asarray(got, dtype=np.float64),
        np.asarray(ref, dtype=np.float64),
        rtol=8 * eps,
        atol=float(np.finfo(dtype).tiny),
    )


def grid(dtype: type) -> np.ndarray:
    return np.array(Z_GRID, dtype=dtype)


# --- activations --------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_exact(dtype: type) -> None:
    z = grid(dtype)
    got = F.sigmoid(z)
    assert got.dtype == dtype
    close(got, [ref_sigmoid(float(v)) for v in z], dtype)
    assert F.sigmoid(np.array([1e4], dtype))[0] == 1.0
    assert F.sigmoid(np.array([-1e4], dtype))[0] == 0.0
    assert F.sigmoid(np.array([0.0], dtype))[0] == 0.5


@pytest.mark.parametrize("dtype", DTYPES)
def test_log_sigmoid_exact(dtype: type) -> None:
    z = grid(dtype)
    got = F.log_sigmoid(z)
    close(got, [ref_log_sigmoid(float(v)) for v in z], dtype)
    assert F.log_sigmoid(np.array([-1e4], dtype))[0] == -1e4  # not -inf, not log(0)


def logit_columns(dtype: type) -> np.ndarray:
    """(K, m) logits: huge gaps, ties, all-equal, all-huge-negative columns."""
    cols = [
        [1e4, -1e4, 0.0],
        [-1e4, -1e4, -1e4],
        [1e4, 1e4, 1e4],
        [1e4, 1e4 - 1, -1e4],
        [0.0, 0.0, 0.0],
        [-3e3, 2.5, -7.0],
        [88.0, 89.0, 90.0],
        [-1e4, 1e4, -5e3],
    ]
    return np.array(cols, dtype=dtype).T


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_exact(dtype: type) -> None:
    Z = logit_columns(dtype)
    got = F.softmax(Z, axis=0)
    assert got.dtype == dtype
    ref = np.array([ref_softmax([float(v) for v in col]) for col in Z.T]).T
    close(got, ref, dtype)
    np.testing.assert_allclose(got.sum(axis=0), 1.0, rtol=4 * float(np.finfo(dtype).eps))
    layer = cr.Softmax()
    close(layer.forward(Z), ref, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_log_softmax_exact(dtype: type) -> None:
    Z = logit_columns(dtype)
    got = F.log_softmax(Z, axis=0)
    ref = np.array([ref_log_softmax([float(v) for v in col]) for col in Z.T]).T
    assert np.all(np.isfinite(got))  # -2e4, never -inf
    close(got, ref, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_activation_layers_finite_forward_and_backward(dtype: type) -> None:
    Z = np.tile(grid(dtype), (2, 1))
    dA = np.ones_like(Z)
    for layer in (cr.Sigmoid(), cr.Tanh(), cr.ReLU(), cr.LeakyReLU(), cr.Softmax(), cr.Identity()):
        A = layer.forward(Z)
        dZ = layer.backward(dA)
        assert np.all(np.isfinite(A)) and np.all(np.isfinite(dZ)), type(layer).__name__
        assert A.dtype == dtype and dZ.dtype == dtype, type(layer).__name__


# --- costs ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
def test_bce_from_logits_exact(dtype: type) -> None:
    z = grid(dtype)
    Z = np.concatenate([z, z])[None, :]  # (1, m): every logit with label 1 and with label 0
    Y = np.concatenate([np.ones_like(z), np.zeros_like(z)])[None, :]
    per = [
        float(yv) * softplus(-float(zv)) + (1 - float(yv)) * softplus(float(zv))
        for zv, yv in zip(Z[0], Y[0])
    ]
    ref = math.fsum(per) / Z.shape[1]
    got = BinaryCrossEntropy().cost_from_logits(Z, Y)
    assert math.isfinite(got)
    assert got == pytest.approx(ref, rel=8 * float(np.finfo(dtype).eps))
    # one confidently wrong example costs exactly its logit
    one = BinaryCrossEntropy().cost_from_logits(np.array([[1e4]], dtype), np.array([[0.0]], dtype))
    assert one == 1e4


@pytest.mark.parametrize("dtype", DTYPES)
def test_ce_from_logits_exact(dtype: type) -> None:
    Z = logit_columns(dtype)
    K, m = Z.shape
    labels = np.arange(m) % K
    Y = np.zeros((K, m), dtype)
    Y[labels, np.arange(m)] = 1
    per = [ref_logsumexp([float(v) for v in Z[:, j]]) - float(Z[labels[j], j]) for j in range(m)]
    ref = math.fsum(per) / m
    got = CrossEntropy().cost_from_logits(Z, Y)
    assert got == pytest.approx(ref, rel=8 * float(np.finfo(dtype).eps))
    # a 2e4 gap in the wrong direction costs exactly 2e4
    Z1 = np.array([[1e4], [-1e4]], dtype)
    assert CrossEntropy().cost_from_logits(Z1, np.array([[0.0], [1.0]], dtype)) == 2e4


@pytest.mark.parametrize("dtype", DTYPES)
def test_probability_costs_finite_at_0_and_1(dtype: type) -> None:
    """The unfused path (probabilities in) clips instead of taking log(0)."""
    A = np.array([[0.0, 1.0, 0.0, 1.0, 0.5]], dtype)
    Y = np.array([[0.0, 1.0, 1.0, 0.0, 1.0]], dtype)
    bce = BinaryCrossEntropy()
    assert math.isfinite(bce.cost(A, Y))
    assert np.all(np.isfinite(bce.gradient(A, Y)))
    A2 = np.array([[1.0, 0.0], [0.0, 1.0]], dtype)
    Y2 = np.array([[0.0, 0.0], [1.0, 1.0]], dtype)
    ce = CrossEntropy()
    assert math.isfinite(ce.cost(A2, Y2))
    assert np.all(np.isfinite(ce.gradient(A2, Y2)))
    # away from the clip the unfused costs are exact too
    p = np.array([[0.3, 0.9]], dtype)
    yv = np.array([[1.0, 0.0]], dtype)
    ref = (-math.log(float(p[0, 0])) - math.log(1 - float(p[0, 1]))) / 2
    assert bce.cost(p, yv) == pytest.approx(ref, rel=32 * float(np.finfo(dtype).eps))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("output", ["sigmoid", "softmax"])
def test_network_with_huge_logits(dtype: type, output: str) -> None:
    """End to end: logits of +-1e4 give the exact cost and finite gradients, no warning."""
    K = 1 if output == "sigmoid" else 3
    net = cr.Sequential([cr.Dense(2, K), cr.Sigmoid() if K == 1 else cr.Softmax()], dtype=dtype)
    dense = net.layers[0]
    dense.W[...] = np.array([[1e4, -1e4], [-1e4, 1e4], [0.0, 0.0]][:K], dtype)
    dense.b[...] = 0
    X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], dtype)
    y = np.array([0, 0, 1]) if K == 1 else np.array([1, 2, 0])
    cost = net.loss_and_gradients(X, y)
    Z = net.layers[0].forward(X.T)
    if K == 1:
        ref = np.mean(
            [softplus(float(z)) if t == 0 else softplus(-float(z)) for z, t in zip(Z[0], y)]
        )
    else:
        ref = np.mean(
            [ref_logsumexp([float(v) for v in Z[:, j]]) - float(Z[y[j], j]) for j in range(3)]
        )
    assert cost == pytest.approx(float(ref), rel=1e-6)
    assert cost >= 1e4 / 3  # confidently wrong examples cost about 1e4 each, not inf
    assert np.all(np.isfinite(dense.dC_dW)) and np.all(np.isfinite(dense.dC_db))
    net.is_fitted = True
    assert np.all(np.isfinite(net.predict_proba(X)))


# --- divergence -----------------------------------------------------------------------------------
def digits() -> cr.datasets.Dataset:
    return cr.datasets.load("digits")


def test_divergence_stops_with_clear_message_and_initial_weights() -> None:
    d = digits()
    net = cr.mlp([64, 32, 10], seed=0)
    initial = [P.copy() for _, P, _, _ in net.parameters()]
    with pytest.warns(cr.DivergenceWarning) as record:
        history = net.fit(d.X_train, d.y_train, epochs=5, lr=1e3, verbose=False, standardize=True)
    assert len(record) == 1  # and no RuntimeWarning (pytest.warns re-raises unmatched ones)
    message = str(record[0].message)
    assert "diverged at epoch 1" in message
    assert "smaller" in message and "lr=1000" in message
    assert history["diverged_at_epoch"] == [1]
    assert history["cost"] == []
    for before, (_, P, _, _) in zip(initial, net.parameters()):
        assert np.array_equal(before, P)
    assert np.all(np.isfinite(net.predict_proba(d.X_test)))


def test_divergence_keeps_last_finite_epoch() -> None:
    """SGD with lr=3 on digits: epochs 1 and 2 finite, epoch 3 NaN -> epoch 2's weights."""
    d = digits()
    net = cr.mlp([64, 32, 10], seed=0)
    seen: dict[int, list[np.ndarray]] = {}

    def record(net: cr.Sequential, epoch: int, logs: dict[str, Any]) -> None:
        seen[epoch] = [P.copy() for _, P, _, _ in net.parameters()]

    with pytest.warns(cr.DivergenceWarning, match=r"epoch 3.*weights from epoch 2.*smaller"):
        history = net.fit(
            d.X_train,
            d.y_train,
            epochs=8,
            lr=3.0,
            verbose=False,
            standardize=True,
            seed=0,
            callbacks=[record],
        )
    assert history["diverged_at_epoch"] == [3]
    assert len(history["cost"]) == 2 and all(math.isfinite(c) for c in history["cost"])
    for kept, (_, P, _, _) in zip(seen[2], net.parameters()):
        assert np.array_equal(kept, P)
        assert np.all(np.isfinite(P))
    assert net.is_fitted


def test_divergence_with_checkpoint_keeps_finite_checkpoint(tmp_path: Any) -> None:
    d = digits()
    net = cr.mlp([64, 32, 10], seed=0)
    path = tmp_path / "run.npz"
    with pytest.warns(cr.DivergenceWarning):
        net.fit(
            d.X_train, d.y_train, epochs=8, lr=3.0, verbose=False, standardize=True, seed=0,
            checkpoint=path,
        )  # fmt: skip
    saved = cr.load(path)
    for (_, P, _, _), (_, Q, _, _) in zip(net.parameters(), saved.parameters()):
        assert np.array_equal(P, Q)  # the epoch-2 checkpoint: the weights fit kept
