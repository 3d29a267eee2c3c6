"""The flags of ``chainrule train``, checked before any data is loaded or any epoch runs, and
the library's advice phrased with flags.

The library speaks Python (``use output='softmax'``, ``lr=0.5``); :func:`flag_advice` turns such
advice, in errors and warnings, into the flags a command-line user types (``use --output
softmax``, ``--lr 0.5``).
"""

from __future__ import annotations

import argparse
import math
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from chainrule.validation import check_int, check_positive_float

__all__ = [
    "parse_layers",
    "check_train_args",
    "check_out_file",
    "resumed_epoch",
    "flag_advice",
    "advice_in_flags",
    "MAX_PARAMS",
]


#: more parameters than this cannot be initialised on an ordinary machine: refuse up front
MAX_PARAMS = 2**28
#: the string options of ``train`` that may not be given an empty value
TEXT_FLAGS = (
    "data",
    "target",
    "layers",
    "activation",
    "output",
    "init",
    "optimizer",
    "save",
    "plot",
    "checkpoint",
    "resume",
    "model",
)


def parse_layers(text: str) -> list[int]:
    """ "2,3,3,1" -> [2, 3, 3, 1], with a clear error for anything else."""
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ValueError(
            f"--layers must be comma-separated ints like 2,3,3,1, got {text!r}"
        ) from None
    if len(sizes) < 2:
        raise ValueError(f"--layers needs at least an input and an output size, got {text!r}")
    n_params = sum(a * b + b for a, b in zip(sizes, sizes[1:]))
    if n_params > MAX_PARAMS:
        raise ValueError(
            f"--layers {text} means {n_params:,} parameters ({n_params * 8 / 2**30:,.0f} GiB in "
            f"float64); expected at most {MAX_PARAMS:,}"
        )
    return sizes


# --------------------------------------------------
def check_out_file(flag: str, path: str, what: str) -> Path:
    """``path`` can be written: not a folder, in a folder that exists."""
    p = Path(path)
    if p.is_dir():
        raise ValueError(f"{flag} {path!r} is a folder; expected a file name like run.npz")
    folder = p.parent if str(p.parent) else Path(".")
    if not folder.is_dir():
        raise ValueError(f"{what} folder {str(folder)!r} does not exist ({flag} {path})")
    return p


def resumed_epoch(path: str) -> int:
    """The epoch (or step) a ``--resume`` checkpoint was written at, or ValueError."""
    from chainrule.io.archive import read_archive
    from chainrule.train.checkpoint import checkpoint_meta

    p = Path(path)
    if not p.exists():
        raise ValueError(
            f"checkpoint file {path!r} (--resume) does not exist; write one with --checkpoint FILE"
        )
    if not p.is_file():
        raise ValueError(f"checkpoint {path!r} (--resume) is not a file")
    header, _ = read_archive(p)
    try:
        return int(checkpoint_meta(header, str(p))["epoch"])
    except ValueError as exc:  # "write one with fit(..., checkpoint=...)": say the flag
        raise ValueError(advice_in_flags(str(exc))) from None


def _check_name(flag: str, what: str, value: str | None, choices: Any) -> None:
    if value is not None and value.lower() not in choices:
        raise ValueError(f"unknown {what} {value!r}; expected one of {', '.join(choices)} ({flag})")


def check_train_args(args: argparse.Namespace) -> None:
    """Every flag of ``train``, checked before loading data or training (ValueError/TypeError)."""
    from chainrule.nn.activation import ACTIVATIONS
    from chainrule.nn.init import INITS
    from chainrule.nn.losses import DEFAULT_LOSS_FOR_OUTPUT
    from chainrule.optim.optimizer import OPTIMIZERS

    for name in TEXT_FLAGS:
        value = getattr(args, name, None)
        if isinstance(value, str) and not value.strip():
            flag = "--" + name.replace("_", "-")
            raise ValueError(
                f"{flag} needs a value, got an empty string; leave {flag} out for its default"
            )
    if args.seed < 0:
        raise ValueError(f"--seed must be an int >= 0, got {args.seed}")
    check_int("--epochs", args.epochs, 1)
    check_int("--batch-size", args.batch_size, 1)
    check_int("--checkpoint-every", args.checkpoint_every, 1)
    if args.lr is not None:
        check_positive_float("--lr", args.lr)
    if not (math.isfinite(args.weight_decay) and args.weight_decay >= 0):
        raise ValueError(f"--weight-decay must be a finite number >= 0, got {args.weight_decay}")
    if args.clip_grad_norm is not None:
        check_positive_float("--clip-grad-norm", args.clip_grad_norm)
    _check_name("--optimizer", "optimizer", args.optimizer, sorted(OPTIMIZERS))
    _check_name("--activation", "activation", args.activation, sorted(ACTIVATIONS))
    _check_name("--output", "activation", args.output, sorted(ACTIVATIONS))
    if args.output is not None and args.output.lower() not in DEFAULT_LOSS_FOR_OUTPUT:
        raise ValueError(
            f"--output {args.output} has no cost to train against; use --output sigmoid (two "
            "classes), softmax (K classes) or identity (regression)"
        )
    _check_name("--init", "init", args.init, INITS)
    if args.layers is not None:
        parse_layers(args.layers)
    if args.target is not None and not args.data.lower().endswith(".csv"):
        raise ValueError(
            f"--target names the label column of a .csv file, but --data {args.data!r} is not "
            "one; drop --target"
        )
    if args.plot:
        from chainrule.plots import check_plot_path

        check_plot_path(args.plot)
    if args.save:
        check_out_file("--save", args.save, "model (--save)")
    if args.checkpoint:
        check_out_file("--checkpoint", args.checkpoint, "checkpoint")
    if args.resume:
        resumed_epoch(args.resume)


# --- the library's advice, phrased with flags -------------------------------------------------
_ADVICE: list[tuple[str, str]] = [
    (
        r"write one with fit\(\.\.\., checkpoint='run\.npz'\) or 'chainrule train (--checkpoint "
        r"run\.npz)'",
        r"write one with \1",
    ),
    (
        r"pass loss='bce', 'ce' or 'mse'",
        "use --output sigmoid (two classes), softmax (K classes) or identity (regression), each "
        "with its cost",
    ),
    (r"with one output unit", "with one output unit (--layers ...,1)"),
    (
        r"\b(output|activation|optimizer|init|lr|epochs|batch_size|weight_decay|clip_grad_norm|"
        r"checkpoint_every|seed|steps)=(?:'([^']*)'|([\w.+-]+))",
        lambda m: f"--{m[1].replace('_', '-')} {m[2] if m[2] is not None else m[3]}",
    ),
]


def advice_in_flags(message: str) -> str:
    """``"... use output='softmax'"`` -> ``"... use --output softmax"`` (and the like)."""
    for pattern, replacement in _ADVICE:
        message = re.sub(pattern, replacement, message)
    return message


@contextmanager
def flag_advice() -> Iterator[None]:
    """Errors and warnings raised inside speak of flags, not of Python keyword arguments."""
    shown = warnings.showwarning

    def show(message: Any, *rest: Any, **kw: Any) -> None:
        shown(advice_in_flags(str(message)), *rest, **kw)

    warnings.showwarning = show
    try:
        yield
    except (ValueError, TypeError) as exc:
        raise type(exc)(advice_in_flags(str(exc))) from None
    finally:
        warnings.showwarning = shown
