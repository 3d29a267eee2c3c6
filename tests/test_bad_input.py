"""Bad input to the library: every case raises ValueError/TypeError naming expected and received.

Each case gives the call, the exception type and a regex that must match the message: it names
what was expected and what was received, so the user can fix the call without reading the code.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import chainrule as cr

RNG = np.random.default_rng(0)
X = RNG.standard_normal((20, 3))
y2 = np.arange(20) % 2
y3 = np.arange(20) % 3


def binary() -> cr.Sequential:
    return cr.mlp([3, 4, 1], activation="tanh", output="sigmoid", seed=0)


def multiclass() -> cr.Sequential:
    return cr.mlp([3, 4, 3], activation="tanh", output="softmax", seed=0)


def conv_net() -> cr.Sequential:
    from chainrule.model.cnn import lenet

    return lenet(input_shape=(1, 8, 8), channels=(2,), kernel_size=3, hidden=4, n_classes=3, seed=0)


def fit(net: cr.Sequential, X: Any, y: Any, **kw: Any) -> Any:
    kw.setdefault("epochs", 1)
    return net.fit(X, y, verbose=False, **kw)


def trained() -> cr.Sequential:
    net = binary()
    fit(net, X, y2)
    return net


CASES: dict[str, tuple[Callable[[], Any], type[Exception], str]] = {
    # --- X ---------------------------------------------------------------------------------
    "X with NaN": (
        lambda: fit(binary(), np.where(X > 1, np.nan, X), y2),
        ValueError,
        r"X contains NaN or inf \(first at index \(\d+, \d+\)\)",
    ),
    "X with inf": (lambda: fit(binary(), np.where(X > 1, np.inf, X), y2), ValueError, "NaN or inf"),
    "X 1-D": (lambda: fit(binary(), X[:, 0], y2), ValueError, r"2-D with shape \(m, 3\).*\(20,\)"),
    "X 3-D": (lambda: fit(binary(), X[:, :, None], y2), ValueError, r"2-D.*\(20, 3, 1\)"),
    "X wrong width": (
        lambda: fit(binary(), X[:, :2], y2),
        ValueError,
        r"per-example shape \(2,\), but the network expects \(3,\)",
    ),
    "X strings": (lambda: fit(binary(), X.astype(str), y2), TypeError, r"numbers.*<U"),
    "X objects": (lambda: fit(binary(), X.astype(object), y2), TypeError, "dtype object"),
    "X None": (lambda: fit(binary(), None, y2), TypeError, "numeric array, got NoneType"),
    "X a string": (lambda: fit(binary(), "data.csv", y2), TypeError, "numeric array, got str"),
    "X complex": (lambda: fit(binary(), X + 1j, y2), TypeError, "complex128"),
    "X ragged": (lambda: fit(binary(), [[1, 2, 3], [1, 2]], [0, 1]), ValueError, "inhomogeneous"),
    "X empty": (lambda: fit(binary(), np.zeros((0, 3)), []), ValueError, r"empty.*\(0, 3\)"),
    "X beyond float32": (
        lambda: fit(binary(), np.full((20, 3), 1e300), y2),
        ValueError,
        r"values up to 1e\+300, beyond the range of float32",
    ),
    "image X flattened for a conv net": (
        lambda: fit(conv_net(), np.zeros((3, 64)), [0, 1, 2]),
        ValueError,
        r"X must be 4-D with shape \(m, 1, 8, 8\), got array of shape \(3, 64\)",
    ),
    "image X of the wrong size": (
        lambda: fit(conv_net(), np.zeros((3, 1, 8, 9)), [0, 1, 2]),
        ValueError,
        r"per-example shape \(1, 8, 9\), but the network expects \(1, 8, 8\)",
    ),
    # --- y ---------------------------------------------------------------------------------
    "y too short": (
        lambda: fit(binary(), X, y2[:-1]),
        ValueError,
        r"one entry per example.*\(20\), got 19",
    ),
    "y too long": (lambda: fit(binary(), X, np.r_[y2, 0]), ValueError, r"\(20\), got 21"),
    "y scalar": (lambda: fit(binary(), X, 1), ValueError, "got a scalar"),
    "y strings": (
        lambda: fit(binary(), X, y2.astype(str)),
        TypeError,
        r"y must hold numbers, got dtype <U",
    ),
    "y objects": (lambda: fit(binary(), X, y2.astype(object)), TypeError, "dtype object"),
    "y None": (lambda: fit(binary(), X, None), TypeError, "labels, got NoneType"),
    "y NaN": (lambda: fit(binary(), X, np.where(y2 > 0, np.nan, 0.0)), ValueError, "NaN"),
    "softmax label too big": (
        lambda: fit(multiclass(), X, y3 + 1),
        ValueError,
        r"3 outputs needs labels in 0\.\.2, got labels in 1\.\.3",
    ),
    "softmax label negative": (
        lambda: fit(multiclass(), X, y3 - 1),
        ValueError,
        r"0\.\.2.*-1\.\.1",
    ),
    "softmax label fractional": (
        lambda: fit(multiclass(), X, y3 + 0.5),
        ValueError,
        r"integer class labels 0\.\.K-1, got 0\.5",
    ),
    "bce label 2": (lambda: fit(binary(), X, y2 * 2), ValueError, r"labels in \{0, 1\}, got 2"),
    "bce label -1": (lambda: fit(binary(), X, y2 * 2 - 1), ValueError, r"\{0, 1\}, got -1"),
    "bce label 0.5": (lambda: fit(binary(), X, y2 * 0.5), ValueError, r"\{0, 1\}, got 0\.5"),
    "bce multi-label wrong width": (
        lambda: fit(binary(), X, np.c_[y2, y2]),
        ValueError,
        r"\(20, 1\), got \(20, 2\)",
    ),
    "single class (bce)": (
        lambda: fit(binary(), X, np.zeros(20)),
        ValueError,
        r"single class \(0 for all 20 examples\).*at least two classes",
    ),
    "single class (softmax)": (
        lambda: fit(multiclass(), X, np.full(20, 2)),
        ValueError,
        r"single class \(2 for all 20 examples\).*0\.\.2",
    ),
    # --- architecture ------------------------------------------------------------------------
    "sizes don't chain": (
        lambda: cr.Sequential([cr.Dense(3, 4), cr.Tanh(), cr.Dense(5, 1), cr.Sigmoid()]),
        ValueError,
        r"layer 2 \(Dense\) does not chain.*expects 5 input features.*\(4,\)",
    ),
    "zero size": (lambda: cr.mlp([3, 0, 1]), ValueError, r"n\[1\] must be an int >= 1, got 0"),
    "negative size": (
        lambda: cr.mlp([3, 4, -1]),
        ValueError,
        r"n\[2\] must be an int >= 1, got -1",
    ),
    "float size": (
        lambda: cr.mlp([3, 2.5, 1]),
        TypeError,
        r"n\[1\] must be an int >= 1, got float",
    ),
    "Dense zero": (lambda: cr.Dense(0, 3), ValueError, r"n_in must be an int >= 1, got 0"),
    "one size only": (lambda: cr.mlp([3]), ValueError, "at least an input and an output"),
    "sizes a string": (lambda: cr.mlp("2,3,1"), TypeError, "list of ints"),
    "unknown activation": (
        lambda: cr.mlp([3, 4, 1], activation="relu6"),
        ValueError,
        r"unknown activation 'relu6'; expected one of .*relu.*sigmoid.*tanh",
    ),
    "unknown output": (lambda: cr.mlp([3, 4, 1], output="softplus"), ValueError, "expected one of"),
    "unknown cost": (
        lambda: cr.mlp([3, 4, 1], loss="hinge"),
        ValueError,
        r"unknown loss 'hinge'; expected one of bce, ce, mse",
    ),
    "unknown optimizer": (
        lambda: fit(binary(), X, y2, optimizer="nadam"),
        ValueError,
        r"unknown optimizer 'nadam'; expected one of adam, adamw, momentum, rmsprop, sgd",
    ),
    "unknown init": (lambda: cr.mlp([3, 4, 1], init="glorot"), ValueError, "expected one of he"),
    # --- hyper-parameters --------------------------------------------------------------------
    "lr = 0": (
        lambda: fit(binary(), X, y2, lr=0),
        ValueError,
        r"lr must be a finite number > 0, got 0",
    ),
    "lr < 0": (lambda: fit(binary(), X, y2, lr=-0.1), ValueError, r"> 0, got -0\.1"),
    "lr NaN": (lambda: fit(binary(), X, y2, lr=float("nan")), ValueError, "got nan"),
    "lr inf": (lambda: fit(binary(), X, y2, lr=float("inf")), ValueError, "got inf"),
    "lr a string": (lambda: fit(binary(), X, y2, lr="0.1"), TypeError, "lr must be a number"),
    "epochs = 0": (
        lambda: fit(binary(), X, y2, epochs=0),
        ValueError,
        r"epochs must be an int >= 1, got 0",
    ),
    "epochs float": (
        lambda: fit(binary(), X, y2, epochs=2.5),
        TypeError,
        r"int >= 1, got float 2\.5",
    ),
    "batch_size = 0": (
        lambda: fit(binary(), X, y2, batch_size=0),
        ValueError,
        r"batch_size.*>= 1, got 0",
    ),
    "batch_size < 0": (lambda: fit(binary(), X, y2, batch_size=-4), ValueError, "got -4"),
    "momentum >= 1": (
        lambda: fit(binary(), X, y2, optimizer="momentum", momentum=1.5),
        ValueError,
        r"momentum must be in \[0, 1\), got 1\.5",
    ),
    "option for another optimizer": (
        lambda: fit(binary(), X, y2, optimizer="sgd", beta1=0.9),
        ValueError,
        "does not take beta1",
    ),
    "validation_data not a pair": (
        lambda: fit(binary(), X, y2, validation_data=X),
        ValueError,
        r"pair \(X_val, y_val\)",
    ),
    "checkpoint_every = 0": (
        lambda: fit(binary(), X, y2, checkpoint="unused.npz", checkpoint_every=0),
        ValueError,
        r"checkpoint_every must be an int >= 1, got 0",
    ),
    # --- predict ---------------------------------------------------------------------------
    "predict before fit": (lambda: binary().predict(X), ValueError, r"not been trained yet.*fit"),
    "predict_proba before fit": (lambda: binary().predict_proba(X), ValueError, "fit"),
    "predict wrong width": (
        lambda: trained().predict(X[:, :2]),
        ValueError,
        r"per-example shape \(2,\), but the network expects \(3,\) \(n\[0\] = 3 features\)",
    ),
    "predict 1-D": (lambda: trained().predict(X[0]), ValueError, r"2-D with shape \(m, 3\)"),
    "predict NaN": (lambda: trained().predict(X * np.nan), ValueError, "NaN"),
    "predict empty": (lambda: trained().predict(np.zeros((0, 3))), ValueError, "0 examples"),
    "score wrong y": (lambda: trained().cost(X, y2[:5]), ValueError, r"\(20\), got 5"),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_bad_input_is_rejected_clearly(case: str, tmp_path: Any, monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    call, exc_type, pattern = CASES[case]
    with pytest.raises(exc_type, match=pattern):
        call()


def test_bad_input_leaves_network_untouched() -> None:
    """A rejected fit changes nothing: the weights are the initial ones and predict still refuses."""
    net = binary()
    before = [P.copy() for _, P, _, _ in net.parameters()]
    with pytest.raises(ValueError):
        fit(net, np.where(X > 1, np.nan, X), y2)
    assert all(np.array_equal(a, P) for a, (_, P, _, _) in zip(before, net.parameters()))
    with pytest.raises(ValueError, match="not been trained"):
        net.predict(X)


def test_one_class_is_fine_where_one_class_is_legitimate() -> None:
    """Scoring or validating on a subset that happens to hold one class is not an error."""
    net = trained()
    assert 0.0 <= net.score(X[y2 == 1], y2[y2 == 1]) <= 1.0
    history = fit(binary(), X, y2, validation_data=(X[y2 == 0], y2[y2 == 0]))
    assert len(history["val_cost"]) == 1


def test_regression_with_constant_target_is_allowed() -> None:
    net = cr.mlp([3, 4, 1], activation="tanh", output="identity", seed=0)
    history = fit(net, X, np.ones(20))
    assert np.isfinite(history["cost"][0])


def test_good_input_variants_are_accepted() -> None:
    """Lists, ints, bools and float32 are fine: only genuinely bad input is rejected."""
    net = binary()
    fit(net, X.tolist(), y2.tolist())
    fit(net, (X * 10).astype(np.int64), y2.astype(bool))
    assert net.predict(X.astype(np.float32)).shape == (20,)
    assert net.predict([[0.1, 0.2, 0.3]]).shape == (1,)


def test_check_x_returns_an_array_that_needs_nothing_as_it_is() -> None:
    """check_X's shortcut (an ndarray already in the dtype and shape) returns X itself, and it
    refuses exactly what the full checks refuse; everything else still takes the full path."""
    from chainrule.validation import check_X

    good = np.ones((4, 3), np.float32)
    assert check_X(good, (3,), dtype=np.float32) is good  # no copy, no conversion
    bad = good.copy()
    bad[2, 1] = np.nan
    with pytest.raises(ValueError, match=r"first at index \(2, 1\)"):
        check_X(bad, (3,), dtype=np.float32)
    assert check_X(bad, (3,), dtype=np.float32, finite=False) is bad  # the caller checks

    class Sub(np.ndarray):
        pass

    for other in (good.astype(np.float64), good.view(Sub), good.tolist()):  # the full path
        got = check_X(other, (3,), dtype=np.float32)
        assert type(got) is np.ndarray and got.dtype == np.float32 and got.shape == (4, 3)
    with pytest.raises(ValueError, match=r"per-example shape \(2,\)"):
        check_X(np.ones((4, 2), np.float32), (3,), dtype=np.float32)
    with pytest.raises(ValueError, match=r"0 examples"):
        check_X(np.ones((0, 3), np.float32), (3,), dtype=np.float32)


# --- CSV files (library level; the CLI's messages are in test_bad_input_cli.py) -------------------
def write_csv(tmp_path: Any, text: str, name: str = "data.csv") -> Any:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_csv_good_file_split_is_deterministic_and_stratified(tmp_path: Any) -> None:
    from chainrule.data.csv import load_csv

    rows = "\n".join(f"{i},{i * i % 7},{[3, 5, 9][i % 3]}" for i in range(60))
    path = write_csv(tmp_path, "x1, x2 ,label\n" + rows + "\n")
    a = load_csv(path, "label")
    b = load_csv(path, "label")
    assert np.array_equal(a.X_train, b.X_train) and np.array_equal(a.y_test, b.y_test)
    assert a.task == "multiclass" and a.n_classes == 3 and a.feature_names == ["x1", "x2"]
    assert "3->0, 5->1, 9->2" in a.description
    assert np.bincount(a.y_test).tolist() == [5, 5, 5]  # 25% of each class of 20
    assert len(a.y_train) == 45 and a.X_train.shape == (45, 2)
    c = load_csv(path, "label", seed=1)
    assert not np.array_equal(a.X_test, c.X_test)
    reg = load_csv(path, "x2")
    assert reg.task == "multiclass"  # integer with 7 values: classes
    reg = load_csv(path, "x1")
    assert reg.task == "regression" and reg.n_classes == 0  # 60 distinct values


@pytest.mark.parametrize(
    ("text", "target", "pattern"),
    [
        ("a,b\n1,2\n", "c", r"no column named 'c'; the header has: a, b"),
        ("a,b\n1,2\n3,x\n", "b", r"line 3, column 2 \('b'\): expected a number, got 'x'"),
        ("a,b\n1,2\n3,\n", "b", r"line 3, column 2 \('b'\): empty cell"),
        ("a,b\n1,inf\n3,1\n", "b", r"line 2, column 2.*NaN and inf are not allowed"),
        ("a,b\n1,2,3\n", "b", r"line 2: expected 2 cells.*got 3"),
        ("a,a\n1,2\n", "a", "duplicate column names in the header: a"),
        ("a,\n1,2\n", "a", "empty column name"),
        ("a,b\n", "b", "no data rows"),
        ("", "b", "is empty"),
        ("b\n1\n2\n", "b", "only column; no features left"),
        ("a,b\n1,1\n2,1\n", "b", "single value 1 in all 2 rows"),
        ("a,b\n1,2\n", None, r"name the target column.*columns: a, b"),
    ],
)
def test_csv_errors(tmp_path: Any, text: str, target: str | None, pattern: str) -> None:
    from chainrule.data.csv import load_csv

    with pytest.raises(ValueError, match=pattern):
        load_csv(write_csv(tmp_path, text), target)


def test_csv_missing_file_and_bad_arguments(tmp_path: Any) -> None:
    from chainrule.data.csv import load_csv

    with pytest.raises(ValueError, match=r"CSV file '.*none\.csv' does not exist"):
        load_csv(tmp_path / "none.csv", "y")
    path = write_csv(tmp_path, "a,b\n1,0\n2,1\n")
    with pytest.raises(ValueError, match=r"test_fraction must be in \[0, 1\), got 1"):
        load_csv(path, "b", test_fraction=1)
    with pytest.raises(ValueError, match="task must be one of binary, multiclass, regression"):
        load_csv(path, "b", task="ranking")
    with pytest.raises(TypeError, match="target must be a column name"):
        load_csv(path, 1)  # type: ignore[arg-type]
