"""How cost grows with the work: training time per example, chainrule and PyTorch side by side.

Four sweeps, each point one library at one size, timed as the median of ``--repeats`` epochs
after one untimed epoch (libraries interleaved point by point, same threads):

* MLP 784 -> W -> W -> 10, plain SGD: batch size 16 .. 1024 (W = 256), at 1 and 2 threads;
* the same MLP, hidden width W = 64 .. 2048 (batch 128), at 1 and 2 threads;
* CNN conv3x3(C)-ReLU-pool-conv3x3(2C)-ReLU-pool-Dense 128-Dense 10, Adam, batch 64: image
  size S x S = 14 .. 56 (C = 16) and channels C = 4 .. 32 (S = 28), at 2 threads.

It prints a table and draws the curves (matplotlib, log scales) into ``--figure``
(docs/figures/scale.png): time per example falls while Python's fixed cost per batch is spread
over more examples, flattens where the BLAS products take over, and rises with the work per
example (width^2, S^2, C^2). docs/performance.md ("How cost grows") reads the figure.

    python benchmarks/scale.py                   # the figure in docs/ (a few minutes)
    python benchmarks/scale.py --quick --figure /tmp/scale.png   # a smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

import chainrule as cr
from chainrule.model.cnn import lenet

ROOT = Path(__file__).resolve().parents[1]


def _mlp(width: int) -> cr.Sequential:
    return cr.Sequential(
        [
            cr.Dense(784, width, seed=0),
            cr.ReLU(),
            cr.Dense(width, width, seed=1),
            cr.ReLU(),
            cr.Dense(width, 10, seed=2),
            cr.Softmax(),
        ]
    )


def _cnn(size: int, channels: int) -> cr.Sequential:
    return lenet((1, size, size), (channels, 2 * channels), 3, hidden=128, seed=0)


def _torch_twin(net: cr.Sequential) -> Any:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from cnn_speed import torch_twin

    return torch_twin(net)


def time_chainrule(net: cr.Sequential, X: np.ndarray, y: np.ndarray, batch: int, opt: str,
                   repeats: int) -> float:  # fmt: skip
    """Seconds per example of one training epoch (the median of ``repeats`` after a warm-up)."""
    lr = 1e-3 if opt == "adam" else 0.01
    kw = {"epochs": 1, "batch_size": batch, "optimizer": opt, "lr": lr, "verbose": False}
    net.fit(X, y, **kw)
    times = [net.fit(X, y, **kw)["epoch_time"][0] for _ in range(repeats)]
    return statistics.median(times) / len(X)


def time_torch(net: cr.Sequential, X: np.ndarray, y: np.ndarray, batch: int, opt: str,
               repeats: int) -> float:  # fmt: skip
    import torch

    model = _torch_twin(net)
    optim = (
        torch.optim.Adam(model.parameters(), lr=1e-3)
        if opt == "adam"
        else torch.optim.SGD(model.parameters(), lr=0.01)
    )
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y.astype(np.int64))

    def epoch() -> float:
        t0 = time.perf_counter()
        perm = torch.randperm(len(Xt))
        for s in range(0, len(Xt), batch):
            idx = perm[s : s + batch]
            loss = torch.nn.functional.cross_entropy(model(Xt[idx]), yt[idx])
            optim.zero_grad(set_to_none=True)
            loss.backward()
            optim.step()
        return time.perf_counter() - t0

    epoch()
    return statistics.median(epoch() for _ in range(repeats)) / len(X)


def sweep(points: list[dict[str, Any]], repeats: int, n: int) -> list[dict[str, Any]]:
    """Each point: {"sweep", "x", "threads", "net": callable, "shape", "batch", "opt"}."""
    import torch
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    out = []
    for p in points:
        X = rng.standard_normal((n, *p["shape"])).astype(np.float32)
        y = rng.integers(0, 10, n)
        torch.set_num_threads(p["threads"])
        with threadpool_limits(limits=p["threads"]):
            row = {k: v for k, v in p.items() if k != "net"}
            ours = time_chainrule(p["net"](), X, y, p["batch"], p["opt"], repeats)
            theirs = time_torch(p["net"](), X, y, p["batch"], p["opt"], repeats)
        row.update(chainrule_us=ours * 1e6, torch_us=theirs * 1e6, ratio=ours / theirs)
        print(
            f"{p['sweep']:<13} x={p['x']:<5} threads={p['threads']}  chainrule "
            f"{row['chainrule_us']:8.1f} us/example  PyTorch {row['torch_us']:8.1f}  "
            f"ratio {row['ratio']:.2f}",
            flush=True,
        )
        out.append(row)
    return out


def points(quick: bool) -> list[dict[str, Any]]:
    batches = [16, 128] if quick else [16, 32, 64, 128, 256, 512, 1024]
    widths = [64, 256] if quick else [64, 128, 256, 512, 1024, 2048]
    sizes = [14] if quick else [14, 28, 56]
    chans = [4] if quick else [4, 8, 16, 32]
    threads = [1, 2]
    pts: list[dict[str, Any]] = []
    for t in threads:
        for b in batches:
            pts.append({"sweep": "mlp batch", "x": b, "threads": t, "batch": b, "opt": "sgd",
                        "shape": (784,), "net": lambda: _mlp(256)})  # fmt: skip
        for w in widths:
            pts.append({"sweep": "mlp width", "x": w, "threads": t, "batch": 128, "opt": "sgd",
                        "shape": (784,), "net": lambda w=w: _mlp(w)})  # fmt: skip
    for s in sizes:
        pts.append({"sweep": "cnn image", "x": s, "threads": 2, "batch": 64, "opt": "adam",
                    "shape": (1, s, s), "net": lambda s=s: _cnn(s, 16)})  # fmt: skip
    for c in chans:
        pts.append({"sweep": "cnn channels", "x": c, "threads": 2, "batch": 64, "opt": "adam",
                    "shape": (1, 28, 28), "net": lambda c=c: _cnn(28, c)})  # fmt: skip
    return pts


def draw(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [
        ("mlp batch", "batch size (MLP 784-256-256-10, SGD)"),
        ("mlp width", "hidden width W (MLP 784-W-W-10, batch 128)"),
        ("cnn image", "image side S (CNN, 16/32 channels, batch 64, Adam)"),
        ("cnn channels", "channels C (CNN C/2C on 28 x 28, batch 64)"),
    ]
    fig, axes = plt.subplots(2, 2, figsize=(11, 8))
    for ax, (name, label) in zip(axes.ravel(), panels):
        mine = [r for r in rows if r["sweep"] == name]
        for t in sorted({r["threads"] for r in mine}):
            pts = sorted((r for r in mine if r["threads"] == t), key=lambda r: r["x"])
            xs = [r["x"] for r in pts]
            style = "-" if t > 1 else ":"
            ax.plot(xs, [r["chainrule_us"] for r in pts], "o" + style, color="C0",
                    label=f"chainrule, {t} thread{'s' * (t > 1)}")  # fmt: skip
            ax.plot(xs, [r["torch_us"] for r in pts], "s" + style, color="C1",
                    label=f"PyTorch, {t} thread{'s' * (t > 1)}")  # fmt: skip
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel(label)
        ax.set_ylabel("training time per example (us)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("How training cost grows with the work (median epochs, one run)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="two points per sweep, 512 examples")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--examples", type=int, default=0, help="examples per epoch (default 4096)")
    p.add_argument("--figure", default=str(ROOT / "docs" / "figures" / "scale.png"))
    p.add_argument("--json", default="", help="also write the table to this file")
    args = p.parse_args(argv)
    n = args.examples or (512 if args.quick else 4096)
    rows = sweep(points(args.quick), 1 if args.quick else args.repeats, n)
    draw(rows, Path(args.figure))
    from threadpoolctl import threadpool_info

    blas = "; ".join(
        f"{i.get('internal_api')} {i.get('version')} ({Path(i.get('filepath', '')).name})"
        for i in threadpool_info()
    )
    print(f"figure: {args.figure} ({os.cpu_count()} CPUs; BLAS: {blas})")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
