"""The scikit-learn estimators: sklearn's own estimator checks, Pipeline, GridSearchCV, labels."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.model_selection import GridSearchCV  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import chainrule as cr  # noqa: E402
from chainrule.sklearn import NeuralNetClassifier, NeuralNetRegressor  # noqa: E402

FAST = {"hidden_layer_sizes": (16,), "epochs": 40, "lr": 0.01, "batch_size": 16}


@parametrize_with_checks(
    [NeuralNetClassifier(**FAST, random_state=0), NeuralNetRegressor(**FAST, random_state=0)]
)
def test_sklearn_estimator_checks(estimator, check) -> None:  # noqa: ANN001
    check(estimator)


def _iris() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    data = cr.datasets.load("iris")
    return data.X_train, data.y_train, data.X_test, data.y_test


def test_string_labels_map_to_classes_and_proba_shape() -> None:
    X, y, Xt, yt = _iris()
    names = np.array(["setosa", "versicolor", "virginica"])
    clf = NeuralNetClassifier(hidden_layer_sizes=(16,), epochs=60, lr=0.01, random_state=0)
    clf.fit(X, names[y])
    assert list(clf.classes_) == ["setosa", "versicolor", "virginica"]
    P = clf.predict_proba(Xt)
    assert P.shape == (len(Xt), 3)
    np.testing.assert_allclose(P.sum(axis=1), 1.0, atol=1e-5)
    pred = clf.predict(Xt)
    assert pred.dtype.kind == "U"
    assert np.mean(pred == names[yt]) > 0.9
    assert clf.score(Xt, names[yt]) > 0.9
    assert clf.n_iter_ == 60 and len(clf.loss_curve_) == 60


def test_binary_arbitrary_labels_two_columns() -> None:
    data = cr.datasets.load("moons")
    labels = np.array([-7, 42])
    clf = NeuralNetClassifier(hidden_layer_sizes=(16, 16), epochs=30, lr=0.01, random_state=0)
    clf.fit(data.X_train, labels[data.y_train])
    assert list(clf.classes_) == [-7, 42]
    assert clf.net_.layers[-1].name == "sigmoid"
    P = clf.predict_proba(data.X_test)
    assert P.shape == (len(data.X_test), 2)
    np.testing.assert_allclose(P.sum(axis=1), 1.0)
    assert clf.score(data.X_test, labels[data.y_test]) > 0.85


def test_same_random_state_same_model() -> None:
    X, y, Xt, _ = _iris()
    a = NeuralNetClassifier(**FAST, random_state=3).fit(X, y).predict_proba(Xt)
    b = NeuralNetClassifier(**FAST, random_state=3).fit(X, y).predict_proba(Xt)
    np.testing.assert_array_equal(a, b)


def test_pipeline_and_grid_search() -> None:
    X, y, Xt, yt = _iris()
    pipe = make_pipeline(
        StandardScaler(), NeuralNetClassifier(**FAST, standardize=False, random_state=0)
    )
    grid = GridSearchCV(
        pipe,
        {
            "neuralnetclassifier__hidden_layer_sizes": [(4,), (16,)],
            "neuralnetclassifier__lr": [0.01],
        },
        cv=3,
    )
    grid.fit(X, y)
    assert grid.best_params_["neuralnetclassifier__hidden_layer_sizes"] in [(4,), (16,)]
    assert grid.score(Xt, yt) > 0.85
    assert grid.predict_proba(Xt).shape == (len(Xt), 3)


def test_regressor_1d_and_multioutput() -> None:
    rng = np.random.default_rng(0)
    X = rng.uniform(-2, 2, size=(300, 2))
    y = np.sin(X[:, 0]) + 0.5 * X[:, 1] ** 2
    reg = NeuralNetRegressor(hidden_layer_sizes=(32,), epochs=80, lr=0.01, random_state=0)
    assert reg.fit(X, y).score(X, y) > 0.9
    assert reg.predict(X).shape == (300,)
    Y2 = np.c_[y, -y]
    reg2 = NeuralNetRegressor(hidden_layer_sizes=(32,), epochs=80, lr=0.01, random_state=0)
    assert reg2.fit(X, Y2).predict(X).shape == (300, 2)
    assert reg2.score(X, Y2) > 0.9


def test_bad_hyperparameters_raise_at_fit() -> None:
    X, y, _, _ = _iris()
    with pytest.raises(TypeError, match="hidden_layer_sizes"):
        NeuralNetClassifier(hidden_layer_sizes="16").fit(X, y)
    with pytest.raises(ValueError, match="activation"):
        NeuralNetClassifier(activation="swishy", epochs=1).fit(X, y)
    with pytest.raises(ValueError, match="2 classes"):
        NeuralNetClassifier(epochs=1).fit(X, np.zeros(len(X)))


def test_sklearn_to_onnx(tmp_path) -> None:  # noqa: ANN001
    ort = pytest.importorskip("onnxruntime")
    X, y, Xt, _ = _iris()
    clf = NeuralNetClassifier(**FAST, random_state=0).fit(X, y)
    clf.to_onnx(tmp_path / "iris.onnx")
    session = ort.InferenceSession(str(tmp_path / "iris.onnx"), providers=["CPUExecutionProvider"])
    got = session.run(None, {"X": Xt.astype(np.float32)})[0]
    np.testing.assert_allclose(got, clf.predict_proba(Xt), atol=1e-5)
