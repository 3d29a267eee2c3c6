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
from typing import Any

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

    **The biases of ReLU layers ride in the ReLU.** With Z'[l] = W[l] @ A[l-1] (no bias) and
    e[l] the bias, A[l] = max(Z'[l] + e[l], 0) = max(Z'[l], -e[l]) + e[l]. The plan keeps
    A'[l] = A[l] - e[l] = max(Z'[l], -e[l]): one pass, against an array -e[l] it keeps
    (np.maximum needs an array operand anyway: against a scalar 0 it is 3.7x slower). The shift goes on
    into the next layer: W[l+1] @ A[l] + b[l+1] = W[l+1] @ A'[l] + (b[l+1] + W[l+1] @ e[l]), so
    its effective bias is e[l+1] = b[l+1] + W[l+1] @ e[l] (a matrix-vector product per call).
    The products are plain GEMMs, and no pass over any hidden Z adds a bias (copying b into Z
    before a beta = 1 GEMM, the way before, costs a write and a read of every Z). On the
    784-256-128-10 MLP at B = 1024, both ways in one process, interleaved, while the VM's
    memory was busy: predict_proba's time over the three products alone 1.152-1.185 against
    1.196-1.198. The last layer adds its e[L] and applies its activation.
    The results are the reference's up to rounding (tests/test_fast_path.py, float64 1e-13).

    ``check_finite``: A0 is unchecked, and a NaN or inf in it raises the ValueError of
    :func:`chainrule.validation.check_finite` (naming the first one) before anything is
    returned. The MLP plan reads that off its first product instead of a pass over X: a NaN or
    inf in column j of A[0] makes every Z'[1][i, j] NaN or inf (inf * w = +-inf, inf * 0 =
    NaN, inf - inf = NaN), so the column sums 1 @ Z'[1] are finite exactly when X is, unless
    the product overflows or a weight is NaN; only then is X scanned, and a finite X goes on
    as the reference would. On that MLP the check costs a 1 MB pass in cache instead of 3 MB
    from memory (~3% of the call). Other networks, and a BLAS other than NumPy's OpenBLAS (the
    rule needs a BLAS that multiplies every term), scan X first.
    """
    blocks = mlp_blocks(net)
    if isinstance(blocks, str) or A0.ndim != 2:
        if A0.ndim >= 3 and why_not_conv_plan(net) is None:
            if check_finite:
                validation.check_finite(from_engine(A0))
            return ConvPlan(net, workers=1).predict(A0, chunk=CONV_CHUNK)
        return None  # the caller runs the reference layers (and its own check)
    in_product = check_finite and direct_blas_available()
    if check_finite and not in_product:
        validation.check_finite(from_engine(A0))
    biases = _effective_biases(blocks)
    m = A0.shape[1]
    dtype = blocks[0][0].W.dtype
    out = np.empty((blocks[-1][0].n_out, m), dtype=dtype)
    cache = _BUFFERS.setdefault(net, _NetBuffers())
    # the net's kept buffers, unless another thread is predicting with them right now
    mine = cache.lock.acquire(blocking=False)
    try:
        for s in range(0, m, batch_size):
            A = A0[:, s : s + batch_size]  # (n[0], B): A'[0] = A[0], no shift
            B = A.shape[1]
            bufs = cache.get(blocks, B, dtype) if mine else _BufferSet(blocks, B, dtype)
            for l, ((dense, act), e) in enumerate(zip(blocks, biases)):
                Z = bufs.Z[l]
                # OpenBLAS's kernels can leave a spurious FE_INVALID flag on finite operands
                # (numpy/numpy#24067, OpenMathLib/OpenBLAS#1924; seen here once in ~10 runs
                # of the suite). A product of finite arrays turns NaN only through an inf,
                # which the overflow check still reports, so ignoring "invalid" hides nothing.
                with np.errstate(invalid="ignore"):
                    np.matmul(dense.W, A, out=Z)  # Z' = W @ A' : (n[l], n[l-1]) @ (n[l-1], B)
                if l == 0 and in_product and not bufs.columns_finite(Z):
                    validation.check_finite(from_engine(A0))  # raises, naming X's first NaN
                    in_product = False  # X is finite: Z overflowed, as the reference's would
                if _shifted(blocks, l):  # A' = A - e = max(Z', -e): the bias rides in ReLU
                    A = np.maximum(Z, bufs.minus(l, e), out=Z)
                else:
                    Z += e  # (n[l], 1) broadcast over B: Z = Z' + e
                    A = activate_(act, Z, None)  # in place: A[l] is Z's buffer
            out[:, s : s + B] = A
    finally:
        if mine:
            cache.lock.release()
    return out


def _shifted(blocks: list[tuple[Any, str]], l: int) -> bool:
    """True for a hidden ReLU layer, whose output the plan keeps as A' = A - e (see forward)."""
    return blocks[l][1] == "relu" and l < len(blocks) - 1


def _effective_biases(blocks: list[tuple[Any, str]]) -> list[np.ndarray]:
    """e[l] : (n[l], 1) for every layer: b[l], plus W[l] @ e[l-1] after a shifted layer."""
    biases: list[np.ndarray] = []
    for l, (dense, _) in enumerate(blocks):
        e = dense.b
        if l > 0 and _shifted(blocks, l - 1):
            with np.errstate(invalid="ignore"):  # the FE_INVALID flag above
                e = e + dense.W @ biases[-1]  # (n[l], 1) + (n[l], n[l-1]) @ (n[l-1], 1)
        biases.append(e)
    return biases


class _BufferSet:
    """For one batch size B: every layer's Z (n[l], B), ones for the column sums of the NaN/inf
    check, and for each shifted layer -e[l] as an (n[l], B) array with the e[l] it was made
    from (made again only when e[l] changes, e.g. after training)."""

    def __init__(self, blocks: list[tuple[Any, str]], B: int, dtype: np.dtype) -> None:
        sizes = [dense.n_out for dense, _ in blocks]
        self.Z = [np.zeros((n, B), dtype=dtype) for n in sizes]
        self.ones = np.ones(max(sizes), dtype)
        self.shifts: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def minus(self, l: int, e: np.ndarray) -> np.ndarray:
        """-e[l] broadcast to (n[l], B), kept while e[l] stays the same."""
        kept = self.shifts.get(l)
        if kept is None or not np.array_equal(kept[0], e):
            minus_e = np.empty_like(self.Z[l])
            np.negative(np.broadcast_to(e, minus_e.shape), out=minus_e)
            kept = self.shifts[l] = (e.copy(), minus_e)
        return kept[1]

    def columns_finite(self, Z: np.ndarray) -> bool:
        """True when every column sum 1 @ Z : (B,) is finite (one BLAS pass over Z)."""
        with np.errstate(over="ignore", invalid="ignore"):
            sums = self.ones[: Z.shape[0]] @ Z  # (n,) @ (n, B)
        return bool(np.isfinite(sums).all())


class _NetBuffers:
    """One network's :class:`_BufferSet` for its two latest batch sizes, kept between calls:
    predict_proba on a stream of batches would otherwise allocate (and page-fault) every Z
    of every call. A lock keeps two threads from sharing them."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sets: dict[tuple[Any, ...], _BufferSet] = {}

    def get(self, blocks: list[tuple[Any, str]], B: int, dtype: np.dtype) -> _BufferSet:
        sizes = tuple(dense.n_out for dense, _ in blocks)
        key = (B, np.dtype(dtype).str, sizes)
        bufs = self.sets.get(key)
        if bufs is None:
            if len(self.sets) >= 2:  # e.g. full batches and a stream's last, shorter one
                self.sets.pop(next(iter(self.sets)))
            bufs = self.sets[key] = _BufferSet(blocks, B, dtype)
        return bufs


_BUFFERS: weakref.WeakKeyDictionary[Any, _NetBuffers] = weakref.WeakKeyDictionary()
