"""Issue 15's plots: the held-out split named as the CLI names it, an accuracy axis that zooms,
the toy's axes named weight/height, class colours and legend that read, a gradient-norm legend
that covers no curve, early format checks, and a gallery script that leaves unchanged PNGs be."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("matplotlib")

import chainrule as cr  # noqa: E402
from chainrule import plots  # noqa: E402
from chainrule.cli.main import main  # noqa: E402
from chainrule.plots.curves import accuracy_limits  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def toy() -> tuple[Any, Any, Any]:
    data = cr.datasets.load("toy")
    net = cr.mlp([2, 3, 3, 1], activation="sigmoid", output="sigmoid", seed=0)
    history = net.fit(
        data.X_train,
        data.y_train,
        epochs=300,
        lr=0.5,
        batch_size=10,
        standardize=True,
        verbose=False,
        validation_data=(data.X_test, data.y_test),
    )
    return net, history, data


def test_held_out_curves_are_named_as_asked(toy: Any) -> None:
    net, history, data = toy
    fig = plots.plot_training(history, None, net, data.X_test, data.y_test, held_out="test")
    cost_ax, acc_ax = fig.axes[0], fig.axes[1]
    for ax in (cost_ax, acc_ax):
        assert [ln.get_label() for ln in ax.lines] == ["train", "test"]
        assert [t.get_text() for t in ax.get_legend().get_texts()] == ["train", "test"]
    fig = plots.plot_history(history)  # the library's own name: validation_data
    assert [ln.get_label() for ln in fig.axes[0].lines] == ["train", "validation"]


def test_the_cli_plot_calls_the_test_split_test_and_names_the_toy_axes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    figures = []
    original = plots.plot_training

    def keep(*args: Any, **kwargs: Any) -> Any:
        figures.append(original(*args, **kwargs))
        return figures[-1]

    monkeypatch.setattr(plots, "plot_training", keep)
    png = tmp_path / "toy.png"
    argv = [
        "train",
        "--data",
        "toy",
        "--layers",
        "2,3,3,1",
        "--activation",
        "sigmoid",
        "--output",
        "sigmoid",
        "--epochs",
        "50",
        "--lr",
        "0.5",
        "--batch-size",
        "10",
        "--quiet",
        "--plot",
        str(png),
    ]
    assert main(argv) == 0
    assert png.stat().st_size > 1000
    fig = figures[0]
    labels = [ln.get_label() for ln in fig.axes[0].lines]
    assert labels == ["train", "test"]
    boundary = fig.axes[2]
    assert boundary.get_xlabel() == "weight" and boundary.get_ylabel() == "height"


def test_accuracy_axis_zooms_to_the_data() -> None:
    lo, hi = accuracy_limits([0.9, 0.95, 1.0], [0.92, 0.97])
    assert 0.85 <= lo < 0.9 and 1.0 < hi <= 1.02  # a curve at 1.0 is not on the frame
    lo, hi = accuracy_limits([0.5, 0.5])
    assert lo < 0.5 < hi and hi - lo >= 0.06
    assert accuracy_limits([None, 0.8]) == accuracy_limits([0.8])  # resumed: no early values
    history = {"cost": [1.0, 0.5, 0.4], "accuracy": [0.96, 0.98, 0.99]}
    fig = plots.plot_history(history)
    lo, hi = fig.axes[1].get_ylim()
    assert lo > 0.9 and hi <= 1.02


def test_boundary_points_read_on_the_shading_with_a_class_legend(toy: Any) -> None:
    net, _, data = toy
    fig = plots.plot_decision_boundary(net, data.X_train, data.y_train, feature_names=["w", "h"])
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["class 0", "class 1"]
    points = [c for c in ax.collections if len(c.get_offsets()) == len(data.X_train)]
    edges = points[0].get_edgecolors()
    assert np.allclose(edges[:, :3], 0.0)  # black edges
    faces = points[0].get_facecolors()
    assert len({tuple(f) for f in faces}) == 2 and np.all(faces[:, 3] == 1.0)  # opaque
    assert ax.get_xlabel() == "w"

    spirals = cr.datasets.load("spirals")
    clf = cr.mlp([2, 16, 3], activation="relu", output="softmax", seed=0)
    clf.fit(spirals.X_train, spirals.y_train, epochs=2, lr=0.1, verbose=False)
    fig = plots.plot_decision_boundary(clf, spirals.X_train, spirals.y_train)
    texts = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert texts == ["class 0", "class 1", "class 2"]


def test_gradient_norm_legend_covers_no_curve() -> None:
    moons = cr.datasets.load("moons")
    runs = {}
    for act in ("sigmoid", "relu"):
        net = cr.mlp([2] + [8] * 6 + [1], activation=act, output="sigmoid", seed=0)
        runs[act] = net.fit(
            moons.X_train,
            moons.y_train,
            epochs=3,
            lr=0.05,
            standardize=True,
            verbose=False,
            diagnostics=True,
        )
    fig = plots.plot_gradient_norms(runs)
    assert all(ax.get_legend() is None for ax in fig.axes)
    assert len(fig.legends) == 1
    fig.canvas.draw()
    box = fig.legends[0].get_window_extent()
    for ax in fig.axes:
        assert not box.overlaps(ax.get_window_extent()), "the legend lies on a panel"
    assert len(fig.legends[0].get_texts()) == 7  # W[1] .. W[7]


def test_plot_path_is_checked_for_format_and_folder(tmp_path: Path) -> None:
    assert plots.check_plot_path(tmp_path / "a.png") == tmp_path / "a.png"
    assert plots.check_plot_path(tmp_path / "a.svg")
    assert "png" in plots.plot_formats() and "pdf" in plots.plot_formats()
    with pytest.raises(ValueError, match=r"format 'xyz' is not supported.*\.png"):
        plots.check_plot_path(tmp_path / "a.xyz")
    with pytest.raises(ValueError, match="is a folder"):
        plots.check_plot_path(tmp_path)
    with pytest.raises(OSError, match="does not exist"):
        plots.check_plot_path(tmp_path / "no" / "a.png")


def _gallery() -> Any:
    spec = importlib.util.spec_from_file_location(
        "make_gallery", ROOT / "scripts" / "make_gallery.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("make_gallery", module)
    spec.loader.exec_module(module)
    return module


def test_gallery_does_not_rewrite_unchanged_pictures(tmp_path: Path, capsys: Any) -> None:
    pytest.importorskip("PIL")
    gallery = _gallery()
    history = {"cost": [1.0, 0.5, 0.25], "accuracy": [0.5, 0.8, 0.9]}
    path = gallery.save(plots.plot_history(history), "c.png", tmp_path)
    first = path.read_bytes()
    os.utime(path, ns=(1, 1))
    gallery.save(plots.plot_history(history), "c.png", tmp_path)  # the same picture again
    assert path.read_bytes() == first and path.stat().st_mtime_ns == 1
    assert "unchanged" in capsys.readouterr().out
    changed = {"cost": [1.0, 0.5, 0.1], "accuracy": [0.5, 0.8, 0.9]}
    gallery.save(plots.plot_history(changed), "c.png", tmp_path)
    assert path.stat().st_mtime_ns != 1 and path.read_bytes() != first
    from PIL import Image

    with Image.open(path) as image:
        assert not {"Software", "Creation Time", "date:create"} & set(image.info)
