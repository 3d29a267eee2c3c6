"""CNN training and inference speed: chainrule against PyTorch (CPU), the same nets, ONE run.

Training: the MNIST CNN of issue 14, conv3x3(16)-ReLU-pool2-conv3x3(32)-ReLU-pool2-Dense 128-
ReLU-Dense 10, batch 64, Adam lr 1e-3, one epoch over ``--examples`` images (6,000), and the
MNIST-1D paper's CNN (Conv1D 25 x (k5, k3, k3), stride 2 -> Dense 10), batch 100, Adam, one
epoch over its 4,000 training signals. Inference: samples per second at batch 1024 over the
10,000 test images. Both libraries start from chainrule's initial weights and use the same
threads. Rounds interleave the libraries (alternating which goes first); each contender runs
one untimed epoch right before its timed one; every figure is the median over rounds of the
per-round ratio, printed with min and max, and with the BLAS that threadpoolctl reports.

    python benchmarks/cnn_speed.py                 # 5 rounds
    python benchmarks/cnn_speed.py --rounds 3 --engine reference
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Any

import numpy as np

import chainrule as cr
from chainrule.model.cnn import cnn1d, lenet


def mnist(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    d = cr.datasets.load("mnist")
    return d.X_train[:n].astype(np.float32), d.y_train[:n], d.X_test.astype(np.float32)


def torch_twin(net: cr.Sequential) -> Any:
    """torch.nn.Sequential of the same layers with ``net``'s weights (Conv/Dense/ReLU/pool)."""
    import torch
    from torch import nn

    mods: list[Any] = []
    for layer in net.layers:
        if isinstance(layer, (cr.Conv2D, cr.Conv1D)):
            one = isinstance(layer, cr.Conv1D)
            conv = (nn.Conv1d if one else nn.Conv2d)(
                layer.in_channels,
                layer.out_channels,
                layer.kw if one else (layer.kh, layer.kw),
                stride=layer.sw if one else (layer.sh, layer.sw),
                padding=layer.pw if one else (layer.ph, layer.pw),
            )
            conv.weight.data = torch.tensor(np.asarray(layer.W, np.float32)).reshape(
                conv.weight.shape
            )
            conv.bias.data = torch.tensor(np.asarray(layer.b, np.float32)[:, 0])
            mods.append(conv)
        elif isinstance(layer, cr.Dense):
            lin = nn.Linear(layer.n_in, layer.n_out)
            lin.weight.data = torch.tensor(np.asarray(layer.W, np.float32))
            lin.bias.data = torch.tensor(np.asarray(layer.b, np.float32)[:, 0])
            mods.append(lin)
        elif isinstance(layer, cr.ReLU):
            mods.append(nn.ReLU())
        elif isinstance(layer, cr.MaxPool2D):
            mods.append(nn.MaxPool2d((layer.kh, layer.kw)))
        elif isinstance(layer, cr.Flatten):
            mods.append(nn.Flatten())
        elif isinstance(layer, cr.Softmax):
            pass  # logits into F.cross_entropy, as chainrule's fused softmax + CE
        else:  # pragma: no cover
            raise TypeError(f"no torch twin for {type(layer).__name__}")
    return nn.Sequential(*mods)


class Chainrule:
    def __init__(self, net: cr.Sequential, X: np.ndarray, y: np.ndarray, batch: int, engine: str):
        self.net, self.X, self.y, self.batch, self.engine = net, X, y, batch, engine

    def epoch(self) -> float:
        t0 = time.perf_counter()
        self.net.fit(
            self.X, self.y, epochs=1, batch_size=self.batch, optimizer="adam", lr=1e-3,
            verbose=False, seed=0, engine=self.engine,
        )  # fmt: skip
        return time.perf_counter() - t0

    def infer(self, Xt: np.ndarray) -> float:
        t0 = time.perf_counter()
        for s in range(0, len(Xt), 1024):
            self.net.predict_proba(Xt[s : s + 1024])
        return len(Xt) / (time.perf_counter() - t0)


class Torch:
    def __init__(self, net: cr.Sequential, X: np.ndarray, y: np.ndarray, batch: int) -> None:
        import torch

        self.torch = torch
        self.model = torch_twin(net)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=1e-3)
        self.X, self.y, self.batch = (
            torch.from_numpy(X),
            torch.from_numpy(y.astype(np.int64)),
            batch,
        )

    def epoch(self) -> float:
        torch, model, opt = self.torch, self.model, self.opt
        model.train()
        t0 = time.perf_counter()
        perm = torch.randperm(self.X.shape[0])
        for s in range(0, self.X.shape[0], self.batch):
            idx = perm[s : s + self.batch]
            loss = torch.nn.functional.cross_entropy(model(self.X[idx]), self.y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return time.perf_counter() - t0

    def infer(self, Xt: np.ndarray) -> float:
        torch = self.torch
        self.model.eval()
        t0 = time.perf_counter()
        with torch.inference_mode():
            for s in range(0, len(Xt), 1024):
                torch.softmax(self.model(torch.from_numpy(Xt[s : s + 1024])), dim=1)
        return len(Xt) / (time.perf_counter() - t0)


def interleave(
    pairs: dict[str, tuple[Any, Any]], rounds: int, seconds: dict[str, list[tuple[float, float]]]
) -> dict[str, list[float]]:
    """{figure: [ours / theirs per round]} for every (ours, theirs) callable pair; ``seconds``
    receives each round's (ours, theirs) figures."""
    ratios: dict[str, list[float]] = {k: [] for k in pairs}
    for r in range(rounds):
        for name, (ours, theirs) in pairs.items():
            order = [ours, theirs] if r % 2 == 0 else [theirs, ours]
            got = {}
            for fn in order:
                fn()  # untimed: the other library's threads settle, caches fill
                got[fn] = fn()
            ratios[name].append(got[ours] / got[theirs])
            seconds.setdefault(name, []).append((got[ours], got[theirs]))
            shown = ratios[name][-1]
            if "samples/s" in name:  # the pair timed seconds per sample: show the rate ratio
                shown = 1 / shown
            print(f"round {r + 1} {name}: {shown:.3f}", flush=True)
    return ratios


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--examples", type=int, default=6000)
    p.add_argument("--engine", default="auto", choices=("auto", "fast", "reference"))
    args = p.parse_args(argv)

    import torch
    from threadpoolctl import threadpool_info, threadpool_limits

    torch.set_num_threads(args.threads)
    X, y, Xt = mnist(args.examples)
    net = lenet(channels=(16, 32), kernel_size=3, hidden=128, seed=0)
    ours, theirs = Chainrule(net, X, y, 64, args.engine), Torch(net, X, y, 64)
    d1 = cr.datasets.load("mnist1d")
    net1 = cnn1d((1, 40), channels=(25, 25, 25), kernel_size=(5, 3, 3), seed=0)
    X1 = d1.X_train.astype(np.float32)
    ours1, theirs1 = (
        Chainrule(net1, X1, d1.y_train, 100, args.engine),
        Torch(net1, X1, d1.y_train, 100),
    )
    with threadpool_limits(limits=args.threads):
        blas = "; ".join(
            f"{i.get('internal_api')} {i.get('version')} threads={i.get('num_threads')}"
            for i in threadpool_info()
        )
        pairs = {
            "MNIST CNN training epoch / PyTorch's": (ours.epoch, theirs.epoch),
            "MNIST CNN inference samples/s / PyTorch's": (
                lambda: 1.0 / ours.infer(Xt), lambda: 1.0 / theirs.infer(Xt),
            ),
            "MNIST-1D CNN training epoch / PyTorch's": (ours1.epoch, theirs1.epoch),
        }  # fmt: skip
        seconds: dict[str, list[tuple[float, float]]] = {}
        ratios = interleave(pairs, args.rounds, seconds)
    print(f"\n{args.threads} threads, engine {args.engine}; BLAS: {blas}")
    for name, r in ratios.items():
        med = statistics.median(r)
        if "samples/s" in name:  # the pair timed seconds per sample: invert to a rate ratio
            r, med = [1 / x for x in r], 1 / med
        ours_s = statistics.median(a for a, _ in seconds[name])
        theirs_s = statistics.median(b for _, b in seconds[name])
        unit = "s/sample" if "samples/s" in name else "s"
        print(
            f"{name}: {med:.3f} (min {min(r):.3f}, max {max(r):.3f}) over {len(r)} rounds; "
            f"medians chainrule {ours_s:.4g} {unit}, PyTorch {theirs_s:.4g} {unit}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
