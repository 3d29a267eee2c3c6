"""Entry point of the ``chainrule`` command: argument parsing, dispatch, and error handling.

Every ValueError/TypeError/ImportError/OSError raised by the library becomes one line on stderr,
``error: ...``, and exit status 2 -- never a traceback.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Callable, Sequence

from chainrule.cli import commands

__all__ = ["main", "build_parser"]

#: subcommand name -> (function(args) -> exit code, function(subparser) adding its options)
COMMANDS: dict[str, tuple[Callable[[argparse.Namespace], int], Callable[..., None], str]] = {
    "train": (commands.cmd_train, commands.add_train_args, "train a network and report accuracy"),
    "predict": (commands.cmd_predict, commands.add_predict_args, "predict with a saved model"),
    "gradcheck": (
        commands.cmd_gradcheck,
        commands.add_gradcheck_args,
        "check backprop against finite differences",
    ),
}


#: modules that add subcommands (bench, explain, ...) when they exist
OPTIONAL_COMMAND_MODULES = (
    "chainrule.cli.bench_cmd",
    "chainrule.cli.explain_cmd",
    "chainrule.cli.generate_cmd",
    "chainrule.cli.playground_cmd",
    "chainrule.cli.exercise_cmd",
)


def register_command(
    name: str,
    run: Callable[[argparse.Namespace], int],
    add_args: Callable[..., None],
    help_text: str,
) -> None:
    """Add a subcommand (used by optional modules such as bench and explain)."""
    COMMANDS[name] = (run, add_args, help_text)


def _load_optional_commands() -> None:
    import importlib

    # each module calls register_command(...) when imported; a missing one is simply skipped
    for module in OPTIONAL_COMMAND_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2 (argparse's convention)
        self.exit(2, f"error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    _load_optional_commands()
    parser = _Parser(
        prog="chainrule",
        description="Neural networks from scratch in NumPy, following the chain rule.",
    )
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    for name, (_, add_args, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        add_args(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    run = COMMANDS[args.command][0]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            warnings.showwarning = _show_warning
            return run(args)
    except (ValueError, TypeError, ImportError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (MemoryError, OverflowError) as exc:  # absurd sizes, e.g. --layers 2,10000000000,1
        print(f"error: too large: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
    print(f"warning: {message}", file=sys.stderr)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
