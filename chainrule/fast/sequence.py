"""The fast engine for sequence models: a plan that owns the buffers of the costliest passes.

On the CPU, a GPT step's largest cost after the matrix products is the tanh GELU of every
block's MLP: about a dozen element-wise passes over (4 n_embd, T, m), each writing a fresh
array in the reference layer (chainrule.nn.gelu). ``SequencePlan`` runs the network's own
layers, the reference forward and backward of every Dense, LayerNorm, attention and embedding,
but computes each tanh GELU in place in buffers it owns, with the same formulas:

    forward   u = sqrt(2/pi) (z + 0.044715 z^3),  t = tanh(u),  A = 0.5 z (1 + t)
    backward  dC_dZ = dC_dA * (0.5 (1 + t) + 0.5 z (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 z^2))

keeping t from the forward pass for the backward. When the BLAS has k >= 2 threads and the network
treats its examples apart (no dropout, no BatchNorm), the plan also cuts each batch into k slices
run at once on k threads, each through a replica of the layers, and adds their gradients
(:mod:`chainrule.fast.parallel`). tests/test_fast_sequence.py and tests/test_fast_slices.py
prove the plan equal to the reference engine (costs, every gradient, weights after steps).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.fast.parallel import BatchSlices, why_not_slices
from chainrule.nn.activation import Activation
from chainrule.nn.gelu import GELU
from chainrule.nn.layer import Layer
from chainrule.nn.residual import Residual
from chainrule.nn.sequential import Sequential

__all__ = ["SequencePlan", "TanhGELUBuffers", "why_not_sequence_plan"]

_C = float(np.sqrt(2.0 / np.pi))
_K = 0.044715


class TanhGELUBuffers:
    """The tanh GELU of one layer, in place: z (clipped for u), t = tanh(u), A and dC_dZ."""

    def __init__(self) -> None:
        self.shape: tuple[int, ...] | None = None

    def _ensure(self, Z: np.ndarray) -> None:
        if self.shape != Z.shape or self.A.dtype != Z.dtype:
            self.shape = Z.shape
            self.zc, self.t, self.A, self.g, self.s = (np.empty_like(Z) for _ in range(5))

    def forward(self, Z: np.ndarray) -> np.ndarray:
        """A = 0.5 Z (1 + tanh(u)); z is clipped to [-20, 20] inside u only, as the reference
        does (tanh(u) is +-1 there to the last bit, and z^3 cannot overflow)."""
        self._ensure(Z)
        self.Z = Z
        zc, t, A = self.zc, self.t, self.A
        np.clip(Z, -20.0, 20.0, out=zc)
        np.multiply(zc, zc, out=t)  # z^2
        t *= _K
        t += 1.0
        t *= zc  # z + k z^3
        t *= _C  # u
        np.tanh(t, out=t)  # t = tanh(u), kept for the backward
        np.add(t, 1.0, out=A)
        A *= Z
        A *= 0.5
        return A

    def backward(self, dC_dA: np.ndarray) -> np.ndarray:
        """dC_dZ = dC_dA * gelu'(Z), gelu' = 0.5 (1 + t) + 0.5 z (1 - t^2) du/dz."""
        zc, t, g, s = self.zc, self.t, self.g, self.s
        np.multiply(zc, zc, out=g)  # z^2
        g *= 3.0 * _K
        g += 1.0
        g *= _C  # du/dz
        np.multiply(t, t, out=s)
        np.subtract(1.0, s, out=s)  # 1 - t^2
        g *= s
        g *= self.Z
        g *= 0.5  # 0.5 z (1 - t^2) du/dz
        np.multiply(t, 0.5, out=s)
        s += 0.5  # 0.5 (1 + t)
        g += s
        g *= dC_dA
        return g


def why_not_sequence_plan(net: Any) -> str | None:
    """None when ``SequencePlan`` can run ``net``: a network of Sequential/Residual containers
    and layers, ending with the activation matched to its cost, with a tanh GELU inside."""
    if not getattr(net, "fused", False):
        return "its output activation is not the one matched with its cost"
    has_gelu = False
    for _, layer in net.named_layers():
        if isinstance(layer, GELU):
            has_gelu = has_gelu or layer.approximate == "tanh"
        elif not layer.is_leaf and not isinstance(layer, (Sequential, Residual)):
            return f"it holds a {type(layer).__name__}, a composite layer the plan does not walk"
    return None if has_gelu else "it has no tanh GELU (the only layer the plan speeds up)"


class SequencePlan:
    """forward_backward(A0, Y) -> (cost, A[L]) as ``chainrule.Sequential.forward_backward``
    computes it, with every tanh GELU in the plan's buffers."""

    name = "fast"

    def __init__(self, net: Any, workers: int | None = None) -> None:
        reason = why_not_sequence_plan(net)
        if reason is not None:
            raise ValueError(f"the fast sequence plan does not support this network: {reason}")
        self.net = net
        self.gelus: dict[int, TanhGELUBuffers] = {}
        self._add_gelus(net.layers)
        # slices of the batch on parallel threads when the layers allow it (fast/parallel.py);
        # workers=None: as many slices as the BLAS has threads, 1: never sliced
        self.why_not_sliced = why_not_slices(net.layers)
        work = float(net.n_params * net.input_shape[0])  # ~ every weight once per position
        ok = self.why_not_sliced is None
        self.slices = BatchSlices(net.layers, workers, work) if ok else None

    def _add_gelus(self, layers: list[Layer]) -> None:
        for top in layers:
            for _, layer in top.named_layers():
                if isinstance(layer, GELU) and layer.approximate == "tanh":
                    self.gelus.setdefault(id(layer), TanhGELUBuffers())

    def _forward(self, layer: Layer, A: np.ndarray) -> np.ndarray:
        if isinstance(layer, Sequential):  # the children in order
            for child in layer.layers:
                A = self._forward(child, A)
            return A
        if isinstance(layer, Residual):  # A + block(A)
            return A + self._forward(layer.block, A)
        fast = self.gelus.get(id(layer))
        return fast.forward(A) if fast is not None else layer.forward(A)

    def _backward(self, layer: Layer, dC_dA: np.ndarray) -> np.ndarray | None:
        if isinstance(layer, Sequential):  # the children, last first
            for child in reversed(layer.layers):
                dC_dA = self._backward(child, dC_dA)
            return dC_dA
        if isinstance(layer, Residual):  # identity path + block path: gradients ADD
            return dC_dA + self._backward(layer.block, dC_dA)
        fast = self.gelus.get(id(layer))
        return fast.backward(dC_dA) if fast is not None else layer.backward(dC_dA)

    def forward_backward(self, A0: np.ndarray, Y: np.ndarray) -> tuple[float, np.ndarray]:
        """The matched pair's fused path: logits Z[L], cost from them, dC/dZ[L] = (A - Y)/m;
        the batch cut into slices on parallel threads where ``self.slices`` allows."""
        if self.slices is None or self.slices.slices_for(A0.shape[-1]) == 1:
            return self._run(self.net.layers, A0, Y, 1.0)
        for k in range(1, self.slices.slices_for(A0.shape[-1])):
            self._add_gelus(self.slices.replica(k))  # each replica's GELUs own their buffers
        return self.slices.run(self._run, A0, Y)

    def _run(
        self, layers: list[Layer], A0: np.ndarray, Y: np.ndarray, weight: float
    ) -> tuple[float, np.ndarray]:
        """weight * cost of (A0, Y) through ``layers``; every gradient carries the weight."""
        *body, output = layers
        assert isinstance(output, Activation)
        loss = self.net.loss
        Z = A0
        for layer in body:
            Z = self._forward(layer, Z)  # the logits Z[L]
        A = output.forward(Z)
        cost = loss.cost_from_logits(Z, Y)
        dC_dA = loss.fused_gradient(A, Y)  # dC/dZ[L] : (n[L], ..., m)
        if weight != 1.0:  # a slice of m_k of the m examples: its share of the mean
            cost, dC_dA = weight * cost, dC_dA * dC_dA.dtype.type(weight)
        for layer in reversed(body):
            dC_dA = self._backward(layer, dC_dA)
        return cost, A
