"""ONNX export: the file runs in onnxruntime and gives predict_proba's probabilities to 1e-5."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import chainrule as cr

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")


def _run(path: Path, X: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["X"]
    return session.run(None, {"X": X.astype(np.float32)})[0]


@pytest.mark.parametrize(
    "activation,output,k",
    [
        ("sigmoid", "sigmoid", 1),
        ("tanh", "softmax", 3),
        ("relu", "softmax", 4),
        ("leaky_relu", "identity", 2),
    ],
)
def test_onnx_matches_predict_proba(tmp_path: Path, activation: str, output: str, k: int) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(loc=[150.0, 70.0, 0.0], scale=[40.0, 5.0, 1.0], size=(120, 3))
    if output == "identity":
        y = rng.normal(size=(120, k))
    elif k == 1:
        y = (X[:, 0] > 150).astype(int)
    else:
        y = rng.integers(0, k, size=120)
    net = cr.mlp([3, 8, 6, k], activation=activation, output=output, seed=1)
    net.fit(X, y, epochs=3, lr=0.05, standardize=True, verbose=False)
    path = tmp_path / "model.onnx"
    model = net.to_onnx(path)
    assert path.stat().st_size > 0
    onnx.checker.check_model(onnx.load(str(path)))
    assert any(node.op_type == "Sub" for node in model.graph.node)  # the stored Standardizer
    X_new = rng.normal(loc=[150.0, 70.0, 0.0], scale=[40.0, 5.0, 1.0], size=(37, 3))
    got = _run(path, X_new)
    assert got.shape == (37, k)
    np.testing.assert_allclose(got, net.predict_proba(X_new), atol=1e-5, rtol=1e-5)


def test_onnx_without_standardizer_and_one_example(tmp_path: Path) -> None:
    data = cr.datasets.load("toy")
    net = cr.mlp([2, 3, 3, 1], activation="sigmoid", output="sigmoid", seed=0)
    net.fit(data.X_train / 100, data.y_train, epochs=5, lr=0.5, batch_size=10, verbose=False)
    net.to_onnx(tmp_path / "toy.onnx")
    X = data.X_train[:1] / 100
    np.testing.assert_allclose(_run(tmp_path / "toy.onnx", X), net.predict_proba(X), atol=1e-5)


def test_onnx_rejects_unsupported_layers() -> None:
    class Odd(cr.Layer):
        def forward(self, A_prev: np.ndarray) -> np.ndarray:
            return A_prev

    net = cr.Sequential([cr.Dense(2, 2), Odd(), cr.Dense(2, 1), cr.Sigmoid()])
    with pytest.raises(TypeError, match="layer 1 is Odd"):
        net.to_onnx()
    with pytest.raises(TypeError, match="Sequential"):
        from chainrule.io.onnx import to_onnx

        to_onnx("not a network")  # type: ignore[arg-type]
