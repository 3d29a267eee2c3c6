"""cr.gradcheck: the report it gives, and negative controls that prove it can fail.

A gradient checker that always passes proves nothing, so each control reintroduces a real bug:
(a) the notebook's bias bug, dC_db = sum of dC_dW instead of dC_dZ;
(b) a wrong propagator, W instead of W.T, on a SQUARE layer where every shape still fits (the
    notebook's ``assert dC_dA1.shape == (n[2], m)`` passed only because n[1] == n[2]);
(c) a sigmoid whose derivative forgets a factor.
"""

from __future__ import annotations

import numpy as np
import pytest
from oracle import numeric_gradient, rel_err

import chainrule as cr
from chainrule.learn.gradcheck import GradcheckReport, relative_error


class NotebookBiasBugDense(cr.Dense):
    """Dense with the notebook's layer-1/2 bug: dC_db = np.sum(dC_dW, axis=1, keepdims=True)."""

    def backward(self, dC_dZ: np.ndarray) -> np.ndarray | None:
        out = super().backward(dC_dZ)
        self.dC_db = np.sum(self.dC_dW, axis=1, keepdims=True)  # (n[l], 1): the shape fits
        return out


class TransposeBugDense(cr.Dense):
    """Dense returning W @ dC_dZ instead of W.T @ dC_dZ: shape-correct only if n[l] == n[l-1]."""

    def backward(self, dC_dZ: np.ndarray) -> np.ndarray | None:
        super().backward(dC_dZ)
        return self.W @ dC_dZ


class WrongSigmoid(cr.Sigmoid):
    """dC_dZ = dC_dA * A (the factor (1 - A) forgotten)."""

    def backward(self, dC_dA: np.ndarray) -> np.ndarray:
        return dC_dA * self._cached("A")


def _data(rng: np.random.Generator, m: int = 6) -> tuple[np.ndarray, np.ndarray]:
    return rng.standard_normal((m, 2)), np.array([0, 1, 1, 0, 1, 0])[:m]


def _net(middle: type[cr.Dense] = cr.Dense, act: type[cr.Sigmoid] = cr.Sigmoid) -> cr.Sequential:
    """The notebook's 2-3-3-1 sigmoid net; the square 3x3 layer is ``middle``."""
    rng = np.random.default_rng(7)
    layers = [cr.Dense(2, 3, seed=rng), act(), middle(3, 3, seed=rng), cr.Sigmoid()]
    layers += [cr.Dense(3, 1, seed=rng), cr.Sigmoid()]
    for layer in layers[::2]:  # nonzero biases, so every term of the chain rule matters
        layer.b = rng.standard_normal(layer.b.shape)
    return cr.Sequential(layers)


def test_report_lists_every_parameter(rng: np.random.Generator) -> None:
    X, y = _data(rng)
    report = cr.gradcheck(_net(), X, y)
    assert isinstance(report, GradcheckReport)
    assert list(report.errors) == ["W[1]", "b[1]", "W[2]", "b[2]", "W[3]", "b[3]"]
    assert report.passed
    assert report.max_error == max(report.errors.values()) < 1e-6
    assert report.backprop["W[2]"].shape == (3, 3) and report.numeric["b[1]"].shape == (3, 1)
    text = str(report)
    assert "W[1]" in text and "b[3]" in text and "PASSED" in text and "FAIL " not in text


def test_a_correct_net_passes_and_is_not_modified(rng: np.random.Generator) -> None:
    net = _net()
    before = [P.copy() for _, P, _, _ in net.parameters()]
    X, y = _data(rng)
    cr.gradcheck(net, X, y)
    assert net.dtype == np.float32  # the check ran on a float64 copy
    for P, saved in zip((P for _, P, _, _ in net.parameters()), before):
        np.testing.assert_array_equal(P, saved)


def test_negative_control_notebook_bias_bug_fails(rng: np.random.Generator) -> None:
    X, y = _data(rng)
    report = cr.gradcheck(_net(middle=NotebookBiasBugDense), X, y)
    assert not report.passed
    assert report.errors["b[2]"] > 1e-2  # the buggy bias
    assert report.errors["W[2]"] < 1e-6  # everything else is still right
    assert report.errors["b[1]"] < 1e-6
    assert "FAILED" in str(report)


def test_negative_control_W_instead_of_W_T_on_a_square_layer_fails(
    rng: np.random.Generator,
) -> None:
    X, y = _data(rng)
    net = _net(middle=TransposeBugDense)
    net.loss_and_gradients(X, y)  # every shape fits: the bug raises nothing
    report = cr.gradcheck(net, X, y)
    assert not report.passed
    assert report.errors["W[1]"] > 1e-2 and report.errors["b[1]"] > 1e-2  # below the bug
    assert report.errors["W[2]"] < 1e-6 and report.errors["W[3]"] < 1e-6  # above it


def test_negative_control_wrong_activation_derivative_fails(rng: np.random.Generator) -> None:
    X, y = _data(rng)
    report = cr.gradcheck(_net(act=WrongSigmoid), X, y)
    assert not report.passed and report.errors["W[1]"] > 1e-2


def test_oracle_numeric_gradient_rejects_a_wrong_gradient(rng: np.random.Generator) -> None:
    """The test-suite's own checker fails a deliberately wrong formula too."""
    x = rng.standard_normal(5)

    def f(v: np.ndarray) -> float:
        return float(np.sum(np.sin(v) * v))

    right = np.cos(x) * x + np.sin(x)
    wrong = np.cos(x) * x  # product rule half-forgotten
    numeric = numeric_gradient(f, x)
    assert rel_err(right, numeric) < 1e-8
    assert rel_err(wrong, numeric) > 1e-2


def test_max_entries_samples_a_subset(rng: np.random.Generator) -> None:
    net = cr.mlp([10, 20, 3], activation="tanh", output="softmax", seed=0)
    X, y = rng.standard_normal((5, 10)), rng.integers(0, 3, size=5)
    report = cr.gradcheck(net, X, y, max_entries=7)
    assert report.passed
    assert report.numeric["W[1]"].shape == (7,) and report.numeric["b[2]"].shape == (
        3,
        1,
    )  # b[2] has only 3 entries: all checked


def test_unfused_and_regression_nets_pass(rng: np.random.Generator) -> None:
    X = rng.standard_normal((6, 3))
    for output, loss, y in [
        ("sigmoid", "mse", rng.standard_normal(6)),
        ("identity", "mse", rng.standard_normal(6)),
        ("tanh", None, rng.standard_normal(6)),
    ]:
        net = cr.mlp([3, 4, 1], activation="tanh", output=output, loss=loss, seed=1)
        assert cr.gradcheck(net, X, y).passed


def test_relative_error() -> None:
    assert relative_error(np.zeros(3), np.zeros(3)) == 0.0
    assert relative_error(np.array([1.0]), np.array([1.0])) == 0.0
    assert relative_error(np.array([1.0]), np.array([-1.0])) == 1.0
    assert relative_error(np.array([3.0, 0]), np.array([0, 4.0])) == pytest.approx(5 / 7)
