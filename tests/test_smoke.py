"""The README example: the notebook's network on the notebook's data, cured by standardizing."""

from __future__ import annotations

import numpy as np

import chainrule as cr


def test_toy_reaches_100_percent_with_standardize() -> None:
    data = cr.datasets.load("toy")
    net = cr.mlp([2, 3, 3, 1], activation="sigmoid", output="sigmoid", seed=0)
    history = net.fit(
        data.X_train,
        data.y_train,
        epochs=500,
        lr=0.5,
        batch_size=10,
        optimizer="sgd",
        standardize=True,
        verbose=False,
    )
    assert history["cost"][-1] < history["cost"][0]
    assert (net.predict(data.X_train) == data.y_train).all()
    assert net.predict(data.X_train).shape == (10,)


def test_raw_inputs_saturate_all_predictions_equal() -> None:
    """The notebook's symptom: unscaled (weight, height) give one prediction for everyone."""
    data = cr.datasets.load("toy")
    net = cr.mlp([2, 3, 3, 1], activation="sigmoid", output="sigmoid", init="normal", seed=0)
    A1 = net.layers[1].forward(net.layers[0].forward(data.X_train.T.astype(np.float32)))
    assert np.mean((A1 < 1e-3) | (A1 > 1 - 1e-3)) > 0.8  # saturated hidden units


def test_same_seed_bit_identical() -> None:
    data = cr.datasets.load("moons")
    nets = []
    for _ in range(2):
        net = cr.mlp([2, 8, 2], activation="relu", output="softmax", seed=3)
        net.fit(data.X_train, data.y_train, epochs=3, lr=0.1, batch_size=16, verbose=False)
        nets.append(net)
    for a, b in zip(nets[0].parameters(), nets[1].parameters()):
        assert np.array_equal(a[1], b[1])
