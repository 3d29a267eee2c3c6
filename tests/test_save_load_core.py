"""net.save / cr.load: exact round trips, and clear errors for corrupt or foreign files."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr


def _arrays(net: cr.Sequential) -> dict[str, np.ndarray]:
    out = {}
    for i, layer in enumerate(net.layers):
        for name in layer.param_names + layer.buffer_names:
            out[f"{i}.{name}"] = getattr(layer, name)
    if net.standardizer is not None:
        out["mean"] = net.standardizer.mean_
        out["scale"] = net.standardizer.scale_
    return out


def _assert_identical(a: cr.Sequential, b: cr.Sequential) -> None:
    assert [type(la) for la in a.layers] == [type(lb) for lb in b.layers]
    assert [la.config() for la in a.layers] == [lb.config() for lb in b.layers]
    assert a.loss.name == b.loss.name and a.dtype == b.dtype
    assert a.input_shape == b.input_shape
    arrays_a, arrays_b = _arrays(a), _arrays(b)
    assert list(arrays_a) == list(arrays_b)
    for key in arrays_a:
        assert arrays_a[key].dtype == arrays_b[key].dtype, key
        assert arrays_a[key].tobytes() == arrays_b[key].tobytes(), key  # bit-identical


def test_round_trip_with_standardizer_is_exact(tmp_path: Path) -> None:
    data = cr.datasets.load("toy")
    net = cr.mlp([2, 3, 3, 1], activation="sigmoid", output="sigmoid", seed=0)
    net.fit(
        data.X_train,
        data.y_train,
        epochs=50,
        lr=0.5,
        batch_size=10,
        standardize=True,
        verbose=False,
    )
    path = tmp_path / "model.npz"
    net.save(path)
    loaded = cr.load(path)
    _assert_identical(net, loaded)
    assert loaded.standardizer is not None and loaded.is_fitted
    p1, p2 = net.predict_proba(data.X_train), loaded.predict_proba(data.X_train)
    assert p1.tobytes() == p2.tobytes()
    np.testing.assert_array_equal(net.predict(data.X_train), loaded.predict(data.X_train))
    # saving the loaded model again gives the same arrays once more
    loaded.save(tmp_path / "again.npz")
    _assert_identical(net, cr.load(tmp_path / "again.npz"))


@pytest.mark.parametrize(
    "hidden,output,sizes",
    [("leaky_relu", "softmax", [4, 6, 5, 3]), ("tanh", "identity", [4, 3, 2])],
)
def test_round_trip_float64_and_other_layers(
    hidden: str, output: str, sizes: list[int], tmp_path: Path, rng: np.random.Generator
) -> None:
    net = cr.mlp(sizes, activation=hidden, output=output, seed=1, dtype=np.float64)
    if hidden == "leaky_relu":
        net.layers[1] = cr.LeakyReLU(alpha=0.3)
    X = rng.standard_normal((12, sizes[0]))
    y = rng.integers(0, sizes[-1], 12) if output == "softmax" else rng.standard_normal((12, 2))
    net.fit(X, y, epochs=3, lr=0.01, verbose=False)
    net.save(tmp_path / "m.npz")
    loaded = cr.load(tmp_path / "m.npz")
    _assert_identical(net, loaded)
    assert loaded.standardizer is None
    assert net.predict_proba(X).tobytes() == loaded.predict_proba(X).tobytes()
    if hidden == "leaky_relu":
        assert loaded.layers[1].alpha == 0.3


def test_corrupt_and_foreign_files_give_value_errors(tmp_path: Path) -> None:
    net = cr.mlp([2, 3, 1], output="sigmoid", seed=0)
    good = tmp_path / "good.npz"
    net.save(good)

    with pytest.raises(ValueError, match="does not exist"):
        cr.load(tmp_path / "missing.npz")
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"this is not a model")
    with pytest.raises(ValueError, match="not a chainrule model"):
        cr.load(garbage)
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good.read_bytes()[:200])
    with pytest.raises(ValueError):
        cr.load(truncated)
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, weights=np.ones(3))
    with pytest.raises(ValueError, match="not a chainrule model"):
        cr.load(foreign)
    single = tmp_path / "single.npy"
    np.save(single, np.ones(3))
    with pytest.raises(ValueError, match="single .npy array"):
        cr.load(single)
    with pytest.raises(ValueError):
        cr.load(tmp_path)  # a folder


def test_tampered_arrays_are_rejected(tmp_path: Path) -> None:
    net = cr.mlp([2, 3, 1], output="sigmoid", seed=0)
    path = tmp_path / "m.npz"
    net.save(path)
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["layers/0/W"] = np.ones((4, 4), dtype=np.float32)  # wrong shape
    bad = tmp_path / "bad.npz"
    np.savez(bad, **arrays)
    with pytest.raises(ValueError, match="shape"):
        cr.load(bad)
    del arrays["layers/0/W"]
    np.savez(bad, **arrays)
    with pytest.raises(ValueError, match="missing"):
        cr.load(bad)


def test_archive_holds_json_header_and_no_pickles(tmp_path: Path) -> None:
    net = cr.mlp([2, 3, 1], output="sigmoid", seed=0)
    path = tmp_path / "m.npz"
    net.save(path)
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
    assert "__chainrule__.npy" in names and "layers/0/W.npy" in names
    with np.load(path, allow_pickle=False) as z:  # loads without pickle
        header = str(z["__chainrule__"])
    assert '"layers"' in header and '"Dense"' in header
