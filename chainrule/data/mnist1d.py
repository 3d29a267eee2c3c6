"""MNIST-1D (Greydanus 2020): 1-D digit signals generated OFFLINE by the PyPI package mnist1d.

``mnist1d.data.make_dataset`` with its default arguments (``get_dataset_args()``: 5,000
sequences of length 40, seed 42, 80/20 split) gives 4,000 train / 1,000 test. Only the generator
is called; ``get_dataset`` (which may download a pickle) never is. The generator seeds NumPy's
GLOBAL random state, so that state is saved and restored around the call.

X is (m, 1, 40) float32 at the boundary (one channel, length 40, i.e. (C, L) per example);
``X.reshape(len(X), -1)`` gives the (m, 40) view for an MLP. Values are standardized by the
generator (mean 0, std 1 over the whole set).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from chainrule.data.base import Dataset, optional_import, register

__all__ = ["load_mnist1d"]

INSTALL = "pip install mnist1d"
SEQUENCE_SHAPE = (1, 40)


@functools.lru_cache(maxsize=1)
def _generate() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    data: Any = optional_import("mnist1d.data", INSTALL, "the 'mnist1d' dataset")
    state = np.random.get_state()
    try:
        d = data.make_dataset(data.get_dataset_args())
    finally:
        np.random.set_state(state)
    out = []
    for xk, yk in (("x", "y"), ("x_test", "y_test")):
        X = np.asarray(d[xk], dtype=np.float32)
        X = X.reshape(X.shape[0], *SEQUENCE_SHAPE)
        X.setflags(write=False)
        y = np.asarray(d[yk], dtype=np.int64)
        y.setflags(write=False)
        out += [X, y]
    return out[0], out[1], out[2], out[3]


@register("mnist1d")
def load_mnist1d(seed: int = 0) -> Dataset:
    """4,000 train / 1,000 test MNIST-1D sequences (m, 1, 40), 10 classes (package defaults)."""
    Xtr, ytr, Xte, yte = _generate()
    return Dataset(
        name="mnist1d",
        X_train=Xtr.copy(),
        y_train=ytr.copy(),
        X_test=Xte.copy(),
        y_test=yte.copy(),
        description="MNIST-1D (mnist1d.make_dataset defaults, seed 42): 4,000 train / 1,000 "
        "test sequences of length 40; X is (m, 1, 40) float32, i.e. (C, L) = (1, 40) per "
        "example; flatten with X.reshape(len(X), -1) for an MLP; 10 classes.",
        task="multiclass",
        n_classes=10,
        image_shape=SEQUENCE_SHAPE,
    )
