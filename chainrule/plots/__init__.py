"""Plots a learner wants to see: learning curves, decision boundaries, gradient norms, errors.

Every function returns a matplotlib Figure (drawn with the Agg backend, no window, no pyplot
state) and writes it when given ``path``. matplotlib is an optional extra: without it, calling a
plot function raises ImportError saying ``pip install 'chainrule[plot]'``; importing this module
does not need it.

>>> from chainrule import plots                                       # doctest: +SKIP
>>> plots.plot_history(net.fit(X, y, validation_data=(Xv, yv)), "curves.png")  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from chainrule.plots._backend import check_plot_path, finish, new_figure, plot_formats, png_bytes
from chainrule.plots.boundary import draw_decision_boundary, plot_decision_boundary
from chainrule.plots.classification import (
    confusion_matrix,
    plot_confusion_matrix,
    plot_misclassified,
)
from chainrule.plots.curves import draw_accuracy, draw_cost, plot_gradient_norms, plot_history

__all__ = [
    "plot_history",
    "plot_decision_boundary",
    "plot_gradient_norms",
    "plot_confusion_matrix",
    "plot_misclassified",
    "plot_training",
    "confusion_matrix",
    "png_bytes",
    "check_plot_path",
    "plot_formats",
    "draw_accuracy",
    "draw_cost",
    "draw_decision_boundary",
    "new_figure",
    "finish",
]


def plot_training(
    history: Any,
    path: str | Path | None = None,
    model: Any = None,
    X: Any = None,
    y: Any = None,
    dpi: int = 100,
    held_out: str = "validation",
    feature_names: Sequence[str] | None = None,
) -> Any:
    """Cost and accuracy curves in one figure, plus the decision boundary of ``model`` on (X, y)
    when X has 2 features (what ``chainrule train --plot`` writes). Returns the Figure.

    ``held_out`` names the validation curves ("test" for ``chainrule train``, which holds out
    the test split); ``feature_names`` label the boundary's axes (toy: weight, height)."""
    from chainrule.plots.curves import check_history

    history = check_history(history)
    boundary = model is not None and X is not None and y is not None and _is_2d(X)
    panels = 1 + bool(history.get("accuracy")) + boundary
    fig, axes = new_figure(1, panels, size=(4.2 * panels, 3.5))
    draw_cost(axes[0, 0], history, held_out)
    k = 1
    if history.get("accuracy"):
        draw_accuracy(axes[0, k], history, held_out)
        k += 1
    if boundary:
        draw_decision_boundary(axes[0, k], model, X, y, resolution=150, feature_names=feature_names)
    return finish(fig, path, dpi)


def _is_2d(X: Any) -> bool:
    shape = getattr(X, "shape", None)
    return shape is not None and len(shape) == 2 and shape[1] == 2
