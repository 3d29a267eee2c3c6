"""C += alpha * A @ B in ONE pass: the GEMM's own accumulate, from the BLAS NumPy ships.

Every BLAS matrix product is really ``C = alpha * A @ B + beta * C``. ``np.matmul`` always asks
for beta = 0 (overwrite C), so an SGD step on a Dense layer costs two passes over W's size:

    dC_dW = dC_dZ @ A_prev.T          # GEMM writes an (n[l], n[l-1]) gradient
    W -= dC_dW                        # then reads it back, reads W and writes W again

With beta = 1 and alpha = -1 the product is added into W as the GEMM's micro-kernel stores its
result, so the gradient is never written and W is touched once:

    W = -1 * dC_dZ @ A_prev.T + 1 * W   (``gemm_update(W, dC_dZ, A_prev.T, -1.0)``)

The fast engine uses this for plain SGD on Dense layers: see ``MLPPlan._backward`` in
:mod:`chainrule.fast.plan` and docs/course/04-vectorization.md section 4.6. On the 784-256-128-10 MNIST MLP it takes ~9% off an epoch. :class:`GemmUpdate`
prepares the call once for arrays that are reused batch after batch.

NumPy offers no beta, so this module calls ``cblas_sgemm`` / ``cblas_dgemm`` of the OpenBLAS
library that NumPy itself loaded (the ``scipy-openblas`` build in NumPy's wheels), through
``ctypes`` from the standard library: no new dependency, and the same library and thread pool
as every ``np.matmul`` (so ``threadpoolctl`` limits apply to it too). When that library is not
found (NumPy built against MKL, Accelerate or a system BLAS), when a self-test at first use
disagrees with ``np.matmul``, when the environment variable ``CHAINRULE_NO_DIRECT_BLAS`` is set,
or when the arrays do not qualify (dtype, layout, overlap), :func:`gemm_update` falls back to
``np.matmul`` plus an in-place add: the same numbers, one extra pass.

Why not ``scipy.linalg.blas.sgemm``, the public API that exposes beta? SciPy's wheels bundle a
SECOND OpenBLAS with its own thread pool. Measured here (2 cores), one sgemm call interleaved
with NumPy's matmul costs ~20x more than either alone: each pool's threads spin while the other
works: an epoch of the 6,000-image benchmark took 1 s instead of 0.044 s (--blas-ab). The
route stays selectable (``CHAINRULE_BLAS=scipy``, :class:`_ScipyGemm`) and tested equal, so a
machine whose SciPy shares NumPy's BLAS can use it; docs/performance.md has the numbers.
"""

from __future__ import annotations

import ctypes
import functools
import os
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "SMALL_PRODUCT",
    "small_product_step",
    "gemm_update",
    "GemmUpdate",
    "blas_threads",
    "direct_blas_available",
    "direct_blas_description",
    "set_blas_threads",
]

_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112
# (sgemm symbol, dgemm symbol, C integer type): scipy-openblas names its ILP64 build's symbols
# with a "64_" suffix (64-bit integers) and its LP64 build's without (32-bit integers).
_SYMBOLS = (
    ("scipy_cblas_sgemm64_", "scipy_cblas_dgemm64_", ctypes.c_int64),
    ("scipy_cblas_sgemm", "scipy_cblas_dgemm", ctypes.c_int32),
)


#: the most multiply-adds of one product that NumPy's OpenBLAS (0.3.30 here) runs on its fast
#: path for small matrices: (16, 10) results ran at ~4 ns per term of the sum up to 6,000
#: terms (0.96e6 multiply-adds) and at ~14 ns from 6,272 (1.0e6); (32, 10), (16, 28) and
#: (25, 6) results cross over at the same product size. Kept a little under it.
SMALL_PRODUCT = 900_000


def small_product_step(length: int, work_per_unit: int, minimum: int) -> int:
    """The step that cuts ``length`` units (terms of a sum, columns of a result) into the
    fewest equal pieces of at most :data:`SMALL_PRODUCT` multiply-adds each, when every unit
    costs ``work_per_unit``; ``length`` itself (one piece) when one product is small already or
    when the pieces would be shorter than ``minimum`` units (their calls would cost more than
    the fast path saves). Used by :func:`chainrule.fast.conv_pool.weight_gradient`."""
    longest = SMALL_PRODUCT // max(work_per_unit, 1)
    if longest >= length or longest < minimum:
        return length
    pieces = -(-length // longest)
    return -(-length // pieces)


class _DirectGemm:
    """ctypes bindings of NumPy's own cblas_?gemm (``funcs`` stays empty when unavailable)."""

    def __init__(self) -> None:
        self.funcs: dict[np.dtype, Any] = {}
        #: (get_num_threads, set_num_threads) of the same library, or None
        self.threads: tuple[Any, Any] | None = None
        self.description = "not loaded"
        self.loaded = False

    def load(self) -> None:
        self.loaded = True
        if os.environ.get("CHAINRULE_NO_DIRECT_BLAS"):
            self.description = "off (CHAINRULE_NO_DIRECT_BLAS is set)"
            return
        for path in _candidate_libraries():
            try:
                lib = ctypes.CDLL(str(path))
            except OSError:
                continue
            for s_name, d_name, int_t in _SYMBOLS:
                s_fn, d_fn = getattr(lib, s_name, None), getattr(lib, d_name, None)
                if s_fn is None or d_fn is None:
                    continue
                for fn, real in ((s_fn, ctypes.c_float), (d_fn, ctypes.c_double)):
                    ptr = ctypes.c_void_p
                    fn.argtypes = [ctypes.c_int] * 3 + [int_t] * 3 + [real, ptr, int_t]
                    fn.argtypes += [ptr, int_t, real, ptr, int_t]
                    fn.restype = None
                self.funcs = {np.dtype(np.float32): s_fn, np.dtype(np.float64): d_fn}
                self.threads = _thread_controls(lib)
                if _self_test(self):
                    self.description = f"{s_name}/{d_name} from {path.name}"
                    return
                self.funcs = {}
                self.description = f"off ({path.name} failed the self-test)"
                return
        self.description = "off (no scipy-openblas library next to NumPy)"


def _thread_controls(lib: Any) -> tuple[Any, Any] | None:
    """openblas_get/set_num_threads of scipy-openblas (ILP64 or LP64 names), or None."""
    for suffix in ("64_", ""):
        get = getattr(lib, "scipy_openblas_get_num_threads" + suffix, None)
        put = getattr(lib, "scipy_openblas_set_num_threads" + suffix, None)
        if get is not None and put is not None:
            get.argtypes, get.restype = [], ctypes.c_int
            put.argtypes, put.restype = [ctypes.c_int], None
            return get, put
    return None


def _candidate_libraries() -> list[Path]:
    """OpenBLAS libraries bundled with NumPy's wheels (numpy.libs/ or numpy/.dylibs/)."""
    pkg = Path(np.__file__).resolve().parent
    found: list[Path] = []
    for folder in (pkg.parent / "numpy.libs", pkg / ".dylibs"):
        if folder.is_dir():
            found += sorted(p for p in folder.iterdir() if "openblas" in p.name.lower())
    return found


class _ScipyGemm(_DirectGemm):
    """scipy.linalg.blas.sgemm/dgemm (scipy's own OpenBLAS), the public API for beta = 1."""

    def load(self) -> None:
        self.loaded = True
        if os.environ.get("CHAINRULE_NO_DIRECT_BLAS"):
            self.description = "off (CHAINRULE_NO_DIRECT_BLAS is set)"
            return
        try:
            from scipy.linalg import blas
        except ImportError:
            self.description = "off (scipy is not installed)"
            return
        self.funcs = {np.dtype(np.float32): blas.sgemm, np.dtype(np.float64): blas.dgemm}
        if _self_test(self):
            self.description = "sgemm/dgemm from scipy.linalg.blas"
            return
        self.funcs = {}
        self.description = "off (scipy.linalg.blas failed the self-test)"


def _choose_backend() -> _DirectGemm:
    """``CHAINRULE_BLAS=scipy`` or ``ctypes`` picks the route; the default is NumPy's own BLAS
    through ctypes (docs/performance.md, "Which BLAS call")."""
    return _ScipyGemm() if os.environ.get("CHAINRULE_BLAS") == "scipy" else _DirectGemm()


_GEMM = _choose_backend()


def _direct(dtype: np.dtype) -> Any:
    if not _GEMM.loaded:
        _GEMM.load()
    return _GEMM.funcs.get(dtype)


def blas_threads() -> int | None:
    """How many threads NumPy's OpenBLAS uses for one product now (threadpoolctl's limits
    included), or None when chainrule cannot see NumPy's BLAS (then it never changes it)."""
    _direct(np.dtype(np.float32))
    if _GEMM.threads is None or not _GEMM.funcs:
        return None
    return int(_GEMM.threads[0]())


def set_blas_threads(n: int) -> None:
    """Set NumPy's OpenBLAS thread count (process-wide, as threadpoolctl does); a no-op when
    :func:`blas_threads` is None."""
    _direct(np.dtype(np.float32))
    if _GEMM.threads is not None and _GEMM.funcs:
        _GEMM.threads[1](int(n))


def direct_blas_available() -> bool:
    """True when :func:`gemm_update` can use NumPy's BLAS directly (one pass)."""
    return _direct(np.dtype(np.float32)) is not None


def direct_blas_description() -> str:
    """Which library and symbols :func:`gemm_update` uses, or why it falls back."""
    _direct(np.dtype(np.float32))
    return _GEMM.description


def _operand(X: np.ndarray) -> tuple[int, int] | None:
    """(transpose flag, leading dimension) of a 2-D operand for row-major CBLAS, or None."""
    if X.flags.c_contiguous:
        return _NO_TRANS, max(X.shape[1], 1)
    if X.flags.f_contiguous:  # an F-ordered (r, c) array is the row-major (c, r) array, transposed
        return _TRANS, max(X.shape[0], 1)
    return None


def _direct_call(
    C: np.ndarray, A: np.ndarray, B: np.ndarray, alpha: float, gemm: _DirectGemm | None = None
) -> Any:
    """A prepared call (no arguments) computing C += alpha * A @ B with beta = 1, or None
    when it does not apply (no direct BLAS, mixed dtypes, layouts BLAS cannot read, overlap)."""
    gemm = _GEMM if gemm is None else gemm  # the installed route, or one being loaded
    fn = _direct(C.dtype) if gemm is _GEMM else gemm.funcs.get(C.dtype)
    if fn is None or A.dtype != C.dtype or B.dtype != C.dtype:
        return None
    if not (C.flags.c_contiguous and C.flags.writeable) or 0 in C.shape or A.shape[1] == 0:
        return None
    a, b = _operand(A), _operand(B)
    if a is None or b is None:
        return None
    if np.may_share_memory(C, A) or np.may_share_memory(C, B):
        return None
    if isinstance(gemm, _ScipyGemm):
        return _scipy_call(fn, C, A, B, alpha)
    (M, N), K = C.shape, A.shape[1]
    args = (
        _ROW_MAJOR, a[0], b[0], M, N, K, float(alpha),
        A.ctypes.data, a[1], B.ctypes.data, b[1], 1.0, C.ctypes.data, N,
    )  # fmt: skip
    return functools.partial(fn, *args)


def _scipy_call(fn: Any, C: np.ndarray, A: np.ndarray, B: np.ndarray, alpha: float) -> Any:
    """scipy's Fortran ?gemm on the transposes: C.T (F-ordered, C's own memory) += alpha *
    B.T @ A.T, each operand passed as the F-ordered array it already is (no copy): an F-ordered
    X as is, a C-ordered X as X.T with the transpose flag."""

    def fortran(X: np.ndarray) -> tuple[np.ndarray, int]:
        return (X, 0) if X.flags.f_contiguous else (X.T, 1)

    a, trans_a = fortran(B.T)  # (N, K)
    b, trans_b = fortran(A.T)  # (K, M)
    return functools.partial(
        fn, float(alpha), a, b, beta=1.0, c=C.T, overwrite_c=1, trans_a=trans_a, trans_b=trans_b
    )


def _call_direct(
    C: np.ndarray, A: np.ndarray, B: np.ndarray, alpha: float, gemm: _DirectGemm | None = None
) -> bool:
    """C += alpha * A @ B by one BLAS call with beta = 1; False if it does not apply."""
    call = _direct_call(C, A, B, alpha, gemm)
    if call is None:
        return False
    call()
    return True


def _check_shapes(C: np.ndarray, A: np.ndarray, B: np.ndarray) -> None:
    if C.ndim != 2 or A.ndim != 2 or B.ndim != 2:
        raise ValueError(f"gemm_update needs 2-D arrays, got {C.ndim}, {A.ndim}, {B.ndim} dims")
    if A.shape[0] != C.shape[0] or B.shape[1] != C.shape[1] or A.shape[1] != B.shape[0]:
        raise ValueError(
            f"gemm_update: C {C.shape} += A {A.shape} @ B {B.shape} has mismatched shapes"
        )


class GemmUpdate:
    """``C += alpha * A @ B`` prepared once for three fixed arrays, then run once per batch.

    :func:`gemm_update` checks dtypes, layouts and overlap and looks up three data addresses on
    every call: ~10 us of Python, paid 3 times per batch by a 3-layer network. A training
    step repeats the same call on the same arrays (a layer's W, its dC_dZ buffer, its input
    buffer), so ``Dense`` prepares it once and only checks, by identity, that the arrays are
    still the same objects. An ndarray keeps its data address, shape and strides for life,
    which is what makes the stored call valid.

    A copy of the network must not reuse the addresses of the original's arrays: deep copies
    and pickles of a prepared update are None (the copy prepares its own).
    """

    __slots__ = ("C", "A", "B", "alpha", "key", "_call")

    def __init__(
        self, C: np.ndarray, A: np.ndarray, B: np.ndarray, alpha: float, key: Any = None
    ) -> None:
        _check_shapes(C, A, B)
        self.C, self.A, self.B, self.alpha = C, A, B, float(alpha)
        #: what the caller derived B from (e.g. the array whose transpose B is), for :meth:`matches`
        self.key = B if key is None else key
        self._call = _direct_call(C, A, B, alpha)

    def matches(self, C: np.ndarray, A: np.ndarray, key: Any) -> bool:
        """True when C, A and the key are the very objects this update was prepared for."""
        return self.C is C and self.A is A and self.key is key

    @property
    def direct(self) -> bool:
        """True when :meth:`run` is one BLAS call (False: the np.matmul fallback)."""
        return self._call is not None

    def run(self, scratch: np.ndarray | None = None) -> np.ndarray:
        """C += alpha * A @ B, with the arrays' current contents; returns C."""
        if self._call is not None:
            self._call()
            return self.C
        return gemm_update(self.C, self.A, self.B, self.alpha, scratch=scratch)

    def __deepcopy__(self, memo: dict[int, Any]) -> None:
        return None

    def __reduce__(self) -> tuple[Any, tuple[()]]:
        return type(None), ()


def gemm_update(
    C: np.ndarray, A: np.ndarray, B: np.ndarray, alpha: float, scratch: np.ndarray | None = None
) -> np.ndarray:
    """C += alpha * A @ B in place : (M, N) += alpha * (M, K) @ (K, N); returns C.

    One BLAS pass when :func:`direct_blas_available` and the arrays qualify (the same float
    dtype, C contiguous and writeable, A and B C- or F-contiguous, no overlap with C); otherwise
    ``np.matmul`` into ``scratch`` (or a new array) and an in-place add, the same values.
    """
    _check_shapes(C, A, B)
    if _call_direct(C, A, B, alpha):
        return C
    if scratch is None or scratch.shape != C.shape or scratch.dtype != C.dtype:
        scratch = np.empty_like(C)
    np.matmul(A, B, out=scratch)  # (M, K) @ (K, N)
    if alpha == -1.0:  # the SGD step: no scaling pass
        C -= scratch
        return C
    if alpha != 1.0:
        scratch *= scratch.dtype.type(alpha)
    C += scratch
    return C


def _self_test(gemm: _DirectGemm) -> bool:
    """Compare one direct call per dtype and layout with np.matmul; any mismatch disables it."""
    rng = np.random.default_rng(0)
    for dtype in (np.float32, np.float64):
        for a_order in "CF":
            for b_order in "CF":
                A = np.asarray(rng.standard_normal((3, 4)), dtype=dtype, order=a_order)
                B = np.asarray(rng.standard_normal((4, 5)), dtype=dtype, order=b_order)
                C = np.asarray(rng.standard_normal((3, 5)), dtype=dtype)
                expected = C - 0.5 * (A @ B)
                if not _call_direct(C, A, B, -0.5, gemm):
                    return False
                if not np.allclose(C, expected, rtol=1e-5, atol=1e-5):
                    return False
    return True
