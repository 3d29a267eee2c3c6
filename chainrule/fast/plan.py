"""A training plan for an MLP: the reference step's math, with every array owned and reused.

``MLPPlan`` computes what ``chainrule.train.step.train_step`` computes on each batch (forward,
cost, backward, optimizer step) for the networks :func:`chainrule.fast.support.why_not_fast`
accepts, with these differences in HOW, none in what:

1. **Buffers.** Every Z, A, mask, dC_dZ, dC_dA and gradient lives in arrays the plan allocates
   once per batch size; products write into them with ``out=``; activations run in place.
   No layer's arrays are touched except the parameters the optimizer updates.
2. **Batches.** Rows are gathered into reused buffers (:class:`chainrule.fast.gather.Gather`);
   softmax + cross-entropy trains from class indices, never building a one-hot Y.
3. **No dC/dA[0].** The first layer's input gradient is never used, so it is not computed.
4. **Plain SGD, pre-scaled.** Backward is linear in its seed, so seeding it with lr * dC/dZ[L]
   makes every gradient lr * dC/dP and the update the single pass P -= G (docs/course/04-vectorization.md 4.5).
5. **Plain SGD, fused.** With direct BLAS, W -= lr dC_dZ @ A_prev.T is one GEMM with beta = 1
   on every batch but an epoch's last (docs/course/04-vectorization.md 4.6): the gradient is never written.

After each epoch :meth:`MLPPlan.finish_epoch` stores the last batch's gradients on the layers
as fresh arrays holding dC/dP (divided back by lr when pre-scaled), exactly what the reference
engine leaves there, so callbacks and users never see a plan's buffer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule.data.targets import count_correct
from chainrule.fast.activations import activate_, derivative_, softmax_
from chainrule.fast.blas import GemmUpdate, direct_blas_available
from chainrule.fast.costs import ce_cost_and_gradient_labels, fused_cost_and_gradient
from chainrule.fast.gather import Gather
from chainrule.fast.support import mlp_blocks, why_not_fast
from chainrule.nn.layer import ParamGrad
from chainrule.optim.clip import clip_grad_norm as clip_norm
from chainrule.optim.optimizer import Optimizer

__all__ = ["MLPPlan"]


class _Buffers:
    """Every per-batch array of one batch size B, for L Dense blocks."""

    def __init__(self, blocks: list[tuple[Any, str]], B: int, dtype: np.dtype) -> None:
        e = np.empty
        self.Z = [e((d.n_out, B), dtype) for d, _ in blocks]  # Z[l], then A[l] in place
        self.mask = [e((d.n_out, B), dtype) if a == "relu" else None for d, a in blocks]
        self.tmp = [e((d.n_out, B), dtype) if a in ("sigmoid", "tanh") else None for d, a in blocks]
        self.A_out = e((blocks[-1][0].n_out, B), dtype)  # A[L]; Z[L] stays the logits
        self.dZ_out = e((blocks[-1][0].n_out, B), dtype)  # dC/dZ[L]
        self.dA = [e((d.n_in, B), dtype) for d, _ in blocks]  # dC/dA[l-1] (unused for l = 1)
        self.ones = np.ones(B, dtype=dtype)  # dC_db = dC_dZ @ 1 sums over the B examples


class MLPPlan:
    """Compiled training of one MLP on prepared data X (m, n[0]) and Y (n[L], m)."""

    name = "fast"

    def __init__(
        self,
        net: Any,
        optimizer: Optimizer,
        X: np.ndarray,
        Y: np.ndarray,
        batch_size: int,
        clip_grad_norm: float | None = None,
    ) -> None:
        reason = why_not_fast(net)
        if reason is not None:
            raise ValueError(f"the fast engine does not support this network: {reason}")
        blocks = mlp_blocks(net)
        assert not isinstance(blocks, str)
        self.net, self.opt, self.blocks = net, optimizer, blocks
        self.loss = net.loss
        self.batch_size = batch_size
        self.clip = clip_grad_norm
        self.dtype = blocks[0][0].W.dtype
        self.m = X.shape[0]
        self.use_labels = self.loss.name == "ce"
        if self.use_labels:  # (m,) the class of each one-hot column
            T = np.argmax(Y, axis=0).astype(np.intp)
        else:  # (m, n[L]) one contiguous row per example
            T = np.ascontiguousarray(Y.T)
        self.gather = Gather(X, T)
        self.buffers: dict[int, _Buffers] = {}
        self.grads = [
            (np.empty_like(d.W), np.empty_like(d.b)) for d, _ in blocks
        ]  # (dC_dW, dC_db) of the latest batch, times ``scale`` when pre-scaled
        index = {id(layer): i for i, layer in enumerate(net.layers)}
        self.keys = [str(index[id(d)]) for d, _ in blocks]  # "0", "2", ...: as net.parameters()
        self.params = []
        for (d, _), (gW, gb), key in zip(blocks, self.grads, self.keys):
            self.params += [
                ParamGrad(f"{key}.W", d.W, gW, True),
                ParamGrad(f"{key}.b", d.b, gb, False),
            ]
        self.prescaled = optimizer.accepts_prescaled and clip_grad_norm is None
        self.fuse = self.prescaled and direct_blas_available()
        self.prepared: dict[tuple[int, int], GemmUpdate] = {}
        self.scale = 1.0  # the seed's factor in the latest batch (lr when pre-scaled)
        self.last_batch: np.ndarray | slice | None = None  # rows of the latest completed batch
        self.has_grads = False

    # --- one epoch ----------------------------------------------------------------------------
    def run_epoch(
        self, perm: np.ndarray | None, before_step: Callable[[], None]
    ) -> tuple[float, int]:
        """Every batch of one epoch; returns (sum of batch cost * batch size, correct count)."""
        total, correct = 0.0, 0
        B = self.batch_size
        last_start = (self.m - 1) // B * B
        for start in range(0, self.m, B):
            before_step()  # e.g. a schedule sets this step's learning rate
            A0, Tb = self.gather.batch(perm, start, B)  # (n[0], B) and (B,) or (B, n[L])
            fused = self.fuse and start != last_start  # the last batch stores its gradients
            cost, A = self._step(A0, Tb, fused)
            total += cost * Tb.shape[0]
            correct += count_correct(self.loss.name, A, Tb if self.use_labels else Tb.T)
            stop = min(start + B, self.m)
            self.last_batch = slice(start, stop) if perm is None else perm[start:stop]
        return total, correct

    def _step(self, A0: np.ndarray, Tb: np.ndarray, fused: bool) -> tuple[float, np.ndarray]:
        """One training step: forward_backward, then the optimizer's update."""
        self.scale = self.opt.lr if self.prescaled else 1.0
        cost, A_L = self.forward_backward(A0, Tb, fused)
        if fused:
            self.opt.t += 1  # the update happened inside the products
        elif self.prescaled:
            self.opt.step_prescaled(self.params)  # P -= G, G = lr * dC/dP already
        else:
            if self.clip is not None:
                clip_norm(self.params, self.clip)
            self.opt.step(self.params)
        return cost, A_L

    def forward_backward(
        self, A0: np.ndarray, Tb: np.ndarray, fused: bool = False
    ) -> tuple[float, np.ndarray]:
        """Forward, cost and backward of one batch into the plan's buffers; (cost, A[L]).

        ``Tb`` is (B,) class indices for cross-entropy, else (B, n[L]) target rows (what
        :meth:`Gather.batch` returns). Unless ``fused``, the gradients times ``self.scale``
        are left in ``self.grads`` and :meth:`finish_epoch` publishes them.
        """
        bufs = self.buffers.get(A0.shape[1])
        if bufs is None:
            bufs = self.buffers[A0.shape[1]] = _Buffers(self.blocks, A0.shape[1], self.dtype)
        inputs = self._forward(A0, bufs)
        Z_L = bufs.Z[-1]
        A_L = bufs.A_out
        out_act = self.blocks[-1][1]
        if out_act == "softmax":
            softmax_(Z_L, A_L)
        elif out_act == "identity":
            np.copyto(A_L, Z_L)
        else:
            np.copyto(A_L, Z_L)
            activate_(out_act, A_L, None)
        if self.use_labels:
            cost = ce_cost_and_gradient_labels(Z_L, A_L, Tb, bufs.dZ_out, self.scale)
        else:
            cost = fused_cost_and_gradient(self.loss, Z_L, A_L, Tb.T, bufs.dZ_out, self.scale)
        self._backward(inputs, bufs, fused)
        self.has_grads = self.has_grads or not fused
        return cost, A_L

    def _forward(self, A0: np.ndarray, bufs: _Buffers) -> list[np.ndarray]:
        """Z[l] = W[l] @ A[l-1] + b[l], A[l] = g(Z[l]) in place; returns every layer's input."""
        inputs, A = [], A0
        L = len(self.blocks)
        for l, (dense, act) in enumerate(self.blocks):
            inputs.append(A)
            Z = bufs.Z[l]
            np.matmul(dense.W, A, out=Z)  # (n[l], n[l-1]) @ (n[l-1], B)
            Z += dense.b  # (n[l], 1) broadcast over B
            A = Z if l == L - 1 else activate_(act, Z, bufs.mask[l])  # Z[L]: the logits stay
        return inputs

    def _backward(self, inputs: list[np.ndarray], bufs: _Buffers, fused: bool) -> None:
        dZ = bufs.dZ_out  # dC/dZ[L] : (n[L], B)
        for l in range(len(self.blocks) - 1, -1, -1):
            dense, _ = self.blocks[l]
            A_prev = inputs[l]
            dA_prev = None
            if l > 0:  # dC/dA[l-1] = W.T @ dC_dZ, with W before its update
                dA_prev = np.matmul(dense.W.T, dZ, out=bufs.dA[l])  # (n[l-1], B)
            gW, gb = self.grads[l]
            np.matmul(dZ, bufs.ones, out=gb[:, 0])  # dC_db = dC_dZ @ 1 : (n[l],)
            if fused:  # W += -1 * dC_dZ @ A_prev.T : one GEMM with beta = 1
                step = self.prepared.get((l, A_prev.shape[1]))
                if step is None or not step.matches(dense.W, dZ, A_prev):
                    step = GemmUpdate(dense.W, dZ, A_prev.T, -1.0, key=A_prev)
                    self.prepared[(l, A_prev.shape[1])] = step
                step.run(gW)  # gW is scratch for the fallback only
                dense.b -= gb
            else:
                np.matmul(dZ, A_prev.T, out=gW)  # dC_dW : (n[l], B) @ (B, n[l-1])
            if dA_prev is not None:
                act = self.blocks[l - 1][1]
                dZ = derivative_(act, dA_prev, bufs.Z[l - 1], bufs.mask[l - 1], bufs.tmp[l - 1])

    # --- after an epoch -----------------------------------------------------------------------
    def finish_epoch(self) -> None:
        """Store the latest batch's gradients on the layers as fresh arrays of dC/dP."""
        if not self.has_grads:
            return
        for (dense, _), (gW, gb) in zip(self.blocks, self.grads):
            dense.dC_dW = gW / self.dtype.type(self.scale) if self.scale != 1.0 else gW.copy()
            dense.dC_db = gb / self.dtype.type(self.scale) if self.scale != 1.0 else gb.copy()
        self.prepared.clear()  # drop the prepared GEMMs: they hold the buffers' addresses
