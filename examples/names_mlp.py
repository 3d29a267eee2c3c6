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

if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=200_000)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    data = cr.datasets.load("names")
    enc = data.vocab.encode
    Xtr, ytr = context_windows(data.train_words, enc, context=3)
    Xva, yva = context_windows(data.val_words, enc, context=3)
    print(f"{len(Xtr):,} training windows, {len(Xva):,} validation windows")
    net = cr.models.char_mlp(data.vocab.size, context=3, n_embd=10, n_hidden=200, seed=args.seed)
    batch = 32
    epochs = max(1, round(args.steps * batch / len(Xtr)))
    t0 = time.perf_counter()
    hist = net.fit(
        Xtr, ytr, epochs=epochs, batch_size=batch, optimizer="sgd", lr=0.1,
        schedule=cr.optim.StepLR(args.steps // 2, gamma=0.1, interval="step"),
        validation_data=(Xva, yva), verbose=True, seed=args.seed,
    )  # fmt: skip
    print(
        f"\n{epochs} epochs (~{epochs * len(Xtr) // batch:,} steps) in {time.perf_counter() - t0:.0f} s"
    )
    print(f"train loss {net.cost(Xtr, ytr):.4f}, val loss {net.cost(Xva, yva):.4f}")
    names = []
    for s in range(10):
        ids = net.generate(np.zeros(0, dtype=np.int64), 20, seed=s, stop_token=0)
        names.append(data.vocab.decode(ids[ids != 0]))
    print("samples:", ", ".join(names))
