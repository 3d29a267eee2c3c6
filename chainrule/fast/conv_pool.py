"""A convolution and the max pooling after it as one stage, computed window offset by offset.

A conv layer followed by a (ph, pw) max pool with stride = kernel writes a map Z four times
(2 x 2) larger than what leaves the pool, only to read it back for the max, and then, in the
backward pass, writes an equally large dC/dZ that is three quarters zeros. On this machine those
passes, not the arithmetic, are what a CNN step waits for (memory bandwidth: docs/performance.md).

Every pooling window takes one conv output at each offset (i1, i2) of the window: the outputs
at (py*ph + i1, px*pw + i2) for all windows (py, px). So the stage builds, for each offset k,
the im2col columns of exactly those positions, cols[k] : (C*kh*kw + 1, P) with P = poh*pow*m
(the last row ones, so that [W2 | b] @ cols[k] adds the bias inside the product), and

    forward    Z_k = [W2 | b] @ cols[k]                 (O, P), one offset at a time
               P = max_k Z_k, k* = the first k reaching it (strict >, scan order: the
               reference's and PyTorch's tie rule), then A = ReLU(P) (max and ReLU commute)
    backward   G' = dC/dA [P > 0];  G_k = G' [k* == k]  (dC/dZ at offset k: the winners only)
               [dC_dW | dC_db] = sum_k G_k @ cols[k].T  (the gradients of the offsets ADD)
               dC/dZ = the G_k put back at their positions, (O, oh, ow, m); then, as the
               reference conv: dC/dcols = W2.T @ dC/dZ, sent back to the input pixels it was
               read from (col2im, kh*kw adds of contiguous blocks: :func:`input_gradient`)

Positions a pool leaves out (odd sizes) are never computed: their dC/dZ is 0 in the reference,
so they add nothing to any gradient. The forward writes nothing of Z's full size, only P, k*
(int8) and the columns; the backward's dC/dZ and dC/dcols are full size, because one product and
kh*kw contiguous adds measured faster than kh*kw*pkh*pkw adds with the pool's stride (conv
16 -> 32 at m = 32: 1.1 vs 1.7 ms). tests/test_fast_conv.py proves the stage equal to the
reference layers.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.fast.blas import small_product_step
from chainrule.nn.im2col import conv_output_size, window_view

__all__ = ["PooledConvStage", "col2im_pairs", "input_gradient", "weight_gradient"]


class PooledConvStage:
    """Conv -> (ReLU) -> MaxPool(stride = kernel, no padding) on (C, H, W, m) arrays."""

    def __init__(self, conv: Any, relu: bool, pool: tuple[int, int]) -> None:
        self.conv, self.relu, self.pool = conv, relu, pool
        self.bufs: dict[int, dict[str, Any]] = {}

    def _buffers(self, A: np.ndarray) -> dict[str, Any]:
        C, H, W, m = A.shape
        b = self.bufs.get(m)
        if b is not None and b["in_shape"] == (C, H, W):
            return b
        c, dt = self.conv, A.dtype
        oh, ow = conv_output_size(H, c.kh, c.sh, c.ph), conv_output_size(W, c.kw, c.sw, c.pw)
        pkh, pkw = self.pool
        poh, pow_ = oh // pkh, ow // pkw
        K, P, O = C * c.kh * c.kw, poh * pow_ * m, c.out_channels
        b = {
            "in_shape": (C, H, W),
            "pooled": (poh, pow_),
            "Xp": np.zeros((C, H + 2 * c.ph, W + 2 * c.pw, m), dt),  # borders stay 0
            "cols": np.ones((pkh * pkw, K + 1, P), dt),  # per offset; the last row ones
            "Wb": np.empty((O, K + 1), dt),  # [W2 | b]
            "Zk": np.zeros((O, P), dt),
            "Pmax": np.zeros((O, poh, pow_, m), dt),
            "best": np.empty((O, P), np.int8),  # k*: the offset that holds each max
            "upd": np.empty((O, P), bool),
            "step": np.empty((O, P), np.int8),
            "pos": np.empty((O, P), bool),  # ReLU's P > 0
            "out": np.empty((O, poh, pow_, m), dt),
        }
        # the im2col copies of each offset, as (columns, window view) pairs made once: the
        # buffers keep their addresses, and building the views cost ~65 us a batch
        win = window_view(b["Xp"], c.kh, c.kw, c.sh, c.sw, poh * pkh, pow_ * pkw)
        b["copies"] = [
            (  # win: (C, oh, ow, m, kh, kw); offset k of every window -> (C, kh, kw, poh, pow, m)
                b["cols"][k, :K].reshape(C, c.kh, c.kw, poh, pow_, m),
                win[:, i1::pkh, i2::pkw].transpose(0, 4, 5, 1, 2, 3),
            )
            for k, (i1, i2) in enumerate(self._offsets())
        ]
        self.bufs[m] = b
        return b

    def _offsets(self) -> list[tuple[int, int]]:
        return [(i1, i2) for i1 in range(self.pool[0]) for i2 in range(self.pool[1])]

    def forward(self, A: np.ndarray) -> np.ndarray:
        c, b = self.conv, self._buffers(A)
        _, H, W, _ = A.shape
        Xp, cols = b["Xp"], b["cols"]
        K, O = cols.shape[1] - 1, c.out_channels
        Xp[:, c.ph : c.ph + H, c.pw : c.pw + W, :] = A
        Wb = b["Wb"]
        Wb[:, :K], Wb[:, K:] = c.W.reshape(O, K), c.b
        Pmax = b["Pmax"].reshape(O, -1)
        best, upd, Zk, step = b["best"], b["upd"], b["Zk"], b["step"]
        for k, (columns, window) in enumerate(b["copies"]):
            np.copyto(columns, window)  # im2col of offset k's positions
            if k == 0:
                np.matmul(Wb, cols[0], out=Pmax)  # (O, K+1) @ (K+1, P)
                best.fill(0)
                continue
            np.matmul(Wb, cols[k], out=Zk)
            np.greater(Zk, Pmax, out=upd)  # strictly: an earlier offset keeps a tie
            # best = k where upd else best. Every earlier winner is < k, so that is
            # max(best, k * upd): two int8 passes (np.copyto with where= or np.where on a
            # mask took ~25x longer here)
            np.multiply(upd, np.int8(k), out=step)
            np.maximum(best, step, out=best)
            np.maximum(Pmax, Zk, out=Pmax)
        if not self.relu:
            return b["Pmax"]
        np.greater(Pmax, 0, out=b["pos"])
        return np.multiply(b["Pmax"], b["pos"].reshape(b["Pmax"].shape), out=b["out"])

    def backward(self, G: np.ndarray, need_input_grad: bool) -> np.ndarray | None:
        """G = dC/d(stage output) (O, poh, pow, m) -> stores dC_dW, dC_db; returns dC/dA_prev."""
        c = self.conv
        b = self.bufs[G.shape[-1]]
        cols, best = b["cols"], b["best"]
        K, O = cols.shape[1] - 1, c.out_channels
        if "Gk" not in b:  # the backward's buffers, at the first backward (not for predictions)
            b["Gk"], b["mask"] = np.empty_like(b["Zk"]), np.empty_like(b["upd"])
        Gp = G.reshape(O, -1) if G.flags.c_contiguous else np.ascontiguousarray(G).reshape(O, -1)
        if self.relu:
            Gp = Gp * b["pos"]  # dC/dP = dC/dA [P > 0]
        Gk, mask = b["Gk"], b["mask"]
        dWb = np.zeros((O, K + 1), Gp.dtype)
        poh, pow_ = b["pooled"]
        pkh, pkw = self.pool
        m = G.shape[-1]
        dZ = self._full_dZ(b, O, m) if need_input_grad else None
        for k, (i1, i2) in enumerate(self._offsets()):
            np.equal(best, k, out=mask)
            np.multiply(Gp, mask, out=Gk)  # dC/dZ at offset k: nonzero at the winners only
            # the offsets' contributions to [dC_dW | dC_db] ADD
            weight_gradient(Gk, cols[k], dWb)
            if dZ is not None:  # dC/dZ in the conv's own layout: offset k's positions
                dZ[:, i1::pkh, i2::pkw, :] = Gk.reshape(O, poh, pow_, m)
        c.dC_dW = np.ascontiguousarray(dWb[:, :K]).reshape(c.W.shape)
        c.dC_db = np.ascontiguousarray(dWb[:, K:])  # (O, 1)
        if dZ is None:
            return None
        return self._input_gradient(b, dZ)

    def _full_dZ(self, b: dict[str, Any], O: int, m: int) -> np.ndarray:
        """dC/dZ : (O, oh, ow, m) over the positions the pool reads, every one of them written
        by exactly one offset (so it needs no zeroing between batches)."""
        if "dZ" not in b:
            poh, pow_ = b["pooled"]
            oh, ow = poh * self.pool[0], pow_ * self.pool[1]
            dt, K = b["Zk"].dtype, b["cols"].shape[1] - 1
            b["dZ"] = np.zeros((O, oh, ow, m), dt)
            b["dcols"], b["dXp"] = np.zeros((K, oh * ow * m), dt), np.zeros_like(b["Xp"])
            b["col2im"] = col2im_pairs(b["dXp"], b["dcols"], self.conv, oh, ow)
        return b["dZ"]

    def _input_gradient(self, b: dict[str, Any], dZ: np.ndarray) -> np.ndarray:
        """dC/dA_prev from dC/dZ : (O, oh, ow, m) in ONE product and kh*kw contiguous adds
        (:func:`input_gradient`; offset by offset it took kh*kw*pkh*pkw adds with the pool's
        stride: conv 16 -> 32 at m = 32, 1.1 ms instead of 1.7)."""
        C, H, W = b["in_shape"]
        c = self.conv
        dXp = input_gradient(c, dZ.reshape(dZ.shape[0], -1), b["dcols"], b["dXp"], b["col2im"])
        return dXp[:, c.ph : c.ph + H, c.pw : c.pw + W, :]


def weight_gradient(dZ2: np.ndarray, cols: np.ndarray, out: np.ndarray) -> np.ndarray:
    """out += dZ2 @ cols.T : (O, P) @ (P, K+1) -> (O, K+1), [dC_dW | dC_db] of a conv.

    Two measured rules of OpenBLAS (1 thread, this machine):

    * the larger of O and K+1 as the result's rows runs the long sum over P faster
      (conv 16 -> 32: 0.79 vs 1.13 ms);
    * a small result over a long sum runs ~3x faster as several products of at most
      :data:`chainrule.fast.blas.SMALL_PRODUCT` multiply-adds each, added: the first conv of the MNIST CNN,
      (16, 6272) @ (6272, 10), takes 31 us in two halves instead of 89 us in one. Where the
      pieces would be shorter than 1,024 terms (larger results: conv 16 -> 32's is (32, 145))
      the calls cost more than they save, and the product stays whole.
    """
    O, P = dZ2.shape
    step = small_product_step(P, O * cols.shape[0], minimum=1024)
    for s in range(0, P, step):
        G, X = dZ2[:, s : s + step], cols[:, s : s + step]
        out += (X @ G.T).T if X.shape[0] > O else G @ X.T
    return out


def input_gradient(
    conv: Any,
    dZ2: np.ndarray,
    dcols: np.ndarray,
    dXp: np.ndarray,
    pairs: list[tuple[np.ndarray, np.ndarray]],
) -> np.ndarray:
    """dC/dXp (C, Hp, Wp, m) = col2im(W2.T @ dZ2), into the buffers ``dcols`` and ``dXp``.

    The reference's product, dC/dcols = W2.T @ dZ2 : (K, O) @ (O, oh*ow*m) with K = C*kh*kw,
    with the rows of W2.T taken in (i1, i2, c) order instead of (c, i1, i2): the block of
    kernel position (i1, i2) is then C contiguous rows of dcols, and its add back onto the
    input pixels reads memory in order (measured the same to 7% faster than strided blocks).
    """
    O, C = dZ2.shape[0], dXp.shape[0]
    W4 = conv.W.reshape(O, C, conv.kh, conv.kw)  # a Conv1D's W is (O, C, kw): kh = 1
    W_kc = np.ascontiguousarray(W4.transpose(2, 3, 1, 0)).reshape(-1, O)  # (kh*kw*C, O)
    np.matmul(W_kc, dZ2, out=dcols)
    dXp.fill(0)
    for target, block in pairs:  # every patch adds its gradient back where it was read
        target += block
    return dXp


def col2im_pairs(
    dXp: np.ndarray, dcols: np.ndarray, conv: Any, oh: int, ow: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """col2im as kh*kw in-place adds ``target += block``, the pairs of views made once for two
    buffers that keep their addresses: block (i1, i2) of dC/dcols : (kh*kw*C, oh*ow*m), rows
    in (i1, i2, c) order (:func:`input_gradient`), shaped (C, oh, ow, m), lands on the padded
    input pixels dXp[:, i1 + sh*y, i2 + sw*x, :] it was read from
    (:func:`chainrule.nn.im2col.col2im` is the reference)."""
    C, m = dXp.shape[0], dXp.shape[-1]
    blocks = dcols.reshape(conv.kh, conv.kw, C, oh, ow, m)
    pairs = []
    for i1 in range(conv.kh):
        rows = slice(i1, i1 + conv.sh * (oh - 1) + 1, conv.sh)
        for i2 in range(conv.kw):
            cols = slice(i2, i2 + conv.sw * (ow - 1) + 1, conv.sw)
            pairs.append((dXp[:, rows, cols, :], blocks[i1, i2]))
    return pairs
