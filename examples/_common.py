"""Shared helpers for the example runs: argument parsing, the chainrule run, the PyTorch timing.

Every example trains a chainrule network, prints its test accuracy and wall time per epoch, then
trains the SAME architecture (same layer sizes, same initial weights, same optimizer and batch
size) in PyTorch on the same number of threads and prints PyTorch's time per epoch.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import chainrule as cr


def parse_args(
    description: str,
    epochs: int,
    lr: float,
    batch_size: int,
    threads: int = 0,
    torch_epochs: int = 1,
    decay_epochs: int = 0,
    weight_decay: float = 0.0,
    cosine: bool = False,
) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--epochs", type=int, default=epochs)
    p.add_argument("--lr", type=float, default=lr)
    p.add_argument("--batch-size", type=int, default=batch_size)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--decay-epochs", type=int, default=decay_epochs, help="last N epochs at lr * 0.1"
    )
    p.add_argument(
        "--weight-decay", type=float, default=weight_decay, help="> 0: AdamW with this decay"
    )
    p.add_argument(
        "--cosine",
        action=argparse.BooleanOptionalAction,
        default=cosine,
        help="cosine decay of the learning rate to 0 over the run",
    )
    p.add_argument("--threads", type=int, default=threads or 1)
    p.add_argument("--subset", type=int, default=0, help="train on the first N examples only")
    p.add_argument(
        "--torch-epochs", type=int, default=torch_epochs, help="0 skips the PyTorch timing"
    )
    p.add_argument("--save", default="", help="save the trained model to this .npz file")
    return p.parse_args()


def limit_threads(n: int) -> Any:
    """Limit NumPy's BLAS to n threads (threadpoolctl, when installed)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        return None
    return threadpool_limits(limits=n)


def run_chainrule(
    net: cr.Sequential,
    data: cr.datasets.Dataset,
    args: argparse.Namespace,
    flat: bool = False,
    **fit_kwargs: Any,
) -> dict[str, Any]:
    Xtr, ytr, Xte, yte = data.X_train, data.y_train, data.X_test, data.y_test
    if args.subset:
        Xtr, ytr = Xtr[: args.subset], ytr[: args.subset]
    if flat:
        Xtr, Xte = Xtr.reshape(len(Xtr), -1), Xte.reshape(len(Xte), -1)
    print(net.summary())
    t0 = time.perf_counter()
    # optional step decay: the last ``decay_epochs`` epochs run at lr * 0.1 (a fresh Adam)
    phases = [(args.epochs - args.decay_epochs, args.lr), (args.decay_epochs, args.lr * 0.1)]
    times: list[float] = []
    for i, (n_epochs, lr) in enumerate(p for p in phases if p[0] > 0):
        if i:
            print(f"learning rate -> {lr:g}")
        if args.weight_decay > 0:  # AdamW: the decay taken out of the gradient
            opt: Any = {"optimizer": cr.optim.AdamW(lr=lr, weight_decay=args.weight_decay)}
        else:
            opt = {"optimizer": "adam", "lr": lr}
        if args.cosine:
            steps = n_epochs * -(-len(Xtr) // args.batch_size)
            opt["schedule"] = cr.optim.CosineLR(total=steps)
        hist = net.fit(
            Xtr,
            ytr,
            epochs=n_epochs,
            batch_size=args.batch_size,
            **opt,
            seed=args.seed + i,
            verbose=False,
            callbacks=[_printer(net, Xte, yte, offset=len(times))],
            **fit_kwargs,
        )
        times += hist["epoch_time"]
    total = time.perf_counter() - t0
    acc = net.score(Xte, yte)
    if args.save:
        net.save(args.save)
    return {
        "test_accuracy": acc,
        "epoch_time_median": float(np.median(times)),
        "total_time": total,
    }


def _printer(
    net: cr.Sequential, Xte: np.ndarray, yte: np.ndarray, offset: int = 0
) -> Callable[..., None]:
    def cb(net_: cr.Sequential, epoch: int, logs: dict[str, Any]) -> None:
        acc = float((net_.decision_output(Xte).argmax(axis=1) == yte).mean())
        net_.train()
        print(
            f"epoch {epoch + offset:3d}  cost {logs['cost']:.4f}  "
            f"train acc {logs.get('accuracy', 0):.4f}"
            f"  test acc {acc:.4f}  epoch time {logs['epoch_time']:.1f} s",
            flush=True,
        )

    return cb


def torch_model_from(net: Any) -> Any:
    """The same architecture in torch.nn, with chainrule's initial weights copied in.

    ``net`` is a network or any container of layers; a ``Residual`` block becomes a module that
    returns x + block(x), nested blocks nested modules.
    """
    import torch
    from torch import nn

    class TorchResidual(nn.Module):
        def __init__(self, block: Any) -> None:
            super().__init__()
            self.block = block

        def forward(self, x: Any) -> Any:
            return x + self.block(x)

    class TorchGRU(nn.Module):
        """chainrule's GRU on (m, C, T): torch.nn.GRU on (m, T, C), its output back to
        (m, directions * H, T), so that Flatten orders the features as chainrule's does."""

        def __init__(self, gru: Any) -> None:
            super().__init__()
            self.gru = nn.GRU(
                gru.n_in, gru.n_hidden, batch_first=True, bidirectional=gru.bidirectional
            )
            with torch.no_grad():
                for suffix in ("", "_reverse") if gru.bidirectional else ("",):
                    for ours, theirs in (("W_ih", "weight_ih"), ("W_hh", "weight_hh")):
                        w = np.asarray(getattr(gru, ours + suffix), dtype=np.float32)
                        getattr(self.gru, f"{theirs}_l0{suffix}").copy_(torch.from_numpy(w))
                    for ours, theirs in (("b_ih", "bias_ih"), ("b_hh", "bias_hh")):
                        b = np.asarray(getattr(gru, ours + suffix)[:, 0], dtype=np.float32)
                        getattr(self.gru, f"{theirs}_l0{suffix}").copy_(torch.from_numpy(b))

        def forward(self, x: Any) -> Any:
            out, _ = self.gru(x.transpose(1, 2))  # (m, T, D*H)
            return out.transpose(1, 2)  # (m, D*H, T)

    mods: list[Any] = []
    for layer in net.layers:
        if isinstance(layer, cr.GRU):
            mods.append(TorchGRU(layer))
            continue
        if isinstance(layer, cr.Residual):
            block = layer.block
            inner = torch_model_from(
                block if hasattr(block, "layers") else cr.nn.Sequential([block])
            )
            mods.append(TorchResidual(inner))
            continue
        if isinstance(layer, cr.nn.Sequential):
            mods.append(torch_model_from(layer))
            continue
        if isinstance(layer, cr.Conv2D):
            mod = nn.Conv2d(
                layer.in_channels,
                layer.out_channels,
                (layer.kh, layer.kw),
                stride=(layer.sh, layer.sw),
                padding=(layer.ph, layer.pw),
            )
        elif isinstance(layer, cr.Conv1D):
            mod = nn.Conv1d(
                layer.in_channels, layer.out_channels, layer.kw, stride=layer.sw, padding=layer.pw
            )
        elif isinstance(layer, cr.Dense):
            mod = nn.Linear(layer.n_in, layer.n_out)
        elif isinstance(layer, cr.BatchNorm):
            mod = nn.BatchNorm2d(layer.num_features, eps=layer.eps, momentum=layer.momentum)
        elif isinstance(layer, cr.ReLU):
            mod = nn.ReLU()
        elif isinstance(layer, cr.MaxPool2D):
            mod = nn.MaxPool2d((layer.kh, layer.kw), (layer.sh, layer.sw), (layer.ph, layer.pw))
        elif isinstance(layer, cr.Flatten):
            mod = nn.Flatten()
        elif isinstance(layer, cr.Dropout):
            mod = nn.Dropout(layer.p)
        elif isinstance(layer, cr.Softmax):
            continue  # CrossEntropyLoss takes logits
        else:
            raise TypeError(f"no torch equivalent wired for {type(layer).__name__}")
        if hasattr(layer, "W"):
            with torch.no_grad():
                mod.weight.copy_(torch.from_numpy(np.asarray(layer.W, dtype=np.float32)))
                mod.bias.copy_(torch.from_numpy(np.asarray(layer.b[:, 0], dtype=np.float32)))
        mods.append(mod)
    return nn.Sequential(*mods)


def run_torch(
    net: cr.Sequential,
    data: cr.datasets.Dataset,
    args: argparse.Namespace,
    flat: bool = False,
) -> dict[str, Any]:
    """Train the same architecture in PyTorch for ``args.torch_epochs`` epochs; time each."""
    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    model = torch_model_from(net)
    Xtr, ytr = data.X_train, data.y_train
    if args.subset:
        Xtr, ytr = Xtr[: args.subset], ytr[: args.subset]
    if flat:
        Xtr = Xtr.reshape(len(Xtr), -1)
    X = torch.from_numpy(np.ascontiguousarray(Xtr, dtype=np.float32))
    y = torch.from_numpy(np.asarray(ytr, dtype=np.int64))
    if args.weight_decay > 0:
        opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    else:
        opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    loss_fn = torch.nn.CrossEntropyLoss()
    times = []
    gen = torch.Generator().manual_seed(args.seed)
    for _ in range(args.torch_epochs):
        model.train()
        t0 = time.perf_counter()
        perm = torch.randperm(len(X), generator=gen)
        Xs, ys = X[perm], y[perm]
        for s in range(0, len(X), args.batch_size):
            opt.zero_grad()
            loss = loss_fn(model(Xs[s : s + args.batch_size]), ys[s : s + args.batch_size])
            loss.backward()
            opt.step()
        times.append(time.perf_counter() - t0)
    model.eval()
    Xte = data.X_test.reshape(len(data.X_test), -1) if flat else data.X_test
    with torch.no_grad():
        pred = model(torch.from_numpy(np.ascontiguousarray(Xte, dtype=np.float32))).argmax(1)
    acc = float((pred.numpy() == data.y_test).mean())
    return {"epoch_time_median": float(np.median(times)), "test_accuracy": acc}


def report(name: str, args: argparse.Namespace, ours: dict[str, Any], theirs: dict | None) -> None:
    print(f"\n=== {name} ===")
    print(
        f"threads: {args.threads}; epochs: {args.epochs} (last {args.decay_epochs} at lr/10); "
        f"batch size: {args.batch_size}; lr: {args.lr:g}"
        + (f"; AdamW weight decay {args.weight_decay:g}" if args.weight_decay > 0 else "")
        + ("; cosine decay" if args.cosine else "")
    )
    print(f"chainrule test accuracy: {ours['test_accuracy'] * 100:.2f}%")
    print(f"chainrule wall time per epoch (median): {ours['epoch_time_median']:.2f} s")
    print(f"chainrule total training time: {ours['total_time']:.1f} s")
    if theirs is not None:
        ratio = ours["epoch_time_median"] / theirs["epoch_time_median"]
        print(
            f"PyTorch wall time per epoch (median of {args.torch_epochs}): "
            f"{theirs['epoch_time_median']:.2f} s  (chainrule / PyTorch = {ratio:.2f}x); "
            f"PyTorch test accuracy after {args.torch_epochs} epoch(s): "
            f"{theirs['test_accuracy'] * 100:.2f}%"
        )


def main(
    name: str,
    dataset: str,
    build: Callable[[argparse.Namespace], cr.Sequential],
    epochs: int,
    lr: float,
    batch_size: int,
    flat: bool = False,
    threads: int = 0,
    torch_epochs: int = 1,
    decay_epochs: int = 0,
    weight_decay: float = 0.0,
    cosine: bool = False,
    **fit_kwargs: Any,
) -> dict[str, Any]:
    args = parse_args(
        name, epochs, lr, batch_size, threads, torch_epochs, decay_epochs, weight_decay, cosine
    )
    with limit_threads(args.threads):
        data = cr.datasets.load(dataset)
        net = build(args)
        ours = run_chainrule(net.copy(), data, args, flat=flat, **fit_kwargs)
        theirs = run_torch(net, data, args, flat=flat) if args.torch_epochs > 0 else None
    report(name, args, ours, theirs)
    return ours
