"""``chainrule playground``: a TensorFlow-Playground-like page, trained by chainrule's engine."""

from __future__ import annotations

import argparse

from chainrule.cli.main import register_command
from chainrule.validation import check_int

__all__ = ["cmd_playground", "add_playground_args"]

INSTALL = 'pip install "chainrule[playground]"'


def add_playground_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)"
    )
    parser.add_argument(
        "--no-browser", action="store_true", help="print the address without opening a browser"
    )


def cmd_playground(args: argparse.Namespace) -> int:
    """Serve the playground on 127.0.0.1 until Ctrl-C."""
    port = check_int("--port", args.port, 0)
    if port > 65535:
        raise ValueError(f"--port must be an int in [0, 65535], got {port}")
    try:
        from chainrule.playground.server import serve
    except ModuleNotFoundError as exc:
        raise ImportError(
            f"chainrule playground needs {exc.name!r} (starlette and uvicorn); "
            f"install them with: {INSTALL}"
        ) from None
    serve(port=port, open_browser=not args.no_browser)
    return 0


register_command(
    "playground",
    cmd_playground,
    add_playground_args,
    "a TensorFlow-Playground-like page in your browser, trained by chainrule (127.0.0.1 only)",
)
