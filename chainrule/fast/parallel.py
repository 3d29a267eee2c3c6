"""Data parallelism on the CPU: slices of one batch through copies of a network, at once.

NumPy runs every element-wise pass (a GELU, a softmax, a LayerNorm) on ONE core; only the matrix
products use the BLAS's threads. On a GPT step that leaves a second core idle for about a third
of the time, where PyTorch's eager kernels run their element-wise loops on every thread. The fast
engine closes that gap the way a multi-GPU trainer does, with no new dependency: it cuts the
batch's m examples into k slices along the LAST axis, runs each slice's forward and backward on
its own thread through its own replica of the network (the same parameter ARRAYS, separate
caches), with the BLAS at one thread per product, and adds the slices' gradients.

Why that is exact. The cost is a mean over all T*m positions, so with slice k holding m_k
examples it is C = sum_k (m_k / m) C_k, and for every parameter P

    dC/dP = sum_k (m_k / m) dC_k/dP                   (the slices' gradients ADD)

Each replica computes its slice's gradient already weighted (its output gradient is
(A - Y) / (T m_k) * (m_k / m) = (A - Y) / (T m)), so the sum is a plain addition. Every layer of a
GPT treats examples independently (embeddings, LayerNorm per position, attention within an
example, Dense per position), so the forward values are the unsliced ones exactly; only the
order of the gradient's additions differs (about one unit roundoff). Layers that mix examples
(BatchNorm) or draw random numbers (dropout > 0) are not sliced: :func:`why_not_slices`.

NumPy releases Python's GIL inside its loops and products, so the threads really run at once;
the GIL is held only for the layers' Python code between them.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path

import numpy as np

from chainrule.fast.blas import blas_threads, set_blas_threads
from chainrule.io.tree import build_layer, layer_spec
from chainrule.nn.attention import CausalSelfAttention
from chainrule.nn.dropout import Dropout
from chainrule.nn.layer import Layer

__all__ = ["MIN_SLICE_WORK", "BatchSlices", "why_not_slices"]

#: the layers whose examples do not interact (slicing the batch changes no forward value)
_PER_EXAMPLE = (
    "Sequential",
    "TransformerBlock",
    "Residual",
    "Dense",
    "Embedding",
    "PositionalEmbedding",
    "LayerNorm",
    "GELU",
    "ReLU",
    "Tanh",
    "Sigmoid",
    "Softmax",
    "Identity",
    "CausalSelfAttention",
    "Dropout",
    "Conv2D",
    "Conv1D",
    "MaxPool2D",
    "MaxPool1D",
    "AvgPool2D",
    "AvgPool1D",
    "Flatten",
)

#: the fewest multiply-adds worth a slice of their own (measured: the MNIST-1D CNN's batch of
#: 100, ~3e6, ran 1.2-1.7x slower in two slices; the MNIST CNN's batch of 64, ~8e7, faster)
MIN_SLICE_WORK = 1e7

#: one slice's work: (its layers, A0 slice, Y slice, weight w = m_k / m) -> (w * the slice's
#: cost, A[L] of the slice), every dC_dP of those layers filled with w * dC_k/dP
Run = Callable[[list[Layer], np.ndarray, np.ndarray, float], tuple[float, np.ndarray]]


def why_not_slices(layers: list[Layer]) -> str | None:
    """None when slicing the batch cannot change what these layers compute; else the reason."""
    for top in layers:
        for _, layer in top.named_layers():
            if type(layer).__name__ not in _PER_EXAMPLE:
                return f"it holds a {type(layer).__name__}, not known to treat examples apart"
            if isinstance(layer, (Dropout, CausalSelfAttention)) and _dropout(layer) > 0.0:
                return "it uses dropout (each slice would draw its own masks)"
    return None


def _dropout(layer: Layer) -> float:
    return float(getattr(layer, "p", getattr(layer, "dropout", 0.0)))


class BatchSlices:
    """Run one batch as up to ``workers`` slices at once; ``run(step, A0, Y)`` -> (cost, A[L]).

    ``layers`` are the network's own layers: slice 0 runs through them, slice k > 0 through
    replica k, built once from the layers' specs. Before every batch each replica's parameters
    are set to the network's arrays (the same memory, whatever the optimizer did to them), and
    after it every gradient ``dC_dP`` of the network is the sum over the slices.
    """

    def __init__(
        self, layers: list[Layer], workers: int | None = None, work_per_example: float = 0.0
    ) -> None:
        self.layers = list(layers)
        self.workers = workers  # None: as many as the BLAS has threads at each call ...
        #: ... but no more than one per MIN_SLICE_WORK multiply-adds of the batch (0: no limit)
        self.work_per_example = float(work_per_example)
        self.replicas: list[list[Layer]] = [self.layers]
        self._pair_cache: dict[int, list[tuple[Layer, Layer]]] = {}
        self._pool: ThreadPoolExecutor | None = None
        self._pool_size = 0

    def slices_for(self, m: int) -> int:
        """How many slices a batch of m examples gets now (1: run it whole)."""
        if self.workers is not None:
            return max(1, min(self.workers, m))
        k = min(blas_threads() or 1, m)
        if self.work_per_example > 0:  # a thread's hand-off costs ~0.1 ms: small batches run whole
            k = min(k, int(m * self.work_per_example // MIN_SLICE_WORK))
        return max(1, k)

    def replica(self, k: int) -> list[Layer]:
        while len(self.replicas) <= k:  # a new copy of the architecture (its weights replaced)
            built = [build_layer(layer_spec(la), "replica", "", {}, Path()) for la in self.layers]
            self.replicas.append(built)
        return self.replicas[k]

    def _pairs(self, k: int) -> list[tuple[Layer, Layer]]:
        """(the network's layer, replica k's layer) for every layer of the tree, in walk order."""
        if k not in self._pair_cache:
            own = [la for top in self.layers for _, la in top.named_layers()]
            copy = [la for top in self.replica(k) for _, la in top.named_layers()]
            self._pair_cache[k] = list(zip(own, copy, strict=True))
        return self._pair_cache[k]

    def _sync(self, k: int) -> None:
        """Replica k computes with the network's parameters and mode (no copies)."""
        for own, copy in self._pairs(k):
            copy.training = own.training
            for name in own.param_names + own.buffer_names:
                setattr(copy, name, getattr(own, name))

    def run(self, step: Run, A0: np.ndarray, Y: np.ndarray) -> tuple[float, np.ndarray]:
        m = A0.shape[-1]
        k = self.slices_for(m)
        if k == 1:
            return step(self.layers, A0, Y, 1.0)
        edges = [m * i // k for i in range(k + 1)]  # slice i: examples edges[i]:edges[i+1]
        for i in range(1, k):
            self._sync(i)
        pool = self._threads(k)

        def job(i: int) -> tuple[float, np.ndarray]:
            a, b = edges[i], edges[i + 1]
            return step(self.replicas[i], A0[..., a:b], Y[..., a:b], (b - a) / m)

        threads = blas_threads()
        set_blas_threads(1)  # one thread per product: the slices are the parallelism
        futures: list[Future[tuple[float, np.ndarray]]] = []
        try:
            futures = [pool.submit(job, i) for i in range(1, k)]
            results = [job(0)] + [f.result() for f in futures]
        finally:
            wait(futures)  # an interrupt still leaves no replica running
            if threads is not None:
                set_blas_threads(threads)
        cost = sum(c for c, _ in results)  # each slice's cost already carries m_k / m ...
        self._add_gradients(k)
        return float(cost), np.concatenate([A for _, A in results], axis=-1)

    def _threads(self, k: int) -> ThreadPoolExecutor:
        if self._pool is None or self._pool_size < k - 1:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
            self._pool = ThreadPoolExecutor(max_workers=k - 1, thread_name_prefix="chainrule")
            self._pool_size = k - 1
        return self._pool

    def _add_gradients(self, k: int) -> None:
        """Where the slices meet, their gradients ADD: dC/dP = sum_k (m_k / m) dC_k/dP."""
        pairs = [self._pairs(i) for i in range(1, k)]
        for j, (own, _) in enumerate(pairs[0]):
            for name in own.param_names:
                key = "dC_d" + name
                G = getattr(own, key)  # slice 0's gradient: a fresh array its backward made
                for replica_pairs in pairs:
                    G += getattr(replica_pairs[j][1], key)  # in place: no 3 MB to allocate
