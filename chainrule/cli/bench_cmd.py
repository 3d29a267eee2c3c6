"""``chainrule bench``: the vectorization lab (loops vs vectors vs matrix products)."""

from __future__ import annotations

import argparse

from chainrule.cli.main import register_command

__all__ = ["cmd_bench", "add_bench_args"]


#: what the lab's options without their own help mean
MEANINGS = {
    "--seed": "seed of the random weights and examples",
    "--repeats": "best of this many runs",
}


def add_bench_args(parser: argparse.ArgumentParser) -> None:
    from chainrule.learn.lab import add_arguments

    add_arguments(parser)
    for action in parser._actions:  # every option says what it means and its default
        flag = max(action.option_strings, key=len, default="")
        if not flag or flag == "--help":
            continue
        text = action.help or MEANINGS.get(flag, flag.lstrip("-").replace("-", " "))
        if "default" not in text:
            text += f" (default: {action.default})"
        action.help = text


def cmd_bench(args: argparse.Namespace) -> int:
    """Run the lab and print its table; exit 1 if the three ways disagree."""
    from chainrule.learn.lab import run_from_args

    return run_from_args(args)


register_command(
    "bench",
    cmd_bench,
    add_bench_args,
    "vectorization lab: time loops, per-example vectors and matrix products on one network",
)
