"""Prediction through a supported network, in buffers kept between calls.

``forward(net, A0, batch_size)`` returns A[L] for all m columns, the same numbers as the
reference layers' forward in prediction mode, or None when the network is not one the fast
engine supports (see :mod:`chainrule.fast.support`), and the caller runs the reference layers.
CNNs the training plan takes run through :meth:`chainrule.fast.conv.ConvPlan.predict`, 32
examples at a time: each chunk's columns and feature maps stay in cache (measured on 1,024
MNIST images: 38 ms in chunks of 32, 52 ms of 128, 68 ms of 1,024; the reference 300 ms).
"""

from __future__ import annotations

import threading
import weakref
from typing import Any, NamedTuple

import numpy as np

from chainrule import validation
from chainrule.data.layout import from_engine
from chainrule.fast.activations import activate_
from chainrule.fast.blas import direct_blas_available
from chainrule.fast.conv import ConvPlan, why_not_conv_plan
from chainrule.fast.support import mlp_blocks

__all__ = ["CONV_CHUNK", "forward"]

#: examples per chunk in a CNN's prediction (see the module docstring)
CONV_CHUNK = 32


def forward(
    net: Any, A0: np.ndarray, batch_size: int = 4096, check_finite: bool = False
) -> np.ndarray | None:
    """A[L] : (n[L], m) from A[0] : (n[0], m), ``batch_size`` columns at a time; a fresh array.

    The network is put in prediction mode first, as ``net.eval()`` does. For the MLP plan that
    is ``training = False`` on the net and its layers directly: a stack the plan takes holds
    only leaves, so they are its whole tree (the generic walk cost ~1% of a 1,024-example
    prediction). When it returns None (a network the fast engine does not take), the caller
    sets the mode and runs the reference layers.

    **Hidden layers are computed examples-first in memory.** The math is the notebook's,
    Z[l] = W[l] @ A[l-1] : (n[l], B), but each hidden Z[l] lives in a (B, n[l]) buffer Z.T,
    filled by the same product read the other way round: Z.T = A.T @ W.T. A[0] = X.T arrives
    as X's rows, so A[0].T is X itself, contiguous, and BLAS reads every operand without a
    copy either way; OpenBLAS is simply faster this way round on these shapes (784-256-128-10
    at B = 1024, interleaved: the three products in 0.82-0.94 of the time of W @ A into
    (n, B) buffers). The output layer's Z[L] stays (n[L], B) for its softmax over axis 0:
    each batch's last product writes its B columns of the fresh result, and the output's
    bias and activation then run once, over all m columns.

    **The biases of ReLU layers ride in the ReLU.** With Z'[l] = W[l] @ A[l-1] (no bias) and
    e[l] the bias, A[l] = max(Z'[l] + e[l], 0) = max(Z'[l], -e[l]) + e[l]. The plan keeps
    A'[l] = A[l] - e[l] = max(Z'[l], -e[l]): one pass, in which -e[l] is a row of n[l]
    numbers broadcast over the B rows of Z.T (it stays in L1: against an (n, B) array the pass
    also reads 1 MB more; against a scalar 0, np.maximum is 3.7x slower). The shift goes on
    into the next layer: W[l+1] @ A[l] + b[l+1] = W[l+1] @ A'[l] + (b[l+1] + W[l+1] @ e[l]), so
    its effective bias is e[l+1] = b[l+1] + W[l+1] @ e[l] (a matrix-vector product per call).
    The products are plain GEMMs, and no pass over any hidden Z adds a bias. The last layer
    adds its e[L] and applies its activation. The results are the reference's up to rounding
    (tests/test_fast_path.py, float64 1e-13).

    **Few Python steps between the products.** After each GEMM the next steps run from cold
    caches (the product streamed X and W through them): the same NumPy call costs 5-15 us
    there instead of 1-2. So the plan enters ONE errstate for all its products, keeps no
    per-call copies to compare, and leaves the output's bias and activation to the end.

    ``check_finite``: A0 is unchecked, and a NaN or inf in it raises the ValueError of
    :func:`chainrule.validation.check_finite` (naming the first one) before anything is
    returned. The MLP plan reads that off its first product instead of a pass over X: a NaN or
    inf in column j of A[0] makes every Z'[1][i, j] NaN or inf (inf * w = +-inf, inf * 0 =
    NaN, inf - inf = NaN), so ONE row, Z'[1][0, :] : (B,), is finite exactly when X is, unless
    the product overflows or a weight is NaN; only then is X scanned, and a finite X goes on
    as the reference would. The check reads B numbers instead of X's 3 MB. Other networks,
    and a BLAS other than NumPy's OpenBLAS (the rule needs a BLAS that multiplies every
    term), scan X first.
    """
    cache = _BUFFERS.get(id(net))
    if cache is None:
        cache = _BUFFERS[id(net)] = _NetBuffers()
        # the entry leaves when the net is collected, before its id can be given again
        weakref.finalize(net, _BUFFERS.pop, id(net), None)
    plan = cache.current(net)
    blocks, shifted = plan.blocks, plan.shifted
    if isinstance(blocks, str) or A0.ndim != 2:
        if A0.ndim >= 3 and why_not_conv_plan(net) is None:
            net.eval()
            if check_finite:
                validation.check_finite(from_engine(A0))
            return ConvPlan(net, workers=1).predict(A0, chunk=CONV_CHUNK)
        return None  # the caller runs the reference layers (and its own check)
    # prediction mode, as net.eval() sets it: a flat stack's tree is the net and its layers
    net.training = False
    for layer in plan.layers:
        layer.training = False
    in_product = check_finite and direct_blas_available()
    if check_finite and not in_product:
        validation.check_finite(from_engine(A0))
    m = A0.shape[1]
    last = len(blocks) - 1
    dtype = blocks[0][0].W.dtype
    out = np.empty((blocks[last][0].n_out, m), dtype=dtype)  # Z[L], then A[L] in place
    # the net's kept buffers, unless another thread is predicting with them right now
    mine = cache.lock.acquire(blocking=False)
    try:
        # OpenBLAS's kernels can leave a spurious FE_INVALID flag on finite operands
        # (numpy/numpy#24067, OpenMathLib/OpenBLAS#1924; seen here once in ~10 runs of the
        # suite). Products of finite arrays turn NaN only through an inf, which the overflow
        # check still reports, and the element-wise passes in here (max, +, tanh) only carry
        # a NaN along, never make one, so ignoring "invalid" hides nothing. One errstate for
        # all the products: after a GEMM even Python's own code runs from cold caches.
        with np.errstate(invalid="ignore"):
            biases = _effective_biases(blocks, shifted)
            # -e[l].T : (n[l],), the ReLU's operand, a row broadcast over the B rows of Z.T
            minus = [-e[:, 0] if shifted[l] else None for l, e in enumerate(biases)]
            X = A0.T  # (m, n[0]): the examples' rows
            for s in range(0, m, batch_size):
                At = X[s : s + batch_size]  # A'[0].T = A[0].T : (B, n[0]), no shift
                B = At.shape[0]
                hidden = cache.get(plan, B, dtype) if mine else _hidden_buffers(blocks, B, dtype)
                for l in range(last):
                    dense, act = blocks[l]
                    Zt = hidden[l]  # (B, n[l]): Z.T, examples first in memory
                    np.matmul(At, dense.W.T, out=Zt)  # Z.T = A.T @ W.T : (B, n[l])
                    if l == 0 and in_product and not np.isfinite(Zt[:, 0]).all():
                        validation.check_finite(X)  # raises, naming X's first NaN or inf
                        in_product = False  # X is finite: Z overflowed, as the reference's
                    if shifted[l]:  # A'.T = max(Z'.T, -e.T): the bias rides in the ReLU
                        At = np.maximum(Zt, minus[l], out=Zt)
                    else:
                        Zt += biases[l].T  # (B, n[l]) + (1, n[l]): Z = Z' + e
                        At = activate_(act, Zt, None)  # in place: A[l].T is Z.T's buffer
                # the last product writes its columns of the fresh result: Z'[L] = W @ A'
                Z = out if B == m else out[:, s : s + B]  # (n[L], B)
                np.matmul(blocks[last][0].W, At.T, out=Z)
    finally:
        if mine:
            cache.lock.release()
    out += biases[last]  # (n[L], m) + (n[L], 1): Z[L] = Z'[L] + e[L], every batch at once
    return activate_(blocks[last][1], out, None)  # A[L] = g(Z[L]), in place


def _shifted(blocks: list[tuple[Any, str]]) -> list[bool]:
    """For each layer, True when it is a hidden ReLU layer, whose output the plan keeps as
    A' = A - e (see forward)."""
    return [act == "relu" and l < len(blocks) - 1 for l, (_, act) in enumerate(blocks)]


def _effective_biases(blocks: list[tuple[Any, str]], shifted: list[bool]) -> list[np.ndarray]:
    """e[l] : (n[l], 1) for every layer: b[l], plus W[l] @ e[l-1] after a shifted layer.
    Called inside forward's errstate (these are products too)."""
    biases: list[np.ndarray] = []
    for l, (dense, _) in enumerate(blocks):
        e = dense.b
        if l > 0 and shifted[l - 1]:
            e = e + dense.W @ biases[-1]  # (n[l], 1) + (n[l], n[l-1]) @ (n[l-1], 1)
        biases.append(e)
    return biases


def _sizes(blocks: list[tuple[Any, str]]) -> tuple[int, ...]:
    """n[1], ..., n[L] of the blocks' Dense layers."""
    return tuple(dense.n_out for dense, _ in blocks)


def _hidden_buffers(blocks: list[tuple[Any, str]], B: int, dtype: np.dtype) -> list[np.ndarray]:
    """For one batch size B, each hidden layer's Z.T: a (B, n[l]) buffer. The output layer
    writes straight into forward's fresh result."""
    return [np.zeros((B, dense.n_out), dtype=dtype) for dense, _ in blocks[:-1]]


class _Plan(NamedTuple):
    """What forward needs of one layer structure, made once: ``blocks`` are
    :func:`chainrule.fast.support.mlp_blocks` of the net (or the reason it is not taken)."""

    key: tuple[Any, ...]  # the layers' ids, the dtype and the input shape it was made for
    blocks: list[tuple[Any, str]] | str
    shifted: list[bool]  # each layer's _shifted flag
    layers: tuple[Any, ...]  # the net's layers, its whole tree (held: their ids stay taken)
    sizes: tuple[int, ...]  # n[1], ..., n[L]


class _NetBuffers:
    """One network's plan and hidden buffers (:func:`_hidden_buffers`) for its two latest
    batch sizes, kept between calls: predict_proba on a stream of batches would otherwise
    allocate (and page-fault) every Z of every call. A lock keeps two threads from sharing
    the buffers."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sets: dict[tuple[Any, ...], list[np.ndarray]] = {}
        self.plan = _Plan((), "", [], (), ())

    def current(self, net: Any) -> _Plan:
        """The plan for ``net``'s layers, made again when they are other objects, or the
        dtype or input shape changed."""
        plan = self.plan
        key = (tuple(map(id, net.layers)), net.dtype, net.input_shape)
        if key != plan.key:
            blocks = mlp_blocks(net)
            taken = not isinstance(blocks, str)
            shifted = _shifted(blocks) if taken else []
            sizes = _sizes(blocks) if taken else ()
            plan = self.plan = _Plan(key, blocks, shifted, tuple(net.layers), sizes)
        return plan

    def get(self, plan: _Plan, B: int, dtype: np.dtype) -> list[np.ndarray]:
        """The hidden buffers of the plan's layers for batches of B, kept by (B, dtype, the
        layers' sizes)."""
        key = (B, dtype, plan.sizes)
        bufs = self.sets.get(key)
        if bufs is None:
            if len(self.sets) >= 2:  # e.g. full batches and a stream's last, shorter one
                self.sets.pop(next(iter(self.sets)))
            bufs = self.sets[key] = _hidden_buffers(plan.blocks, B, dtype)
        return bufs


#: each network's buffers, by id(net); an entry leaves when its network is collected (a plain
#: dict: a WeakKeyDictionary's lookup runs Python code at every call)
_BUFFERS: dict[int, _NetBuffers] = {}
