"""A layer tree as JSON and named arrays, and back, for model files and checkpoints.

A layer becomes ``{"type": "Dense", "config": {...}}``; a composite layer also lists its
children, ``{"type": "Residual", "config": {}, "children": [...]}``. Its arrays are stored
under ``layers/<path>/<name>``, where the path is the dotted tree path with "/" for ".":
``layers/0/W`` (the notebook's W[1] of a plain MLP), ``layers/1/block/0/W`` (the W of a
residual block's first layer). A flat network's keys are the same as before trees existed, so
older model files load unchanged.

Rebuilding only instantiates classes from the layer registry, and checks every array's shape,
dtype and finiteness before it is accepted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from chainrule.nn.layer import LAYER_REGISTRY, Layer, registered_name

__all__ = ["layer_spec", "build_layer", "array_key", "take_array", "tree_arrays", "spec_repr"]

#: how deep a stored tree may nest before it is refused as corrupt
MAX_DEPTH = 64


def layer_spec(layer: Layer) -> dict[str, Any]:
    """The JSON description of ``layer`` and, recursively, its children."""
    spec: dict[str, Any] = {"type": registered_name(layer), "config": layer.config()}
    if not layer.is_leaf:
        spec["children"] = [layer_spec(child) for child in layer.children()]
    return spec


def array_key(dotted: str) -> str:
    """``"1.block.0.W"`` -> ``"layers/1/block/0/W"``: where an array lives in the archive."""
    return "layers/" + dotted.replace(".", "/")


def tree_arrays(root: Layer) -> dict[str, np.ndarray]:
    """{archive key: array} for every parameter and buffer of the tree."""
    return {array_key(k): np.asarray(getattr(la, name)) for k, la, name in root.named_arrays()}


def _check_dense_sizes(
    spec: dict[str, Any], prefix: str, arrays: dict[str, np.ndarray], path: Path
) -> None:
    """Before building a Dense layer, check its sizes against the stored W: a crafted file must
    not make loading allocate (and randomly initialise) a huge matrix it does not even hold."""
    config = spec.get("config")
    if spec["type"] != "Dense" or not isinstance(config, dict):
        return
    n_in, n_out = config.get("n_in"), config.get("n_out")
    key = array_key(prefix + "W")
    W = arrays.get(key)
    if isinstance(n_in, int) and isinstance(n_out, int) and W is not None:
        if W.shape != (n_out, n_in):
            raise ValueError(
                f"{path}: array {key!r} has shape {W.shape}, but the architecture "
                f"needs {(n_out, n_in)}"
            )


def build_layer(
    spec: Any, where: str, prefix: str, arrays: dict[str, np.ndarray], path: Path, depth: int = 0
) -> Layer:
    """A layer (and its children) from its JSON spec; ValueError naming what is wrong.

    ``where`` names the layer in messages ("layer 2", "layer 1.block"), ``prefix`` is its dotted
    path ("2.", "1.block.").
    """
    if depth > MAX_DEPTH:
        raise ValueError(f"{path}: the layer tree nests deeper than {MAX_DEPTH} levels")
    if not isinstance(spec, dict) or not isinstance(spec.get("type"), str):
        raise ValueError(f"{path}: {where} is not of the form {{'type': ..., 'config': ...}}")
    cls = LAYER_REGISTRY.get(spec["type"])
    if cls is None:
        raise ValueError(
            f"{path}: {where} has unknown type {spec['type']!r}; known layer types: "
            f"{', '.join(sorted(LAYER_REGISTRY))}"
        )
    config = spec.get("config", {})
    if not isinstance(config, dict):
        raise ValueError(f"{path}: {where} config must be an object, got {config!r}")
    specs = spec.get("children")
    children = None
    if specs is not None:
        if not isinstance(specs, list):
            raise ValueError(f"{path}: {where} children must be a list, got {specs!r}")
        names = cls.child_names(len(specs))  # "0", "1", ... or "block": known before building
        children = [
            build_layer(s, f"{where}.{name}", f"{prefix}{name}.", arrays, path, depth + 1)
            for name, s in zip(names, specs)
        ]
    _check_dense_sizes(spec, prefix, arrays, path)
    try:
        layer = cls.from_config(config, children)
    except (TypeError, ValueError, MemoryError, OverflowError) as exc:
        raise ValueError(f"{path}: {where} ({spec['type']}) has a bad config: {exc}") from None
    return layer


def take_array(arrays: dict[str, np.ndarray], key: str, like: np.ndarray, path: Path) -> np.ndarray:
    """The stored array ``key``, checked against ``like`` (shape) and cast to its dtype."""
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


def spec_repr(spec: Any) -> str:
    """A layer spec written like the layer's repr: ``Dense(n_in=4, n_out=3, init='he')``."""
    if not isinstance(spec, dict):
        return repr(spec)
    config = spec.get("config") if isinstance(spec.get("config"), dict) else {}
    args = [f"{k}={v!r}" for k, v in config.items()]
    if isinstance(spec.get("children"), list):
        args.insert(0, "[" + ", ".join(spec_repr(c) for c in spec["children"]) + "]")
    return f"{spec.get('type')}({', '.join(args)})"
