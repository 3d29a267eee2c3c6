"""Figures without pyplot: an Agg canvas per figure, no global state, safe in scripts and tests.

matplotlib is an optional extra; every plotting function calls :func:`new_figure`, which raises an
ImportError saying how to install it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["new_figure", "finish", "check_plot_path", "png_bytes", "INSTALL"]

INSTALL = "pip install 'chainrule[plot]'  (or: pip install matplotlib)"


def _matplotlib() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise ImportError(f"chainrule.plots needs matplotlib; install it with: {INSTALL}") from None
    return matplotlib


def new_figure(nrows: int = 1, ncols: int = 1, size: tuple[float, float] = (5.0, 4.0)) -> Any:
    """(Figure, 2-D array of Axes) drawn by the Agg backend, never shown in a window."""
    _matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes


def check_plot_path(path: str | Path) -> Path:
    """Fail early (before a long training run) when matplotlib or the folder is missing."""
    _matplotlib()
    path = Path(path)
    if not path.parent.exists():
        raise OSError(f"cannot write the plot to {path}: folder {path.parent} does not exist")
    return path


def finish(fig: Any, path: str | Path | None, dpi: int = 100) -> Any:
    """Write ``fig`` to ``path`` (format from the extension, PNG by default) and return it."""
    if path is not None:
        path = Path(path)
        if not path.parent.exists():
            raise OSError(f"cannot write the plot to {path}: folder {path.parent} does not exist")
        fig.savefig(path, dpi=dpi, format=path.suffix[1:] or "png")
    return fig


def png_bytes(fig: Any, dpi: int = 100) -> bytes:
    """The figure as PNG bytes (for IPython.display.Image in a notebook)."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()
