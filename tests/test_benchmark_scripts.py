"""The benchmark scripts run end to end on tiny sizes (their real runs are in docs/)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"

pytest.importorskip("torch")
pytest.importorskip("matplotlib")


def _load(name: str) -> ModuleType:
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(BENCH))


def test_the_scale_sweep_draws_its_figure(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    scale = _load("scale")
    fig, table = tmp_path / "scale.png", tmp_path / "scale.json"
    assert (
        scale.main(["--quick", "--examples", "64", "--figure", str(fig), "--json", str(table)]) == 0
    )
    assert fig.stat().st_size > 10_000  # a PNG with four panels
    rows = json.loads(table.read_text())
    assert {r["sweep"] for r in rows} == {"mlp batch", "mlp width", "cnn image", "cnn channels"}
    assert all(r["chainrule_us"] > 0 and r["torch_us"] > 0 for r in rows)
    assert "ratio" in capsys.readouterr().out


def test_the_cnn_twin_computes_what_chainrule_computes() -> None:
    """The benchmark's PyTorch CNN is the same function as chainrule's (so the race is fair)."""
    import numpy as np
    import torch

    from chainrule.model.cnn import cnn1d, lenet

    cnn_speed = _load("cnn_speed")
    rng = np.random.default_rng(0)
    for net, shape in [(lenet((1, 12, 12), (3, 4), 3, hidden=8, seed=0), (5, 1, 12, 12)),
                       (cnn1d((1, 40), seed=0), (5, 1, 40))]:  # fmt: skip
        X = rng.standard_normal(shape).astype(np.float32)
        ours = net.decision_output(X)
        with torch.no_grad():
            theirs = torch.softmax(cnn_speed.torch_twin(net)(torch.from_numpy(X)), dim=1).numpy()
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-6)


def test_the_numpy_inline_floor_computes_what_chainrule_computes() -> None:
    """The benchmark's NumPy-inline prediction is the same function as chainrule's (so
    "chainrule / NumPy-inline" compares like with like), and it refuses a NaN as the plan does."""
    import numpy as np

    import chainrule as cr

    train_speed = _load("train_speed")
    net = cr.mlp(list(train_speed.SIZES), activation="relu", output="softmax", seed=0)
    rng = np.random.default_rng(1)
    for layer in net.layers:  # biases of both signs, so the ReLUs' shift matters
        if hasattr(layer, "b"):
            layer.b[...] = rng.standard_normal(layer.b.shape) * 0.3
    net.is_fitted = True
    X = rng.random((37, train_speed.SIZES[0]), dtype=np.float32)
    W = [layer.W for layer in net.layers if hasattr(layer, "W")]
    b = [layer.b for layer in net.layers if hasattr(layer, "b")]
    Z = [np.zeros((37, n), np.float32) for n in train_speed.SIZES[1:3]]
    ours = train_speed.numpy_inline_predict(X, W, b, Z)  # (10, B)
    np.testing.assert_allclose(ours.T, net.predict_proba(X), rtol=1e-5, atol=1e-7)
    X[5, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        train_speed.numpy_inline_predict(X, W, b, Z)
