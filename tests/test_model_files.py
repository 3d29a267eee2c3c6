"""Model files: every broken, foreign or malicious file is refused with a ValueError saying why.

Loading never unpickles and never executes anything from the file: a pickle that would create a
marker file when unpickled is refused and the marker never appears.
"""

from __future__ import annotations

import json
import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule.model.files import HEADER_KEY, load_with_extras, read_archive, save


@pytest.fixture
def model(tmp_path: Path) -> tuple[cr.Sequential, Path]:
    rng = np.random.default_rng(0)
    net = cr.mlp([3, 4, 2], activation="tanh", output="softmax", seed=0)
    net.fit(
        rng.standard_normal((30, 3)), np.arange(30) % 2, epochs=2, verbose=False, standardize=True
    )
    path = tmp_path / "good.npz"
    net.save(path)
    return net, path


def arrays_of(path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    header = json.loads(str(arrays.pop(HEADER_KEY)))
    return header, arrays


def write(path: Path, header: dict[str, Any], arrays: dict[str, np.ndarray]) -> Path:
    np.savez(path, **{HEADER_KEY: np.array(json.dumps(header))}, **arrays)
    return path


def test_round_trip_is_exact(model: tuple[cr.Sequential, Path], tmp_path: Path) -> None:
    net, path = model
    loaded = cr.load(path)
    for (k1, P, _, _), (k2, Q, _, _) in zip(net.parameters(), loaded.parameters()):
        assert k1 == k2 and P.dtype == Q.dtype and np.array_equal(P, Q)
    X = np.random.default_rng(1).standard_normal((7, 3))
    assert np.array_equal(net.predict_proba(X), loaded.predict_proba(X))
    assert np.array_equal(net.standardizer.mean_, loaded.standardizer.mean_)
    assert loaded.is_fitted and repr(loaded) == repr(net)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"model file '.*nope\.npz' does not exist"):
        cr.load(tmp_path / "nope.npz")


def test_folder_is_not_a_model(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="is not a file"):
        cr.load(tmp_path)


@pytest.mark.parametrize("keep", [0, 1, 10, 100, 0.5, 0.9, -1])
def test_truncated(model: tuple[cr.Sequential, Path], tmp_path: Path, keep: float) -> None:
    data = model[1].read_bytes()
    n = int(len(data) * keep) if isinstance(keep, float) else (keep if keep >= 0 else len(data) - 1)
    bad = tmp_path / "cut.npz"
    bad.write_bytes(data[:n])
    with pytest.raises(ValueError, match="not a (valid )?chainrule model"):
        cr.load(bad)


@pytest.mark.parametrize(
    "content",
    [b"hello world\n", b'{"format": "chainrule-model"}', b"\x00" * 100, b"PK", "ünïcödé".encode()],
)
def test_not_an_npz(tmp_path: Path, content: bytes) -> None:
    bad = tmp_path / "text.npz"
    bad.write_bytes(content)
    with pytest.raises(ValueError, match="not a (valid )?chainrule model file"):
        cr.load(bad)


def test_single_npy_array(tmp_path: Path) -> None:
    path = tmp_path / "w.npz"
    with path.open("wb") as fh:
        np.save(fh, np.zeros((3, 3)))
    with pytest.raises(ValueError, match=r"single \.npy array, not a chainrule \.npz"):
        cr.load(path)


def test_foreign_npz(tmp_path: Path) -> None:
    np.savez(tmp_path / "other.npz", W=np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"not a chainrule model \(no __chainrule__ entry\)"):
        cr.load(tmp_path / "other.npz")


def test_other_zip_file(tmp_path: Path) -> None:
    with zipfile.ZipFile(tmp_path / "docs.npz", "w") as zf:
        zf.writestr("readme.txt", "not arrays")
    with pytest.raises(ValueError, match=r"unexpected entry 'readme\.txt'"):
        cr.load(tmp_path / "docs.npz")


class _Exploit:
    """Unpickling this would create a marker file via os.system."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.marker}",))


def test_object_arrays_are_never_unpickled(
    model: tuple[cr.Sequential, Path], tmp_path: Path
) -> None:
    marker = tmp_path / "PWNED"
    header, arrays = arrays_of(model[1])
    arrays["layers/0/W"] = np.array([_Exploit(marker)], dtype=object)
    path = tmp_path / "evil.npz"
    np.savez(path, **{HEADER_KEY: np.array(json.dumps(header))}, **arrays)  # pickles the object
    with pytest.raises(ValueError, match="pickled/object arrays; chainrule never unpickles"):
        cr.load(path)
    assert not marker.exists()


def test_pickled_header_is_never_unpickled(tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"
    path = tmp_path / "evil_header.npz"
    np.savez(path, **{HEADER_KEY: np.array({"format": _Exploit(marker)}, dtype=object)})
    with pytest.raises(ValueError, match="never unpickles"):
        cr.load(path)
    assert not marker.exists()


def test_raw_pickle_file_is_never_unpickled(tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"
    path = tmp_path / "model.npz"
    path.write_bytes(pickle.dumps(_Exploit(marker)))
    with pytest.raises(ValueError, match="not a chainrule model file"):
        cr.load(path)
    assert not marker.exists()


def test_layer_type_that_names_code_is_unknown(
    model: tuple[cr.Sequential, Path], tmp_path: Path
) -> None:
    header, arrays = arrays_of(model[1])
    for evil in ("os.system", "__import__", "builtins.eval", "Layer", "Activation"):
        header["layers"][1] = {"type": evil, "config": {"command": "touch PWNED"}}
        path = write(tmp_path / "unknown.npz", header, arrays)
        with pytest.raises(
            ValueError, match=r"layer 1 has unknown type .*known layer types: .*Dense"
        ):
            cr.load(path)
    # a container is a known type, but only with real children and no foreign arguments
    for config, children in (({"command": "touch PWNED"}, [{"type": "ReLU"}]), ({}, None)):
        header["layers"][1] = {"type": "Sequential", "config": config, "children": children}
        path = write(tmp_path / "container.npz", header, arrays)
        with pytest.raises(ValueError, match=r"layer 1 \(Sequential\) has a bad config"):
            cr.load(path)
    assert not (tmp_path / "PWNED").exists()


HEADER_EDITS: dict[str, tuple[Any, str]] = {
    # id: (function(header) -> None, regex)
    "format missing": (lambda h: h.pop("format"), "format field is missing or wrong"),
    "other format": (lambda h: h.update(format="keras"), "format field"),
    "future version": (lambda h: h.update(version=99), "version 99 is not supported"),
    "no layers": (lambda h: h.update(layers=[]), "lists no layers"),
    "layers not a list": (lambda h: h.update(layers="Dense"), "lists no layers"),
    "layer not an object": (
        lambda h: h["layers"].__setitem__(0, "Dense"),
        r"layer 0 is not of the form",
    ),
    "config not an object": (
        lambda h: h["layers"][0].update(config=[3, 4]),
        "config must be an object",
    ),
    "config unknown argument": (
        lambda h: h["layers"][0]["config"].update(evil="rm -rf"),
        r"layer 0 \(Dense\) has a bad config.*evil",
    ),
    "config bad value": (
        lambda h: h["layers"][0]["config"].update(n_in="3"),
        r"layer 0 \(Dense\) has a bad config",
    ),
    "config bad init": (lambda h: h["layers"][0]["config"].update(init="zeros"), "unknown init"),
    "config size mismatch": (
        lambda h: h["layers"][0]["config"].update(n_out=5),
        r"'layers/0/W' has shape \(4, 3\), but the architecture needs \(5, 3\)",
    ),
    "config absurd size": (
        lambda h: h["layers"][0]["config"].update(n_out=10**12),
        r"'layers/0/W' has shape \(4, 3\), but the architecture needs",
    ),
    "bad dtype": (lambda h: h.update(dtype="object"), "dtype must be float32 or float64"),
    "bad input shape": (
        lambda h: h.update(input_shape=[-3]),
        "input_shape must be a list of positive ints",
    ),
    "input shape mismatch": (lambda h: h.update(input_shape=[5]), "inconsistent"),
    "unknown cost": (lambda h: h.update(loss="hinge"), "unknown loss 'hinge'"),
    "standardizer promised": (lambda h: h.update(standardizer=True), None),
}


@pytest.mark.parametrize("edit", list(HEADER_EDITS), ids=list(HEADER_EDITS))
def test_bad_architecture_json(
    model: tuple[cr.Sequential, Path], tmp_path: Path, edit: str
) -> None:
    header, arrays = arrays_of(model[1])
    change, pattern = HEADER_EDITS[edit]
    if pattern is None:  # a standardizer the header promises but the arrays lack
        arrays = {k: v for k, v in arrays.items() if not k.startswith("standardizer/")}
        pattern = r"array 'standardizer/mean' is missing"
    change(header)
    path = write(tmp_path / "edited.npz", header, arrays)
    with pytest.raises(ValueError, match=pattern):
        cr.load(path)


@pytest.mark.parametrize(
    ("key", "value", "pattern"),
    [
        (
            "layers/0/W",
            np.zeros((3, 4)),
            r"'layers/0/W' has shape \(3, 4\), but the architecture needs \(4, 3\)",
        ),
        (
            "layers/0/b",
            np.zeros((4,)),
            r"'layers/0/b' has shape \(4,\), but the architecture needs \(4, 1\)",
        ),
        ("layers/2/W", np.zeros((2, 4, 1)), "has shape"),
        ("layers/0/W", np.full((4, 3), np.nan), "contains NaN or inf"),
        ("layers/0/W", np.ones((4, 3), dtype=np.int64), "must be float, got dtype int64"),
        ("layers/0/W", np.array(["a"] * 12).reshape(4, 3), "must be float"),
        ("layers/0/W", np.ones((4, 3), dtype=np.complex128), "must be float"),
        ("standardizer/mean", np.zeros(5), r"'standardizer/mean' has shape \(5,\)"),
        ("standardizer/scale", np.zeros(3), "scale must be > 0"),
    ],
)
def test_arrays_that_do_not_match_the_architecture(
    model: tuple[cr.Sequential, Path], tmp_path: Path, key: str, value: np.ndarray, pattern: str
) -> None:
    header, arrays = arrays_of(model[1])
    arrays[key] = value
    with pytest.raises(ValueError, match=pattern):
        cr.load(write(tmp_path / "bad_arrays.npz", header, arrays))


def test_layers_that_do_not_chain(model: tuple[cr.Sequential, Path], tmp_path: Path) -> None:
    header, arrays = arrays_of(model[1])
    header["layers"][2]["config"]["n_in"] = 5  # Dense(4, 3) -> Dense(5, 2) after a 4-wide layer
    arrays["layers/2/W"] = np.zeros((2, 5))
    with pytest.raises(ValueError, match=r"inconsistent: layer 2 \(Dense\) does not chain"):
        cr.load(write(tmp_path / "chain.npz", header, arrays))


def test_missing_array(model: tuple[cr.Sequential, Path], tmp_path: Path) -> None:
    header, arrays = arrays_of(model[1])
    del arrays["layers/2/b"]
    with pytest.raises(ValueError, match=r"array 'layers/2/b' is missing"):
        cr.load(write(tmp_path / "missing.npz", header, arrays))


@pytest.mark.parametrize(
    "raw",
    [
        np.array("{not json"),
        np.array("[" * 100_000 + "]" * 100_000),  # deep nesting: RecursionError inside json
        np.array('{"format": "chainrule-model", "version": ' + "9" * 5000 + "}"),  # 5000-digit int
        np.array(["a", "b"]),
        np.array(3.0),
        np.array('"just a string"'),
    ],
    ids=["not json", "deep nesting", "huge int", "array of strings", "a number", "json string"],
)
def test_bad_header(tmp_path: Path, raw: np.ndarray) -> None:
    path = tmp_path / "hdr.npz"
    np.savez(path, **{HEADER_KEY: raw})
    with pytest.raises(ValueError, match="header|not a chainrule model"):
        cr.load(path)


def test_zip_bomb_is_refused_before_decompressing(tmp_path: Path) -> None:
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        with zf.open("big.npy", "w", force_zip64=True) as fh:
            chunk = bytes(1 << 20)
            for _ in range(200):  # 200 MiB of zeros compress to ~200 KiB
                fh.write(chunk)
    assert path.stat().st_size < 2 << 20
    with pytest.raises(ValueError, match="corrupt or a zip bomb"):
        cr.load(path)


def test_save_refuses_missing_folder(model: tuple[cr.Sequential, Path], tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="folder .* does not exist"):
        model[0].save(tmp_path / "no" / "such" / "model.npz")


def test_extras_round_trip(model: tuple[cr.Sequential, Path], tmp_path: Path) -> None:
    net = model[0]
    path = tmp_path / "extra.npz"
    save(net, path, extra_meta={"note": "hi"}, extra_arrays={"v": np.arange(3.0)})
    _, meta, extra = load_with_extras(path)
    assert meta == {"note": "hi"} and np.array_equal(extra["v"], np.arange(3.0))
    header, arrays = read_archive(path)
    assert header["format"] == "chainrule-model" and "extra/v" in arrays
