"""The playground's data: 2-D problems (toy, xor, moons, circles, spirals, gaussians), an
uploaded CSV, the train/test split by ratio, and TF Playground's seven input features.

Points are examples-first at this boundary: X (m, 2), y (m,). The engine layout starts only
when the session hands the feature matrix to the network.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

import numpy as np

from chainrule.data import load as load_dataset
from chainrule.data.standardize import Standardizer
from chainrule.playground.params import FEATURES, Config

__all__ = [
    "PlaneData",
    "make_data",
    "make_gaussians",
    "parse_csv",
    "features",
    "MAX_UPLOAD_BYTES",
    "MAX_CSV_ROWS",
]

#: the largest CSV upload accepted, in bytes
MAX_UPLOAD_BYTES = 1_000_000
MAX_CSV_ROWS = 20_000
MAX_CSV_FEATURES = 32
MAX_CSV_CLASSES = 10


@dataclass
class PlaneData:
    """Examples and labels split into train and test; ``plane`` is False for a CSV with more
    than two feature columns (it trains, but there is no input plane to draw)."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    n_classes: int
    plane: bool = True
    description: str = ""

    @property
    def n_inputs(self) -> int:
        return int(self.X_train.shape[1])


def make_gaussians(
    seed: int = 0, m: int = 400, classes: int = 2, noise: float = 0.15
) -> tuple[np.ndarray, np.ndarray]:
    """``classes`` Gaussian blobs with centres on a circle of radius 1; std 0.15 + noise."""
    rng = np.random.default_rng(seed)
    y = np.arange(m) % classes
    angles = 2 * np.pi * np.arange(classes) / classes + np.pi / 4
    centres = np.c_[np.cos(angles), np.sin(angles)]  # (classes, 2)
    X = centres[y] + rng.normal(scale=0.15 + noise, size=(m, 2))
    return X, y


def _pooled(config: Config) -> tuple[np.ndarray, np.ndarray]:
    """All the examples of the chosen generated set, before the playground's own split."""
    name, m, noise, seed = config.data, config.points, config.noise, config.seed
    if name == "gaussians":
        return make_gaussians(seed, m, config.classes, noise)
    if name == "toy":
        data = load_dataset("toy")
        return data.X_train, data.y_train
    options: dict[str, object] = {"m": m, "noise": noise}
    if name == "spirals":
        options["classes"] = config.classes
        options["noise"] = noise * 2  # the arms need more noise than the blobs to blur
    data = load_dataset(name, seed=seed, **options)
    return np.r_[data.X_train, data.X_test], np.r_[data.y_train, data.y_test]


def _split(X: np.ndarray, y: np.ndarray, ratio: float, seed: int) -> tuple[np.ndarray, ...]:
    """A seeded split: round(ratio * m) examples train (at least 1), the rest test."""
    perm = np.random.default_rng(seed + 7).permutation(len(y))
    n_train = min(max(1, int(round(ratio * len(y)))), len(y))
    tr, te = perm[:n_train], perm[n_train:]
    if len(te) == 0:  # too few examples to hold any out: test on the training set (the toy's way)
        te = tr
    return X[tr], y[tr], X[te], y[te]


def make_data(config: Config, uploaded: PlaneData | None = None) -> PlaneData:
    """The data of ``config``; the toy set and a CSV are standardized (150 lb saturates)."""
    if config.data == "csv":
        if uploaded is None:
            raise ValueError("data is 'csv' but no CSV file has been uploaded to this session")
        return uploaded
    X, y = _pooled(config)
    if config.data == "toy":  # the notebook's 10 people: no held-out set, test = train
        X = Standardizer().fit_transform(X)
        return PlaneData(X, y, X.copy(), y.copy(), 2, description="the notebook's 10 people")
    Xtr, ytr, Xte, yte = _split(X, y, config.ratio, config.seed)
    return PlaneData(Xtr, ytr, Xte, yte, int(y.max()) + 1, description=config.data)


def parse_csv(content: bytes, ratio: float = 0.5, seed: int = 0) -> PlaneData:
    """An uploaded CSV: a header row, numeric feature columns, the label column LAST.

    Labels must be integers; they are mapped in increasing order to 0..K-1. Features are
    standardized with the training rows' mean and std.
    """
    if len(content) > MAX_UPLOAD_BYTES:
        raise ValueError(
            f"the CSV must be at most {MAX_UPLOAD_BYTES:,} bytes, got {len(content):,}"
        )
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"the CSV must be UTF-8 text; byte {exc.start} is not") from None
    try:
        rows = [r for r in csv.reader(io.StringIO(text)) if any(c.strip() for c in r)]
    except csv.Error as exc:
        raise ValueError(f"the upload is not a valid CSV file: {exc}") from None
    if len(rows) < 3:
        raise ValueError(
            f"the CSV needs a header row and at least 2 data rows, got {len(rows)} row(s)"
        )
    header, body = rows[0], rows[1:]
    k = len(header)
    if not 3 <= k <= MAX_CSV_FEATURES + 1:
        raise ValueError(
            f"the CSV needs 2 to {MAX_CSV_FEATURES} feature columns and a label column last, "
            f"got {k} column(s)"
        )
    if len(body) > MAX_CSV_ROWS:
        raise ValueError(f"the CSV may have at most {MAX_CSV_ROWS:,} data rows, got {len(body):,}")
    values = np.empty((len(body), k))
    for i, row in enumerate(body):
        if len(row) != k:
            raise ValueError(f"CSV line {i + 2}: expected {k} cells, got {len(row)}")
        for j, cell in enumerate(row):
            try:
                values[i, j] = float(cell)
            except ValueError:
                raise ValueError(
                    f"CSV line {i + 2}, column {header[j].strip()!r}: expected a number, "
                    f"got {cell!r}"
                ) from None
    if not np.all(np.isfinite(values)):
        raise ValueError("the CSV holds NaN or infinite values; every cell must be finite")
    X, labels = values[:, :-1], values[:, -1]
    if not np.all(labels == np.round(labels)):
        raise ValueError(f"the label column {header[-1].strip()!r} must hold integer classes")
    classes, y = np.unique(labels, return_inverse=True)
    if not 2 <= len(classes) <= MAX_CSV_CLASSES:
        raise ValueError(
            f"the label column must hold 2 to {MAX_CSV_CLASSES} classes, got {len(classes)}"
        )
    Xtr, ytr, Xte, yte = _split(X, y.astype(np.int64), ratio, seed)
    scaler = Standardizer().fit(Xtr)
    return PlaneData(
        scaler.transform(Xtr),
        ytr,
        scaler.transform(Xte),
        yte,
        len(classes),
        plane=X.shape[1] == 2,
        description=f"uploaded CSV: {len(body)} rows, {X.shape[1]} features, {len(classes)} classes",
    )


def features(X: np.ndarray, names: list[str]) -> np.ndarray:
    """The chosen input features of the points X (m, 2), as (m, len(names)) in FEATURES order."""
    x1, x2 = X[:, 0], X[:, 1]
    table = {
        "x1": x1,
        "x2": x2,
        "x1^2": x1**2,
        "x2^2": x2**2,
        "x1*x2": x1 * x2,
        "sin x1": np.sin(x1),
        "sin x2": np.sin(x2),
    }
    return np.stack([table[n] for n in FEATURES if n in names], axis=1)
