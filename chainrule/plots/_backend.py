"""Figures without pyplot: an Agg canvas per figure, no global state, safe in scripts and tests.

matplotlib is an optional extra; every plotting function calls :func:`new_figure`, which raises an
ImportError saying how to install it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["new_figure", "finish", "check_plot_path", "plot_formats", "png_bytes", "INSTALL"]

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


def plot_formats() -> list[str]:
    """The file extensions matplotlib can write (png, pdf, svg, ...)."""
    _matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    return sorted(FigureCanvasAgg(Figure()).get_supported_filetypes())


def check_plot_path(path: str | Path) -> Path:
    """Fail early (before a long training run) when matplotlib, the folder or the format is
    wrong: ValueError/OSError naming what was expected."""
    _matplotlib()
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"cannot write the plot to {path}: it is a folder; expected a file name")
    if not path.parent.exists():
        raise OSError(f"cannot write the plot to {path}: folder {path.parent} does not exist")
    suffix = path.suffix[1:].lower()
    formats = plot_formats()
    if suffix and suffix not in formats:
        raise ValueError(
            f"cannot write the plot to {path}: format {suffix!r} is not supported; expected a "
            f"file ending in one of {', '.join('.' + f for f in formats)}"
        )
    return path


def finish(fig: Any, path: str | Path | None, dpi: int = 100) -> Any:
    """Write ``fig`` to ``path`` (format from the extension, PNG by default) and return it."""
    if path is not None:
        path = check_plot_path(path)
        fig.savefig(path, dpi=dpi, format=path.suffix[1:] or "png")
    return fig


def png_bytes(fig: Any, dpi: int = 100) -> bytes:
    """The figure as PNG bytes (for IPython.display.Image in a notebook)."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()
