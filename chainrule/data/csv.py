"""Your own data from a CSV file: ``load_csv("file.csv", target="label")`` -> :class:`Dataset`.

The file needs a header row naming the columns and a number in every other cell (``1``, ``-2.5``,
``3e4``; surrounding spaces are fine). The ``target`` column becomes y, every other column a
feature of X (m, n_features), in file order. Anything else -- a missing file or column, an empty
or non-numeric cell, NaN or inf, a row with too few or too many cells -- raises ValueError naming
the line and column.

What the target means
    If every target value is an integer and there are at most ``max_classes`` (20) distinct
    values, the task is classification: "binary" for 2 classes, "multiclass" for more. The labels
    are mapped, in increasing order, to 0..K-1 (already-0-based labels stay as they are) and the
    description records the mapping. Otherwise it is "regression". Pass ``task=`` to override. A
    target with a single value in every row is an error: nothing can be learned from it.

The train/test split is deterministic
    It depends only on the file's rows and ``seed`` (default 0), never on global random state or
    on the CLI's ``--seed``, so the same file always gives the same split (which is what makes
    ``--resume`` possible). ``test_fraction`` (default 0.25) of the rows are held out: for
    classification, round(test_fraction * n_k) rows of each class k (stratified: both sets see
    every class, as far as possible); for regression, round(test_fraction * m) rows. Which rows is
    decided by ``np.random.default_rng(seed).permutation``. Row order within each set follows the
    file. With ``test_fraction=0`` (or a file too small to hold a row out) the test set is the
    training set, like the notebook's toy data.
"""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path

import numpy as np

from chainrule.data.base import Dataset

__all__ = ["load_csv", "split_indices"]

TASKS = ("binary", "multiclass", "regression")


def _read_rows(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """(header, [(line number, cells), ...]) skipping blank lines."""
    if not path.exists():
        raise ValueError(f"CSV file {str(path)!r} does not exist")
    if not path.is_file():
        raise ValueError(f"CSV path {str(path)!r} is not a file")
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            rows = [(reader.line_num, row) for row in reader if any(c.strip() for c in row)]
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"{path} is not UTF-8 text (byte {exc.start}: {exc.reason}); is it really a CSV file?"
        ) from None
    except csv.Error as exc:
        raise ValueError(f"{path} is not a valid CSV file: {exc}") from None
    if not rows:
        raise ValueError(f"{path} is empty: expected a header row and at least one data row")
    header = [c.strip() for c in rows[0][1]]
    if any(not name for name in header):
        col = header.index("") + 1
        raise ValueError(f"{path}: the header row has an empty column name (column {col})")
    dupes = sorted({n for n in header if header.count(n) > 1})
    if dupes:
        raise ValueError(f"{path}: duplicate column names in the header: {', '.join(dupes)}")
    if len(rows) < 2:
        raise ValueError(f"{path} has a header row but no data rows")
    return header, rows[1:]


def _parse(path: Path, header: list[str], rows: list[tuple[int, list[str]]]) -> np.ndarray:
    """Every cell as float64, or ValueError naming the line and column of the first bad one."""
    out = np.empty((len(rows), len(header)), dtype=np.float64)
    for r, (line, cells) in enumerate(rows):
        if len(cells) != len(header):
            raise ValueError(
                f"{path}, line {line}: expected {len(header)} cells (one per header column), "
                f"got {len(cells)}"
            )
        for c, cell in enumerate(cells):
            where = f"{path}, line {line}, column {c + 1} ({header[c]!r})"
            text = cell.strip()
            if not text:
                raise ValueError(f"{where}: empty cell; every cell must hold a number")
            try:
                value = float(text)
            except ValueError:
                raise ValueError(f"{where}: expected a number, got {text[:40]!r}") from None
            if not math.isfinite(value):
                raise ValueError(f"{where}: got {text!r}; NaN and inf are not allowed")
            out[r, c] = value
    return out


def split_indices(
    y: np.ndarray, test_fraction: float, seed: int, stratify: bool
) -> tuple[np.ndarray, np.ndarray]:
    """(train rows, test rows), each sorted; see the module docstring for the rule."""
    m = y.shape[0]
    rng = np.random.default_rng(seed)
    groups = [np.flatnonzero(y == k) for k in np.unique(y)] if stratify else [np.arange(m)]
    test = []
    for rows in groups:
        n_test = int(round(test_fraction * rows.size))
        if n_test >= rows.size and test_fraction < 1:
            n_test = rows.size - 1  # keep at least one row of every class for training
        test.append(rows[rng.permutation(rows.size)[:n_test]])
    te = np.sort(np.concatenate(test)).astype(np.int64)
    tr = np.setdiff1d(np.arange(m), te)
    return tr, te


def load_csv(
    path: str | os.PathLike[str],
    target: str | None,
    *,
    task: str | None = None,
    test_fraction: float = 0.25,
    seed: int = 0,
    max_classes: int = 20,
) -> Dataset:
    """Read a numeric CSV file with a header row; ``target`` names the label column."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a file path (str or Path), got {type(path).__name__}")
    path = Path(path)
    if isinstance(test_fraction, bool) or not isinstance(test_fraction, (int, float)):
        raise TypeError(f"test_fraction must be a number in [0, 1), got {test_fraction!r}")
    if not 0 <= test_fraction < 1:
        raise ValueError(f"test_fraction must be in [0, 1), got {test_fraction}")
    if task is not None and task not in TASKS:
        raise ValueError(f"task must be one of {', '.join(TASKS)} or None, got {task!r}")
    header, rows = _read_rows(path)
    if target is None:
        raise ValueError(
            f"{path}: name the target column (CLI: --target COLUMN); columns: {', '.join(header)}"
        )
    if not isinstance(target, str):
        raise TypeError(f"target must be a column name (str), got {type(target).__name__}")
    if target not in header:
        raise ValueError(f"{path}: no column named {target!r}; the header has: {', '.join(header)}")
    if len(header) < 2:
        raise ValueError(f"{path}: the target {target!r} is the only column; no features left")
    values = _parse(path, header, rows)
    t = header.index(target)
    X = np.delete(values, t, axis=1)
    y_raw = values[:, t]
    classes = np.unique(y_raw)
    if classes.size < 2:
        raise ValueError(
            f"{path}: target column {target!r} holds the single value {classes[0]:g} in all "
            f"{len(y_raw)} rows; nothing can be learned from a constant target (a classifier "
            "needs at least two classes)"
        )
    integral = bool(np.all(y_raw == np.round(y_raw)))
    if task is None:
        if integral and classes.size <= max_classes:
            task = "binary" if classes.size == 2 else "multiclass"
        else:
            task = "regression"
    mapping = ""
    if task == "regression":
        y = y_raw
        n_classes = 0
    else:
        if not integral:
            bad = y_raw[y_raw != np.round(y_raw)][0]
            raise ValueError(f"{path}: task {task!r} needs integer labels, got {bad:g}")
        if task == "binary" and classes.size != 2:
            raise ValueError(f"{path}: task 'binary' needs exactly 2 classes, got {classes.size}")
        y = np.searchsorted(classes, y_raw).astype(np.int64)  # labels -> 0..K-1
        n_classes = int(classes.size)
        if not np.array_equal(classes, np.arange(n_classes)):
            shown = ", ".join(f"{c:g}->{k}" for k, c in enumerate(classes[:10]))
            mapping = f" Labels mapped to 0..{n_classes - 1}: {shown}."
    tr, te = split_indices(y, float(test_fraction), seed, stratify=task != "regression")
    if te.size == 0:
        tr = te = np.arange(len(y))
    return Dataset(
        name=path.name,
        X_train=X[tr],
        y_train=y[tr],
        X_test=X[te],
        y_test=y[te],
        description=(
            f"{path.name}: {len(y)} rows, {X.shape[1]} features, target {target!r} "
            f"({task}); {tr.size} train / {te.size} test rows.{mapping}"
        ),
        task=task,
        n_classes=n_classes,
        feature_names=[h for i, h in enumerate(header) if i != t],
    )
