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
    return p.parse_args()


def train_and_sample(net: cr.Sequential, data: Any, args: argparse.Namespace, prompt: str) -> Any:
    """fit_lm with AdamW, warmup + cosine decay to min_lr, clipping; then a sample."""
    print(net.summary().splitlines()[-1])
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
    )
    total = time.perf_counter() - t0
    best = min(hist["val_loss"])
    print(f"\nfinal train loss {hist['train_loss'][-1]:.4f}, val loss {hist['val_loss'][-1]:.4f}")
    print(f"best val loss {best:.4f}; {total:.0f} s, {total / args.steps:.3f} s/step")
    ids = net.generate(data.vocab.encode(prompt), args.sample_tokens, seed=args.seed, top_k=None)
    print("\n--- sample ---\n" + data.vocab.decode(ids))
    if args.save:
        net.save(args.save)
    return hist
