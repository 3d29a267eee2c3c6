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
from chainrule.fast.blas import GemmUpdate, direct_blas_available, gemm_update
from chainrule.fast.conv import ConvPlan, why_not_conv_plan
from chainrule.fast.support import mlp_blocks

__all__ = ["CONV_CHUNK", "forward"]

#: examples per chunk in a CNN's prediction (see the module docstring)
CONV_CHUNK = 32


def forward(
    net: Any, A0: np.ndarray, batch_size: int = 4096, check_finite: bool = False
) -> np.ndarray | None:
    """A[L] : (n[L], m) from A[0] : (n[0], m), ``batch_size`` columns at a time; a fresh array.

    ``check_finite``: A0 is unchecked, and a NaN or inf in it raises the ValueError of
    :func:`chainrule.validation.check_finite` (naming the first one) before anything is
    returned. The MLP plan reads that off its first product instead of a pass over X: with
    Z[1] = W[1] @ A[0] + b[1], a NaN or inf in column j of A[0] makes every Z[1][i, j] NaN or
    inf (inf * w = +-inf, inf * 0 = NaN, inf - inf = NaN), so the column sums 1 @ Z[1] are
    finite exactly when X is, unless Z itself overflows or a weight is NaN; only then is X
    scanned, and a finite X goes on as the reference would. On the 784-256-128-10 MLP at B =
    1024 that check costs a 1 MB pass in cache instead of 3 MB from memory (~3% of the call).
    Other networks, and a BLAS other than NumPy's OpenBLAS, scan X first.
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
    m = A0.shape[1]
    dtype = blocks[0][0].W.dtype
    out = np.empty((blocks[-1][0].n_out, m), dtype=dtype)
    cache = _BUFFERS.setdefault(net, _NetBuffers())
    # the net's kept buffers, unless another thread is predicting with them right now
    mine = cache.lock.acquire(blocking=False)
    try:
        for s in range(0, m, batch_size):
            A = A0[:, s : s + batch_size]  # (n[0], B)
            B = A.shape[1]
            bufs = cache.get(blocks, B, dtype) if mine else _BufferSet(blocks, B, dtype)
            for l, (dense, act) in enumerate(blocks):
                Z = bufs.affine(l, dense, A)  # W @ A + b : (n[l], B)
                if l == 0 and in_product and not bufs.columns_finite(Z):
                    validation.check_finite(from_engine(A0))  # raises, naming X's first NaN
                    in_product = False  # X is finite: Z overflowed, as the reference's would
                if act == "relu":  # one pass, no mask: prediction has no backward to feed
                    # maximum against an array of zeros: NumPy's loop for a scalar 0 took 3x
                    # longer (97 vs 31 us on a (256, 1024) float32 Z)
                    A = np.maximum(Z, bufs.zeros_like(Z), out=Z)
                else:
                    A = activate_(act, Z, None)  # in place: A[l] is Z's buffer
            out[:, s : s + B] = A
    finally:
        if mine:
            cache.lock.release()
    return out


class _BufferSet:
    """For one batch size B: every layer's Z (n[l], B), zeros as large as the largest Z (ReLU's
    other operand), ones for the column sums of the NaN/inf check and, once prepared, the
    products Z[l] += W[l] @ A[l-1] of layers 2..L.

    :meth:`affine` computes Z = W @ A + b by copying b into Z and letting the GEMM add the
    product to it (beta = 1, :mod:`chainrule.fast.blas`): one write of Z instead of the
    product's write plus a read-add-write pass for the bias. On the 784-256-128-10 MLP at
    B = 1024 the bias adds cost ~4% of the three products, the copies ~1%. A prepared product
    (:class:`~chainrule.fast.blas.GemmUpdate`) costs ~2 us of Python instead of ~11 for
    :func:`~chainrule.fast.blas.gemm_update`'s checks; layer 1's input is the caller's array,
    new at every call, so it goes through those checks. Without the direct BLAS: the product,
    then the bias.
    """

    def __init__(self, blocks: list[tuple[Any, str]], B: int, dtype: np.dtype) -> None:
        sizes = [dense.n_out for dense, _ in blocks]
        self.Z = [np.zeros((n, B), dtype=dtype) for n in sizes]
        self.zeros = np.zeros(max(sizes) * B, dtype)
        self.ones = np.ones(max(sizes), dtype)
        self.products: list[GemmUpdate | None] = [None] * len(blocks)

    def zeros_like(self, Z: np.ndarray) -> np.ndarray:
        return self.zeros[: Z.size].reshape(Z.shape)

    def columns_finite(self, Z: np.ndarray) -> bool:
        """True when every column sum 1 @ Z : (B,) is finite (one BLAS pass over Z)."""
        with np.errstate(over="ignore", invalid="ignore"):
            sums = self.ones[: Z.shape[0]] @ Z  # (n,) @ (n, B)
        return bool(np.isfinite(sums).all())

    def affine(self, l: int, dense: Any, A: np.ndarray) -> np.ndarray:
        """Z[l] = W @ A + b : (n[l], n[l-1]) @ (n[l-1], B) + (n[l], 1), into Z[l]'s buffer."""
        Z = self.Z[l]
        # OpenBLAS's kernels can leave a spurious FE_INVALID flag on finite operands
        # (numpy/numpy#24067, OpenMathLib/OpenBLAS#1924; seen here once in ~10 runs of the
        # suite). A product of finite arrays turns NaN only through an inf, which the overflow
        # check still reports, so ignoring "invalid" here hides nothing.
        with np.errstate(invalid="ignore"):
            if not direct_blas_available():
                np.matmul(dense.W, A, out=Z)
                Z += dense.b
                return Z
            np.copyto(Z, dense.b)  # (n[l], 1) broadcast over B
            if l == 0:
                return gemm_update(Z, dense.W, A, 1.0)
            product = self.products[l]
            if product is None or not product.matches(Z, dense.W, A):  # e.g. W replaced
                product = self.products[l] = GemmUpdate(Z, dense.W, A, 1.0)
            return product.run()


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
