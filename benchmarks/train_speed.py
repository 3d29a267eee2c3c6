"""Training and inference speed of chainrule vs PyTorch 2.13 (CPU) and scikit-learn, ONE run.

The MLP 784-256-128-10 (ReLU, softmax cross-entropy, plain SGD lr 0.1, batch 128) over 60,000
examples of 784 features (real MNIST when ``chainrule.data.load("mnist")`` works offline,
otherwise random float32 pixels with random labels; the output says which). Every figure of
issue 3's table comes from this one process, measured in interleaved rounds (each round runs
every contender in a rotating order; each timed run comes right after an untimed run of the same
contender, see ``timed()``) with the same thread count for all:

* chainrule epoch time / PyTorch epoch time (manual batching loop: randperm, index, step)
* chainrule epoch time / scikit-learn MLPClassifier epoch time (partial_fit = one epoch;
  solver="sgd", momentum=0, alpha=0, same architecture, batch size and learning rate)
* GEMM-only lower bound / chainrule epoch time: the 8 matrix products of every batch (3 forward,
  3 dC_dW, 2 dC_dA_prev; the first layer's dC/dA[0] is not needed), timed alone on the same
  shapes; FLOPs / that time is the BLAS rate of this run
* the reference engine's epoch time / the fast engine's (``fit(engine="reference")`` vs the
  default, which compiles this MLP into the fast engine's plan): what the fast engine buys
* with ``--blas-ab``: the fast engine's epoch with the fused SGD step through
  ``scipy.linalg.blas`` vs through NumPy's own OpenBLAS via ctypes (see docs/performance.md)
* chainrule inference samples/s / PyTorch's, batches of 1024 (predict_proba vs softmax(model(x)))
* chainrule's inference time / the GEMM-only floor's (the three forward products alone, made
  the way the inference plan makes them; the examples-last order of earlier plans is timed too),
  ``--infer-rounds`` inference rounds per training round
* the same prediction as the plan's NumPy calls written inline (``GemmOnly.infer_numpy``: no
  validation, no plan, no lock): chainrule's time over it is what the library adds, its time
  over the GEMM-only floor's is what NumPy's element-wise passes cost between the products
* peak RSS of a training process / PyTorch's: two fresh subprocesses that load the same .npy
  data and train one epoch; each reports its own ru_maxrss

chainrule's epoch time is ``history["epoch_time"]`` (shuffle + every batch + bookkeeping); the
wall time of the whole ``fit`` call (which also validates X once) is printed too.

    python benchmarks/train_speed.py                    # the numbers in docs/performance.md
    python benchmarks/train_speed.py --quick            # a smoke run on 6,000 examples
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

SIZES = (784, 256, 128, 10)
BATCH = 128
LR = 0.1
INFER_BATCH = 1024
TARGETS = {  # figure -> (target, "<=" or ">=")
    "chainrule / PyTorch epoch time": (0.6, "<="),
    "chainrule / scikit-learn epoch time": (0.5, "<="),
    "GEMM-only bound / chainrule epoch time": (0.70, ">="),
    "chainrule / PyTorch inference samples/s": (1.1, ">="),
    "chainrule / GEMM-only inference time": (1.1, "<="),
    "chainrule / PyTorch peak training RSS": (0.5, "<="),
}


# --- data ----------------------------------------------------------------------------------------
def load_data(kind: str, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """(X (m, 784) float32, y (m,) int64, X_test (10000, 784) float32, description)."""
    if kind in ("auto", "mnist"):
        try:
            import chainrule as cr

            d = cr.datasets.load("mnist")
            X = np.ascontiguousarray(d.X_train.reshape(len(d.X_train), -1)[:m], dtype=np.float32)
            Xt = np.ascontiguousarray(d.X_test.reshape(len(d.X_test), -1), dtype=np.float32)
            return X, np.asarray(d.y_train[:m], dtype=np.int64), Xt, f"real MNIST ({len(X):,})"
        except Exception as exc:  # noqa: BLE001 - fall back to random data, and say so
            if kind == "mnist":
                raise
            print(f"(MNIST not available: {exc}; using random data)")
    rng = np.random.default_rng(0)
    X = rng.random((m, SIZES[0]), dtype=np.float32)
    Xt = rng.random((10000, SIZES[0]), dtype=np.float32)
    y = rng.integers(0, SIZES[-1], m)
    return X, y, Xt, f"random float32 pixels, random labels ({m:,})"


def numpy_inline_predict(
    X: np.ndarray, W: list[np.ndarray], b: list[np.ndarray], Z: list[np.ndarray]
) -> np.ndarray:
    """A[3] : (10, B) of the MLP for one batch X : (B, 784), written as the inference plan's NumPy
    calls with no library code around them (no validation, no plan, no lock); ``Z`` are the two
    hidden (B, n) buffers. The bias products (e[2] = b[2] + W[2] @ e[1], e[3] likewise), the
    three products, the NaN/inf check on one row of Z'[1] (column 0 of its (B, n) buffer), the
    two ReLUs with the bias riding in them (max(Z', -e), in place), and the output's bias and
    softmax over axis 0 into a fresh result. "chainrule / NumPy-inline inference time" is what
    the library adds on top of these calls; "NumPy-inline / GEMM-only" what they cost between
    the products (tests/test_benchmark_scripts.py checks it computes what chainrule computes)."""
    W1, W2, W3 = W
    b1, b2, b3 = b
    mm = np.matmul
    with np.errstate(invalid="ignore"):
        e2 = b2 + W2 @ b1  # (128, 1)
        e3 = b3 + W3 @ e2  # (10, 1)
        out = np.empty((W3.shape[0], len(X)), X.dtype)
        mm(X, W1.T, out=Z[0])  # Z'1.T
        if not np.isfinite(Z[0][:, 0]).all():
            raise ValueError("X holds a NaN or an inf")
        np.maximum(Z[0], -b1[:, 0], out=Z[0])  # A'1.T = max(Z'1.T, -e1.T)
        mm(Z[0], W2.T, out=Z[1])
        np.maximum(Z[1], -e2[:, 0], out=Z[1])
        mm(W3, Z[1].T, out=out)  # Z'3 : (10, B)
    out += e3
    np.subtract(out, out.max(axis=0, keepdims=True), out=out)
    np.exp(out, out=out)
    out /= out.sum(axis=0, keepdims=True)
    return out


# --- contenders ----------------------------------------------------------------------------------
class Chainrule:
    """One epoch of ``fit``: the fast engine by default, or ``engine="reference"``; ``blas``
    picks the fused SGD step's BLAS route for this contender ("scipy" or "ctypes")."""

    def __init__(
        self,
        X: np.ndarray,
        y: np.ndarray,
        verbose: bool = False,
        engine: str = "auto",
        blas: str | None = None,
        package: str = "chainrule",
    ) -> None:
        import importlib

        cr = importlib.import_module(package)
        self.net = cr.mlp(list(SIZES), activation="relu", output="softmax", seed=0)
        self.X, self.y, self.verbose, self.engine = X, y, verbose, engine
        self.fit_kwargs = {"engine": engine} if package == "chainrule" else {}
        self.gemm = None
        if blas is not None:
            from chainrule.fast import blas as fast_blas

            self.gemm = fast_blas._ScipyGemm() if blas == "scipy" else fast_blas._DirectGemm()
            self.gemm.load()
        self.round = 0
        self.wall: list[float] = []

    def epoch(self) -> float:
        if self.gemm is None:
            return self._epoch()
        from chainrule.fast import blas as fast_blas

        saved, fast_blas._GEMM = fast_blas._GEMM, self.gemm
        try:
            return self._epoch()
        finally:
            fast_blas._GEMM = saved

    def _epoch(self) -> float:
        self.round += 1
        t0 = time.perf_counter()
        if self.verbose:  # progress lines on (to /dev/null): the per-epoch reporter's cost
            with open(os.devnull, "w") as sink:
                stdout, sys.stdout = sys.stdout, sink
                try:
                    h = self._fit(True)
                finally:
                    sys.stdout = stdout
        else:
            h = self._fit(False)
        self.wall.append(time.perf_counter() - t0)
        return float(h["epoch_time"][0])

    def _fit(self, verbose: bool) -> dict[str, Any]:
        return self.net.fit(
            self.X,
            self.y,
            epochs=1,
            lr=LR,
            batch_size=BATCH,
            verbose=verbose,
            seed=self.round,
            **self.fit_kwargs,
        )

    def infer(self, Xt: np.ndarray) -> float:
        t0 = time.perf_counter()
        for s in range(0, len(Xt), INFER_BATCH):
            self.net.predict_proba(Xt[s : s + INFER_BATCH])
        return len(Xt) / (time.perf_counter() - t0)


class Torch:
    def __init__(self, X: np.ndarray, y: np.ndarray) -> None:
        import torch

        self.torch = torch
        torch.manual_seed(0)
        n = SIZES
        self.model = torch.nn.Sequential(
            torch.nn.Linear(n[0], n[1]),
            torch.nn.ReLU(),
            torch.nn.Linear(n[1], n[2]),
            torch.nn.ReLU(),
            torch.nn.Linear(n[2], n[3]),
        )
        self.opt = torch.optim.SGD(self.model.parameters(), lr=LR, momentum=0.0)
        self.X, self.y = torch.from_numpy(X), torch.from_numpy(y)

    def epoch(self) -> float:
        torch, model, opt = self.torch, self.model, self.opt
        F = torch.nn.functional
        m = self.X.shape[0]
        model.train()
        t0 = time.perf_counter()
        perm = torch.randperm(m)
        total = 0.0
        for s in range(0, m, BATCH):
            idx = perm[s : s + BATCH]
            xb, yb = self.X[idx], self.y[idx]
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        return time.perf_counter() - t0

    def infer(self, Xt: np.ndarray) -> float:
        torch = self.torch
        self.model.eval()
        t0 = time.perf_counter()
        with torch.inference_mode():
            for s in range(0, len(Xt), INFER_BATCH):
                torch.softmax(self.model(torch.from_numpy(Xt[s : s + INFER_BATCH])), dim=1)
        return len(Xt) / (time.perf_counter() - t0)


class Sklearn:
    def __init__(self, X: np.ndarray, y: np.ndarray) -> None:
        from sklearn.neural_network import MLPClassifier

        self.clf = MLPClassifier(
            hidden_layer_sizes=SIZES[1:-1],
            activation="relu",
            solver="sgd",
            learning_rate_init=LR,
            momentum=0.0,
            nesterovs_momentum=False,
            alpha=0.0,
            batch_size=BATCH,
            shuffle=True,
            random_state=0,
        )
        self.X, self.y = X, y
        self.classes = np.arange(SIZES[-1])

    def epoch(self) -> float:
        t0 = time.perf_counter()
        self.clf.partial_fit(self.X, self.y, classes=self.classes)  # one pass over the data
        return time.perf_counter() - t0


class GemmOnly:
    """The 8 matrix products of each batch, into preallocated outputs: a lower bound."""

    def __init__(self, X: np.ndarray) -> None:
        rng = np.random.default_rng(0)
        n = SIZES
        self.X = X
        self.W = [
            (rng.standard_normal((n[i + 1], n[i])) * 0.05).astype(np.float32) for i in range(3)
        ]
        self.b = [(rng.standard_normal((k, 1)) * 0.05).astype(np.float32) for k in SIZES[1:]]
        self.m = X.shape[0]

    def flops(self) -> float:
        n, total = SIZES, 0.0
        for s in range(0, self.m, BATCH):
            B = min(BATCH, self.m - s)
            fwd = sum(n[i] * n[i + 1] for i in range(3))
            total += 2 * B * (2 * fwd + n[1] * n[2] + n[2] * n[3])
        return total

    def epoch(self) -> float:
        _, W2, W3 = self.W
        bufs: dict[int, list[np.ndarray]] = {}
        dW = [np.empty_like(W) for W in self.W]
        mm = np.matmul
        t0 = time.perf_counter()
        for s in range(0, self.m, BATCH):
            A0 = self.X[s : s + BATCH].T  # (784, B)
            Z1, Z2, Z3 = self._forward(A0, bufs)
            mm(Z3, Z2.T, out=dW[2])
            mm(W3.T, Z3, out=Z2)
            mm(Z2, Z1.T, out=dW[1])
            mm(W2.T, Z2, out=Z1)
            mm(Z1, A0.T, out=dW[0])
        return time.perf_counter() - t0

    def infer(self, Xt: np.ndarray, examples_last: bool = False) -> float:
        """Samples/s of the three forward products alone at batch 1024, into reused outputs:
        inference's floor (bias, ReLU and softmax are the rest). By default the very products
        chainrule's inference plan makes (``chainrule.fast.inference``): each hidden layer's
        Z.T = A.T @ W.T into a (B, n) buffer, the output's Z = W @ A into (n[L], B).
        ``examples_last``: Z = W @ A into (n, B) for every layer, the plan's order before the
        eighth session (slower with OpenBLAS on these shapes; printed for the record)."""
        W1, W2, W3 = self.W
        B = INFER_BATCH
        if examples_last:
            Z = [np.zeros((k, B), np.float32) for k in SIZES[1:]]
        else:
            Z = [np.zeros((B, SIZES[1]), np.float32), np.zeros((B, SIZES[2]), np.float32)]
            Z.append(np.zeros((SIZES[3], B), np.float32))
        mm = np.matmul
        t0 = time.perf_counter()
        for s in range(0, len(Xt), B):
            X = Xt[s : s + B]  # (B, 784): A0 = X.T
            if len(X) < B:  # the last, shorter batch
                Z = [z[: len(X)] if z.shape[0] == B else z[:, : len(X)] for z in Z]
            if examples_last:
                mm(W1, X.T, out=Z[0])
                mm(W2, Z[0], out=Z[1])
                mm(W3, Z[1], out=Z[2])
            else:
                mm(X, W1.T, out=Z[0])  # Z1.T = A0.T @ W1.T
                mm(Z[0], W2.T, out=Z[1])  # Z2.T = A1.T @ W2.T
                mm(W3, Z[1].T, out=Z[2])  # Z3 = W3 @ A2
        return len(Xt) / (time.perf_counter() - t0)

    def infer_numpy(self, Xt: np.ndarray) -> float:
        """Samples/s of :func:`numpy_inline_predict` at batch 1024 on this bound's weights: the
        inference plan's NumPy calls written inline, the floor of any NumPy implementation."""
        B = INFER_BATCH
        Z = [np.zeros((B, SIZES[1]), np.float32), np.zeros((B, SIZES[2]), np.float32)]
        t0 = time.perf_counter()
        for s in range(0, len(Xt), B):
            X = Xt[s : s + B]  # (B, 784): A0 = X.T
            numpy_inline_predict(X, self.W, self.b, Z if len(X) == B else [z[: len(X)] for z in Z])
        return len(Xt) / (time.perf_counter() - t0)

    def _forward(self, A0: np.ndarray, bufs: dict[int, list[np.ndarray]]) -> list[np.ndarray]:
        """Z1, Z2, Z3 of the three forward products into reused outputs (one set per batch size)."""
        B = A0.shape[1]
        if B not in bufs:
            bufs[B] = [np.zeros((k, B), np.float32) for k in SIZES[1:]]
        Z = bufs[B]
        for W, A, out in zip(self.W, (A0, Z[0], Z[1]), Z):
            np.matmul(W, A, out=out)
        return Z


# --- peak RSS in fresh processes ------------------------------------------------------------------
def peak_rss_mb() -> float:
    """This process's peak resident set size: VmHWM from /proc (Linux).

    ``getrusage(RUSAGE_SELF).ru_maxrss`` would do on a fresh interpreter, but Linux carries the
    high-water mark of the forked parent across exec, so a child of a big parent reports the
    parent's peak; VmHWM belongs to the new address space only.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB -> MB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def rss_worker(lib: str, data_dir: str) -> None:
    X = np.load(Path(data_dir) / "X.npy")
    y = np.load(Path(data_dir) / "y.npy")
    if lib == "chainrule":
        Chainrule(X, y).epoch()
    else:
        Torch(X, y).epoch()
    rss_mb = peak_rss_mb()
    print(json.dumps({"lib": lib, "peak_rss_mb": rss_mb}))


def measure_rss(X: np.ndarray, y: np.ndarray, threads: int, repeats: int) -> dict[str, list]:
    out: dict[str, list] = {"chainrule": [], "torch": []}
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "OPENBLAS_NUM_THREADS": str(threads)}
    with tempfile.TemporaryDirectory() as tmp:
        np.save(Path(tmp) / "X.npy", X)
        np.save(Path(tmp) / "y.npy", y)
        for _ in range(repeats):
            for lib in ("chainrule", "torch"):
                cmd = [sys.executable, __file__, "--rss-worker", lib, "--data-dir", tmp]
                res = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
                out[lib].append(json.loads(res.stdout.strip().splitlines()[-1])["peak_rss_mb"])
    return out


# --- the run ------------------------------------------------------------------------------------
def stats(v: list[float]) -> str:
    return f"{statistics.median(v):.3f} (min {min(v):.3f}, max {max(v):.3f})"


def cool_down(seconds: float) -> None:
    """Optionally sleep before a contender's turn (``--pause``; off by default).

    Kept for experiments. An idle pause was meant to let the previous contender's spinning
    worker threads (NumPy's and SciPy's OpenBLAS, PyTorch's OpenMP pool) go to sleep, but on
    this kind of VM the epoch right after an idle second runs slower (measured: chainrule
    +25%, PyTorch +13% after a 1 s sleep), which penalises the shortest run the most. The
    untimed warm-up epoch of ``timed()`` handles both effects instead.
    """
    if seconds > 0:
        time.sleep(seconds)


def timed(fn: Any, warm: int) -> float:
    """``warm`` untimed calls of ``fn``, then one timed call: the figure is a steady-state run.

    The untimed call absorbs whatever the previous contender left behind (its thread pool still
    spinning on the other core, caches full of its data) and any slow start after idle time, so
    every contender is measured after one full run of its own.
    """
    for _ in range(warm):
        fn()
    return fn()


def reporter_cost_us(epochs: int = 2000) -> tuple[float, float]:
    """Microseconds per epoch that ``fit(verbose=True)`` spends in its progress reporter.

    Timed directly: ``EpochReporter.update`` for every epoch of a ``epochs``-epoch run (so the
    ~20 printed lines are included) plus ``close``, writing to /dev/null, once with plain lines
    and once with the tqdm bar that a terminal gets. The on/off ratio of two whole epochs cannot
    resolve 2% on a machine whose epoch times vary by 20% from run to run; this can.
    Returns (plain lines, tqdm bar); the bar is NaN without tqdm.
    """
    from chainrule.train.progress import EpochReporter

    class TTYSink:  # /dev/null that claims to be a terminal, so the reporter builds its bar
        def __init__(self, f: Any) -> None:
            self.f = f

        def write(self, text: str) -> int:
            return self.f.write(text)

        def flush(self) -> None:
            self.f.flush()

        def isatty(self) -> bool:
            return True

    logs = {"cost": 0.25, "accuracy": 0.93}
    out = []
    with open(os.devnull, "w") as null:
        for sink in (null, TTYSink(null)):
            stderr, sys.stderr = sys.stderr, sink  # the bar draws on stderr
            try:
                t0 = time.perf_counter()
                rep = EpochReporter(epochs, stream=sink)
                if isinstance(sink, TTYSink) and rep.bar is None:
                    rep.close()
                    out.append(float("nan"))
                    continue
                for e in range(1, epochs + 1):
                    rep.update(e, logs)
                rep.close()
                out.append((time.perf_counter() - t0) / epochs * 1e6)
            finally:
                sys.stderr = stderr
    return out[0], out[1]


def ratio_stats(a: list[float], b: list[float]) -> tuple[float, float, float]:
    """median, min, max of the per-round ratios a[i] / b[i] (rounds are interleaved)."""
    r = [x / y for x, y in zip(a, b)]
    return statistics.median(r), min(r), max(r)


def blas_description() -> tuple[str, list[dict[str, Any]]]:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "threadpoolctl not installed", []
    info = threadpool_info()
    parts = [
        f"{d.get('internal_api')} {d.get('version')} kernel={d.get('architecture')} "
        f"threads={d.get('num_threads')} ({Path(d.get('filepath', '')).name})"
        for d in info
    ]
    return "; ".join(parts), info


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--repeats", type=int, default=5, help="interleaved rounds (default 5)")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--data", choices=("auto", "mnist", "random"), default="auto")
    p.add_argument("--examples", type=int, default=60000)
    p.add_argument("--rss-repeats", type=int, default=2)
    p.add_argument(
        "--infer-rounds",
        type=int,
        default=6,
        help="inference rounds per training round, each contender in a rotated order (default 6)",
    )
    p.add_argument(
        "--warm",
        type=int,
        default=1,
        help="untimed runs of the same contender right before each timed run (default 1)",
    )
    p.add_argument(
        "--pause",
        type=float,
        default=0.0,
        help="idle seconds before each contender's turn (default 0), see cool_down()",
    )
    p.add_argument("--quick", action="store_true", help="6,000 examples, 2 rounds")
    p.add_argument(
        "--also",
        metavar="PACKAGE",
        help="also time another importable build of chainrule in the same rounds, e.g. an older "
        "version copied under the name chainrule_old (docs/performance.md, fifth session)",
    )
    p.add_argument(
        "--blas-ab",
        action="store_true",
        help="also time the fast engine with each BLAS route (scipy.linalg.blas vs ctypes)",
    )
    p.add_argument("--json", help="also write the results to this file")
    p.add_argument("--rss-worker", help=argparse.SUPPRESS)
    p.add_argument("--data-dir", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.rss_worker:
        rss_worker(args.rss_worker, args.data_dir)
        return 0
    if args.quick:
        args.examples, args.repeats, args.rss_repeats = 6000, 2, 1

    import sklearn.neural_network  # noqa: F401 - load every BLAS before limiting the threads
    import torch
    from threadpoolctl import threadpool_limits

    T = args.threads
    torch.set_num_threads(T)
    X, y, Xt, data_name = load_data(args.data, args.examples)
    with threadpool_limits(limits=T):
        blas, _ = blas_description()
        print(f"data: {data_name}; MLP {'-'.join(map(str, SIZES))}, batch {BATCH}, SGD lr {LR}")
        print(f"threads: {T} for all (torch.set_num_threads, threadpoolctl limits); BLAS: {blas}")
        print(f"torch {torch.__version__} (intra-op threads {torch.get_num_threads()})")
        from chainrule.fast.blas import direct_blas_description

        print(f"chainrule's SGD step inside the dC_dW product: {direct_blas_description()}")
        env_note = {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
        print(f"environment: {env_note}")
        cr, cr_verbose = Chainrule(X, y), Chainrule(X, y, verbose=True)
        contenders = {
            "chainrule": cr.epoch,
            "chainrule verbose": cr_verbose.epoch,
            "torch": Torch(X, y).epoch,
            "sklearn": Sklearn(X, y).epoch,
            "gemm": GemmOnly(X).epoch,
            "chainrule reference": Chainrule(X, y, engine="reference").epoch,
        }
        if args.also:
            contenders[args.also] = Chainrule(X, y, package=args.also).epoch
        if args.blas_ab:
            contenders["chainrule scipy-blas"] = Chainrule(X, y, blas="scipy").epoch
            contenders["chainrule ctypes-blas"] = Chainrule(X, y, blas="ctypes").epoch
        tor = Torch(X, y)
        gemm = GemmOnly(X)
        infer = {
            "chainrule": lambda: cr.infer(Xt),
            "torch": lambda: tor.infer(Xt),
            "gemm": lambda: gemm.infer(Xt),
            "gemm examples-last": lambda: gemm.infer(Xt, examples_last=True),
            "numpy inline": lambda: gemm.infer_numpy(Xt),
        }
        for fn in (*contenders.values(), *infer.values()):  # warm-up round, not counted
            fn()
        times: dict[str, list[float]] = {k: [] for k in contenders}
        rates: dict[str, list[float]] = {k: [] for k in infer}
        names = list(contenders)
        for r in range(args.repeats):
            order = names[r % len(names) :] + names[: r % len(names)]
            for name in order:
                cool_down(args.pause)
                times[name].append(timed(contenders[name], args.warm))
            for k in range(args.infer_rounds):  # inference is quick: more rounds, rotated
                inames = list(infer)
                shift = (r * args.infer_rounds + k) % len(inames)
                for name in inames[shift:] + inames[:shift]:
                    cool_down(args.pause)
                    rates[name].append(timed(infer[name], args.warm))
            print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:.3f}s" for k, v in times.items()))
        flops = GemmOnly(X).flops()
    rss = measure_rss(X, y, T, args.rss_repeats)

    print("\nseconds per epoch, median (min, max) over interleaved rounds:")
    for k, v in times.items():
        print(f"  {k:<18} {stats(v)}")
    print(f"  chainrule fit() wall time incl. input validation: {stats(cr.wall[1:])}")
    gflops = [flops / t / 1e9 for t in times["gemm"]]
    print(f"  GEMM FLOPs per epoch {flops / 1e9:.1f} G; BLAS rate {stats(gflops)} GFLOP/s")
    print("inference samples/s (batch 1024), median (min, max):")
    for k, v in rates.items():
        print(f"  {k:<18} {statistics.median(v):,.0f} ({min(v):,.0f}, {max(v):,.0f})")
    print(
        "peak RSS of a 1-epoch training process (MB): "
        + ", ".join(f"{k} {statistics.median(v):.0f} {v}" for k, v in rss.items())
    )
    figures = {
        "chainrule / PyTorch epoch time": ratio_stats(times["chainrule"], times["torch"]),
        "chainrule / scikit-learn epoch time": ratio_stats(times["chainrule"], times["sklearn"]),
        "GEMM-only bound / chainrule epoch time": ratio_stats(times["gemm"], times["chainrule"]),
        "chainrule / PyTorch inference samples/s": ratio_stats(rates["chainrule"], rates["torch"]),
        # time per sample = 1 / rate: chainrule's time over the GEMM-only floor's
        "chainrule / GEMM-only inference time": ratio_stats(rates["gemm"], rates["chainrule"]),
        "chainrule / NumPy-inline inference time": ratio_stats(
            rates["numpy inline"], rates["chainrule"]
        ),
        "NumPy-inline / GEMM-only inference time": ratio_stats(
            rates["gemm"], rates["numpy inline"]
        ),
        "GEMM-only examples-last / plan's order time": ratio_stats(
            rates["gemm"], rates["gemm examples-last"]
        ),
        "chainrule / PyTorch peak training RSS": ratio_stats(rss["chainrule"], rss["torch"]),
        "progress reporting on / off epoch time": ratio_stats(
            times["chainrule verbose"], times["chainrule"]
        ),
        "reference engine / fast engine epoch time": ratio_stats(
            times["chainrule reference"], times["chainrule"]
        ),
    }
    if args.also:
        figures[f"{args.also} / PyTorch epoch time"] = ratio_stats(times[args.also], times["torch"])
        figures[f"chainrule / {args.also} epoch time"] = ratio_stats(
            times["chainrule"], times[args.also]
        )
    if args.blas_ab:
        figures["scipy.linalg.blas / ctypes BLAS epoch time"] = ratio_stats(
            times["chainrule scipy-blas"], times["chainrule ctypes-blas"]
        )
    print(f"\n{'figure':<46}{'median':>8}{'min':>8}{'max':>8}   target")
    for name, (med, lo, hi) in figures.items():
        target = TARGETS.get(name)
        if target is None:
            verdict = "(< 1.02 wanted)" if name.startswith("progress") else ""
        else:
            ok = med <= target[0] if target[1] == "<=" else med >= target[0]
            verdict = f"{target[1]} {target[0]}  {'met' if ok else 'NOT met'}"
        print(f"{name:<46}{med:>8.3f}{lo:>8.3f}{hi:>8.3f}   {verdict}")
    lines_us, bar_us = reporter_cost_us()
    epoch_s = statistics.median(times["chainrule"])
    print(
        f"progress reporter, timed directly: {lines_us:.1f} us per epoch with plain lines "
        f"({lines_us / 1e4 / epoch_s:.4f}% of an epoch), {bar_us:.1f} us with the tqdm bar "
        f"({bar_us / 1e4 / epoch_s:.4f}%); target < 2%"
    )
    if args.json:
        payload = {"data": data_name, "threads": T, "blas": blas, "times": times, "rates": rates}
        payload.update({"rss": rss, "figures": figures, "gemm_flops": flops})
        payload["reporter_us_per_epoch"] = {"lines": lines_us, "bar": bar_us}
        Path(args.json).write_text(json.dumps(payload, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
