"""The notebook's symptom, reproduced: unscaled inputs give one prediction for everyone."""

from __future__ import annotations

import numpy as np

import chainrule as cr


def test_raw_inputs_saturate_and_all_predictions_are_equal() -> None:
    """(weight, height) in the hundreds drive every hidden sigmoid to 0 or 1 (notebook In [12])."""
    data = cr.datasets.load("toy")
    net = cr.mlp([2, 3, 3, 1], activation="sigmoid", output="sigmoid", init="normal", seed=0)
    A1 = net.layers[1].forward(net.layers[0].forward(data.X_train.T.astype(np.float32)))
    assert np.mean((A1 < 1e-3) | (A1 > 1 - 1e-3)) > 0.8  # saturated hidden units
    net.is_fitted = True  # look at the untrained network's outputs, as the notebook did
    proba = net.predict_proba(data.X_train)
    assert np.ptp(proba) < 1e-3  # "all predictions are equal"


def test_standardizing_gives_distinct_predictions() -> None:
    data = cr.datasets.load("toy")
    net = cr.mlp([2, 3, 3, 1], activation="sigmoid", output="sigmoid", init="normal", seed=0)
    net.standardizer = cr.Standardizer().fit(data.X_train)
    net.is_fitted = True
    assert np.ptp(net.predict_proba(data.X_train)) > 1e-2
