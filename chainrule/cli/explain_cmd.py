"""``chainrule explain``: print a network's formulas with shapes, its parameters and FLOPs."""

from __future__ import annotations

import argparse

from chainrule.cli.commands import parse_layers
from chainrule.cli.main import register_command

__all__ = ["cmd_explain", "add_explain_args"]


def add_explain_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--layers", default="2,3,3,1", help="layer sizes n[0],...,n[L] (default 2,3,3,1)"
    )
    p.add_argument("--activation", default="sigmoid", help="hidden activation (default sigmoid)")
    p.add_argument(
        "--output", help="output activation (default: sigmoid for one unit, softmax for more)"
    )
    p.add_argument(
        "--model",
        help="explain a model saved with train --save instead (default: none, use --layers)",
    )


def cmd_explain(args: argparse.Namespace) -> int:
    from chainrule.learn.explain import explain, explain_layers

    if args.model:
        from chainrule.model.files import load

        print(explain(load(args.model)))
    else:
        print(explain_layers(parse_layers(args.layers), args.activation, args.output))
    return 0


register_command(
    "explain",
    cmd_explain,
    add_explain_args,
    "print the forward/backward formulas with shapes, parameter count and FLOPs",
)
