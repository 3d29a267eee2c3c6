"""Optimizers against torch.optim in float64: the same parameters and gradients, 3 steps, 1e-10.

chainrule's optimizers take (key, P, G, decay?) tuples; L2 weight decay is applied to weights
(decay=True) only, which torch expresses with two parameter groups.
"""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.optim import SGD, Adam, Momentum, RMSProp, make_optimizer

STEPS = 3


def _torch():  # noqa: ANN202 - imported where used: the finite-difference tests need no torch
    import torch

    return torch


#: name -> (chainrule optimizer factory, torch optimizer factory taking param groups)
CASES = {
    "sgd": (lambda wd: SGD(lr=0.1, weight_decay=wd), lambda g: _torch().optim.SGD(g, lr=0.1)),
    "momentum": (
        lambda wd: Momentum(lr=0.1, momentum=0.9, weight_decay=wd),
        lambda g: _torch().optim.SGD(g, lr=0.1, momentum=0.9),
    ),
    "rmsprop": (
        lambda wd: RMSProp(lr=0.01, rho=0.9, eps=1e-8, weight_decay=wd),
        lambda g: _torch().optim.RMSprop(g, lr=0.01, alpha=0.9, eps=1e-8),
    ),
    "adam": (
        lambda wd: Adam(lr=0.01, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=wd),
        lambda g: _torch().optim.Adam(g, lr=0.01, betas=(0.9, 0.999), eps=1e-8),
    ),
}


def _run_both(name: str, weight_decay: float, rng: np.random.Generator):
    import torch

    W0, b0 = rng.standard_normal((3, 4)), rng.standard_normal((3, 1))
    grads = [(rng.standard_normal((3, 4)), rng.standard_normal((3, 1))) for _ in range(STEPS)]
    make_ours, make_theirs = CASES[name]

    W, b = W0.copy(), b0.copy()
    opt = make_ours(weight_decay)
    for gW, gb in grads:
        opt.step([("0.W", W, gW, True), ("0.b", b, gb, False)])

    Wt, bt = torch.tensor(W0, requires_grad=True), torch.tensor(b0, requires_grad=True)
    groups = [{"params": [Wt], "weight_decay": weight_decay}, {"params": [bt], "weight_decay": 0.0}]
    topt = make_theirs(groups)
    for gW, gb in grads:
        Wt.grad, bt.grad = torch.tensor(gW), torch.tensor(gb)
        topt.step()
    return (W, b), (Wt.detach().numpy(), bt.detach().numpy()), (W0, b0), opt


@pytest.mark.parametrize("name", list(CASES))
def test_three_steps_match_torch(name: str, rng: np.random.Generator) -> None:
    (W, b), (Wt, bt), (W0, _), opt = _run_both(name, 0.0, rng)
    assert opt.t == STEPS
    assert np.max(np.abs(W - Wt)) < 1e-10
    assert np.max(np.abs(b - bt)) < 1e-10
    assert np.max(np.abs(W - W0)) > 1e-3  # the parameters did move


@pytest.mark.parametrize("name", list(CASES))
def test_weight_decay_on_weights_only_matches_torch_param_groups(
    name: str, rng: np.random.Generator
) -> None:
    (W, b), (Wt, bt), _, _ = _run_both(name, 0.05, rng)
    assert np.max(np.abs(W - Wt)) < 1e-10
    assert np.max(np.abs(b - bt)) < 1e-10


def test_adam_exactly_matches_torch_to_1e_10_on_a_network(rng: np.random.Generator) -> None:
    """The issue's proof: Adam's update after 3 steps equals torch.optim.Adam's to 1e-10."""
    import torch

    net = cr.mlp([4, 5, 3], activation="tanh", output="softmax", seed=0, dtype=np.float64)
    X, y = rng.standard_normal((8, 4)), rng.integers(0, 3, size=8)
    start = [P.copy() for _, P, _, _ in net.parameters()]
    torch_params = [torch.tensor(P, requires_grad=True) for P in start]
    opt = Adam(lr=0.05)
    topt = torch.optim.Adam(torch_params, lr=0.05)
    for _ in range(STEPS):
        net.loss_and_gradients(X, y)
        for tp, (_, _, G, _) in zip(torch_params, net.parameters()):
            tp.grad = torch.tensor(G.copy())  # the same gradients for both
        opt.step(net.parameters())
        topt.step()
    for tp, (key, P, _, _) in zip(torch_params, net.parameters()):
        assert np.max(np.abs(P - tp.detach().numpy())) < 1e-10, key


def test_sgd_by_hand() -> None:
    """P = 1, G = 2, lr = 0.1: P = 1 - 0.2 = 0.8; with weight decay 0.5: G = 2 + 0.5 = 2.5,
    P = 1 - 0.25 = 0.75 (the bias, decay=False, still gets 0.8)."""
    W, b = np.array([[1.0]]), np.array([[1.0]])
    SGD(lr=0.1, weight_decay=0.5).step([("W", W, np.array([[2.0]]), True), ("b", b, 2 * b, False)])
    assert W[0, 0] == pytest.approx(0.75) and b[0, 0] == pytest.approx(0.8)


def test_adam_first_step_is_lr_times_sign() -> None:
    """After one bias-corrected step M_hat = G and S_hat = G^2, so the update is lr*G/|G|."""
    P = np.array([[0.0, 0.0]])
    Adam(lr=0.01, eps=1e-12).step([("P", P, np.array([[3.0, -0.002]]), True)])
    np.testing.assert_allclose(P, [[-0.01, 0.01]], rtol=1e-8)


def test_network_marks_weights_for_decay_not_biases() -> None:
    net = cr.mlp([2, 3, 1], output="sigmoid", seed=0)
    flags = {key: decay for key, _, _, decay in net.parameters()}
    assert flags == {"0.W": True, "0.b": False, "2.W": True, "2.b": False}


def test_float32_parameters_stay_float32(rng: np.random.Generator) -> None:
    for name in CASES:
        P = rng.standard_normal((2, 2)).astype(np.float32)
        opt = make_optimizer(name, 0.01)
        for _ in range(2):
            opt.step([("P", P, np.ones_like(P), True)])
        assert P.dtype == np.float32


def test_make_optimizer_names_and_errors() -> None:
    assert isinstance(make_optimizer("gd", 0.1), SGD)
    assert isinstance(make_optimizer("ADAM", 0.1, beta1=None, momentum=None), Adam)
    assert make_optimizer("momentum", 0.1, momentum=0.5).momentum == 0.5
    assert make_optimizer("rmsprop", 0.1, rho=0.8).rho == 0.8
    opt = SGD(lr=0.1)
    assert make_optimizer(opt, 0.5) is opt
    with pytest.raises(ValueError, match="unknown optimizer 'lbfgs'"):
        make_optimizer("lbfgs", 0.1)
    with pytest.raises(TypeError, match="optimizer must be a name"):
        make_optimizer(3, 0.1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="lr must be a finite number > 0"):
        make_optimizer("sgd", 0.0)
    with pytest.raises(ValueError, match="lr must be a finite number > 0"):
        make_optimizer("sgd", float("nan"))
    with pytest.raises(TypeError, match="lr must be a number"):
        make_optimizer("sgd", "fast")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="momentum must be in"):
        make_optimizer("momentum", 0.1, momentum=1.0)
    with pytest.raises(ValueError, match="beta2 must be in"):
        make_optimizer("adam", 0.1, beta2=1.5)
    with pytest.raises(ValueError, match="weight_decay"):
        make_optimizer("sgd", 0.1, weight_decay=-1.0)
    with pytest.raises(ValueError, match="does not take momentum"):
        make_optimizer("adam", 0.1, momentum=0.9)
    with pytest.raises(ValueError, match="eps"):
        make_optimizer("rmsprop", 0.1, eps=0.0)
