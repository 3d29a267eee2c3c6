"""Saving and loading networks: ``net.save("model.npz")`` and ``chainrule.load("model.npz")``.

A model file is a :mod:`chainrule.io.archive`: a JSON header (the layer tree, the cost, the
input shape, the dtype, whether it was trained, and any extra metadata such as a checkpoint's)
and every parameter and buffer under its tree path (:mod:`chainrule.io.tree`). Saving is
atomic; loading never unpickles, rebuilds layers only from the registry of known types, and
checks every array before accepting it, so a corrupt or crafted file is a ValueError.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.data.standardize import Standardizer
from chainrule.data.text import Vocabulary
from chainrule.io.archive import FORMAT, HEADER_KEY, VERSION, read_archive, write_archive
from chainrule.io.tree import array_key, build_layer, layer_spec, take_array, tree_arrays
from chainrule.model.network import Sequential
from chainrule.train.checkpoint import check_path, checkpoint_meta

__all__ = [
    "save",
    "load",
    "load_with_extras",
    "read_archive",
    "read_checkpoint",
    "header_of",
    "HEADER_KEY",
]


def header_of(net: Sequential, extra_meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON header describing ``net`` (its tree, cost, input shape, dtype, ...)."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "layers": [layer_spec(la) for la in net.layers],
        "loss": net.loss.name,
        "input_shape": list(net.input_shape),
        "dtype": net.dtype.name,
        "seed": net.seed,
        "is_fitted": bool(net.is_fitted),
        "standardizer": net.standardizer is not None,
        "vocabulary": vocab.to_config() if (vocab := getattr(net, "vocabulary", None)) else None,
        "extra": extra_meta or {},
    }


def save(
    net: Sequential,
    path: str | os.PathLike[str],
    extra_meta: dict[str, Any] | None = None,
    extra_arrays: dict[str, np.ndarray] | None = None,
) -> None:
    """Write ``net`` to ``path`` (.npz) atomically. ``extra_*`` carry checkpoint state."""
    arrays = tree_arrays(net)
    if net.standardizer is not None:
        arrays["standardizer/mean"] = np.asarray(net.standardizer.mean_)
        arrays["standardizer/scale"] = np.asarray(net.standardizer.scale_)
    for key, value in (extra_arrays or {}).items():
        arrays[f"extra/{key}"] = np.asarray(value)
    write_archive(path, header_of(net, extra_meta), arrays)


def _build(header: dict[str, Any], path: Path, arrays: dict[str, np.ndarray]) -> Sequential:
    specs = header.get("layers")
    if not isinstance(specs, list) or not specs:
        raise ValueError(f"{path}: the architecture lists no layers")
    try:
        layers = [build_layer(s, f"layer {i}", f"{i}.", arrays, path) for i, s in enumerate(specs)]
    except RecursionError:
        raise ValueError(f"{path}: the layer tree is nested too deeply") from None
    dtype = header.get("dtype", "float32")
    if dtype not in ("float32", "float64"):
        raise ValueError(f"{path}: dtype must be float32 or float64, got {dtype!r}")
    shape = header.get("input_shape")
    if not isinstance(shape, list) or not all(
        isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in shape
    ):
        raise ValueError(f"{path}: input_shape must be a list of positive ints, got {shape!r}")
    try:
        return Sequential(layers, loss=header.get("loss"), input_shape=tuple(shape), dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: the architecture is inconsistent: {exc}") from None


def load_with_extras(
    path: str | os.PathLike[str],
) -> tuple[Sequential, dict[str, Any], dict[str, np.ndarray]]:
    """Load a model plus the extra metadata and arrays a checkpoint stored with it."""
    path = Path(path)
    header, arrays = read_archive(path)
    net = _build(header, path, arrays)
    for key, layer, name in net.named_arrays():
        setattr(layer, name, take_array(arrays, array_key(key), getattr(layer, name), path))
    if header.get("standardizer"):
        n = tuple(net.input_shape)
        st = Standardizer()
        st.mean_ = take_array(arrays, "standardizer/mean", np.zeros(n), path)
        st.scale_ = take_array(arrays, "standardizer/scale", np.zeros(n), path)
        if np.any(st.scale_ <= 0):
            raise ValueError(f"{path}: standardizer scale must be > 0")
        net.standardizer = st
    if header.get("vocabulary") is not None:  # a language model's characters, in id order
        try:
            net.vocabulary = Vocabulary.from_config(header["vocabulary"])
        except (TypeError, ValueError, KeyError) as exc:
            raise ValueError(f"{path}: the stored vocabulary is invalid ({exc})") from None
        if net.vocab_size is not None and net.vocabulary.size != net.vocab_size:
            raise ValueError(
                f"{path}: the vocabulary has {net.vocabulary.size} tokens, the model "
                f"{net.vocab_size}"
            )
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


def read_checkpoint(
    path: str | os.PathLike[str],
) -> tuple[Sequential, dict[str, Any], dict[str, np.ndarray]]:
    """(network, checkpoint metadata, optimizer arrays) from a checkpoint file, or ValueError."""
    path = check_path(path, "resume")
    net, meta, arrays = load_with_extras(path)
    ck = checkpoint_meta({"extra": meta}, str(path))
    opt_arrays = {
        k[len("optimizer/") :]: v for k, v in arrays.items() if k.startswith("optimizer/")
    }
    return net, ck, opt_arrays
