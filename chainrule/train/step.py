"""The training step a learner reads first, and the reference engine that runs it batch by batch.

One step of mini-batch gradient descent on B examples (engine layout, A[0] is (n[0], B)):

    cost, A_L = net.forward_backward(A0, Y)   # forward, cost, backward: every dC_dP filled
    optimizer.step(net.parameters())          # P -= lr * (...) for every (key, P, dC_dP)

Everything in here is plain NumPy with fresh arrays; :mod:`chainrule.fast` computes the same
numbers faster for the networks it supports, and tests prove the two equal.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule.data.layout import to_engine
from chainrule.data.targets import count_correct
from chainrule.optim.clip import clip_grad_norm as clip_norm
from chainrule.optim.optimizer import Optimizer

__all__ = ["train_step", "ReferenceEngine", "restore_if_not_finite", "recompute_gradients"]


def train_step(
    net: Any,
    A0: np.ndarray,
    Y: np.ndarray,
    optimizer: Optimizer,
    clip_grad_norm: float | None = None,
    forward_backward: Callable[[np.ndarray, np.ndarray], tuple[float, np.ndarray]] | None = None,
) -> tuple[float, np.ndarray]:
    """One step of gradient descent on one batch; returns (cost, A[L]).

    A0 : (n[0], B) (or (C, H, W, B)) and Y : (n[L], B) are in the engine's layout.
    ``forward_backward`` replaces ``net.forward_backward`` (a fast plan's, the same numbers).
    """
    run = net.forward_backward if forward_backward is None else forward_backward
    cost, A_L = run(A0, Y)  # forward, cost, backward: every dC_dP is filled
    params = net.parameters()  # (key, P, dC_dP, decay?) for every array of the tree
    if clip_grad_norm is not None:
        clip_norm(params, clip_grad_norm)  # scale every dC_dP so their global norm <= max
    optimizer.step(params)  # update every P in place from its dC_dP
    return cost, A_L


class ReferenceEngine:
    """Runs :func:`train_step` over the batches of an epoch, on prepared X (m, ...), Y (n[L], m)."""

    name = "reference"

    def __init__(
        self,
        net: Any,
        optimizer: Optimizer,
        X: np.ndarray,
        Y: np.ndarray,
        batch_size: int,
        clip_grad_norm: float | None = None,
    ) -> None:
        self.net, self.opt, self.X, self.Y = net, optimizer, X, Y
        self.batch_size = batch_size
        self.clip = clip_grad_norm
        self.last_batch: np.ndarray | slice | None = None
        #: replaces net.forward_backward (a fast plan's, the same numbers); None: the layers'
        self.forward_backward: Callable[..., tuple[float, np.ndarray]] | None = None

    def run_epoch(
        self, perm: np.ndarray | None, before_step: Callable[[], None]
    ) -> tuple[float, int]:
        """Every batch of one epoch; returns (sum of batch cost * batch size, correct count)."""
        total, correct = 0.0, 0
        m, B = self.X.shape[0], self.batch_size
        for start in range(0, m, B):
            rows = slice(start, min(start + B, m)) if perm is None else perm[start : start + B]
            A0 = to_engine(self.X[rows])  # (n[0], B): a view for a slice, a copy for indices
            Yb = self.Y[..., rows]  # (n[L], B), or (V, T, B) for next-token targets
            before_step()  # e.g. a schedule sets this step's learning rate
            cost, A_L = train_step(self.net, A0, Yb, self.opt, self.clip, self.forward_backward)
            total += cost * Yb.shape[-1]
            correct += count_correct(self.net.loss.name, A_L, Yb)
            self.last_batch = rows
        return total, correct

    def finish_epoch(self) -> None:
        """Nothing to do: the layers already hold the last batch's dC/dP."""


def restore_if_not_finite(net: Any, snapshot: list[tuple[np.ndarray, np.ndarray]]) -> None:
    """After an interrupt: back to the saved (P, copy) parameters if any P is not finite."""
    if not all(np.all(np.isfinite(P)) for _, P, _, _ in net.parameters()):
        for P, saved in snapshot:
            P[...] = saved


def recompute_gradients(net: Any, A0: np.ndarray, Y: np.ndarray) -> None:
    """Store the gradients of one reference forward/backward on (A0, Y) at the parameters as
    they are, leaving buffers (BatchNorm's running statistics) unchanged.

    After an interrupt, which may land anywhere in a step (between two parameters' updates,
    inside a fast plan's pre-scaled batch), this makes every stored gradient mean dC/dP again.
    """
    buffers = [(a, a.copy()) for _, a in net.buffers()]
    net.train()
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        net.forward_backward(A0, Y)
    for a, saved in buffers:
        a[...] = saved
