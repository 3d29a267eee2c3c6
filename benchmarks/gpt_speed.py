"""GPT training step time: chainrule vs PyTorch eager (CPU), the same model and weights, ONE run.

The shakespeare configuration of nanoGPT's CPU run: 4 layers, 4 heads, n_embd 128, block 64,
batch 12, vocabulary 75, AdamW, gradients clipped at 1.0, float32. PyTorch runs the same
architecture (pre-LN blocks, ``scaled_dot_product_attention(is_causal=True)``, tanh GELU) from
chainrule's initial weights. chainrule runs what ``fit_lm`` runs for a GPT: the fast engine's
``SequencePlan`` (its tanh GELUs in place); the reference engine is timed in the same rounds.
Rounds alternate which library goes first; each round times
``--steps`` training steps of each (after untimed warm-up steps); the figure is the median over
rounds of chainrule's step time over PyTorch's. Both use the same thread count.

    python benchmarks/gpt_speed.py                  # 7 rounds of 10 steps
    python benchmarks/gpt_speed.py --rounds 3 --steps 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Any

import numpy as np

import chainrule as cr
from chainrule.fast.sequence import SequencePlan
from chainrule.train.lm import one_hot_targets, sample_windows
from chainrule.train.step import train_step

CONFIG = {"vocab_size": 75, "block_size": 64, "n_layer": 4, "n_head": 4, "n_embd": 128}
BATCH = 12


def torch_gpt(net: cr.Sequential) -> Any:
    """A torch.nn.Module computing what ``net`` (cr.models.gpt) computes, with its weights."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    def param(a: np.ndarray) -> Any:
        return nn.Parameter(torch.tensor(np.asarray(a, dtype=np.float32)))

    class Block(nn.Module):
        def __init__(self, block: Any) -> None:
            super().__init__()
            ln1, att, _ = block.layers[0].block.layers
            ln2, up, _, down, _ = block.layers[1].block.layers
            self.n_head = att.n_head
            self.g1, self.b1 = param(ln1.gamma[:, 0]), param(ln1.beta[:, 0])
            self.W_qkv, self.b_qkv = param(att.W_qkv), param(att.b_qkv[:, 0])
            self.W_o, self.b_o = param(att.W_o), param(att.b_o[:, 0])
            self.g2, self.b2 = param(ln2.gamma[:, 0]), param(ln2.beta[:, 0])
            self.W_up, self.b_up = param(up.W), param(up.b[:, 0])
            self.W_down, self.b_down = param(down.W), param(down.b[:, 0])

        def forward(self, x: Any) -> Any:  # (m, T, C)
            m, T, C = x.shape
            h = F.layer_norm(x, (C,), self.g1, self.b1, 1e-5)
            q, k, v = (h @ self.W_qkv.T + self.b_qkv).split(C, dim=2)
            q, k, v = (
                t.view(m, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v)
            )
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + (y.transpose(1, 2).reshape(m, T, C) @ self.W_o.T + self.b_o)
            h = F.layer_norm(x, (C,), self.g2, self.b2, 1e-5)
            h = F.gelu(h @ self.W_up.T + self.b_up, approximate="tanh")
            return x + (h @ self.W_down.T + self.b_down)

    class GPT(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.wte, self.wpe = param(net.layers[0].W.T), param(net.layers[1].W.T)
            self.blocks = nn.ModuleList(Block(b) for b in net.layers[3:-3])
            lnf, head = net.layers[-3], net.layers[-2]
            self.gf, self.bf = param(lnf.gamma[:, 0]), param(lnf.beta[:, 0])
            self.W_head, self.b_head = param(head.W), param(head.b[:, 0])

        def forward(self, idx: Any) -> Any:  # (m, T) -> logits (m, T, V)
            x = self.wte[idx] + self.wpe[: idx.shape[1]]
            for block in self.blocks:
                x = block(x)
            x = F.layer_norm(x, (x.shape[-1],), self.gf, self.bf, 1e-5)
            return x @ self.W_head.T + self.b_head

    return GPT()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--steps", type=int, default=10, help="timed steps per library per round")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = p.parse_args(argv)
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    ids = rng.integers(0, CONFIG["vocab_size"], 200_000)  # the step time does not depend on text
    net = cr.models.gpt(**CONFIG, seed=0)
    model = torch_gpt(net)
    ours = cr.optim.AdamW(lr=1e-3, beta2=0.99, weight_decay=0.1)
    theirs = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.99), weight_decay=0.1)
    T, V = CONFIG["block_size"], CONFIG["vocab_size"]

    plan = SequencePlan(net)  # what fit_lm's engine="auto" runs for a GPT

    def chainrule_steps(n: int, fast: bool = True) -> float:
        t0 = time.perf_counter()
        for _ in range(n):
            X, Y = sample_windows(ids, T, BATCH, rng)
            net.train()
            run = plan.forward_backward if fast else None
            train_step(net, X.T, one_hot_targets(Y, V, net.dtype), ours, 1.0, run)
        return (time.perf_counter() - t0) / n

    def torch_steps(n: int) -> float:
        t0 = time.perf_counter()
        for _ in range(n):
            X, Y = sample_windows(ids, T, BATCH, rng)
            logits = model(torch.from_numpy(X))
            loss = torch.nn.functional.cross_entropy(
                logits.reshape(-1, V), torch.from_numpy(Y).reshape(-1)
            )
            theirs.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            theirs.step()
        return (time.perf_counter() - t0) / n

    ratios, times = [], {"chainrule": [], "torch": [], "chainrule reference": []}
    with threadpool_limits(limits=args.threads):
        chainrule_steps(2), torch_steps(2)  # warm-up
        for r in range(args.rounds):
            order = [
                ("chainrule", chainrule_steps),
                ("torch", torch_steps),
                ("chainrule reference", lambda n: chainrule_steps(n, fast=False)),
            ]
            for name, fn in order if r % 2 == 0 else order[::-1]:
                fn(1)  # one untimed step right before: the other library's threads settle
                times[name].append(fn(args.steps))
            ratios.append(times["chainrule"][-1] / times["torch"][-1])
            print(
                f"round {r + 1}: chainrule {times['chainrule'][-1] * 1e3:.1f} ms/step, "
                f"torch {times['torch'][-1] * 1e3:.1f} ms/step, ratio {ratios[-1]:.2f} "
                f"(reference engine {times['chainrule reference'][-1] * 1e3:.1f} ms/step)",
                flush=True,
            )
    med = statistics.median(ratios)
    print(
        f"\nGPT {CONFIG}, batch {BATCH}, {args.threads} threads: chainrule / PyTorch eager step "
        f"time {med:.2f} (min {min(ratios):.2f}, max {max(ratios):.2f}); "
        f"chainrule {statistics.median(times['chainrule']) * 1e3:.0f} ms, "
        f"torch {statistics.median(times['torch']) * 1e3:.0f} ms per step; target <= 1.0; "
        f"the reference engine {statistics.median(times['chainrule reference']) * 1e3:.0f} ms"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
