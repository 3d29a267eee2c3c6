"""Shared helpers for the language-model examples: arguments, a run of fit_lm, a sample."""

from __future__ import annotations

import argparse
import time
from typing import Any

import chainrule as cr


def parse_args(description: str, **defaults: Any) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=description)
    for name, value in defaults.items():
        p.add_argument("--" + name.replace("_", "-"), type=type(value), default=value)
    p.add_argument("--save", default="", help="save the trained model to this .npz file")
    p.add_argument(
        "--torch-steps", type=int, default=20, help="time PyTorch eager on the same GPT (0: skip)"
    )
    return p.parse_args()


def time_torch(net: cr.Sequential, data: Any, args: argparse.Namespace) -> float:
    """Seconds per training step of the same GPT in PyTorch eager, from the same initial weights
    (benchmarks/gpt_speed.py's replica), on the same batches' shapes and thread count."""
    import sys
    from pathlib import Path

    import numpy as np
    import torch

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    from gpt_speed import torch_gpt

    from chainrule.train.lm import sample_windows

    model = torch_gpt(net)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, args.beta2))
    rng = np.random.default_rng(args.seed)
    V, T = data.vocab.size, net.input_shape[0]
    times = []
    for i in range(args.torch_steps + 2):
        X, Y = sample_windows(data.train_ids, T, args.batch_size, rng)
        t0 = time.perf_counter()
        loss = torch.nn.functional.cross_entropy(
            model(torch.from_numpy(X)).reshape(-1, V), torch.from_numpy(Y).reshape(-1)
        )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if i >= 2:  # two warm-up steps
            times.append(time.perf_counter() - t0)
    return float(np.median(times))


def train_and_sample(
    net: cr.Sequential,
    data: Any,
    args: argparse.Namespace,
    prompt: str,
    separator: int | None = None,
) -> Any:
    """fit_lm with AdamW, warmup + cosine decay to min_lr, clipping; then a sample.

    ``separator``: the data are documents separated by that token (names): windows start at a
    document, and the loss over whole documents (makemore's measure) is printed too.
    """
    print(net.summary().splitlines()[-1])
    initial = net.copy()  # PyTorch starts from these weights
    schedule = cr.optim.CosineLR(total=args.steps, warmup=args.warmup, min_lr=args.min_lr)
    t0 = time.perf_counter()
    hist = net.fit_lm(
        data.train_ids,
        data.val_ids,
        steps=args.steps,
        batch_size=args.batch_size,
        optimizer=cr.optim.AdamW(lr=args.lr, beta2=args.beta2, weight_decay=args.weight_decay),
        schedule=schedule,
        clip_grad_norm=1.0,
        eval_every=args.eval_every,
        eval_batches=args.eval_batches,
        seed=args.seed,
        start_token=separator,
    )
    total = time.perf_counter() - t0
    best = min(hist["val_loss"])
    print(f"\nfinal train loss {hist['train_loss'][-1]:.4f}, val loss {hist['val_loss'][-1]:.4f}")
    print(f"best val loss {best:.4f}; {total:.0f} s, {total / args.steps:.3f} s/step")
    if separator is not None:
        from chainrule.train.documents import document_loss

        val, test = (document_loss(net, ids, separator) for ids in (data.val_ids, data.test_ids))
        print(f"loss over whole documents, each from its start: val {val:.4f}, test {test:.4f}")
        hist["document_val_loss"], hist["document_test_loss"] = val, test
    ids = net.generate(data.vocab.encode(prompt), args.sample_tokens, seed=args.seed, top_k=None)
    print("\n--- sample ---\n" + data.vocab.decode(ids))
    if args.torch_steps > 0:
        theirs = time_torch(initial, data, args)
        ours = total / args.steps  # includes the estimates: an upper bound on the step time
        print(
            f"\nPyTorch eager, same GPT and weights: {theirs:.3f} s/step "
            f"(chainrule / PyTorch <= {ours / theirs:.2f}x, chainrule's figure includes its estimates)"
        )
    if args.save:
        net.save(args.save)
    return hist
