"""The fast engine for convolutional networks: im2col, GEMM and pooling in buffers it owns.

``ConvPlan.forward_backward(A0, Y)`` computes what the reference engine's
``net.forward_backward`` computes (the cost, and every dC_dW, dC_db stored on the layers as
fresh arrays) for networks of the form

    [Conv2D/Conv1D -> (ReLU) -> (MaxPool, stride = kernel, no padding)] x n -> Flatten
    -> [Dense -> (ReLU)] x k -> Dense -> the output activation matched with the cost

with these differences in HOW, none in what (tests/test_fast_conv.py proves them equal):

1. **Buffers.** The padded input, the im2col columns, Z, the pooled output and every gradient
   of those sizes live in arrays allocated once per batch size; the columns are filled by one
   strided copy from a window view (:func:`chainrule.nn.im2col.window_view`), the products
   write with ``out=``. A fresh 7 MB column matrix per layer per batch costs page faults that
   are as slow as the product itself.
2. **Pool before ReLU.** max and ReLU commute (ReLU is monotone), so the plan pools Z first and
   applies ReLU to the pooled map, k*k times smaller. The gradients agree too, ties included:
   where the window's max is > 0 both orders route dC/dA to the same first maximum (a value
   clipped to 0 cannot tie with a positive one); where it is <= 0 both give 0.
3. **Pooling by strided views.** For a (kh, kw) pool with stride = kernel, window offset
   (i1, i2) of every window is the view Z[:, i1::kh, i2::kw]; the max is kh*kw - 1 calls of
   np.maximum over those views. Backward routes dC/dP to the first offset, in row-major scan
   order (the reference's and PyTorch's tie rule), whose Z equals the max, writing into the
   same views of dC/dZ.
4. **No dC/dA[0].** The first layer's input gradient (a product and a col2im) is never used.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.fast.activations import softmax_
from chainrule.fast.conv_pool import (
    PooledConvStage,
    col2im_pairs,
    input_gradient,
    weight_gradient,
)
from chainrule.fast.costs import fused_cost_and_gradient
from chainrule.fast.parallel import BatchSlices, why_not_slices
from chainrule.nn.activation import Activation, ReLU
from chainrule.nn.conv import Conv1D, Conv2D
from chainrule.nn.dense import Dense
from chainrule.nn.dropout import Dropout
from chainrule.nn.flatten import Flatten
from chainrule.nn.im2col import conv_output_size, window_view
from chainrule.nn.pool import MaxPool1D, MaxPool2D

__all__ = ["ConvPlan", "why_not_conv_plan", "work_per_example"]


class _ConvStage:
    """Conv -> (ReLU) on 4-D (C, H, W, m) arrays (1-D as (C, 1, L, m)); a conv followed by a
    max pool is a :class:`chainrule.fast.conv_pool.PooledConvStage` instead."""

    def __init__(self, conv: Any, relu: bool) -> None:
        self.conv, self.relu = conv, relu
        self.bufs: dict[int, dict[str, np.ndarray]] = {}

    def _buffers(self, A: np.ndarray) -> dict[str, np.ndarray]:
        C, H, W, m = A.shape
        b = self.bufs.get(m)
        if b is not None and b["shape"].tolist() == [C, H, W]:
            return b
        c, dt = self.conv, A.dtype
        oh, ow = conv_output_size(H, c.kh, c.sh, c.ph), conv_output_size(W, c.kw, c.sw, c.pw)
        Hp, Wp = H + 2 * c.ph, W + 2 * c.pw
        b = {
            "shape": np.array([C, H, W]),
            "Xp": np.zeros((C, Hp, Wp, m), dt),  # the borders stay 0 for every batch
            # the im2col columns and, as their last row, ones: the bias rides in the product
            "cols": np.ones((C * c.kh * c.kw + 1, oh * ow * m), dt),
            "Wb": np.empty((c.out_channels, C * c.kh * c.kw + 1), dt),  # [W2 | b]
            "Z": np.zeros((c.out_channels, oh, ow, m), dt),
        }
        if self.relu:
            b["pos"] = np.empty((c.out_channels, oh, ow, m), bool)  # ReLU's Z > 0
        # im2col as one copy between views made once (the buffers keep their addresses):
        # the windows (C, oh, ow, m, kh, kw) into the columns (C, kh, kw, oh, ow, m)
        win = window_view(b["Xp"], c.kh, c.kw, c.sh, c.sw, oh, ow)
        K = C * c.kh * c.kw
        b["copy"] = (
            b["cols"][:K].reshape(C, c.kh, c.kw, oh, ow, m),
            win.transpose(0, 4, 5, 1, 2, 3),
        )
        self.bufs[m] = b
        return b

    def forward(self, A: np.ndarray) -> np.ndarray:
        c, b = self.conv, self._buffers(A)
        C, H, W, _ = A.shape
        Xp, cols, Z = b["Xp"], b["cols"], b["Z"]
        O = Z.shape[0]
        Xp[:, c.ph : c.ph + H, c.pw : c.pw + W, :] = A
        np.copyto(*b["copy"])  # im2col
        K = C * c.kh * c.kw
        Wb = b["Wb"]
        Wb[:, :K], Wb[:, K:] = c.W.reshape(O, K), c.b
        # Z = W2 @ cols + b as ONE product: [W2 | b] @ [cols ; 1] : (O, K+1) @ (K+1, oh*ow*m)
        np.matmul(Wb, cols, out=Z.reshape(O, -1))
        if self.relu:
            np.greater(Z, 0, out=b["pos"])
            Z *= b["pos"]
        return Z

    def backward(self, G: np.ndarray, need_input_grad: bool) -> np.ndarray | None:
        """G = dC/d(stage output) -> stores dC_dW, dC_db; returns dC/dA_prev (or None)."""
        c = self.conv
        b = self.bufs[G.shape[-1]]
        if "dZ" not in b:  # the backward's buffers, at the first backward (not for predictions)
            b["dZ"] = np.zeros_like(b["Z"])
            b["dcols"], b["dXp"] = np.zeros_like(b["cols"][1:]), np.zeros_like(b["Xp"])
            _, oh, ow, _ = b["Z"].shape
            b["col2im"] = col2im_pairs(b["dXp"], b["dcols"], c, oh, ow)
        dZ, cols = b["dZ"], b["cols"]
        O, K = dZ.shape[0], cols.shape[0] - 1
        if self.relu:
            np.multiply(G, b["pos"], out=dZ)  # ReLU: dC/dZ = dC/dA [Z > 0]
        else:
            np.copyto(dZ, G)
        dZ2 = dZ.reshape(O, -1)  # (O, oh*ow*m)
        # [dC_dW | dC_db] = dZ2 @ [cols ; 1].T : (O, K+1), the bias's column summing dZ over
        # every position and example (weight_gradient: the product's fastest shape)
        dWb = weight_gradient(dZ2, cols, np.zeros((O, K + 1), dZ2.dtype))
        c.dC_dW = np.ascontiguousarray(dWb[:, :K]).reshape(c.W.shape)
        c.dC_db = np.ascontiguousarray(dWb[:, K:])  # (O, 1)
        if not need_input_grad:
            return None
        dXp = input_gradient(c, dZ2, b["dcols"], b["dXp"], b["col2im"])  # col2im(W2.T @ dZ2)
        C, H, W = (int(s) for s in b["shape"])
        return dXp[:, c.ph : c.ph + H, c.pw : c.pw + W, :]


class _LayerStage:
    """A layer the plan runs as the reference engine does (Dropout after a Dense layer: its
    masks come from the layer's own generator, in the same order, so the numbers agree)."""

    def __init__(self, layer: Any) -> None:
        self.layer = layer

    def forward(self, A: np.ndarray) -> np.ndarray:
        return self.layer.forward(A)

    def backward(self, G: np.ndarray) -> np.ndarray:
        return self.layer.backward(G)


class _DenseStage:
    def __init__(self, dense: Dense, relu: bool) -> None:
        self.dense, self.relu = dense, relu
        self.bufs: dict[int, dict[str, np.ndarray]] = {}

    def forward(self, A: np.ndarray) -> np.ndarray:
        d, m = self.dense, A.shape[-1]
        b = self.bufs.get(m)
        if b is None:
            e = np.zeros  # zero-filled: a product never meets stale bits
            b = self.bufs[m] = {
                "Z": e((d.n_out, m), A.dtype),
                "pos": e((d.n_out, m), bool),
                "dA": e((d.n_in, m), A.dtype),
            }
        self.A_prev = A
        Z = np.matmul(d.W, A, out=b["Z"])  # (n[l], n[l-1]) @ (n[l-1], m)
        Z += d.b
        if self.relu:
            np.greater(Z, 0, out=b["pos"])
            Z *= b["pos"]
        return Z

    def backward(self, dZ: np.ndarray) -> np.ndarray:
        """dC/dZ -> dC_dW, dC_db on the layer (fresh), dC/dA_prev (a buffer)."""
        d, b = self.dense, self.bufs[dZ.shape[-1]]
        d.dC_dW = dZ @ self.A_prev.T
        d.dC_db = np.sum(dZ, axis=1, keepdims=True)
        return np.matmul(d.W.T, dZ, out=b["dA"])


def _stages(layers: list[Any], fused: bool) -> tuple[list[Any], str | None]:
    """The plan's stages for a network's top-level ``layers``, or the reason it does not
    qualify (``fused``: the output activation is the one matched with the cost)."""
    if not fused:
        return [], "its output activation is not the one matched with its cost"
    if not layers or not isinstance(layers[0], (Conv2D, Conv1D)):
        return [], "it does not start with a convolution"
    stages: list[Any] = []
    i, n = 0, len(layers) - 1  # layers[n] is the output activation
    flat = False
    while i < n:
        layer = layers[i]
        relu = i + 1 < n and isinstance(layers[i + 1], ReLU)
        if isinstance(layer, (Conv2D, Conv1D)) and not flat:
            j = i + 1 + relu
            pool = None
            if j < n and isinstance(layers[j], (MaxPool2D, MaxPool1D)):
                p = layers[j]
                if (p.kh, p.kw) != (p.sh, p.sw) or p.ph or p.pw:
                    return [], f"layer {j} pools with a stride or padding the plan does not take"
                pool, j = (p.kh, p.kw), j + 1
            stages.append(
                _ConvStage(layer, relu) if pool is None else PooledConvStage(layer, relu, pool)
            )
            i = j
        elif isinstance(layer, Flatten) and not flat:
            flat, i = True, i + 1
        elif isinstance(layer, Dense) and flat:
            stages.append(_DenseStage(layer, relu))
            i += 1 + relu
        elif isinstance(layer, Dropout) and flat and stages and isinstance(stages[-1], _DenseStage):
            stages.append(_LayerStage(layer))
            i += 1
        else:
            return [], f"layer {i} is a {type(layer).__name__} where the plan does not take one"
    if not flat or not isinstance(stages[-1], _DenseStage) or stages[-1].relu:
        return [], "it does not end with Flatten, Dense layers and the output"
    return stages, None


def work_per_example(net: Any) -> float:
    """Multiply-adds of one example's forward pass through the convolutions and Dense layers."""
    shape, work = tuple(net.input_shape), 0.0
    for layer in net.layers:
        out = layer.output_shape(shape)
        if isinstance(layer, (Conv2D, Conv1D)):
            work += float(np.prod(out)) * layer.in_channels * layer.kh * layer.kw
        elif isinstance(layer, Dense):
            work += float(layer.n_in * layer.n_out)
        shape = out
    return work


def why_not_conv_plan(net: Any) -> str | None:
    """None when :class:`ConvPlan` can train ``net``; otherwise the reason."""
    return _stages(list(net.layers), net.fused)[1]


class ConvPlan:
    """forward_backward(A0, Y) -> (cost, A[L]) as the reference engine, in the plan's buffers.

    With k >= 2 BLAS threads the batch runs as k slices at once, each through a replica of the
    layers with its own stages and buffers, their gradients added
    (:class:`chainrule.fast.parallel.BatchSlices`; the examples of these networks never
    interact). ``workers`` fixes k (1: never sliced).
    """

    name = "fast"

    def __init__(self, net: Any, workers: int | None = None) -> None:
        stages, reason = _stages(list(net.layers), net.fused)
        if reason is not None:
            raise ValueError(f"the fast conv plan does not support this network: {reason}")
        self.net = net
        self.stages = {id(net.layers[0]): stages}  # one list of stages per replica
        # slices only where they cannot change a number (no dropout: see why_not_slices)
        sliceable = why_not_slices(net.layers) is None
        self.slices = BatchSlices(net.layers, workers if sliceable else 1, work_per_example(net))

    def forward_backward(self, A0: np.ndarray, Y: np.ndarray) -> tuple[float, np.ndarray]:
        k = self.slices.slices_for(A0.shape[-1])
        if k == 1:
            return self._run(self.net.layers, A0, Y, 1.0)
        for i in range(1, k):  # each replica gets its own stages (buffers) before the threads
            layers = self.slices.replica(i)
            self.stages.setdefault(id(layers[0]), _stages(layers, True)[0])
        return self.slices.run(self._run, A0, Y)

    def predict(self, A0: np.ndarray, chunk: int = 128) -> np.ndarray:
        """A[L] for every column of A0, in prediction mode, ``chunk`` examples at a time (the
        columns of a chunk stay in cache); a fresh (n[L], m) array."""
        stages = self.stages[id(self.net.layers[0])]
        m = A0.shape[-1]
        out: np.ndarray | None = None
        for s in range(0, m, chunk):
            A = A0[..., s : s + chunk]
            A = A if A.ndim == 4 else A.reshape(A.shape[0], 1, *A.shape[1:])
            for stage in stages:
                if isinstance(stage, (_DenseStage, _LayerStage)) and A.ndim == 4:
                    A = A.reshape(-1, A.shape[-1])
                A = stage.forward(A)
            A_L = self.net.layers[-1].forward(A)
            if out is None:
                out = np.empty((A_L.shape[0], m), A_L.dtype)
            out[:, s : s + A_L.shape[1]] = A_L
        assert out is not None
        return out

    def _run(
        self, layers: list[Any], A0: np.ndarray, Y: np.ndarray, weight: float
    ) -> tuple[float, np.ndarray]:
        """weight * cost of (A0, Y) through ``layers`` (the net's or a replica's); every
        gradient stored on those layers carries the weight."""
        stages = self.stages[id(layers[0])]
        output: Activation = layers[-1]
        A = A0 if A0.ndim == 4 else A0.reshape(A0.shape[0], 1, *A0.shape[1:])  # 1-D: H = 1
        flat_shape: tuple[int, ...] = ()
        for stage in stages:
            if isinstance(stage, (_DenseStage, _LayerStage)) and A.ndim == 4:
                flat_shape = A.shape
                A = A.reshape(-1, A.shape[-1])  # Flatten: (C, H, W, m) -> (C*H*W, m)
            A = stage.forward(A)
        Z_L = A  # the logits
        if output.name == "softmax":  # the fast softmax, and the cost from it (fast.costs)
            A_L = softmax_(Z_L, np.empty_like(Z_L))
        else:
            A_L = output.forward(Z_L)
        # dC/dZ[L] = weight (A[L] - Y) / m: a slice of m_k of the m examples carries its
        # share w = m_k / m of the mean, in its cost and its gradient
        G = np.empty_like(A_L)
        cost = weight * fused_cost_and_gradient(self.net.loss, Z_L, A_L, Y, G, scale=weight)
        for s in range(len(stages) - 1, -1, -1):
            stage = stages[s]
            if isinstance(stage, (_DenseStage, _LayerStage)):
                G = stage.backward(G)  # dC/dA of the layer before
                prev = stages[s - 1]
                if isinstance(prev, _DenseStage):
                    if prev.relu:
                        G *= prev.bufs[G.shape[-1]]["pos"]  # ReLU: dC/dZ = dC/dA [Z > 0]
                elif not isinstance(prev, _LayerStage):
                    G = G.reshape(flat_shape)  # un-flatten to the last conv stage's output
            else:
                G = stage.backward(G, need_input_grad=s > 0)
        return float(cost), A_L
