"""AdamW, learning-rate schedules and gradient clipping against torch, in float64.

* AdamW equals torch.optim.AdamW to 1e-10 (relative) after 3 steps on a network's parameters,
  weights in a group with weight_decay and biases in one without.
* Each schedule's learning rate over a whole run equals torch.optim.lr_scheduler's to 1e-12.
* clip_grad_norm equals torch.nn.utils.clip_grad_norm_ (norm and clipped gradients).

Every comparison has a negative control that must miss by far more than the tolerance, so a
check that compares nothing (or compares the wrong thing) cannot pass.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule.nn.layer import ParamGrad  # the NamedTuple (optim's ParamGrad is a type alias)
from chainrule.optim import (
    OPTIMIZERS,
    SCHEDULES,
    Adam,
    AdamW,
    CosineLR,
    ExponentialLR,
    Schedule,
    StepLR,
    clip_grad_norm,
    global_norm,
    make_optimizer,
    make_schedule,
)

STEPS = 3
BASE_LR = 0.1
RUN = 30  # intervals in a schedule comparison


def _net() -> Any:
    return cr.mlp([4, 5, 3], activation="tanh", output="softmax", seed=0, dtype=np.float64)


def _batch(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((8, 4)), rng.integers(0, 3, size=8)


def _rel_err(ours: np.ndarray, theirs: np.ndarray) -> float:
    """max |ours - theirs| / max |theirs|: relative to the array's scale, safe near zeros."""
    ours, theirs = np.asarray(ours, dtype=np.float64), np.asarray(theirs, dtype=np.float64)
    return float(np.max(np.abs(ours - theirs)) / max(np.max(np.abs(theirs)), 1e-300))


# --- AdamW ----------------------------------------------------------------------------------


def _train_ours(
    opt: Any, seed: int = 0
) -> tuple[list[np.ndarray], list[list[np.ndarray]], list[np.ndarray]]:
    """3 steps of ``opt`` on a fresh network with real gradients; (P0, grads per step, P3)."""
    net = _net()
    X, y = _batch(seed)
    start = [p.P.copy() for p in net.parameters()]
    grads = []
    for _ in range(STEPS):
        net.loss_and_gradients(X, y)
        grads.append([p.G.copy() for p in net.parameters()])
        opt.step(net.parameters())
    return start, grads, [p.P.copy() for p in net.parameters()]


def _train_torch(
    start: list[np.ndarray], grads: list[list[np.ndarray]], decay: list[bool], **kwargs: Any
) -> list[np.ndarray]:
    """torch.optim.AdamW from ``start`` with the recorded gradients; decay=False: no decay."""
    import torch

    params = [torch.tensor(P0, requires_grad=True) for P0 in start]
    wd = kwargs.pop("weight_decay")
    groups = [
        {"params": [t for t, d in zip(params, decay) if d], "weight_decay": wd},
        {"params": [t for t, d in zip(params, decay) if not d], "weight_decay": 0.0},
    ]
    opt = torch.optim.AdamW(groups, **kwargs)
    for step_grads in grads:
        for t, G in zip(params, step_grads):
            t.grad = torch.tensor(G)
        opt.step()
    return [t.detach().numpy() for t in params]


def _decay_flags() -> list[bool]:
    return [p.decay for p in _net().parameters()]


def test_network_has_decayed_and_undecayed_params() -> None:
    flags = _decay_flags()
    assert any(flags) and not all(flags), flags  # weights and biases: both groups are exercised


def test_adamw_three_steps_match_torch() -> None:
    start, grads, ours = _train_ours(AdamW(lr=0.01, weight_decay=0.1))
    theirs = _train_torch(start, grads, _decay_flags(), lr=0.01, weight_decay=0.1, eps=1e-8)
    for P, Pt in zip(ours, theirs):
        assert _rel_err(P, Pt) < 1e-10


def test_adamw_defaults_match_torch_defaults() -> None:
    opt = AdamW()
    assert (opt.lr, opt.beta1, opt.beta2, opt.eps, opt.weight_decay) == (
        1e-3,
        0.9,
        0.999,
        1e-8,
        0.01,
    )
    start, grads, ours = _train_ours(opt, seed=1)
    theirs = _train_torch(start, grads, _decay_flags(), weight_decay=0.01)  # torch defaults
    for P, Pt in zip(ours, theirs):
        assert _rel_err(P, Pt) < 1e-10


def test_adamw_without_decay_is_adam() -> None:
    _, _, adamw = _train_ours(AdamW(lr=0.01, weight_decay=0.0))
    _, _, adam = _train_ours(Adam(lr=0.01))
    for P, Q in zip(adamw, adam):
        np.testing.assert_array_equal(P, Q)


def test_l2_coupled_adam_is_not_adamw() -> None:
    """Negative control: Adam's L2 term (wd * P added to G) is not decoupled decay."""
    start, grads, coupled = _train_ours(Adam(lr=0.01, weight_decay=0.1))
    theirs = _train_torch(start, grads, _decay_flags(), lr=0.01, weight_decay=0.1)
    worst = max(_rel_err(P, Pt) for P, Pt in zip(coupled, theirs))
    assert worst > 1e-5  # >= 1e5 times the tolerance of the positive test
    # and the decay itself moved the weights: AdamW(wd) is not AdamW(0)
    _, _, undecayed = _train_ours(AdamW(lr=0.01, weight_decay=0.0))
    assert max(_rel_err(P, Pt) for P, Pt in zip(undecayed, theirs)) > 1e-5


def test_adamw_does_not_decay_biases() -> None:
    """With zero gradients Adam's update is 0, so only the decay moves P, and only weights."""
    W, b = np.ones((3, 4)), np.ones((3, 1))
    opt = AdamW(lr=0.1, weight_decay=0.5)
    opt.step(
        [ParamGrad("0.W", W, np.zeros_like(W), True), ParamGrad("0.b", b, np.zeros_like(b), False)]
    )
    np.testing.assert_allclose(W, 1 - 0.1 * 0.5, rtol=1e-15)
    np.testing.assert_array_equal(b, 1.0)


def test_adamw_skips_params_without_gradient() -> None:
    W = np.ones((2, 2))
    AdamW(lr=0.1, weight_decay=0.5).step([ParamGrad("0.W", W, None, True)])
    np.testing.assert_array_equal(W, 1.0)  # as torch: a parameter with grad None is untouched


def test_adamw_registered_and_configured() -> None:
    assert OPTIMIZERS["adamw"] is AdamW
    opt = make_optimizer("adamw", 0.02, weight_decay=0.05)
    assert isinstance(opt, AdamW)
    assert opt.config() == {
        "lr": 0.02,
        "weight_decay": 0.05,
        "beta1": 0.9,
        "beta2": 0.999,
        "eps": 1e-8,
    }
    meta, _ = opt.state_dict()
    assert meta["name"] == "adamw"
    json.dumps(meta)


# --- schedules ------------------------------------------------------------------------------


def _torch_lrs(make: Callable[[Any], Any], n: int) -> list[float]:
    """The lr torch's scheduler gives during each of n intervals, from BASE_LR."""
    import torch

    p = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([p], lr=BASE_LR)
    sched = make(opt)
    out = []
    for _ in range(n):
        out.append(opt.param_groups[0]["lr"])
        p.grad = torch.zeros_like(p)
        opt.step()  # before sched.step(): torch warns otherwise
        sched.step()
    return out


def _cosine_torch(total: int, warmup: int, min_lr: float, start_factor: float) -> Callable:
    def make(opt: Any) -> Any:
        from torch.optim import lr_scheduler as S

        cosine = S.CosineAnnealingLR(opt, T_max=total - warmup, eta_min=min_lr)
        if warmup == 0:
            return cosine
        linear = S.LinearLR(opt, start_factor=start_factor, end_factor=1.0, total_iters=warmup)
        return S.SequentialLR(opt, [linear, cosine], milestones=[warmup])

    return make


def _step_torch(step_size: int, gamma: float) -> Callable:
    def make(opt: Any) -> Any:
        from torch.optim import lr_scheduler as S

        return S.StepLR(opt, step_size=step_size, gamma=gamma)

    return make


def _exp_torch(gamma: float) -> Callable:
    def make(opt: Any) -> Any:
        from torch.optim import lr_scheduler as S

        return S.ExponentialLR(opt, gamma=gamma)

    return make


#: id -> (our schedule, torch scheduler factory, intervals compared)
SCHEDULE_CASES = {
    "step7-0.5": (StepLR(7, gamma=0.5), _step_torch(7, 0.5), RUN),
    "step3-default": (StepLR(3), _step_torch(3, 0.1), RUN),
    "step1-1.0": (StepLR(1, gamma=1.0), _step_torch(1, 1.0), RUN),
    "exp0.9": (ExponentialLR(0.9), _exp_torch(0.9), RUN),
    # the cosine runs end at t = total, where lr = min_lr (torch's cosine is periodic after)
    "cosine-warmup5": (
        CosineLR(RUN, warmup=5, min_lr=1e-3),
        _cosine_torch(RUN, 5, 1e-3, 1 / 6),
        RUN + 1,
    ),
    "cosine-warmup4-s0.25": (
        CosineLR(RUN, warmup=4, warmup_start_factor=0.25),
        _cosine_torch(RUN, 4, 0.0, 0.25),
        RUN + 1,
    ),
    "cosine-warmup1": (CosineLR(RUN, warmup=1), _cosine_torch(RUN, 1, 0.0, 0.5), RUN + 1),
    "cosine-nowarmup": (CosineLR(RUN, min_lr=0.01), _cosine_torch(RUN, 0, 0.01, 1.0), RUN + 1),
}


@pytest.mark.parametrize("case", list(SCHEDULE_CASES))
def test_schedule_matches_torch(case: str) -> None:
    sched, make, n = SCHEDULE_CASES[case]
    ours = np.array([sched.lr(BASE_LR, t) for t in range(n)])
    theirs = np.array(_torch_lrs(make, n))
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=0)


@pytest.mark.parametrize("case", [c for c in SCHEDULE_CASES if c != "step1-1.0"])  # constant
def test_off_by_one_schedule_fails(case: str) -> None:
    """Negative control: using the lr of interval t + 1 during t misses torch by far."""
    sched, make, n = SCHEDULE_CASES[case]
    shifted = np.array([sched.lr(BASE_LR, t + 1) for t in range(n)])
    theirs = np.array(_torch_lrs(make, n))
    assert _rel_err(shifted, theirs) > 1e-3


def test_cosine_default_start_factor_is_uniform_ramp() -> None:
    sched = CosineLR(100, warmup=4)
    assert sched.start_factor == pytest.approx(0.2)
    ramp = [sched.lr(1.0, t) for t in range(5)]
    np.testing.assert_allclose(ramp, [0.2, 0.4, 0.6, 0.8, 1.0], rtol=1e-15)


def test_cosine_stays_at_min_lr_after_total() -> None:
    sched = CosineLR(10, warmup=2, min_lr=0.005)
    assert [sched.lr(BASE_LR, t) for t in range(10, 20)] == [0.005] * 10
    assert sched.lr(BASE_LR, 9) > 0.005


def test_schedule_intervals_and_config_round_trip() -> None:
    assert StepLR(2).interval == "epoch" and ExponentialLR(0.5).interval == "epoch"
    assert CosineLR(10).interval == "step"
    for sched in (StepLR(4, 0.5, interval="step"), ExponentialLR(0.9), CosineLR(50, 5, 1e-4)):
        config = json.loads(json.dumps(sched.config()))
        rebuilt = SCHEDULES[sched.name](**config)
        assert rebuilt == sched
        assert [rebuilt.lr(0.3, t) for t in range(60)] == [sched.lr(0.3, t) for t in range(60)]
        assert repr(sched).startswith(type(sched).__name__ + "(")
        assert f"interval={sched.interval!r}" in repr(sched)
    assert repr(StepLR(10, 0.5)) == "StepLR(step_size=10, gamma=0.5, interval='epoch')"


def test_make_schedule() -> None:
    sched = CosineLR(10)
    assert make_schedule(sched) is sched
    assert isinstance(sched, Schedule)
    for bad in ("cosine", None, CosineLR):
        with pytest.raises(TypeError, match="schedule must be a Schedule"):
            make_schedule(bad)  # type: ignore[arg-type]


# --- gradient clipping ----------------------------------------------------------------------


def _grads() -> list[ParamGrad]:
    net = _net()
    net.loss_and_gradients(*_batch())
    return net.parameters()


def _torch_clip(grads: list[np.ndarray], max_norm: float) -> tuple[float, list[np.ndarray]]:
    import torch

    params = [torch.zeros(G.shape, dtype=torch.float64, requires_grad=True) for G in grads]
    for t, G in zip(params, grads):
        t.grad = torch.tensor(G)
    norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
    return float(norm), [t.grad.numpy() for t in params]


@pytest.mark.parametrize("clips", [True, False])
def test_clip_grad_norm_matches_torch(clips: bool) -> None:
    params = _grads()
    before = [p.G.copy() for p in params]
    norm0 = global_norm(params)
    max_norm = 0.3 * norm0 if clips else 3.0 * norm0
    norm = clip_grad_norm(params, max_norm)
    norm_t, grads_t = _torch_clip(before, max_norm)
    assert norm == pytest.approx(norm_t, rel=1e-12)
    for p, Gt in zip(params, grads_t):
        assert _rel_err(p.G, Gt) < 1e-12
    if clips:
        assert global_norm(params) == pytest.approx(max_norm, rel=1e-5)
    else:
        for p, G0 in zip(params, before):
            np.testing.assert_array_equal(p.G, G0)


def test_per_tensor_clipping_is_not_global() -> None:
    """Negative control: clipping each gradient to max_norm on its own is not torch's result."""
    params = _grads()
    before = [p.G.copy() for p in params]
    max_norm = 0.3 * global_norm(params)
    _, grads_t = _torch_clip(before, max_norm)
    per_tensor = [G * min(1.0, max_norm / (np.linalg.norm(G) + 1e-6)) for G in before]
    assert max(_rel_err(G, Gt) for G, Gt in zip(per_tensor, grads_t)) > 1e-2
    # nor is the norm after clipping what torch returns
    norm_t, _ = _torch_clip(before, max_norm)
    assert abs(max_norm - norm_t) / norm_t > 1e-2


def test_global_norm_matches_torch() -> None:
    import torch

    params = _grads()
    flat = torch.cat([torch.tensor(p.G).reshape(-1) for p in params])
    assert global_norm(params) == pytest.approx(float(torch.linalg.vector_norm(flat)), rel=1e-12)


# --- bad arguments --------------------------------------------------------------------------

BAD = [
    (lambda: AdamW(weight_decay=-0.1), ValueError, "weight_decay"),
    (lambda: AdamW(weight_decay="0.1"), TypeError, "weight_decay"),
    (lambda: AdamW(lr=0), ValueError, "lr must be"),
    (lambda: AdamW(beta1=1.0), ValueError, "beta1"),
    (lambda: make_optimizer("adamw", 0.01, momentum=0.9), ValueError, "momentum"),
    (lambda: StepLR(0), ValueError, "step_size"),
    (lambda: StepLR(2.5), TypeError, "step_size"),
    (lambda: StepLR(True), TypeError, "step_size"),
    (lambda: StepLR(3, gamma=0), ValueError, "gamma"),
    (lambda: StepLR(3, gamma=1.5), ValueError, "gamma"),
    (lambda: ExponentialLR(gamma="0.9"), TypeError, "gamma"),
    (lambda: ExponentialLR(float("nan")), ValueError, "gamma"),
    (lambda: StepLR(3, interval="batch"), ValueError, "interval"),
    (lambda: CosineLR(10, interval=1), TypeError, "interval"),
    (lambda: CosineLR(0), ValueError, "total"),
    (lambda: CosineLR(10.0), TypeError, "total"),
    (lambda: CosineLR(10, warmup=10), ValueError, "warmup must be < total"),
    (lambda: CosineLR(10, warmup=-1), ValueError, "warmup"),
    (lambda: CosineLR(10, min_lr=-1e-3), ValueError, "min_lr"),
    (lambda: CosineLR(10, min_lr="0"), TypeError, "min_lr"),
    (lambda: CosineLR(10, warmup=2, warmup_start_factor=0.0), ValueError, "warmup_start_factor"),
    (lambda: CosineLR(10, warmup=2, warmup_start_factor=1.5), ValueError, "warmup_start_factor"),
    (lambda: CosineLR(10, warmup_start_factor=0.5), ValueError, "warmup_start_factor"),
    (lambda: StepLR(2).lr(0.0, 1), ValueError, "base_lr"),
    (lambda: StepLR(2).lr(0.1, -1), ValueError, "t must be"),
    (lambda: StepLR(2).lr(0.1, 1.0), TypeError, "t must be"),
    (lambda: CosineLR(10, min_lr=0.5).lr(0.1, 0), ValueError, "min_lr"),
    (lambda: clip_grad_norm(_grads(), 0.0), ValueError, "clip_grad_norm|max_norm"),
]


@pytest.mark.parametrize("make, exc, name", BAD, ids=[f"{i}-{b[2]}" for i, b in enumerate(BAD)])
def test_bad_arguments(make: Callable[[], Any], exc: type[Exception], name: str) -> None:
    with pytest.raises(exc, match="|".join(map(re.escape, name.split("|")))):
        make()
