"""Mini-batches gathered into buffers reused from batch to batch.

The reference engine takes a batch as ``X[idx]``: a fresh copy every time. The fast engine
gathers the same rows into a buffer it owns, one per batch size (the last batch may be
shorter), so nothing is allocated per batch and the first layer sees the same input array
every batch (which lets it reuse a prepared BLAS call, :class:`chainrule.fast.blas.GemmUpdate`).
"""

from __future__ import annotations

import numpy as np

from chainrule.data.layout import to_engine

__all__ = ["Gather"]


class Gather:
    """Batches (A0, Tb) of ``X`` (m, ...) and one-row-per-example targets ``T`` (m, ...).

    ``T`` holds Y.T made contiguous, (m, n[L]), or the class indices (m,) for cross-entropy:
    gathering B of its rows reads B short contiguous runs, where gathering B columns of
    Y (n[L], m) would stride through all of it.
    """

    def __init__(self, X: np.ndarray, T: np.ndarray) -> None:
        self.X, self.T = X, T
        self.buffers: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def batch(
        self, perm: np.ndarray | None, start: int, batch_size: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """A0 = to_engine(X[perm[start:start+B]]) (..., B) and T[perm[start:start+B]] (B, ...).

        Without shuffling these are views (slices). With shuffling the rows are gathered into
        this batch size's buffers: exactly the bytes a shuffle of the whole array would move,
        without a second copy of the training set. Valid until the next call.
        """
        X, T = self.X, self.T
        stop = min(start + batch_size, X.shape[0])
        if perm is None:
            return to_engine(X[start:stop]), T[start:stop]
        idx = perm[start:stop]
        B = stop - start
        bufs = self.buffers.get(B)
        if bufs is None:
            Xbuf = np.empty((B, *X.shape[1:]), dtype=X.dtype)
            Tbuf = np.empty((B, *T.shape[1:]), dtype=T.dtype)
            bufs = self.buffers[B] = (Xbuf, Tbuf, to_engine(Xbuf))
        # mode="clip" skips NumPy's defensive copy of ``out`` (the indices are valid anyway)
        np.take(X, idx, axis=0, out=bufs[0], mode="clip")  # (B, n[0]), seen as A0 : (n[0], B)
        np.take(T, idx, axis=0, out=bufs[1], mode="clip")  # (B, n[L]) or (B,)
        return bufs[2], bufs[1]
