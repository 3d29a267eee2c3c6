"""The two training engines compute the same numbers on every network the fast one accepts.

``fit(engine="reference")`` runs every layer's own forward and backward (fresh arrays);
``fit(engine="fast")`` compiles the MLP into a :class:`chainrule.fast.plan.MLPPlan` (reused
buffers, class-index targets, pre-scaled and fused SGD). From identical copies (``net.copy()``)
and the same seed, both must end with the same weights, per-epoch costs and accuracies, and the
same stored gradients, for random MLPs (sizes, hidden activations, matched outputs), every
optimizer with and without weight decay, shuffling on and off, short last batches, schedules
and gradient clipping. ``engine="auto"`` must pick the fast engine exactly when
``why_not_fast(net) is None``, and ``engine="fast"`` must refuse everything else by name.

The negative controls at the end break the fast engine on purpose and check that the same
comparison then fails: an equality test that cannot fail proves nothing.

Inputs are drawn as continuous normal values from a seeded generator (hypothesis draws only
sizes, seeds and choices), so no pre-activation lands on the ReLU kink, where the two engines
would legitimately be allowed to differ.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
import chainrule.fast.plan as plan_mod
from chainrule.fast.support import why_not_fast
from chainrule.nn import Sequential as Chain
from chainrule.nn.activation import make_activation
from chainrule.train import fit as fit_mod

#: hidden activations the fast engine computes; None: a Dense followed directly by a Dense
HIDDEN = ("relu", "sigmoid", "tanh", "identity", None)
#: output activation -> the cost matched with it
OUTPUTS = {"softmax": "ce", "sigmoid": "bce", "identity": "mse"}
#: (optimizer name, lr, extra fit arguments); weight decay on and off for each optimizer
OPTIMIZERS = [
    ("sgd", 0.1, {}),
    ("sgd", 0.1, {"weight_decay": 0.01}),
    ("momentum", 0.05, {"momentum": 0.9}),
    ("momentum", 0.05, {"momentum": 0.9, "weight_decay": 0.01}),
    ("rmsprop", 0.01, {}),
    ("rmsprop", 0.01, {"weight_decay": 0.01}),
    ("adam", 0.01, {}),
    ("adam", 0.01, {"weight_decay": 0.01}),
]
if hasattr(cr.optim, "AdamW"):
    OPTIMIZERS += [("adamw", 0.01, {"weight_decay": 0.0}), ("adamw", 0.01, {"weight_decay": 0.1})]
SCHEDULES: list[Any] = [None]
if hasattr(cr.optim, "StepLR"):
    SCHEDULES += [cr.optim.StepLR(1, gamma=0.5), cr.optim.StepLR(3, gamma=0.7, interval="step")]

RTOL64, ATOL64 = 1e-9, 1e-12
RTOL32, ATOL32 = 1e-4, 1e-5  # float32 over a few epochs: rounding differences compound


@dataclass(frozen=True)
class Spec:
    """An MLP the fast engine accepts: n0 -> (width, activation)* -> n_out with ``output``."""

    n0: int
    hidden: tuple[tuple[int, str | None], ...]
    output: str
    n_out: int

    def build(self, seed: int, dtype: type = np.float64) -> cr.Sequential:
        rng = np.random.default_rng(seed)
        layers: list[cr.Layer] = []
        n_in = self.n0
        for width, act in self.hidden:
            layers.append(cr.Dense(n_in, width, init="he" if act == "relu" else "xavier", seed=rng))
            if act is not None:
                layers.append(make_activation(act))
            n_in = width
        layers += [cr.Dense(n_in, self.n_out, seed=rng), make_activation(self.output)]
        return cr.Sequential(layers, loss=OUTPUTS[self.output], dtype=dtype)

    def data(self, m: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """X (m, n0) continuous normal; y with at least two classes for a classifier."""
        rng = np.random.default_rng(seed)
        X = rng.standard_normal((m, self.n0))
        if self.output == "softmax":
            y = rng.permutation(np.arange(m) % self.n_out)
        elif self.output == "sigmoid" and self.n_out == 1:
            y = rng.permutation(np.arange(m) % 2)
        elif self.output == "sigmoid":
            y = rng.integers(0, 2, (m, self.n_out))  # multi-label
        else:
            y = rng.standard_normal((m, self.n_out) if self.n_out > 1 else m)
        return X, y


@st.composite
def specs(draw: st.DrawFn) -> Spec:
    n0 = draw(st.integers(1, 5))
    hidden = draw(
        st.lists(st.tuples(st.integers(1, 6), st.sampled_from(HIDDEN)), min_size=0, max_size=3)
    )
    output = draw(st.sampled_from(sorted(OUTPUTS)))
    n_out = draw(st.integers(2, 4) if output == "softmax" else st.integers(1, 3))
    return Spec(n0, tuple(hidden), output, n_out)


def _train_both(net: cr.Sequential, X: np.ndarray, y: Any, **kw: Any) -> tuple:
    """fit with each engine from identical copies of ``net``."""
    fast, ref = net.copy(), net.copy()
    h_fast = fast.fit(X, y, engine="fast", verbose=False, **kw)
    h_ref = ref.fit(X, y, engine="reference", verbose=False, **kw)
    return fast, h_fast, ref, h_ref


def _problems(fast: Any, hf: dict, ref: Any, hr: dict, rtol: float, atol: float) -> list[str]:
    """Every way the two trained networks disagree (empty: they agree)."""
    out = []
    if len(hf["cost"]) != len(hr["cost"]):
        return [f"epochs run: {len(hf['cost'])} vs {len(hr['cost'])}"]
    if not np.allclose(hf["cost"], hr["cost"], rtol=rtol, atol=atol):
        out.append(f"costs {hf['cost']} vs {hr['cost']}")
    for key in ("accuracy", "lr"):
        if hf.get(key) != hr.get(key):
            out.append(f"{key} {hf.get(key)} vs {hr.get(key)}")
    for key in ("val_cost", "val_accuracy"):
        if key in hr and not np.allclose(hf[key], hr[key], rtol=rtol, atol=atol):
            out.append(f"{key} {hf[key]} vs {hr[key]}")
    for pf, pr in zip(fast.parameters(), ref.parameters(), strict=True):
        assert pf.key == pr.key
        if not np.allclose(pf.P, pr.P, rtol=rtol, atol=atol):
            out.append(f"{pf.key}: max weight difference {np.max(np.abs(pf.P - pr.P)):.3g}")
        if pf.G is None or pr.G is None:
            if (pf.G is None) != (pr.G is None):
                out.append(f"{pf.key}: stored gradient {pf.G is None} vs {pr.G is None}")
        elif not np.allclose(pf.G, pr.G, rtol=rtol, atol=atol):
            out.append(f"{pf.key}: max gradient difference {np.max(np.abs(pf.G - pr.G)):.3g}")
        elif pf.G is not None and np.shares_memory(pf.G, pf.P):
            out.append(f"{pf.key}: the stored gradient aliases the parameter")
    assert fast.optimizer.t == ref.optimizer.t, "both engines count the same steps"
    return out


# --- random MLPs, every kind the fast engine accepts ------------------------------------------
@settings(max_examples=40, deadline=None)
@given(
    spec=specs(),
    m=st.integers(2, 30),
    batch_size=st.integers(1, 12),
    opt=st.sampled_from(OPTIMIZERS),
    shuffle=st.booleans(),
    schedule=st.sampled_from(SCHEDULES),
    clip=st.sampled_from([None, 0.05, 1.0]),
    seed=st.integers(0, 2**16),
)
def test_random_mlps_train_the_same_on_both_engines(
    spec: Spec,
    m: int,
    batch_size: int,
    opt: tuple,
    shuffle: bool,
    schedule: Any,
    clip: float | None,
    seed: int,
) -> None:
    net = spec.build(seed)
    assert why_not_fast(net) is None, why_not_fast(net)
    X, y = spec.data(m, seed + 1)
    name, lr, extra = opt
    kw = dict(
        epochs=3,
        lr=lr,
        batch_size=batch_size,
        optimizer=name,
        shuffle=shuffle,
        schedule=schedule,
        clip_grad_norm=clip,
        seed=seed,
        **extra,
    )
    problems = _problems(*_train_both(net, X, y, **kw), RTOL64, ATOL64)
    assert not problems, problems


# --- every optimizer, deterministic coverage --------------------------------------------------
@pytest.mark.parametrize("opt", OPTIMIZERS, ids=lambda o: f"{o[0]}-{o[2]}" if o[2] else o[0])
@pytest.mark.parametrize("shuffle", [True, False])
def test_every_optimizer_with_schedule_clipping_and_a_short_last_batch(
    opt: tuple, shuffle: bool
) -> None:
    spec = Spec(5, ((7, "relu"), (6, "tanh")), "softmax", 3)
    net = spec.build(seed=11)
    X, y = spec.data(37, seed=12)  # 37 = 4 batches of 8 + a short batch of 5
    Xv, yv = spec.data(9, seed=13)
    name, lr, extra = opt
    for schedule, clip in ((None, None), (SCHEDULES[-1], 0.1)):
        kw = dict(
            epochs=3,
            lr=lr,
            batch_size=8,
            optimizer=name,
            shuffle=shuffle,
            schedule=schedule,
            clip_grad_norm=clip,
            seed=5,
            validation_data=(Xv, yv),
            **extra,
        )
        problems = _problems(*_train_both(net, X, y, **kw), RTOL64, ATOL64)
        assert not problems, (schedule, clip, problems)


@pytest.mark.parametrize("output", sorted(OUTPUTS))
def test_float32_networks_agree_to_float32_precision(output: str) -> None:
    spec = Spec(4, ((6, "relu"), (5, "sigmoid")), output, 3 if output == "softmax" else 1)
    net = spec.build(seed=3, dtype=np.float32)
    X, y = spec.data(29, seed=4)
    for name, lr, extra in (("sgd", 0.1, {}), ("adam", 0.01, {"weight_decay": 0.01})):
        kw = dict(epochs=3, lr=lr, batch_size=8, optimizer=name, seed=1, **extra)
        fast, hf, ref, hr = _train_both(net, X, y, **kw)
        problems = _problems(fast, hf, ref, hr, RTOL32, ATOL32)
        assert not problems, problems
        assert all(p.P.dtype == np.float32 and p.G.dtype == np.float32 for p in fast.parameters())


def test_optimizer_objects_and_a_second_fit_continue_the_same_way() -> None:
    """The optimizer's state (moments, step count) carries over between fits identically."""
    spec = Spec(3, ((5, "tanh"),), "sigmoid", 1)
    X, y = spec.data(20, seed=0)
    fast, ref = spec.build(seed=1), spec.build(seed=1)
    opt_f, opt_r = cr.optim.Adam(lr=0.02), cr.optim.Adam(lr=0.02)
    for _ in range(2):
        hf = fast.fit(
            X, y, epochs=2, batch_size=6, optimizer=opt_f, seed=2, engine="fast", verbose=False
        )
        hr = ref.fit(
            X, y, epochs=2, batch_size=6, optimizer=opt_r, seed=2, engine="reference", verbose=False
        )
        problems = _problems(fast, hf, ref, hr, RTOL64, ATOL64)
        assert not problems, problems
    assert opt_f.t == opt_r.t == 2 * 2 * 4
    assert set(opt_f.state) == set(opt_r.state)
    for key in opt_r.state:
        np.testing.assert_allclose(opt_f.state[key], opt_r.state[key], rtol=RTOL64, atol=ATOL64)


# --- which engine runs ------------------------------------------------------------------------
def _rejected_networks() -> dict[str, tuple[cr.Sequential, tuple[int, ...]]]:
    """Networks the fast engine does not train, and their per-example input shapes."""
    d = np.float64

    def dense_relu() -> list[cr.Layer]:  # new layers for every network: none is shared
        return [cr.Dense(4, 5, seed=0), cr.ReLU()]

    def head() -> list[cr.Layer]:
        return [cr.Dense(5, 3, seed=1), cr.Softmax()]

    conv = cr.Sequential(  # a tanh after a convolution: neither plan takes it (ConvPlan: ReLU)
        [
            cr.Conv1D(1, 2, 3, seed=0),
            cr.Tanh(),
            cr.Flatten(),
            cr.Dense(12, 3, seed=1),
            cr.Softmax(),
        ],
        input_shape=(1, 8),
        dtype=d,
    )
    res_block = cr.Residual(Chain([cr.Dense(5, 5, seed=2), cr.Tanh()]))
    return {
        "conv": (conv, (1, 8)),
        "dropout": (
            cr.Sequential([*dense_relu(), cr.Dropout(0.2, seed=0), *head()], dtype=d),
            (4,),
        ),
        "batchnorm": (
            cr.Sequential([cr.Dense(4, 5, seed=0), cr.BatchNorm(5), cr.ReLU(), *head()], dtype=d),
            (4,),
        ),
        "residual": (cr.Sequential([*dense_relu(), res_block, *head()], dtype=d), (4,)),
        "nested": (cr.Sequential([Chain(dense_relu()), *head()], dtype=d), (4,)),
        "leaky_relu": (
            cr.Sequential([cr.Dense(4, 5, seed=0), cr.LeakyReLU(), *head()], dtype=d),
            (4,),
        ),
        "softmax+mse": (cr.Sequential([*dense_relu(), *head()], loss="mse", dtype=d), (4,)),
        "tanh+mse": (cr.mlp([4, 5, 1], output="tanh", seed=0, dtype=d), (4,)),
        "relu first": (
            cr.Sequential([cr.ReLU(), cr.Dense(4, 3, seed=1), cr.Softmax()], dtype=d),
            (4,),
        ),
    }


def _accepted_networks() -> dict[str, tuple[cr.Sequential, tuple[int, ...]]]:
    return {
        f"{spec.output}-{i}": (spec.build(seed=i), (spec.n0,))
        for i, spec in enumerate(
            [
                Spec(4, ((5, "relu"),), "softmax", 3),
                Spec(4, ((5, "sigmoid"), (3, "tanh")), "sigmoid", 1),
                Spec(4, ((5, "identity"), (3, None)), "identity", 2),
                Spec(4, (), "sigmoid", 2),
                Spec(4, ((5, None),), "softmax", 3),
            ]
        )
    }


def _targets(net: cr.Sequential, m: int, rng: np.random.Generator) -> np.ndarray:
    if net.loss.name == "ce":
        return np.arange(m) % net.n_outputs
    if net.loss.name == "bce":
        return np.arange(m) % 2 if net.n_outputs == 1 else rng.integers(0, 2, (m, net.n_outputs))
    return rng.standard_normal(m) if net.n_outputs == 1 else rng.standard_normal((m, net.n_outputs))


@pytest.fixture
def engines_used(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The name of every engine fit builds, in order."""
    used: list[str] = []

    def recording(cls: type) -> type:
        class Recording(cls):  # type: ignore[misc, valid-type]
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                used.append(cls.name)
                super().__init__(*args, **kwargs)

        return Recording

    monkeypatch.setattr(fit_mod, "MLPPlan", recording(fit_mod.MLPPlan))
    monkeypatch.setattr(fit_mod, "ReferenceEngine", recording(fit_mod.ReferenceEngine))
    monkeypatch.setattr(fit_mod, "ConvEngine", recording(fit_mod.ConvEngine))
    return used


@pytest.mark.parametrize("kind", ["accepted", "rejected"])
def test_auto_picks_fast_exactly_when_why_not_fast_is_none(
    kind: str, engines_used: list[str], rng: np.random.Generator
) -> None:
    nets = _accepted_networks() if kind == "accepted" else _rejected_networks()
    for label, (net, shape) in nets.items():
        X = rng.standard_normal((12, *shape))
        y = _targets(net, 12, rng)
        reason = why_not_fast(net)
        assert (reason is None) == (kind == "accepted"), (label, reason)
        engines_used.clear()
        net.copy().fit(X, y, epochs=1, batch_size=5, engine="auto", verbose=False, seed=0)
        net.copy().fit(X, y, epochs=1, batch_size=5, engine="reference", verbose=False, seed=0)
        assert engines_used == ["fast" if reason is None else "reference", "reference"], label


@pytest.mark.parametrize("label", list(_rejected_networks()))
def test_fast_on_an_unsupported_network_raises_naming_the_reason(
    label: str, rng: np.random.Generator, engines_used: list[str]
) -> None:
    net, shape = _rejected_networks()[label]
    X = rng.standard_normal((10, *shape))
    y = _targets(net, 10, rng)
    reason = why_not_fast(net)
    assert reason
    before = [p.P.copy() for p in net.parameters()]
    with pytest.raises(ValueError, match=re.escape(reason)):
        net.fit(X, y, epochs=1, engine="fast", verbose=False)
    with pytest.raises(ValueError, match="does not support this network"):
        plan_mod.MLPPlan(net, cr.optim.SGD(), net.prepare_X(X), net.prepare_Y(y, 10), 5)
    assert engines_used == []  # refused before any engine was built
    for P, saved in zip((p.P for p in net.parameters()), before):
        np.testing.assert_array_equal(P, saved)  # and nothing was trained


def test_an_unknown_engine_name_raises(rng: np.random.Generator) -> None:
    net = Spec(3, (), "sigmoid", 1).build(seed=0)
    with pytest.raises(ValueError, match="engine must be one of"):
        net.fit(rng.standard_normal((4, 3)), [0, 1, 0, 1], engine="turbo", verbose=False)


# --- negative controls: the comparison catches a wrong fast engine ----------------------------
def _relu_case() -> tuple[cr.Sequential, np.ndarray, np.ndarray, dict]:
    spec = Spec(4, ((6, "relu"), (5, "relu")), "softmax", 3)
    X, y = spec.data(30, seed=8)
    return spec.build(seed=9), X, y, dict(epochs=2, lr=0.1, batch_size=8, seed=3)


def test_the_comparison_catches_a_relu_derivative_without_its_mask(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    net, X, y, kw = _relu_case()
    assert not _problems(*_train_both(net, X, y, **kw), RTOL64, ATOL64)  # correct: they agree
    original = plan_mod.derivative_

    def wrong(name: str, dC_dA: np.ndarray, A: Any, mask: Any, tmp: Any) -> np.ndarray:
        if name == "relu":
            return dC_dA  # forgets the [Z > 0] factor
        return original(name, dC_dA, A, mask, tmp)

    # the plan calls the name it imported: patch it where it is looked up
    monkeypatch.setattr(plan_mod, "derivative_", wrong)
    problems = _problems(*_train_both(net, X, y, **kw), RTOL64, ATOL64)
    assert any(".W: max weight difference" in p for p in problems), problems


def test_the_comparison_catches_prescaled_gradients_published_unscaled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Weights right, stored gradients lr times too small: only the gradient check sees it."""
    net, X, y, kw = _relu_case()
    original = plan_mod.MLPPlan.finish_epoch

    def forgets_the_scale(self: plan_mod.MLPPlan) -> None:
        assert self.prescaled  # plain SGD: the gradients in the buffers are lr * dC/dP
        self.scale = 1.0
        original(self)

    monkeypatch.setattr(plan_mod.MLPPlan, "finish_epoch", forgets_the_scale)
    problems = _problems(*_train_both(net, X, y, **kw), RTOL64, ATOL64)
    assert problems and all("gradient difference" in p for p in problems), problems
