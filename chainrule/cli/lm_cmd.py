"""``chainrule train --data shakespeare --model gpt`` and ``chainrule generate``: language models.

    chainrule train --data shakespeare --model gpt --steps 2000 --save gpt.npz
    chainrule train --data names --model gru --steps 3000
    chainrule train --data my_text.txt --model gpt --n-layer 2 --n-embd 64
    chainrule generate --model gpt.npz --prompt "ROMEO:" --tokens 300

The model file keeps the vocabulary, so ``generate`` turns ids back into text.
"""

from __future__ import annotations

import argparse
from typing import Any

import chainrule as cr
from chainrule.validation import check_positive_int

__all__ = [
    "add_lm_args",
    "train_lm",
    "is_text_request",
    "cmd_generate",
    "add_generate_args",
    "LM_MODELS",
]

#: --model choices for text data
LM_MODELS = ("gpt", "gru", "rnn")


def add_lm_args(p: argparse.ArgumentParser) -> None:
    """Options of ``train`` for text data (``--model gpt|gru|rnn``)."""
    g = p.add_argument_group("language models (text data: names, shakespeare, a .txt file)")
    g.add_argument(
        "--model",
        choices=LM_MODELS,
        help="train a language model: gpt, gru or rnn (default: gpt for text data)",
    )
    g.add_argument("--steps", type=int, default=1000, help="training steps (default: 1000)")
    g.add_argument("--block-size", type=int, default=64, help="context length (default: 64)")
    g.add_argument(
        "--n-layer", type=int, default=4, help="transformer blocks of a gpt (default: 4)"
    )
    g.add_argument("--n-head", type=int, default=4, help="attention heads of a gpt (default: 4)")
    g.add_argument("--n-embd", type=int, default=128, help="embedding / hidden size (default: 128)")
    g.add_argument(
        "--dropout", type=float, default=0.0, help="dropout rate of a gpt (default: 0, none)"
    )
    g.add_argument(
        "--warmup", type=int, default=100, help="warmup steps of the cosine schedule (default: 100)"
    )
    g.add_argument(
        "--eval-every",
        type=int,
        default=100,
        help="steps between train/val loss estimates and checkpoints (default: 100)",
    )


def _load_text(args: argparse.Namespace) -> Any:
    if args.data.lower().endswith(".txt"):
        return cr.datasets.load("text", path=args.data)
    return cr.datasets.load(args.data)


def is_text_request(args: argparse.Namespace) -> bool:
    """True when ``train`` should train a language model (text data or ``--model``)."""
    return (
        bool(getattr(args, "model", None))
        or args.data.lower().endswith(".txt")
        or (args.data.lower() in ("names", "shakespeare", "text"))
    )


def train_lm(args: argparse.Namespace) -> int:
    for flag in ("steps", "block_size", "n_layer", "n_head", "n_embd", "eval_every"):
        check_positive_int("--" + flag.replace("_", "-"), getattr(args, flag))
    data = _load_text(args)
    if not hasattr(data, "train_ids"):
        raise ValueError(f"--model {args.model} needs text data (names, shakespeare, a .txt file)")
    kind = args.model or "gpt"
    V, T = data.vocab.size, args.block_size
    if kind == "gpt":
        net = cr.models.gpt(V, T, args.n_layer, args.n_head, args.n_embd, args.dropout, args.seed)
    else:
        build = cr.models.gru_lm if kind == "gru" else cr.models.rnn_lm
        net = build(V, n_embd=args.n_embd, n_hidden=args.n_embd, block_size=T, seed=args.seed)
    net.vocabulary = data.vocab
    if not args.quiet:
        print(f"data: {data.name}: {data.description}")
        print(net.summary().splitlines()[-1])
    lr = args.lr if args.lr is not None else 1e-3  # a dense network's default is 0.1
    note = ""
    if args.resume:
        from chainrule.cli.flags import resumed_epoch

        done = resumed_epoch(args.resume)
        if done >= args.steps:
            note = (
                f"note: {args.resume} already held {done} steps (--steps {args.steps}), so "
                "nothing was trained; rerun with a larger --steps to train on"
            )
    from chainrule.cli.flags import flag_advice

    with flag_advice():
        net.fit_lm(
            data.train_ids,
            data.val_ids,
            steps=args.steps,
            batch_size=args.batch_size,
            optimizer=cr.optim.AdamW(lr=lr, beta2=0.99, weight_decay=args.weight_decay or 0.1),
            schedule=cr.optim.CosineLR(
                total=args.steps, warmup=min(args.warmup, args.steps - 1), min_lr=lr / 10
            ),
            clip_grad_norm=args.clip_grad_norm or 1.0,
            eval_every=args.eval_every,
            seed=args.seed,
            verbose=not args.quiet,
            checkpoint=args.checkpoint or args.resume,  # --resume alone keeps checkpointing there
            checkpoint_every=args.eval_every,  # a language model's checkpoints: at every estimate
            resume=args.resume,
        )
    print(f"val loss: {net.history['val_loss'][-1]:.4f}")
    sample = net.generate(data.vocab.encode(data.vocab.decode(data.val_ids[:1])), 200, seed=0)
    print("sample:\n" + data.vocab.decode(sample))
    if args.save:
        net.save(args.save)
    if note:
        print(note)
    return 0


def add_generate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--model", required=True, help="a language model saved by train --save (required)"
    )
    p.add_argument("--prompt", default="", help="the text to continue (default: none)")
    p.add_argument("--tokens", type=int, default=300, help="how many tokens to add (default: 300)")
    p.add_argument(
        "--temperature",
        type=float,
        default=1.0,
        help="below 1: likelier tokens, above 1: more random ones (default: 1.0)",
    )
    p.add_argument(
        "--top-k", type=int, help="sample only among the k most likely tokens (default: all tokens)"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the sampling (default: 0)")


def cmd_generate(args: argparse.Namespace) -> int:
    from chainrule.model.files import load

    net = load(args.model)
    vocab = getattr(net, "vocabulary", None)
    if vocab is None:
        raise ValueError(f"{args.model} holds no vocabulary: it is not a language model file")
    ids = net.generate(
        vocab.encode(args.prompt), args.tokens, args.temperature, args.top_k, args.seed
    )
    print(vocab.decode(ids))
    return 0
