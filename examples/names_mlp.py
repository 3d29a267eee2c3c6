"""makemore's MLP on US baby names (target: val loss <= 2.17, the lecture's dev loss).

    python examples/names_mlp.py

Bengio et al. 2003 as in "Neural Networks: Zero to Hero", part 3: the previous 3 characters,
an embedding of 10 numbers each, 200 tanh units, a softmax over the 27 characters. SGD with
batch 32 for 200,000 steps, lr 0.1 then 0.01 from step 100,000 (a step schedule).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import chainrule as cr
from chainrule.data.windows import context_windows


def time_torch(
    net: cr.Sequential, X: np.ndarray, y: np.ndarray, batch: int, steps: int, seed: int
) -> float:
    """Seconds per SGD step of the same network in PyTorch (the same threads as chainrule)."""
    import torch
    from torch import nn

    emb, _, hidden, _, out, _ = net.layers
    torch.manual_seed(seed)

    class CharMLP(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = nn.Embedding(emb.vocab_size, emb.n_embd)
            self.hidden, self.out = (
                nn.Linear(hidden.n_in, hidden.n_out),
                nn.Linear(out.n_in, out.n_out),
            )
            with torch.no_grad():  # chainrule's Embedding W is (n_embd, V): column j is token j
                self.emb.weight.copy_(torch.from_numpy(np.asarray(emb.W.T, np.float32)))
                for mod, layer in ((self.hidden, hidden), (self.out, out)):
                    mod.weight.copy_(torch.from_numpy(np.asarray(layer.W, np.float32)))
                    mod.bias.copy_(torch.from_numpy(np.asarray(layer.b[:, 0], np.float32)))

        def forward(self, ids: torch.Tensor) -> torch.Tensor:  # (m, 3) -> logits (m, V)
            e = self.emb(ids).transpose(1, 2).flatten(1)  # (m, n_embd * 3), chainrule's order
            return self.out(torch.tanh(self.hidden(e)))

    model = CharMLP()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    Xt, yt = torch.from_numpy(X.astype(np.int64)), torch.from_numpy(y.astype(np.int64))
    gen = torch.Generator().manual_seed(seed)
    t0 = time.perf_counter()
    for _ in range(steps):
        idx = torch.randint(0, len(Xt), (batch,), generator=gen)
        loss = nn.functional.cross_entropy(model(Xt[idx]), yt[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return (time.perf_counter() - t0) / steps


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=200_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--torch-steps", type=int, default=20_000, help="0 skips the PyTorch timing")
    args = p.parse_args()
    data = cr.datasets.load("names")
    enc = data.vocab.encode
    Xtr, ytr = context_windows(data.train_words, enc, context=3)
    Xva, yva = context_windows(data.val_words, enc, context=3)
    print(f"{len(Xtr):,} training windows, {len(Xva):,} validation windows")
    net = cr.models.char_mlp(data.vocab.size, context=3, n_embd=10, n_hidden=200, seed=args.seed)
    initial = net.copy()  # PyTorch starts from these weights
    batch = 32
    epochs = max(1, round(args.steps * batch / len(Xtr)))
    t0 = time.perf_counter()
    hist = net.fit(
        Xtr, ytr, epochs=epochs, batch_size=batch, optimizer="sgd", lr=0.1,
        schedule=cr.optim.StepLR(args.steps // 2, gamma=0.1, interval="step"),
        validation_data=(Xva, yva), verbose=True, seed=args.seed,
    )  # fmt: skip
    total = time.perf_counter() - t0
    steps = epochs * -(-len(Xtr) // batch)
    print(
        f"\n{epochs} epochs ({steps:,} steps) in {total:.0f} s, {total / steps * 1e6:.0f} us/step"
    )
    print(f"train loss {net.cost(Xtr, ytr):.4f}, val loss {net.cost(Xva, yva):.4f}")
    names = []
    for s in range(10):
        ids = net.generate(np.zeros(0, dtype=np.int64), 20, seed=s, stop_token=0)
        names.append(data.vocab.decode(ids[ids != 0]))
    print("samples:", ", ".join(names))
    if args.torch_steps > 0:
        theirs = time_torch(initial, Xtr, ytr, batch, args.torch_steps, args.seed)
        print(
            f"PyTorch, same MLP and initial weights, SGD batch {batch}: {theirs * 1e6:.0f} us/step "
            f"(chainrule / PyTorch = {total / steps / theirs:.2f}x, chainrule's figure includes "
            "its per-epoch validation)"
        )
