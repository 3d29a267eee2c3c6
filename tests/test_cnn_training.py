"""The example architectures learn: the same code as examples/, on small subsets, loose bars.

The full runs (and the accuracy targets: MNIST MLP >= 98%, CNN >= 99%, Fashion CNN >= 90%,
MNIST-1D MLP >= 65%, CNN >= 90%) are in examples/ and docs/conv.md.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule.model.cnn import cnn1d, lenet

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def one_blas_thread():
    """Small matrices on a shared 2-core machine: one BLAS thread is fastest and steady."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


def _acc(net: cr.Sequential, X: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(net.predict(X) == y))


def test_mnist_small_cnn_on_a_subset():
    d = cr.datasets.load("mnist")
    net = lenet((1, 28, 28), channels=(8, 16), hidden=64, dropout=0.25, seed=0)
    hist = net.fit(
        d.X_train[:2000], d.y_train[:2000], epochs=2, lr=2e-3, batch_size=32,
        optimizer="adam", verbose=False, seed=0,
    )  # fmt: skip
    assert hist["cost"][1] < hist["cost"][0]
    assert _acc(net, d.X_test[:1000], d.y_test[:1000]) > 0.85


def test_fashion_small_cnn_on_a_subset():
    d = cr.datasets.load("fashion-mnist")
    net = lenet((1, 28, 28), channels=(8, 16), hidden=64, batchnorm=True, seed=0)
    net.fit(
        d.X_train[:2000], d.y_train[:2000], epochs=2, lr=2e-3, batch_size=32,
        optimizer="adam", verbose=False, seed=0,
    )  # fmt: skip
    assert _acc(net, d.X_test[:1000], d.y_test[:1000]) > 0.70


def test_mnist1d_conv1d_cnn():
    d = cr.datasets.load("mnist1d")
    net = cnn1d((1, 40), channels=(25, 25, 25), seed=0)
    net.fit(
        d.X_train, d.y_train, epochs=12, lr=1e-2, batch_size=100,
        optimizer="adam", verbose=False, seed=0,
    )  # fmt: skip
    assert _acc(net, d.X_test, d.y_test) > 0.75


def test_mnist1d_mlp_on_flat_view():
    d = cr.datasets.load("mnist1d")
    Xtr, Xte = d.X_train.reshape(len(d.X_train), -1), d.X_test.reshape(len(d.X_test), -1)
    net = cr.mlp([40, 100, 100, 10], seed=0)
    net.fit(Xtr, d.y_train, epochs=20, lr=1e-2, batch_size=100, optimizer="adam", verbose=False)
    assert _acc(net, Xte, d.y_test) > 0.45


def test_mnist_mlp_on_flat_view():
    d = cr.datasets.load("mnist")
    X = d.X_train[:5000].reshape(5000, -1)
    net = cr.mlp([784, 128, 10], seed=0)
    net.fit(X, d.y_train[:5000], epochs=3, lr=1e-3, batch_size=64, optimizer="adam", verbose=False)
    assert _acc(net, d.X_test[:2000].reshape(2000, -1), d.y_test[:2000]) > 0.85


def test_builders_shapes_and_seeds():
    net = lenet((1, 28, 28), channels=(4, 8), hidden=16, batchnorm=True, dropout=0.5, seed=0)
    assert net.output_shape == (10,) and net.input_shape == (1, 28, 28)
    assert any(isinstance(la, cr.BatchNorm) for la in net.layers)
    assert any(isinstance(la, cr.Dropout) for la in net.layers)
    assert cnn1d(seed=0).layers[-3].output_shape((25, 4)) == (100,)
    assert lenet(seed=1).layers[0].W.shape == (8, 1, 5, 5)
    np.testing.assert_array_equal(lenet(seed=3).layers[0].W, lenet(seed=3).layers[0].W)


def test_example_script_runs_and_reports_both_timings():
    out = subprocess.run(
        [sys.executable, "examples/mnist1d_cnn.py", "--epochs", "1", "--torch-epochs", "1"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=True,
    ).stdout  # fmt: skip
    assert "chainrule test accuracy" in out
    assert "chainrule wall time per epoch" in out
    assert "PyTorch wall time per epoch" in out
