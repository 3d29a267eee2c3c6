"""Model files: one .npz holding the architecture as JSON and every array, never pickled.

Layout of the archive:

* ``__chainrule__``: a 0-d unicode array with the JSON header: format version, the layers
  (``{"type": "Dense", "config": {...}}``), cost, input shape, dtype and any extra metadata.
* ``layers/<i>/<name>``: parameter or buffer ``name`` of layer i (W, b, running_mean, ...).
* ``standardizer/mean``, ``standardizer/scale``: the input scaling, when the model has one.
* anything else under ``extra/``: checkpoint state (optimizer moments, ...).

Saving is atomic: the archive is written to a temporary file in the same folder and renamed over
the target, so a crash mid-save leaves the previous file intact. Loading uses
``allow_pickle=False``, rebuilds layers only from the registry of known layer types, and checks
every array's shape and dtype against the architecture before accepting it.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.layers.base import LAYER_REGISTRY
from chainrule.network import Sequential
from chainrule.standardize import Standardizer

__all__ = ["save", "load", "read_archive", "FORMAT", "VERSION"]

FORMAT = "chainrule-model"
VERSION = 1
HEADER_KEY = "__chainrule__"


def _header(net: Sequential, extra_meta: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "version": VERSION,
        "layers": [{"type": type(la).__name__, "config": la.config()} for la in net.layers],
        "loss": net.loss.name,
        "input_shape": list(net.input_shape),
        "dtype": net.dtype.name,
        "seed": net.seed,
        "is_fitted": bool(net.is_fitted),
        "standardizer": net.standardizer is not None,
        "extra": extra_meta or {},
    }


def save(
    net: Sequential,
    path: str | os.PathLike[str],
    extra_meta: dict[str, Any] | None = None,
    extra_arrays: dict[str, np.ndarray] | None = None,
) -> None:
    """Write ``net`` to ``path`` (.npz) atomically. ``extra_*`` carry checkpoint state."""
    path = Path(path)
    arrays: dict[str, np.ndarray] = {
        HEADER_KEY: np.array(json.dumps(_header(net, extra_meta), allow_nan=False))
    }
    for i, layer in enumerate(net.layers):
        for name in layer.param_names + layer.buffer_names:
            arrays[f"layers/{i}/{name}"] = np.asarray(getattr(layer, name))
    if net.standardizer is not None:
        arrays["standardizer/mean"] = np.asarray(net.standardizer.mean_)
        arrays["standardizer/scale"] = np.asarray(net.standardizer.scale_)
    for key, value in (extra_arrays or {}).items():
        arrays[f"extra/{key}"] = np.asarray(value)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise ValueError(f"cannot save to {path}: folder {folder} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)  # atomic on POSIX and Windows
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


#: np.savez stores arrays uncompressed, so an archive declaring far more bytes than it holds is a
#: zip bomb or a corrupt directory, not a model: reject it before decompressing anything
MAX_EXPANSION = 64
EXPANSION_SLACK = 1 << 20


def _read_bytes(path: Path) -> bytes:
    if not path.exists():
        raise ValueError(f"model file {str(path)!r} does not exist")
    if not path.is_file():
        raise ValueError(f"model file {str(path)!r} is not a file")
    try:
        return path.read_bytes()  # read once: np.load never holds (or leaks) a file handle
    except OSError as exc:
        raise ValueError(f"cannot read model file {str(path)!r}: {exc.strerror}") from None


def _check_zip(data: bytes, path: Path) -> None:
    """Structural checks on the archive's directory before numpy reads any entry."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        infos = zf.infolist()
        declared = sum(info.file_size for info in infos)
        if declared > MAX_EXPANSION * len(data) + EXPANSION_SLACK:
            raise ValueError(
                f"{path}: the archive declares {declared} bytes of arrays in a "
                f"{len(data)}-byte file; it is corrupt or a zip bomb"
            )
        for info in infos:
            if not info.filename.endswith(".npy"):
                raise ValueError(
                    f"{path}: unexpected entry {info.filename!r} (a chainrule .npz holds .npy "
                    "arrays only)"
                )


def read_archive(path: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(header, arrays) from a model file, or ValueError saying what is wrong with it."""
    path = Path(path)
    data = _read_bytes(path)
    if data.startswith(b"\x93NUMPY"):
        raise ValueError(f"{path} is a single .npy array, not a chainrule .npz model")
    if not data.startswith(b"PK"):
        raise ValueError(
            f"{path} is not a chainrule model file: expected an .npz (zip) archive, "
            f"got a file starting with {data[:8]!r}"
        )
    try:
        _check_zip(data, path)
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            if not isinstance(archive, np.lib.npyio.NpzFile):
                raise ValueError(f"{path} is not a chainrule .npz model")
            arrays = {key: archive[key] for key in archive.files}
    except ValueError as exc:
        if "allow_pickle" in str(exc) or "pickled" in str(exc).lower():
            raise ValueError(
                f"{path} holds pickled/object arrays; chainrule never unpickles model files"
            ) from None
        if str(exc).startswith(str(path)):
            raise
        raise ValueError(f"{path} is not a valid chainrule model file: {exc}") from None
    except (OSError, EOFError, zipfile.BadZipFile, KeyError, TypeError) as exc:
        raise ValueError(
            f"{path} is not a valid chainrule model file (.npz): {type(exc).__name__}: {exc}"
        ) from None
    except Exception as exc:  # zlib.error, struct.error, MemoryError, ... from a corrupt archive
        raise ValueError(
            f"{path} is not a valid chainrule model file (corrupt archive: {type(exc).__name__})"
        ) from None
    if HEADER_KEY not in arrays:
        raise ValueError(
            f"{path} is an .npz file but not a chainrule model (no {HEADER_KEY} entry)"
        )
    raw = arrays.pop(HEADER_KEY)
    if raw.dtype.kind != "U" or raw.shape != ():
        raise ValueError(f"{path}: the model header must be a JSON string, got {raw.dtype}")
    try:
        header = json.loads(str(raw))
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, a 5000-digit int, [[[[...
        raise ValueError(f"{path}: the model header is not valid JSON ({exc})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ValueError(f"{path}: not a chainrule model (format field is missing or wrong)")
    if header.get("version") != VERSION:
        raise ValueError(
            f"{path}: model format version {header.get('version')!r} is not supported "
            f"(this chainrule reads version {VERSION})"
        )
    return header, arrays


def _check_sizes(i: int, spec: dict[str, Any], arrays: dict[str, np.ndarray], path: Path) -> None:
    """Before building a Dense layer, check its sizes against the stored W: a crafted file must
    not make ``load`` allocate (and randomly initialise) a huge matrix it does not even hold."""
    config = spec.get("config")
    if spec["type"] != "Dense" or not isinstance(config, dict):
        return
    n_in, n_out = config.get("n_in"), config.get("n_out")
    W = arrays.get(f"layers/{i}/W")
    if isinstance(n_in, int) and isinstance(n_out, int) and W is not None:
        if W.shape != (n_out, n_in):
            raise ValueError(
                f"{path}: array 'layers/{i}/W' has shape {W.shape}, but the architecture "
                f"needs {(n_out, n_in)}"
            )


def _build(header: dict[str, Any], path: Path, arrays: dict[str, np.ndarray]) -> Sequential:
    specs = header.get("layers")
    if not isinstance(specs, list) or not specs:
        raise ValueError(f"{path}: the architecture lists no layers")
    layers = []
    for i, spec in enumerate(specs):
        if not isinstance(spec, dict) or not isinstance(spec.get("type"), str):
            raise ValueError(f"{path}: layer {i} is not of the form {{'type': ..., 'config': ...}}")
        cls = LAYER_REGISTRY.get(spec["type"])
        if cls is None:
            raise ValueError(
                f"{path}: layer {i} has unknown type {spec['type']!r}; known layer types: "
                f"{', '.join(sorted(LAYER_REGISTRY))}"
            )
        config = spec.get("config", {})
        if not isinstance(config, dict):
            raise ValueError(f"{path}: layer {i} config must be an object, got {config!r}")
        _check_sizes(i, spec, arrays, path)
        try:
            layers.append(cls.from_config(config))
        except (TypeError, ValueError, MemoryError, OverflowError) as exc:
            raise ValueError(
                f"{path}: layer {i} ({spec['type']}) has a bad config: {exc}"
            ) from None
    dtype = header.get("dtype", "float32")
    if dtype not in ("float32", "float64"):
        raise ValueError(f"{path}: dtype must be float32 or float64, got {dtype!r}")
    shape = header.get("input_shape")
    if not isinstance(shape, list) or not all(isinstance(s, int) and s > 0 for s in shape):
        raise ValueError(f"{path}: input_shape must be a list of positive ints, got {shape!r}")
    try:
        return Sequential(layers, loss=header.get("loss"), input_shape=tuple(shape), dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: the architecture is inconsistent: {exc}") from None


def _take(arrays: dict[str, np.ndarray], key: str, like: np.ndarray, path: Path) -> np.ndarray:
    if key not in arrays:
        raise ValueError(f"{path}: array {key!r} is missing")
    arr = arrays[key]
    if arr.dtype.kind != "f":
        raise ValueError(f"{path}: array {key!r} must be float, got dtype {arr.dtype}")
    if arr.shape != like.shape:
        raise ValueError(
            f"{path}: array {key!r} has shape {arr.shape}, but the architecture needs {like.shape}"
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{path}: array {key!r} contains NaN or inf")
    return np.ascontiguousarray(arr, dtype=like.dtype)


def load_with_extras(
    path: str | os.PathLike[str],
) -> tuple[Sequential, dict[str, Any], dict[str, np.ndarray]]:
    """Load a model plus the extra metadata and arrays a checkpoint stored with it."""
    path = Path(path)
    header, arrays = read_archive(path)
    net = _build(header, path, arrays)
    for i, layer in enumerate(net.layers):
        for name in layer.param_names + layer.buffer_names:
            setattr(layer, name, _take(arrays, f"layers/{i}/{name}", getattr(layer, name), path))
    if header.get("standardizer"):
        n = tuple(net.input_shape)
        st = Standardizer()
        st.mean_ = _take(arrays, "standardizer/mean", np.zeros(n), path)
        st.scale_ = _take(arrays, "standardizer/scale", np.zeros(n), path)
        if np.any(st.scale_ <= 0):
            raise ValueError(f"{path}: standardizer scale must be > 0")
        net.standardizer = st
    seed = header.get("seed")
    net.seed = seed if isinstance(seed, int) else None
    net.is_fitted = bool(header.get("is_fitted", True))
    net.eval()
    extra_meta = header.get("extra") if isinstance(header.get("extra"), dict) else {}
    extra_arrays = {k[len("extra/") :]: v for k, v in arrays.items() if k.startswith("extra/")}
    return net, extra_meta, extra_arrays


def load(path: str | os.PathLike[str]) -> Sequential:
    """Read a model saved with :meth:`Sequential.save`; ValueError for any bad or foreign file."""
    return load_with_extras(path)[0]
