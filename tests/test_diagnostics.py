"""Training diagnostics: they show why raw inputs and deep sigmoid stacks learn slowly."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.train.diagnostics import diagnose, format_diagnostics, per_layer


def _toy_history(standardize: bool) -> dict:
    data = cr.datasets.load("toy")
    net = cr.mlp([2, 3, 3, 1], activation="sigmoid", output="sigmoid", init="normal", seed=0)
    return net.fit(
        data.X_train,
        data.y_train,
        epochs=20,
        lr=0.5,
        batch_size=10,
        standardize=standardize,
        verbose=False,
        diagnostics=True,
    )


def test_history_has_every_diagnostic_per_epoch() -> None:
    history = _toy_history(standardize=True)
    for key in ("grad_norm/W[1]", "grad_norm/W[3]", "update_ratio/W[2]", "saturated/A[1]"):
        assert len(history[key]) == 20
    assert "saturated/A[3]" not in history  # the output layer is not a hidden layer
    assert list(per_layer(history, "grad_norm")) == ["W[1]", "W[2]", "W[3]"]
    with pytest.raises(ValueError, match="unknown diagnostic"):
        per_layer(history, "nonsense")


def test_raw_inputs_saturate_and_starve_the_first_layer() -> None:
    raw, scaled = _toy_history(standardize=False), _toy_history(standardize=True)
    # (weight, height) ~ (150, 70) with N(0, 1) weights: every Z[1] is huge, A[1] is 0 or 1
    assert raw["saturated/A[1]"][0] > 0.9
    assert scaled["saturated/A[1]"][0] < 0.2
    # g'(Z[1]) ~ 0 blocks the gradient: W[1] barely moves
    assert raw["grad_norm/W[1]"][0] < 0.05 * scaled["grad_norm/W[1]"][0]
    assert np.mean(raw["update_ratio/W[1]"]) < 0.05 * np.mean(scaled["update_ratio/W[1]"])


def test_deep_sigmoid_stack_vanishes_relu_does_not() -> None:
    data = cr.datasets.load("moons")
    ratios = {}
    for act in ("sigmoid", "relu"):
        net = cr.mlp([2] + [16] * 8 + [1], activation=act, output="sigmoid", seed=0)
        h = net.fit(
            data.X_train,
            data.y_train,
            epochs=2,
            lr=0.1,
            standardize=True,
            verbose=False,
            diagnostics=True,
        )
        norms = per_layer(h, "grad_norm")
        ratios[act] = norms["W[1]"][-1] / norms["W[9]"][-1]
    # each sigmoid layer multiplies the backward signal by g' <= 1/4
    assert ratios["sigmoid"] < 1e-3
    assert ratios["relu"] > 1e-2


def test_dead_relu_fraction() -> None:
    net = cr.mlp([2, 6, 1], activation="relu", output="sigmoid", seed=0)
    X = np.random.default_rng(0).normal(size=(50, 2))
    y = (X[:, 0] > 0).astype(int)
    net.layers[0].b[:3] = -100.0  # three units that never fire
    values = diagnose(net, X, y)
    assert values["dead_relu/A[1]"] == pytest.approx(0.5)
    assert values["grad_norm/W[1]"] > 0
    text = format_diagnostics(values)
    assert "dead ReLU units" in text and "50.0%" in text


def test_diagnostics_do_not_change_training() -> None:
    data = cr.datasets.load("moons")
    weights = []
    for diagnostics in (False, True):
        net = cr.mlp([2, 8, 2], activation="tanh", output="softmax", seed=1)
        net.fit(
            data.X_train,
            data.y_train,
            epochs=3,
            lr=0.1,
            verbose=False,
            diagnostics=diagnostics,
        )
        weights.append([P.copy() for _, P, _, _ in net.parameters()])
    for a, b in zip(*weights):
        np.testing.assert_array_equal(a, b)
