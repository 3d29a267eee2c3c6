"""Learning curves: cost and accuracy per epoch (train and validation), and gradient norms."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.plots._backend import finish, new_figure

__all__ = ["plot_history", "plot_gradient_norms", "draw_cost", "draw_accuracy", "accuracy_limits"]


def check_history(history: Any) -> Mapping[str, Any]:
    if hasattr(history, "history_"):  # a fitted chainrule.sklearn estimator
        history = history.history_
    elif hasattr(history, "history") and not isinstance(history, Mapping):  # a Sequential
        history = history.history
    if not isinstance(history, Mapping) or "cost" not in history:
        raise ValueError(
            "expected the history dict returned by fit (with a 'cost' list), got "
            f"{type(history).__name__}"
        )
    if len(history["cost"]) == 0:
        raise ValueError("the history is empty: train for at least one epoch first")
    return history


def _epochs(values: Any) -> np.ndarray:
    return np.arange(1, len(values) + 1)


def _values(values: Any) -> np.ndarray:
    """A history list as floats; None (an epoch without that measure, e.g. before a resume that
    added validation) becomes NaN, a gap in the curve."""
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def draw_cost(ax: Any, history: Mapping[str, Any], held_out: str = "validation") -> None:
    """Train (and held-out) cost per epoch on ``ax``; ``held_out`` names the held-out split
    ("validation", or "test" as ``chainrule train`` calls it)."""
    cost = _values(history["cost"])
    ax.plot(_epochs(cost), cost, label="train", color="C0")
    if history.get("val_cost"):
        ax.plot(
            _epochs(history["val_cost"]), _values(history["val_cost"]), label=held_out, color="C1"
        )
    ax.set_xlabel("epoch")
    ax.set_ylabel("cost C")
    ax.set_title("cost")
    finite = cost[np.isfinite(cost)]
    if finite.size and finite.min() > 0 and finite.max() / finite.min() > 50:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend()


def accuracy_limits(*curves: Any) -> tuple[float, float]:
    """y limits that zoom on the accuracies drawn (within [-0.02, 1.02], at least 0.06 tall)."""
    values = np.concatenate([_values(c) for c in curves])
    values = values[np.isfinite(values)]
    if values.size == 0:
        return -0.02, 1.02
    lo, hi = float(values.min()), float(values.max())
    pad = max((hi - lo) * 0.08, 0.02)  # a curve at 1.0 stays visible below the top edge
    lo, hi = max(lo - pad, -0.02), min(hi + pad, 1.02)
    if hi - lo < 0.06:
        lo, hi = max(min(lo, hi - 0.06), -0.02), min(max(hi, lo + 0.06), 1.02)
    return lo, hi


def draw_accuracy(ax: Any, history: Mapping[str, Any], held_out: str = "validation") -> None:
    """Train (and held-out) accuracy per epoch on ``ax``; the axis zooms on the values. The
    train curve is the running accuracy over each epoch's batches, as the weights changed."""
    curves = [history["accuracy"]]
    ax.plot(_epochs(curves[0]), _values(curves[0]), label="train", color="C0")
    if history.get("val_accuracy"):
        curves.append(history["val_accuracy"])
        ax.plot(_epochs(curves[1]), _values(curves[1]), label=held_out, color="C1")
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy")
    ax.set_title("accuracy")
    ax.set_ylim(*accuracy_limits(*curves))
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")


def plot_history(
    history: Any, path: str | Path | None = None, dpi: int = 100, held_out: str = "validation"
) -> Any:
    """Cost (and accuracy, for classifiers) per epoch, train and validation. Returns the Figure.

    ``history`` is the dict returned by ``fit`` (or a trained network / sklearn estimator);
    ``held_out`` is the legend's name for the ``validation_data`` curves.
    """
    history = check_history(history)
    panels = 2 if history.get("accuracy") else 1
    fig, axes = new_figure(1, panels, size=(4.2 * panels, 3.4))
    draw_cost(axes[0, 0], history, held_out)
    if panels == 2:
        draw_accuracy(axes[0, 1], history, held_out)
    return finish(fig, path, dpi)


def _grad_norms(history: Mapping[str, Any]) -> dict[str, np.ndarray]:
    from chainrule.train.diagnostics import per_layer

    norms = per_layer(dict(history), "grad_norm")
    if not norms:
        raise ValueError(
            "the history holds no gradient norms: train with fit(..., diagnostics=True)"
        )
    return norms


def plot_gradient_norms(histories: Any, path: str | Path | None = None, dpi: int = 100) -> Any:
    """Per-layer gradient norms ||dC_dW[l]|| over training, on a log scale.

    ``histories`` is one history from ``fit(..., diagnostics=True)`` or a dict of them, e.g.
    ``{"sigmoid": h1, "relu": h2}``, drawn side by side with a shared y axis: vanishing gradients
    show as W[1]'s curve lying orders of magnitude below W[L]'s.
    """
    if isinstance(histories, Mapping) and "cost" in histories:
        histories = {"": histories}
    if not isinstance(histories, Mapping) or not histories:
        raise ValueError("expected a history dict or a dict of named histories")
    named = {name: _grad_norms(check_history(h)) for name, h in histories.items()}
    fig, axes = new_figure(1, len(named), size=(4.2 * len(named) + 1.0, 3.4))
    lo, hi = np.inf, 0.0
    legend_from = axes[0, 0]
    for ax, (name, norms) in zip(axes[0], named.items()):
        import matplotlib

        cmap = matplotlib.colormaps["viridis"]
        for i, (label, values) in enumerate(norms.items()):
            color = cmap(i / max(len(norms) - 1, 1))
            ax.plot(_epochs(values), np.maximum(values, 1e-30), label=label, color=color)
            positive = values[values > 0]
            if positive.size:
                lo, hi = min(lo, float(positive.min())), max(hi, float(positive.max()))
        ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_ylabel("||dC_dW[l]||")
        ax.set_title(f"gradient norms{': ' + name if name else ''}")
        ax.grid(alpha=0.3, which="both")
        if len(norms) > len(legend_from.get_lines()):
            legend_from = ax
    # one legend for all panels, outside them, so that it covers no curve
    handles, labels = legend_from.get_legend_handles_labels()
    fig.legend(
        handles,
        labels,
        loc="outside right upper",
        fontsize="small",
        title="layer",
        ncol=2 if len(labels) > 12 else 1,
    )
    if np.isfinite(lo) and hi > 0:
        for ax in axes[0]:
            ax.set_ylim(lo / 2, hi * 2)
    return finish(fig, path, dpi)
