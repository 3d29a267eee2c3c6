"""The notebook's 10 examples: (weight, height) -> label, and small generated 2-D problems."""

from __future__ import annotations

import numpy as np

from chainrule.data.base import Dataset, register

__all__ = ["load_toy", "load_xor", "load_moons", "load_circles", "load_spirals"]

TOY_X = np.array(
    [
        [150, 70],
        [254, 73],
        [312, 68],
        [120, 60],
        [154, 61],
        [212, 65],
        [216, 67],
        [145, 67],
        [184, 64],
        [130, 69],
    ],
    dtype=np.float64,
)
TOY_y = np.array([0, 1, 1, 0, 0, 1, 1, 0, 1, 0])


@register("toy")
def load_toy(seed: int = 0) -> Dataset:
    """The seed notebook's data. There is no held-out set: test is the training set."""
    return Dataset(
        name="toy",
        X_train=TOY_X.copy(),
        y_train=TOY_y.copy(),
        X_test=TOY_X.copy(),
        y_test=TOY_y.copy(),
        description="The notebook's 10 people: (weight in lb, height in in) -> label 0/1. "
        "Unscaled, these values saturate sigmoid units: standardize them (fit(..., "
        "standardize=True); the CLI does it by default). Test = train.",
        task="binary",
        n_classes=2,
        feature_names=["weight", "height"],
    )


def _split(X: np.ndarray, y: np.ndarray, rng: np.random.Generator, test_fraction: float = 0.25):
    perm = rng.permutation(len(y))
    n_test = int(round(len(y) * test_fraction))
    te, tr = perm[:n_test], perm[n_test:]
    return X[tr], y[tr], X[te], y[te]


def _make(name: str, X: np.ndarray, y: np.ndarray, seed: int, description: str) -> Dataset:
    rng = np.random.default_rng(seed + 1)
    Xtr, ytr, Xte, yte = _split(X, y, rng)
    k = int(y.max()) + 1
    return Dataset(
        name=name,
        X_train=Xtr,
        y_train=ytr,
        X_test=Xte,
        y_test=yte,
        description=description,
        task="binary" if k == 2 else "multiclass",
        n_classes=k,
        feature_names=["x1", "x2"],
    )


@register("xor")
def load_xor(seed: int = 0, m: int = 400, noise: float = 0.15) -> Dataset:
    """Four Gaussian blobs at the corners of a square; opposite corners share a label."""
    rng = np.random.default_rng(seed)
    corners = rng.integers(0, 2, size=(m, 2))
    X = corners * 2.0 - 1.0 + rng.normal(scale=noise * 2, size=(m, 2))
    y = corners[:, 0] ^ corners[:, 1]
    return _make("xor", X, y, seed, "XOR: not linearly separable; needs a hidden layer.")


@register("moons")
def load_moons(seed: int = 0, m: int = 500, noise: float = 0.15) -> Dataset:
    """Two interleaving half circles."""
    rng = np.random.default_rng(seed)
    y = np.arange(m) % 2
    t = rng.uniform(0, np.pi, size=m)
    X = np.where(
        y[:, None] == 0,
        np.c_[np.cos(t), np.sin(t)],
        np.c_[1 - np.cos(t), 0.5 - np.sin(t)],
    )
    X = X + rng.normal(scale=noise, size=X.shape)
    return _make("moons", X, y, seed, "Two interleaving moons (2-D, 2 classes).")


@register("circles")
def load_circles(seed: int = 0, m: int = 500, noise: float = 0.08, factor: float = 0.5) -> Dataset:
    """A small circle inside a large one."""
    rng = np.random.default_rng(seed)
    y = np.arange(m) % 2
    t = rng.uniform(0, 2 * np.pi, size=m)
    r = np.where(y == 1, factor, 1.0)
    X = np.c_[r * np.cos(t), r * np.sin(t)] + rng.normal(scale=noise, size=(m, 2))
    return _make("circles", X, y, seed, "Concentric circles (2-D, 2 classes).")


@register("spirals")
def load_spirals(seed: int = 0, m: int = 600, classes: int = 3, noise: float = 0.2) -> Dataset:
    """``classes`` interleaved spiral arms (the CS231n classic)."""
    rng = np.random.default_rng(seed)
    per = m // classes
    X = np.zeros((per * classes, 2))
    y = np.repeat(np.arange(classes), per)
    for k in range(classes):
        r = np.linspace(0.0, 1.0, per)
        t = np.linspace(k * 4, (k + 1) * 4, per) + rng.normal(scale=noise, size=per)
        X[k * per : (k + 1) * per] = np.c_[r * np.sin(t), r * np.cos(t)]
    return _make("spirals", X, y, seed, f"{classes} spiral arms (2-D, {classes} classes).")
