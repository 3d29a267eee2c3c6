"""Starter files and solution texts: what ``exercise start`` writes and ``--show-solution`` prints.

A starter file is written from the exercise's registry entry (statement, signature, every
parameter's and output's shape), so the statement the learner reads and the one the checker
enforces cannot drift apart. Each output is first ``None``: the checker says "not written yet"
until the learner replaces it.
"""

from __future__ import annotations

import inspect
from pathlib import Path

from chainrule.learn.exercises import solutions
from chainrule.learn.exercises.registry import Exercise, get_exercise

__all__ = ["template_text", "solution_text", "statement_text", "write_template"]


def statement_text(exercise: str | Exercise) -> str:
    """The exercise's statement with its signature and shapes, as ``exercise show`` prints it."""
    ex = exercise if isinstance(exercise, Exercise) else get_exercise(exercise)
    width = max(len(n) for n in ex.shapes)
    lines = [f"{ex.name}: {ex.title}", "", ex.statement, "", "Write:", f"    {ex.signature}"]
    lines.append("Parameters:")
    lines += [f"    {n:<{width}}  {ex.shapes[n]}" for n in ex.params]
    lines.append("Return, in this order:")
    lines += [f"    {n:<{width}}  {ex.shapes[n]}" for n in ex.returns]
    lines += ["", "Arrays are float64 NumPy arrays, examples on the LAST axis.", f"See: {ex.see}"]
    return "\n".join(lines)


def template_text(exercise: str | Exercise) -> str:
    """A starter Python file for the exercise: docstring, signature, outputs to fill in."""
    ex = exercise if isinstance(exercise, Exercise) else get_exercise(exercise)
    doc = statement_text(ex).replace('"""', "'''")
    body = [f"    {n} = None  # {ex.shapes[n]}" for n in ex.returns]
    out = ", ".join(ex.returns)
    return (
        f'"""{doc}\n\nCheck it with:  chainrule exercise check {ex.name} {ex.name}.py\n"""\n\n'
        "import numpy as np\n\n\n"
        f"{ex.signature}\n" + "\n".join(body) + f"\n    return {out}\n"
    )


def solution_text(exercise: str | Exercise) -> str:
    """The source of the exercise's reference solution in chainrule.learn.exercises.solutions."""
    ex = exercise if isinstance(exercise, Exercise) else get_exercise(exercise)
    return inspect.getsource(getattr(solutions, ex.name))


def write_template(exercise: str, path: str | Path | None = None, force: bool = False) -> Path:
    """Write the starter file (default ``NAME.py`` here); refuses to overwrite unless ``force``."""
    ex = get_exercise(exercise)
    p = Path(path) if path is not None else Path(f"{ex.name}.py")
    if p.exists() and not force:
        raise ValueError(f"{str(p)!r} already exists; choose another --output or pass --force")
    if p.parent != Path("") and not p.parent.is_dir():
        raise ValueError(f"no such directory: {str(p.parent)!r}")
    p.write_text(template_text(ex), encoding="utf-8")
    return p
