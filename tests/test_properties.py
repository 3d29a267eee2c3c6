"""Property tests (hypothesis) over random architectures, batch sizes and dtypes.

For every generated network -- 0 to 3 hidden layers of width 1..6, any hidden activation, a
sigmoid / softmax / identity output with its cost, float32 or float64, m = 1..12 examples:

* backprop agrees with central differences (gradcheck, float64);
* predict and predict_proba have the right shapes and dtypes, for any batch size of fit;
* save -> load reproduces the network exactly: same repr, same arrays bit for bit, same outputs.

The data come from a drawn integer seed (never degenerate all-zero inputs, which would sit on
ReLU's kink). Runs are derandomized and use no example database, so the suite is reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import chainrule as cr

PROPS = settings(
    max_examples=40,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

HIDDEN = ["sigmoid", "tanh", "relu", "leaky_relu", "identity"]
SMOOTH = ["sigmoid", "tanh", "identity"]


@dataclass
class Case:
    sizes: list[int]
    activation: str
    output: str
    dtype: type
    m: int
    seed: int

    def net(self) -> cr.Sequential:
        return cr.mlp(
            self.sizes,
            activation=self.activation,
            output=self.output,
            seed=self.seed,
            dtype=self.dtype,
        )

    def data(self) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(self.seed)
        n0, K = self.sizes[0], self.sizes[-1]
        X = rng.standard_normal((self.m, n0))
        if self.output == "softmax":
            y = rng.integers(0, K, size=self.m)
        elif self.output == "sigmoid":
            y = rng.integers(0, 2, size=(self.m, K))
            y = y[:, 0] if K == 1 else y
        else:
            y = rng.standard_normal((self.m, K))
            y = y[:, 0] if K == 1 else y
        return X, y


@st.composite
def cases(draw: st.DrawFn, activations: list[str] = HIDDEN) -> Case:
    n0 = draw(st.integers(1, 5))
    hidden = draw(st.lists(st.integers(1, 6), min_size=0, max_size=3))
    output = draw(st.sampled_from(["sigmoid", "softmax", "identity"]))
    K = draw(st.integers(2, 4)) if output == "softmax" else draw(st.integers(1, 3))
    return Case(
        sizes=[n0, *hidden, K],
        activation=draw(st.sampled_from(activations)),
        output=output,
        dtype=draw(st.sampled_from([np.float32, np.float64])),
        m=draw(st.integers(1, 12)),
        seed=draw(st.integers(0, 2**16)),
    )


@PROPS
@given(case=cases(SMOOTH))
def test_gradcheck_passes(case: Case) -> None:
    net = case.net()
    X, y = case.data()
    report = cr.gradcheck(net, X, y, tolerance=1e-5)
    assert report.passed, f"{case}\n{report}"


@PROPS
@given(case=cases(["relu", "leaky_relu"]))
def test_gradcheck_passes_relu_family(case: Case) -> None:
    """Kinked activations: off the kink the check holds too.

    Biases start at zero, so a dead ReLU (A = 0) feeds the next layer Z = b = 0: exactly on the
    kink, where no derivative exists and finite differences disagree with any convention. Random
    biases away from 0 keep every Z off the kink (random data do the rest).
    """
    net = case.net()
    rng = np.random.default_rng(case.seed + 1)
    for layer in net.layers:
        if isinstance(layer, cr.Dense):
            sign = rng.choice([-1.0, 1.0], size=layer.b.shape)
            layer.b[...] = sign * rng.uniform(0.1, 0.5, size=layer.b.shape)
    X, y = case.data()
    report = cr.gradcheck(net, X, y, tolerance=1e-5)
    assert report.passed, f"{case}\n{report}"


def expected_label_shape(case: Case) -> tuple[int, ...]:
    K = case.sizes[-1]
    if case.output == "softmax" or K == 1:
        return (case.m,)
    return (case.m, K)


def trainable(case: Case) -> bool:
    """fit refuses single-class classification data; skip those draws for training."""
    X, y = case.data()
    if case.output == "softmax":
        return len(np.unique(y)) > 1
    if case.output == "sigmoid" and np.ndim(y) == 1:
        return len(np.unique(y)) > 1
    return True


@PROPS
@given(case=cases(), batch=st.integers(1, 16), standardize=st.booleans())
def test_predict_shapes_for_any_batch_size(case: Case, batch: int, standardize: bool) -> None:
    net = case.net()
    X, y = case.data()
    if trainable(case):
        history = net.fit(
            X, y, epochs=2, lr=0.05, batch_size=batch, standardize=standardize, verbose=False
        )
        assert len(history["cost"]) == 2 and np.all(np.isfinite(history["cost"]))
    else:
        net.is_fitted = True
    P = net.predict_proba(X)
    assert P.shape == (case.m, case.sizes[-1]) and P.dtype == case.dtype
    assert np.all(np.isfinite(P))
    labels = net.predict(X)
    assert labels.shape == expected_label_shape(case)
    if case.output == "softmax":
        assert labels.min() >= 0 and labels.max() < case.sizes[-1]
        np.testing.assert_allclose(P.sum(axis=1), 1.0, rtol=1e-5)
    assert net.predict(X[:1]).shape == expected_label_shape(Case(**{**case.__dict__, "m": 1}))


@PROPS
@given(case=cases(), standardize=st.booleans())
def test_save_load_round_trips_exactly(tmp_path: Path, case: Case, standardize: bool) -> None:
    net = case.net()
    X, y = case.data()
    if trainable(case):
        net.fit(X, y, epochs=1, lr=0.05, batch_size=4, standardize=standardize, verbose=False)
    else:
        net.is_fitted = True
    path = tmp_path / "model.npz"
    net.save(path)
    loaded = cr.load(path)
    assert repr(loaded) == repr(net) and loaded.dtype == net.dtype
    assert loaded.input_shape == net.input_shape and loaded.loss.name == net.loss.name
    for (k1, P, _, _), (k2, Q, _, _) in zip(net.parameters(), loaded.parameters()):
        assert k1 == k2 and P.dtype == Q.dtype and np.array_equal(P, Q)
    assert (loaded.standardizer is None) == (net.standardizer is None)
    assert np.array_equal(loaded.predict_proba(X), net.predict_proba(X))
    # and a second save of the loaded network gives the same arrays again
    loaded.save(path)
    again = cr.load(path)
    for (_, P, _, _), (_, Q, _, _) in zip(net.parameters(), again.parameters()):
        assert np.array_equal(P, Q)
