"""Where a classifier goes wrong: a confusion matrix and a grid of misclassified images."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.plots._backend import finish, new_figure

__all__ = ["confusion_matrix", "plot_confusion_matrix", "plot_misclassified"]


def confusion_matrix(
    y_true: Any, y_pred: Any, labels: Sequence[Any] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(counts (K, K), labels): counts[i, j] = examples of true class i predicted as class j."""
    y_true = np.asarray(y_true).reshape(-1)
    y_pred = np.asarray(y_pred).reshape(-1)
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"y_true and y_pred must have the same length, got {y_true.shape[0]} and "
            f"{y_pred.shape[0]}"
        )
    labels_arr = (
        np.unique(np.concatenate([y_true, y_pred])) if labels is None else np.asarray(labels)
    )
    index = {label: i for i, label in enumerate(labels_arr.tolist())}
    K = len(labels_arr)
    counts = np.zeros((K, K), dtype=np.int64)
    for t, p in zip(y_true.tolist(), y_pred.tolist()):
        if t in index and p in index:
            counts[index[t], index[p]] += 1
    return counts, labels_arr


def plot_confusion_matrix(
    y_true: Any,
    y_pred: Any,
    labels: Sequence[Any] | None = None,
    path: str | Path | None = None,
    normalize: bool = False,
    title: str | None = None,
    dpi: int = 100,
) -> Any:
    """Rows: true class, columns: predicted class; the diagonal holds the correct predictions.

    ``normalize=True`` shows each row as fractions of that class. Returns the Figure.
    """
    counts, labels_arr = confusion_matrix(y_true, y_pred, labels)
    K = len(labels_arr)
    shown = counts.astype(np.float64)
    if normalize:
        shown = shown / np.maximum(shown.sum(axis=1, keepdims=True), 1)
    side = min(3.0 + 0.45 * K, 9.0)
    fig, axes = new_figure(1, 1, size=(side + 0.8, side))
    ax = axes[0, 0]
    im = ax.imshow(shown, cmap="Blues", vmin=0)
    fig.colorbar(im, ax=ax, fraction=0.046)
    threshold = shown.max() / 2 if shown.size else 0
    for i in range(K):
        for j in range(K):
            text = f"{shown[i, j]:.2f}" if normalize else str(counts[i, j])
            color = "white" if shown[i, j] > threshold else "black"
            ax.text(j, i, text, ha="center", va="center", color=color, fontsize="small")
    ticks = np.arange(K)
    ax.set_xticks(ticks, [str(v) for v in labels_arr.tolist()])
    ax.set_yticks(ticks, [str(v) for v in labels_arr.tolist()])
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    accuracy = np.trace(counts) / max(counts.sum(), 1)
    ax.set_title(title or f"confusion matrix (accuracy {accuracy:.1%})")
    return finish(fig, path, dpi)


def _as_image(x: np.ndarray, image_shape: tuple[int, ...] | None) -> tuple[np.ndarray, str | None]:
    """One example -> an (H, W) or (H, W, 3) array for imshow, and its colour map."""
    if image_shape is not None:
        x = x.reshape(image_shape)
    if x.ndim == 1:
        side = int(round(np.sqrt(x.size)))
        if side * side != x.size:
            raise ValueError(
                f"cannot show a flat example of {x.size} features as an image: pass image_shape"
            )
        x = x.reshape(side, side)
    if x.ndim == 3:  # (C, H, W)
        if x.shape[0] == 1:
            x = x[0]
        elif x.shape[0] == 3:
            x = np.moveaxis(x, 0, -1)
            x = (x - x.min()) / (x.max() - x.min() + 1e-12)  # imshow wants RGB in [0, 1]
        else:
            raise ValueError(f"images must have 1 or 3 channels, got shape {x.shape}")
    if x.ndim not in (2, 3):
        raise ValueError(f"cannot show an example of shape {x.shape} as an image")
    return x, ("gray_r" if x.ndim == 2 else None)


def plot_misclassified(
    X: Any,
    y_true: Any,
    y_pred: Any,
    path: str | Path | None = None,
    image_shape: tuple[int, ...] | None = None,
    max_images: int = 25,
    class_names: Sequence[str] | None = None,
    dpi: int = 100,
) -> Any:
    """A grid of the first ``max_images`` misclassified images, titled "true -> predicted".

    X is (m, C, H, W), (m, H, W) or flat (m, features) with ``image_shape`` (square images are
    recognized without it). Returns the Figure.
    """
    X = np.asarray(X)
    y_true = np.asarray(y_true).reshape(-1)
    y_pred = np.asarray(y_pred).reshape(-1)
    if not (X.shape[0] == y_true.shape[0] == y_pred.shape[0]):
        raise ValueError(
            f"X, y_true and y_pred need the same number of examples, got {X.shape[0]}, "
            f"{y_true.shape[0]} and {y_pred.shape[0]}"
        )
    wrong = np.flatnonzero(y_true != y_pred)[: max(int(max_images), 0)]
    if wrong.size == 0:
        fig, axes = new_figure(1, 1, size=(3.0, 1.2))
        axes[0, 0].text(0.5, 0.5, "no misclassified examples", ha="center", va="center")
        axes[0, 0].set_axis_off()
        return finish(fig, path, dpi)

    def name(v: Any) -> str:
        return str(class_names[int(v)]) if class_names is not None else str(v)

    cols = int(min(wrong.size, np.ceil(np.sqrt(wrong.size * 1.5))))
    rows = int(np.ceil(wrong.size / cols))
    fig, axes = new_figure(rows, cols, size=(1.3 * cols, 1.45 * rows))
    for k, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if k >= wrong.size:
            continue
        i = wrong[k]
        img, cmap = _as_image(X[i], image_shape)
        ax.imshow(img, cmap=cmap, interpolation="nearest")
        ax.set_title(f"{name(y_true[i])} -> {name(y_pred[i])}", fontsize=8, color="C3")
    fig.suptitle(f"misclassified (true -> predicted): {np.count_nonzero(y_true != y_pred)}")
    return finish(fig, path, dpi)
