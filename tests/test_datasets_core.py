"""The built-in datasets: shapes, dtypes, labels, seeding and the stratified sklearn splits."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr

#: name -> (n_train, n_test, n_features, n_classes)
EXPECTED = {
    "toy": (10, 10, 2, 2),
    "xor": (300, 100, 2, 2),
    "moons": (375, 125, 2, 2),
    "circles": (375, 125, 2, 2),
    "spirals": (450, 150, 2, 3),
    "digits": (1347, 450, 64, 10),
    "iris": (112, 38, 4, 3),
    "breast_cancer": (426, 143, 30, 2),
}
GENERATED = ["xor", "moons", "circles", "spirals"]
SKLEARN = ["digits", "iris", "breast_cancer"]


@pytest.mark.parametrize("name", list(EXPECTED))
def test_shapes_dtypes_and_labels(name: str) -> None:
    n_train, n_test, n_features, k = EXPECTED[name]
    d = cr.datasets.load(name)
    assert d.X_train.shape == (n_train, n_features)
    assert d.X_test.shape == (n_test, n_features)
    assert d.y_train.shape == (n_train,) and d.y_test.shape == (n_test,)
    assert d.X_train.dtype == np.float64 and d.X_test.dtype == np.float64
    assert d.y_train.dtype.kind == "i" and d.y_test.dtype.kind == "i"
    assert np.all(np.isfinite(d.X_train)) and np.all(np.isfinite(d.X_test))
    assert set(np.unique(d.y_train)) == set(range(k))
    assert d.n_classes == k and d.n_features == n_features
    assert d.task == ("binary" if k == 2 else "multiclass")
    assert isinstance(d.description, str) and len(d.description) > 10
    assert name in repr(d)


def test_toy_is_the_notebooks_data() -> None:
    d = cr.datasets.load("toy")
    assert d.X_train[0].tolist() == [150, 70] and d.X_train[-1].tolist() == [130, 69]
    assert d.y_train.tolist() == [0, 1, 1, 0, 0, 1, 1, 0, 1, 0]
    np.testing.assert_array_equal(d.X_test, d.X_train)  # no held-out set
    d.X_train[0, 0] = -1  # a copy: the next load is untouched
    assert cr.datasets.load("toy").X_train[0, 0] == 150


@pytest.mark.parametrize("name", GENERATED)
def test_generated_datasets_are_seeded(name: str) -> None:
    a, b = cr.datasets.load(name, seed=3), cr.datasets.load(name, seed=3)
    c = cr.datasets.load(name, seed=4)
    np.testing.assert_array_equal(a.X_train, b.X_train)
    np.testing.assert_array_equal(a.y_test, b.y_test)
    assert not np.array_equal(a.X_train, c.X_train)
    # classes are balanced overall and both splits see every class
    y = np.concatenate([a.y_train, a.y_test])
    counts = np.bincount(y)
    assert counts.max() - counts.min() <= len(y) * 0.1
    assert set(np.unique(a.y_test)) == set(np.unique(a.y_train))


@pytest.mark.parametrize("name", SKLEARN)
def test_sklearn_datasets_have_a_fixed_stratified_split(name: str) -> None:
    a, b = cr.datasets.load(name), cr.datasets.load(name, seed=5)
    np.testing.assert_array_equal(a.X_train, b.X_train)  # fixed split, whatever the seed
    np.testing.assert_array_equal(a.y_test, b.y_test)
    y_all = np.concatenate([a.y_train, a.y_test])
    k = a.n_classes
    overall = np.bincount(y_all, minlength=k) / len(y_all)
    test = np.bincount(a.y_test, minlength=k) / len(a.y_test)
    train = np.bincount(a.y_train, minlength=k) / len(a.y_train)
    # stratified: each class's share differs by less than one example's worth
    assert np.max(np.abs(test - overall)) < 1.5 / len(a.y_test)
    assert np.max(np.abs(train - overall)) < 1.5 / len(a.y_train)
    # train and test are disjoint rows of the original data
    rows_train = {r.tobytes() for r in a.X_train}
    assert sum(r.tobytes() in rows_train for r in a.X_test) <= 3  # digits has a few duplicates


def test_digits_pixels_scaled_to_unit_interval() -> None:
    d = cr.datasets.load("digits")
    assert d.X_train.min() == 0.0 and d.X_train.max() == 1.0


def test_names_and_errors() -> None:
    assert set(EXPECTED) <= set(cr.datasets.names())
    assert cr.datasets.load("Breast-Cancer").name == "breast_cancer"
    with pytest.raises(ValueError, match="unknown dataset 'cifar'; expected one of"):
        cr.datasets.load("cifar")
    with pytest.raises(TypeError, match="dataset name must be a str"):
        cr.datasets.load(3)  # type: ignore[arg-type]
