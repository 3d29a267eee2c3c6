"""A GPT on US baby names (target: val loss <= 2.00; makemore's transformer: test loss ~1.92).

    python examples/names_gpt.py

makemore's default transformer: 4 layers, 4 heads, n_embd 64, batch 32, AdamW with weight decay
0.01 (makemore: lr 5e-4, no dropout; here 2e-3 -> 2e-4, cosine, 15,000 steps, dropout 0.1: val
2.040; without dropout 2.060, and lr 5e-4 for 5,000 steps 2.132). The 23,928 training names are
fewer than makemore's ~31,000, and the network overfits them without dropout. Its block is one name (up to 15 letters + '.'); here the names are one stream
separated by '.', read in random windows of 16 characters, so every position still predicts its
next letter (or the end of its name) from the letters before it.
"""

from _lm import parse_args, train_and_sample

import chainrule as cr

if __name__ == "__main__":
    args = parse_args(
        __doc__.splitlines()[0],
        steps=15000, batch_size=32, block_size=16, n_layer=4, n_head=4, n_embd=64, dropout=0.1,
        lr=2e-3, min_lr=2e-4, warmup=100, beta2=0.99, weight_decay=0.01, eval_every=1500,
        eval_batches=20, seed=0, sample_tokens=200,
    )  # fmt: skip
    data = cr.datasets.load("names")
    net = cr.models.gpt(
        data.vocab.size, args.block_size, args.n_layer, args.n_head, args.n_embd, args.dropout,
        seed=args.seed,
    )  # fmt: skip
    train_and_sample(net, data, args, prompt=".", separator=data.vocab.encode(".")[0])
