"""The vectorization lab: the same network, the same weights, the same batch, computed three ways.

    >>> from chainrule.learn import lab as bench
    >>> result = bench.run(sizes=(8, 6, 3), m=5, loop_examples=5, repeats=1)
    >>> result.allclose
    True

1. pure-Python loops, per example, per neuron, per input (``chainrule.learn.loops``),
2. one example at a time with NumPy vectors (matrix-vector products),
3. the whole batch as matrix products (the engine itself: ``Sequential.forward``/``backward``),

for the forward pass (A[L] and the cost) AND the backward pass (every dC_dW, dC_db). It checks the
three agree (``np.allclose``) and prints each time and each speedup. Pure Python is slow (for a
784-256-128-10 MLP about a second per 10 examples), so it is timed on ``loop_examples`` of the m
examples and scaled by m / loop_examples -- the work is exactly linear in m; the table says so.
The batched pass is also timed in float32, the dtype ``fit`` trains in.
Run it as ``chainrule bench`` or ``python -m chainrule.learn.lab``.
"""

from __future__ import annotations

import argparse
import contextlib
import time
import timeit
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chainrule.data.targets import one_hot
from chainrule.learn.loops import costs as loop_costs
from chainrule.learn.loops import dense as loop_dense
from chainrule.model.builders import mlp
from chainrule.model.network import Sequential
from chainrule.nn.dense import Dense
from chainrule.validation import check_positive_int

__all__ = ["LabRow", "LabResult", "run", "main"]


@dataclass
class LabRow:
    """One timed way of doing one pass; ``seconds`` is for all m examples (scaled if needed)."""

    pass_name: str
    way: str
    seconds: float
    scaled_from: int | None = None  # examples actually timed, when scaled up to m


@dataclass
class LabResult:
    sizes: tuple[int, ...]
    m: int
    loop_examples: int
    rows: list[LabRow]
    max_abs_diff: dict[str, float] = field(default_factory=dict)
    allclose: bool = True

    def speedup(self, pass_name: str, slow: str, fast: str) -> float:
        """How many times faster way ``fast`` is than way ``slow`` (prefixes such as "(1)")."""
        t = {r.way[:3]: r.seconds for r in self.rows if r.pass_name == pass_name}
        return t[slow] / t[fast]

    def table(self) -> str:
        arch = "-".join(map(str, self.sizes))
        lines = [
            f"Vectorization lab: MLP {arch} (ReLU, softmax + cross-entropy), the same weights and "
            f"the same batch of m = {self.m} examples",
            f"{'pass':<9}{'way':<40}{'time (ms)':>12}{'vs previous':>13}{'vs loops':>11}",
        ]
        for pass_name in ("forward", "backward"):
            rows = [r for r in self.rows if r.pass_name == pass_name]
            first = prev = rows[0].seconds
            for r in rows:
                star = "*" if r.scaled_from else ""
                vs_prev = "" if r is rows[0] else f"{prev / r.seconds:,.1f}x"
                vs_first = "" if r is rows[0] else f"{first / r.seconds:,.0f}x"
                lines.append(
                    f"{pass_name:<9}{r.way + star:<40}{r.seconds * 1e3:>12,.3f}"
                    f"{vs_prev:>13}{vs_first:>11}"
                )
                if not r.way.startswith("(3f)"):
                    prev = r.seconds
        if any(r.scaled_from for r in self.rows):
            lines.append(
                f"* timed on {self.loop_examples} of the {self.m} examples and scaled by "
                f"{self.m / self.loop_examples:g} (the work is linear in m)"
            )
        lines.append("(3f) is (3) in float32, compared with (3); everything else is float64.")
        diffs = ", ".join(f"{k} {v:.1e}" for k, v in self.max_abs_diff.items())
        verdict = "all ways agree (allclose)" if self.allclose else "MISMATCH"
        lines.append(f"checks: {verdict}; max |difference| per quantity: {diffs}")
        return "\n".join(lines)


def _best_time(fn: Callable[[], Any], repeats: int, min_time: float = 0.02) -> float:
    """Seconds per call: the best of ``repeats`` runs of enough calls to last ``min_time``."""
    timer = timeit.Timer(fn)
    number = 1
    while True:
        t = timer.timeit(number)
        if t >= min_time or number >= 1 << 20:
            break
        number *= 2
    best = t / number
    for _ in range(repeats - 1):
        best = min(best, timer.timeit(number) / number)
    return best


def _params(net: Sequential) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(la.W, la.b) for la in net.layers if isinstance(la, Dense)]


# --- the three ways, for the whole network ------------------------------------------------------
def _forward_batched(net: Sequential, A0: np.ndarray, Y: np.ndarray) -> tuple[Any, ...]:
    Z = A0
    for layer in net.layers[:-1]:
        Z = layer.forward(Z)
    A = net.layers[-1].forward(Z)
    return A, net.loss.cost_from_logits(Z, Y)


def _backward_batched(net: Sequential, A: np.ndarray, Y: np.ndarray) -> list[np.ndarray]:
    dC_dZ = net.loss.fused_gradient(A, Y)  # dC/dZ[L] = (A[L] - Y) / m
    first, *rest = net.layers[:-1]
    for layer in reversed(rest):
        dC_dZ = layer.backward(dC_dZ)
    # the first layer: only its gradients, like the loop twins (dC/dA[0] is never used)
    first.dC_dW = dC_dZ @ first.A_prev.T  # (n[1], m) @ (m, n[0])
    first.dC_db = dC_dZ.sum(axis=1, keepdims=True)  # (n[1], 1)
    return [G for la in net.layers if isinstance(la, Dense) for G in (la.dC_dW, la.dC_db)]


def _forward_per_example(params: list, A0: np.ndarray, Y: np.ndarray) -> tuple[Any, ...]:
    acts = [A0]
    Z = A0
    for l, (W, b) in enumerate(params):
        Z = loop_dense.dense_forward_per_example(W, b, acts[-1])
        if l < len(params) - 1:
            acts.append(loop_dense.relu_forward_per_example(Z))
    A = loop_costs.softmax_per_example(Z)
    return A, loop_costs.cross_entropy_per_example(Z, Y), acts


def _backward_per_example(params: list, acts: list, A: np.ndarray, Y: np.ndarray) -> list:
    grads: list[np.ndarray] = []
    dC_dZ = loop_costs.fused_gradient_per_example(A, Y)
    for l in range(len(params) - 1, -1, -1):
        W, _ = params[l]
        dW, db, dA_prev = loop_dense.dense_backward_per_example(W, acts[l], dC_dZ, l > 0)
        grads[:0] = [dW, db]
        if dA_prev is not None:
            dC_dZ = loop_dense.relu_backward_per_example(acts[l], dA_prev)
    return grads


def _forward_loops(params: list, A0: list, Y: list) -> tuple[Any, ...]:
    acts = [A0]
    Z = A0
    for l, (W, b) in enumerate(params):
        Z = loop_dense.dense_forward_loops(W, b, acts[-1])
        if l < len(params) - 1:
            acts.append(loop_dense.relu_forward_loops(Z))
    A = loop_costs.softmax_loops(Z)
    return A, loop_costs.cross_entropy_loops(Z, Y), acts


def _backward_loops(params: list, acts: list, A: list, Y: list) -> list:
    grads: list[Any] = []
    dC_dZ = loop_costs.fused_gradient_loops(A, Y)
    for l in range(len(params) - 1, -1, -1):
        W, _ = params[l]
        dW, db, dA_prev = loop_dense.dense_backward_loops(W, acts[l], dC_dZ, l > 0)
        grads[:0] = [dW, [[v] for v in db]]
        if dA_prev is not None:
            dC_dZ = loop_dense.relu_backward_loops(acts[l], dA_prev)
    return grads


def _max_diff(a: Any, b: Any) -> float:
    return float(np.max(np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64))))


def run(
    sizes: Sequence[int] = (784, 256, 128, 10),
    m: int = 100,
    loop_examples: int = 10,
    repeats: int = 3,
    seed: int = 0,
) -> LabResult:
    """Time and cross-check the three ways; see the module docstring."""
    sizes = tuple(int(s) for s in sizes)
    if len(sizes) < 2:
        raise ValueError(f"sizes needs an input and an output size, got {sizes}")
    if sizes[-1] < 2:
        raise ValueError(f"the lab uses a softmax output: it needs >= 2 classes, got {sizes[-1]}")
    m = check_positive_int("m", m)
    loop_examples = check_positive_int("loop_examples", loop_examples)
    repeats = check_positive_int("repeats", repeats)
    loop_examples = min(loop_examples, m)
    rng = np.random.default_rng(seed)
    net = mlp(list(sizes), activation="relu", output="softmax", seed=seed, dtype=np.float64)
    net.train()
    X = rng.random((m, sizes[0]))  # pixel-like inputs in [0, 1)
    A0 = np.ascontiguousarray(X.T)  # (n[0], m)
    Y = one_hot(rng.integers(0, sizes[-1], m), sizes[-1])  # (K, m)
    params = _params(net)
    rows: list[LabRow] = []
    diffs: dict[str, float] = {}

    # (3) batched: the engine. Reference values first.
    A_ref, cost_ref = _forward_batched(net, A0, Y)
    grads_ref = [g.copy() for g in _backward_batched(net, A_ref, Y)]
    fast_repeats = max(repeats, 5)  # cheap to repeat: take the best of more runs
    t_fwd3 = _best_time(lambda: _forward_batched(net, A0, Y), fast_repeats)
    t_bwd3 = _best_time(lambda: _backward_batched(net, A_ref, Y), fast_repeats)
    # float32 copy of the same network and batch
    net32 = net.astype(np.float32)
    A0_32, Y32 = A0.astype(np.float32), Y.astype(np.float32)
    A32, _ = _forward_batched(net32, A0_32, Y32)
    grads32 = _backward_batched(net32, A32, Y32)
    t_fwd3f = _best_time(lambda: _forward_batched(net32, A0_32, Y32), fast_repeats)
    t_bwd3f = _best_time(lambda: _backward_batched(net32, A32, Y32), fast_repeats)

    # (2) one example at a time
    A2, cost2, acts2 = _forward_per_example(params, A0, Y)
    grads2 = _backward_per_example(params, acts2, A2, Y)
    t_fwd2 = _best_time(lambda: _forward_per_example(params, A0, Y), fast_repeats)
    t_bwd2 = _best_time(lambda: _backward_per_example(params, acts2, A2, Y), fast_repeats)
    diffs["A[L] (2)"] = _max_diff(A2, A_ref)
    diffs["cost (2)"] = abs(cost2 - cost_ref)
    diffs["grads (2)"] = max(_max_diff(g, r) for g, r in zip(grads2, grads_ref))
    ok = np.allclose(A2, A_ref) and np.isclose(cost2, cost_ref)
    ok = ok and all(np.allclose(g, r) for g, r in zip(grads2, grads_ref))
    ok32 = np.allclose(A32, A_ref, atol=1e-5) and all(
        np.allclose(g, r, rtol=1e-3, atol=1e-5) for g, r in zip(grads32, grads_ref)
    )
    diffs["grads (3f)"] = max(_max_diff(g, r) for g, r in zip(grads32, grads_ref))

    # (1) pure Python on the first k examples, checked against the engine on those k
    k = loop_examples
    lists = [(W.tolist(), b[:, 0].tolist()) for W, b in params]
    A0_k, Y_k = A0[:, :k].tolist(), Y[:, :k].tolist()
    t0 = time.perf_counter()
    A1, cost1, acts1 = _forward_loops(lists, A0_k, Y_k)
    t_fwd1 = time.perf_counter() - t0
    t0 = time.perf_counter()
    grads1 = _backward_loops(lists, acts1, A1, Y_k)
    t_bwd1 = time.perf_counter() - t0
    for _ in range(repeats - 1):
        t0 = time.perf_counter()
        _forward_loops(lists, A0_k, Y_k)
        t_fwd1 = min(t_fwd1, time.perf_counter() - t0)
        t0 = time.perf_counter()
        _backward_loops(lists, acts1, A1, Y_k)
        t_bwd1 = min(t_bwd1, time.perf_counter() - t0)
    A_k, cost_k = _forward_batched(net, A0[:, :k], Y[:, :k])
    grads_k = _backward_batched(net, A_k, Y[:, :k])
    diffs["A[L] (1)"] = _max_diff(A1, A_k)
    diffs["cost (1)"] = abs(cost1 - cost_k)
    diffs["grads (1)"] = max(_max_diff(g, r) for g, r in zip(grads1, grads_k))
    ok = ok and np.allclose(A1, A_k) and np.isclose(cost1, cost_k)
    ok = ok and all(np.allclose(g, r) for g, r in zip(grads1, grads_k))
    scale = m / k
    scaled = k if k < m else None
    rows += [
        LabRow("forward", "(1) pure Python loops", t_fwd1 * scale, scaled),
        LabRow("forward", "(2) one example at a time, NumPy", t_fwd2),
        LabRow("forward", "(3) whole batch, matrix products", t_fwd3),
        LabRow("forward", "(3f) whole batch, float32", t_fwd3f),
        LabRow("backward", "(1) pure Python loops", t_bwd1 * scale, scaled),
        LabRow("backward", "(2) one example at a time, NumPy", t_bwd2),
        LabRow("backward", "(3) whole batch, matrix products", t_bwd3),
        LabRow("backward", "(3f) whole batch, float32", t_bwd3f),
    ]
    return LabResult(sizes, m, k, rows, diffs, bool(ok and ok32))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The lab's options, shared by ``chainrule bench`` and ``python -m chainrule.learn.lab``."""
    parser.add_argument(
        "--sizes",
        default="784,256,128,10",
        help="layer sizes n[0],...,n[L] (default 784,256,128,10)",
    )
    parser.add_argument("--examples", type=int, default=100, help="batch size m (default 100)")
    parser.add_argument(
        "--loop-examples",
        type=int,
        default=10,
        help="examples the pure-Python version is timed on, then scaled to m (default 10)",
    )
    parser.add_argument("--repeats", type=int, default=3, help="best of this many runs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="limit BLAS to this many threads (needs threadpoolctl; default: BLAS's own)",
    )


def parse_sizes(text: str) -> list[int]:
    try:
        sizes = [int(s) for s in str(text).replace(" ", "").split(",") if s]
    except ValueError:
        raise ValueError(
            f"--sizes must be comma-separated ints like 784,256,10, got {text!r}"
        ) from None
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(f"--sizes needs at least two positive sizes, got {text!r}")
    return sizes


def run_from_args(args: argparse.Namespace) -> int:
    threads = getattr(args, "threads", None)
    limits: Any = contextlib.nullcontext()
    if threads is not None:
        if threads < 1:
            raise ValueError(f"--threads must be >= 1, got {threads}")
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:
            raise ImportError("--threads needs threadpoolctl: pip install threadpoolctl") from None
        limits = threadpool_limits(limits=threads)
    with limits:
        result = run(
            parse_sizes(args.sizes),
            m=args.examples,
            loop_examples=args.loop_examples,
            repeats=args.repeats,
            seed=args.seed,
        )
    print(result.table())
    if threads is not None:
        print(f"BLAS limited to {threads} thread(s)")
    return 0 if result.allclose else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chainrule.learn.lab", description=__doc__)
    add_arguments(parser)
    return run_from_args(parser.parse_args(argv))


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
