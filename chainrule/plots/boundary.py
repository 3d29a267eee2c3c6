"""The decision boundary of a trained network on 2-D data (toy, moons, circles, spirals...)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.plots._backend import finish, new_figure

__all__ = ["plot_decision_boundary", "draw_decision_boundary"]


def _probabilities(model: Any, grid: np.ndarray) -> np.ndarray:
    """(m, K) outputs of a Sequential or a scikit-learn style estimator on the grid points."""
    if hasattr(model, "predict_proba") and not hasattr(model, "decision_output"):
        return np.asarray(model.predict_proba(grid), dtype=np.float64)  # sklearn estimator
    if hasattr(model, "decision_output"):
        return np.asarray(model.decision_output(grid), dtype=np.float64)  # Sequential
    raise TypeError(
        f"expected a chainrule network or an estimator with predict_proba, got "
        f"{type(model).__name__}"
    )


def draw_decision_boundary(
    ax: Any,
    model: Any,
    X: Any,
    y: Any,
    resolution: int = 200,
    margin: float = 0.25,
    feature_names: Sequence[str] | None = None,
) -> None:
    """Filled regions of the predicted class (binary: P(y=1)), the 0.5 contour, and the points."""
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y).reshape(-1)
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(f"the decision boundary needs 2-D inputs X (m, 2), got shape {X.shape}")
    if y.shape[0] != X.shape[0]:
        raise ValueError(f"y must have one label per row of X ({X.shape[0]}), got {y.shape[0]}")
    lo, hi = X.min(axis=0), X.max(axis=0)
    pad = (hi - lo) * margin + 1e-9
    g0 = np.linspace(lo[0] - pad[0], hi[0] + pad[0], resolution)
    g1 = np.linspace(lo[1] - pad[1], hi[1] + pad[1], resolution)
    G0, G1 = np.meshgrid(g0, g1)
    grid = np.c_[G0.ravel(), G1.ravel()]  # (resolution^2, 2)
    P = _probabilities(model, grid)
    classes = getattr(model, "classes_", None)
    if P.shape[1] == 1:  # one sigmoid output: P(y = 1)
        surface = P[:, 0].reshape(G0.shape)
        cs = ax.contourf(G0, G1, surface, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.5)
        ax.contour(G0, G1, surface, levels=[0.5], colors="k", linewidths=1.2)
        ax.figure.colorbar(cs, ax=ax, label="P(y = 1)")
        index = (y == (classes[1] if classes is not None else 1)).astype(int)
        names = list(classes) if classes is not None else [0, 1]
        palette = ["#08306b", "#b2182b"]  # the ends of RdBu_r, darker than the shading
    else:  # K classes: the argmax region of each, plus its boundary lines
        K = P.shape[1]
        region = np.argmax(P, axis=1).reshape(G0.shape)
        levels = np.arange(K + 1) - 0.5
        ax.contourf(G0, G1, region, levels=levels, cmap="tab10", vmin=0, vmax=9, alpha=0.3)
        ax.contour(G0, G1, region, levels=levels[1:-1], colors="k", linewidths=0.8)
        if classes is not None:
            index = np.searchsorted(np.asarray(classes), y)
            names = list(classes)
        else:
            index = y.astype(int)
            names = list(range(K))
        import matplotlib

        palette = [matplotlib.colormaps["tab10"](i % 10) for i in range(max(K, len(names)))]
    # the examples: their true class's colour at full strength (the shading is paler) with a
    # black edge, so they read on any region; a legend names the classes
    from matplotlib.lines import Line2D

    index = np.clip(index, 0, len(palette) - 1)
    ax.scatter(
        X[:, 0], X[:, 1], c=[palette[k] for k in index], s=18, edgecolors="k", linewidths=0.6
    )
    handles = [
        Line2D(
            [],
            [],
            linestyle="",
            marker="o",
            markersize=5,
            markerfacecolor=palette[k],
            markeredgecolor="k",
            label=f"class {name}",
        )
        for k, name in enumerate(names)
        if np.any(index == k)
    ]
    ax.legend(handles=handles, loc="best", fontsize="small", framealpha=0.85, title="true class")
    ax.set_xlim(g0[0], g0[-1])
    ax.set_ylim(g1[0], g1[-1])
    names = list(feature_names) if feature_names is not None else ["x1", "x2"]
    ax.set_xlabel(names[0])
    ax.set_ylabel(names[1])
    ax.set_title("decision boundary")


def plot_decision_boundary(
    model: Any,
    X: Any,
    y: Any,
    path: str | Path | None = None,
    resolution: int = 200,
    title: str | None = None,
    feature_names: Sequence[str] | None = None,
    dpi: int = 100,
) -> Any:
    """The regions a trained 2-input network assigns to each class, with the data on top.

    ``model`` is a chainrule network (its stored Standardizer is applied) or a fitted
    ``chainrule.sklearn`` estimator; X is (m, 2) and y (m,). Returns the Figure.
    """
    fig, axes = new_figure(1, 1, size=(5.0, 4.0))
    draw_decision_boundary(axes[0, 0], model, X, y, resolution, feature_names=feature_names)
    if title:
        axes[0, 0].set_title(title)
    return finish(fig, path, dpi)
