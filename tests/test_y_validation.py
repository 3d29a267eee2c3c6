"""Every wrong y for every cost is a ValueError/TypeError naming the expected shape, never an
IndexError from deep inside (issue 15), through net.fit and the scikit-learn wrappers; and model
files get the permissions of any file the user writes."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import chainrule as cr

M = 12
X = np.random.default_rng(0).random((M, 3))

NETS = {
    "bce, 1 output": lambda: cr.mlp([3, 4, 1], output="sigmoid", seed=0),
    "bce, 3 outputs (multi-label)": lambda: cr.mlp([3, 4, 3], output="sigmoid", seed=0),
    "ce, 3 classes": lambda: cr.mlp([3, 4, 3], output="softmax", seed=0),
    "mse, 1 output": lambda: cr.mlp([3, 4, 1], output="identity", seed=0),
    "mse, 2 outputs": lambda: cr.mlp([3, 4, 2], output="identity", seed=0),
}
#: what each network's error must name
EXPECTED = {
    "bce, 1 output": r"\(12,\)",
    "bce, 3 outputs (multi-label)": r"\(12, 3\)",
    "ce, 3 classes": r"\(12,\)|0\.\.2",
    "mse, 1 output": r"\(12,\)|\(12, 1\)",
    "mse, 2 outputs": r"\(12, 2\)",
}
BAD_Y = {
    "too few": np.arange(M - 1) % 2,
    "too many": np.arange(M + 1) % 2,
    "transposed": np.zeros((3, M)),
    "3-D": np.zeros((M, 3, 1)),
    "3-D square": np.zeros((M, 2, 2)),
    "no columns": np.zeros((M, 0)),
    "wrong width": np.zeros((M, 5)),
    "ragged": [[0], [1, 2]] * (M // 2),
    "strings": np.array(["a"] * M),
    "objects": np.array([None] * M),
    "complex": np.zeros(M, complex),
    "scalar": 1,
    "empty": np.zeros(0),
    "dict": {"y": 1},
}


@pytest.mark.parametrize("y_name", list(BAD_Y))
@pytest.mark.parametrize("net_name", list(NETS))
def test_every_bad_y_for_every_cost_is_a_clear_error(net_name: str, y_name: str) -> None:
    net = NETS[net_name]()
    with pytest.raises((ValueError, TypeError)) as info:
        net.fit(X, BAD_Y[y_name], epochs=1, verbose=False)
    assert not isinstance(info.value, IndexError)
    message = str(info.value)
    assert message.startswith("y ") or "y " in message, message
    if y_name not in ("dict",):
        import re

        assert re.search(EXPECTED[net_name], message), (net_name, y_name, message)


def test_one_hot_y_for_softmax_says_what_to_pass() -> None:
    net = NETS["ce, 3 classes"]()
    with pytest.raises(ValueError, match=r"class labels 0\.\.2 \(not one-hot\) of shape \(12,\)"):
        net.fit(X, np.eye(3)[np.arange(M) % 3], epochs=1, verbose=False)
    with pytest.raises(ValueError, match=r"y\.argmax\(axis=1\)"):
        net.fit(X, np.eye(3)[np.arange(M) % 3], epochs=1, verbose=False)


def test_huge_float_labels_do_not_wrap_around() -> None:
    with pytest.raises(ValueError, match=r"integer class labels 0\.\.K-1, got labels in 1e\+30"):
        NETS["ce, 3 classes"]().fit(X, np.full(M, 1e30), epochs=1, verbose=False)


def test_multi_label_y_for_one_sigmoid_names_the_outputs_needed() -> None:
    with pytest.raises(ValueError, match=r"2 labels per example need 2 sigmoid outputs"):
        NETS["bce, 1 output"]().fit(X, np.zeros((M, 2)), epochs=1, verbose=False)


def test_good_y_still_trains() -> None:
    labels = np.arange(M) % 2
    NETS["bce, 1 output"]().fit(X, labels, epochs=1, verbose=False)
    NETS["bce, 1 output"]().fit(X, labels[:, None], epochs=1, verbose=False)
    NETS["bce, 3 outputs (multi-label)"]().fit(
        X, np.c_[labels, 1 - labels, labels], epochs=1, verbose=False
    )
    NETS["ce, 3 classes"]().fit(X, np.arange(M) % 3, epochs=1, verbose=False)
    NETS["ce, 3 classes"]().fit(X, (np.arange(M) % 3).astype(float), epochs=1, verbose=False)
    NETS["mse, 1 output"]().fit(X, X[:, 0], epochs=1, verbose=False)
    NETS["mse, 1 output"]().fit(X, X[:, :1], epochs=1, verbose=False)
    NETS["mse, 2 outputs"]().fit(X, X[:, :2], epochs=1, verbose=False)


SEQ_BAD = {
    "one id per example": lambda ids: ids[:, 0],
    "too few examples": lambda ids: ids[:3],
    "short rows": lambda ids: ids[:, :4],
    "transposed": lambda ids: ids.T,
    "one-hot": lambda ids: np.eye(7)[ids],
    "3-D": lambda ids: ids[..., None],
    "floats": lambda ids: ids + 0.5,
    "id too big": lambda ids: ids + 7,
    "negative id": lambda ids: ids - 1,
    "strings": lambda ids: ids.astype(str),
}


@pytest.mark.parametrize("case", list(SEQ_BAD))
def test_bad_next_token_targets_are_clear_errors(case: str) -> None:
    net = cr.models.gpt(7, 5, 1, 1, 8, 0.0, 0)
    ids = np.random.default_rng(0).integers(0, 7, (4, 5))
    with pytest.raises((ValueError, TypeError)) as info:
        net.fit(ids, SEQ_BAD[case](ids), epochs=1, verbose=False)
    assert not isinstance(info.value, IndexError)
    message = str(info.value)
    assert "(4, 5)" in message or "token ids" in message, message


sklearn = pytest.importorskip("sklearn")


@pytest.mark.parametrize(
    "y",
    [np.zeros((M, 3, 1)), np.zeros((M - 1,)), np.zeros((3, M)), [[0], [1, 2]] * (M // 2), 1],
    ids=["3-D", "too few", "transposed", "ragged", "scalar"],
)
def test_sklearn_classifier_refuses_bad_y(y: Any) -> None:
    from chainrule.sklearn import NeuralNetClassifier

    with pytest.raises((ValueError, TypeError)) as info:
        NeuralNetClassifier(hidden_layer_sizes=(4,), epochs=1).fit(X, y)
    assert not isinstance(info.value, IndexError)


@pytest.mark.parametrize(
    "y",
    [np.zeros((M, 2, 2)), np.zeros((M + 1,)), np.array(["a"] * M), [[0], [1, 2]] * (M // 2)],
    ids=["3-D", "too many", "strings", "ragged"],
)
def test_sklearn_regressor_refuses_bad_y(y: Any) -> None:
    from chainrule.sklearn import NeuralNetRegressor

    with pytest.raises((ValueError, TypeError)) as info:
        NeuralNetRegressor(hidden_layer_sizes=(4,), epochs=1).fit(X, y)
    assert not isinstance(info.value, IndexError)


def test_sklearn_wrappers_still_fit_good_y() -> None:
    from chainrule.sklearn import NeuralNetClassifier, NeuralNetRegressor

    NeuralNetClassifier(hidden_layer_sizes=(4,), epochs=1).fit(X, np.array(["a", "b", "c"] * 4))
    NeuralNetRegressor(hidden_layer_sizes=(4,), epochs=1).fit(X, X[:, :2])


@pytest.mark.skipif(not hasattr(os, "fchmod"), reason="POSIX file modes")
@pytest.mark.parametrize("umask", [0o022, 0o027, 0o077])
def test_saved_model_files_respect_the_umask(tmp_path: Path, umask: int) -> None:
    net = cr.mlp([2, 3, 1], output="sigmoid", seed=0)
    old = os.umask(umask)
    try:
        net.save(tmp_path / "m.npz")
        control = tmp_path / "plain.txt"
        control.write_text("x")  # what any file the user writes gets
    finally:
        os.umask(old)
    mode = stat.S_IMODE(os.stat(tmp_path / "m.npz").st_mode)
    assert mode == 0o666 & ~umask == stat.S_IMODE(control.stat().st_mode)
    assert not list(tmp_path.glob(".m.npz.*"))  # the temporary file is gone


@pytest.mark.skipif(not hasattr(os, "fchmod"), reason="POSIX file modes")
def test_overwriting_a_model_keeps_its_mode(tmp_path: Path) -> None:
    net = cr.mlp([2, 3, 1], output="sigmoid", seed=0)
    path = tmp_path / "m.npz"
    net.save(path)
    os.chmod(path, 0o640)
    net.save(path)  # atomic replace: a new inode, the old mode
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    assert cr.load(path).n_params == net.n_params
