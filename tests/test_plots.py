"""Plots: each writes a non-empty PNG and its figure holds the expected artists."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("matplotlib")

import chainrule as cr  # noqa: E402
from chainrule import plots  # noqa: E402
from chainrule.cli.main import main  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _png(path: Path) -> None:
    assert path.exists() and path.stat().st_size > 1000
    assert path.read_bytes()[:8] == PNG_MAGIC


@pytest.fixture(scope="module")
def moons_net() -> tuple[cr.Sequential, dict, cr.datasets.Dataset]:
    data = cr.datasets.load("moons")
    net = cr.mlp([2, 8, 8, 1], activation="tanh", output="sigmoid", seed=0)
    history = net.fit(
        data.X_train,
        data.y_train,
        epochs=8,
        lr=0.1,
        standardize=True,
        verbose=False,
        validation_data=(data.X_test, data.y_test),
        diagnostics=True,
    )
    return net, history, data


def test_history_curves(tmp_path: Path, moons_net) -> None:  # noqa: ANN001
    _, history, _ = moons_net
    fig = plots.plot_history(history, tmp_path / "curves.png")
    _png(tmp_path / "curves.png")
    cost_ax, acc_ax = fig.axes
    assert [line.get_label() for line in cost_ax.lines] == ["train", "validation"]
    assert [line.get_label() for line in acc_ax.lines] == ["train", "validation"]
    assert len(cost_ax.lines[0].get_xdata()) == 8
    assert cost_ax.get_legend() is not None and acc_ax.get_ylabel() == "accuracy"


def test_history_regression_has_only_cost(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 2))
    net = cr.mlp([2, 4, 1], activation="tanh", output="identity", seed=0)
    history = net.fit(X, X[:, 0], epochs=3, lr=0.05, verbose=False)
    fig = plots.plot_history(net, tmp_path / "reg.png")  # a trained network works too
    _png(tmp_path / "reg.png")
    assert len(fig.axes) == 1 and len(fig.axes[0].lines) == 1
    with pytest.raises(ValueError, match="history"):
        plots.plot_history({"accuracy": [1.0]})
    assert history["cost"]


def test_decision_boundary_binary_and_multiclass(tmp_path: Path, moons_net) -> None:  # noqa: ANN001
    from matplotlib.collections import PathCollection
    from matplotlib.contour import ContourSet

    net, _, data = moons_net
    fig = plots.plot_decision_boundary(net, data.X_test, data.y_test, tmp_path / "b.png", 60)
    _png(tmp_path / "b.png")
    ax = fig.axes[0]
    assert sum(isinstance(c, ContourSet) for c in ax.collections) == 2  # regions + 0.5 line
    points = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert len(points) == 1 and len(points[0].get_offsets()) == len(data.X_test)
    assert len(fig.axes) == 2  # the P(y = 1) colorbar

    spirals = cr.datasets.load("spirals")
    clf = cr.mlp([2, 16, 3], activation="relu", output="softmax", seed=0)
    clf.fit(spirals.X_train, spirals.y_train, epochs=3, lr=0.1, verbose=False)
    fig = plots.plot_decision_boundary(clf, spirals.X_train, spirals.y_train, resolution=40)
    assert sum(isinstance(c, ContourSet) for c in fig.axes[0].collections) == 2
    with pytest.raises(ValueError, match="2-D inputs"):
        plots.plot_decision_boundary(clf, np.zeros((4, 3)), np.zeros(4))


def test_decision_boundary_of_sklearn_estimator_with_string_labels(tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    from chainrule.sklearn import NeuralNetClassifier

    data = cr.datasets.load("moons")
    y = np.array(["left", "right"])[data.y_train]
    clf = NeuralNetClassifier(hidden_layer_sizes=(8,), epochs=5, lr=0.01, random_state=0)
    clf.fit(data.X_train, y)
    plots.plot_decision_boundary(clf, data.X_train, y, tmp_path / "sk.png", resolution=40)
    _png(tmp_path / "sk.png")


def test_gradient_norms_side_by_side(tmp_path: Path, moons_net) -> None:  # noqa: ANN001
    _, history, _ = moons_net
    fig = plots.plot_gradient_norms({"tanh": history, "again": history}, tmp_path / "g.png")
    _png(tmp_path / "g.png")
    assert len(fig.axes) == 2
    for ax in fig.axes:
        assert [line.get_label() for line in ax.lines] == ["W[1]", "W[2]", "W[3]"]
        assert ax.get_yscale() == "log"
    with pytest.raises(ValueError, match="diagnostics=True"):
        plots.plot_gradient_norms({"cost": [1.0, 0.5]})


def test_confusion_matrix(tmp_path: Path) -> None:
    y_true = np.array([0, 0, 1, 1, 2, 2, 2])
    y_pred = np.array([0, 1, 1, 1, 2, 0, 2])
    counts, labels = plots.confusion_matrix(y_true, y_pred)
    assert counts.tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 2]] and labels.tolist() == [0, 1, 2]
    fig = plots.plot_confusion_matrix(y_true, y_pred, path=tmp_path / "cm.png")
    _png(tmp_path / "cm.png")
    ax = fig.axes[0]
    assert len(ax.images) == 1 and ax.images[0].get_array().shape == (3, 3)
    assert sorted(t.get_text() for t in ax.texts) == sorted(str(v) for v in counts.ravel())
    assert "71.4%" in ax.get_title()
    fig = plots.plot_confusion_matrix(["a", "b"], ["a", "a"], normalize=True)
    assert "0.50" not in [t.get_text() for t in fig.axes[0].texts]  # row "b": 1.00 in col "a"
    assert "1.00" in [t.get_text() for t in fig.axes[0].texts]


def test_misclassified_grid(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(30, 1, 8, 8))
    y_true = np.arange(30) % 10
    y_pred = y_true.copy()
    y_pred[[1, 4, 7, 9, 21]] = 0
    fig = plots.plot_misclassified(X, y_true, y_pred, tmp_path / "wrong.png")
    _png(tmp_path / "wrong.png")
    shown = [ax for ax in fig.axes if ax.images]
    assert len(shown) == 5
    assert shown[0].get_title() == "1 -> 0"
    flat = plots.plot_misclassified(X.reshape(30, 64), y_true, y_pred, max_images=2)
    assert len([ax for ax in flat.axes if ax.images]) == 2
    rgb = plots.plot_misclassified(rng.uniform(size=(3, 3, 4, 4)), [0, 1, 2], [1, 1, 1])
    assert rgb.axes[0].images[0].get_array().shape == (4, 4, 3)
    none = plots.plot_misclassified(X, y_true, y_true)
    assert "no misclassified" in none.axes[0].texts[0].get_text()


def test_cli_train_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from matplotlib.image import imread

    out = tmp_path / "train.png"
    assert main(["train", "--data", "moons", "--epochs", "3", "--quiet", "--plot", str(out)]) == 0
    _png(out)
    assert "saved plot" in capsys.readouterr().out
    height, width = imread(out).shape[:2]
    assert width > 2.5 * height  # three panels: cost, accuracy, decision boundary
    out2 = tmp_path / "iris.png"
    assert main(["train", "--data", "iris", "--epochs", "2", "--quiet", "--plot", str(out2)]) == 0
    height, width = imread(out2).shape[:2]
    assert 1.5 * height < width < 2.5 * height  # no boundary for 4-D data
    assert main(["train", "--data", "moons", "--plot", str(tmp_path / "no" / "x.png")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_missing_matplotlib_message(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def fake_import(name: str, *args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError("No module named 'matplotlib'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(ImportError, match=r"pip install 'chainrule\[plot\]'"):
        plots.plot_confusion_matrix([0, 1], [0, 1])
