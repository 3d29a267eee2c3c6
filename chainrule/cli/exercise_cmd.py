"""``chainrule exercise``: list the exercises, start one, check a solution file.

    chainrule exercise list
    chainrule exercise show NAME                 the statement, signature and shapes
    chainrule exercise start NAME [--output F]   write a starter file (NAME.py)
    chainrule exercise check NAME FILE [--show-solution]

``check`` exits 0 when the solution passes, 1 when it is wrong (after the diagnosis), and 2 for
usage errors (an unknown exercise, a missing file), as every other command does.
"""

from __future__ import annotations

import argparse

from chainrule.cli.main import register_command

__all__ = ["cmd_exercise", "add_exercise_args"]


def add_exercise_args(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="exercise_command", metavar="{list,show,start,check}")
    sub.add_parser("list", help="name and title of every exercise")
    show = sub.add_parser("show", help="print an exercise's statement, signature and shapes")
    show.add_argument("name", help="the exercise (see 'chainrule exercise list')")
    start = sub.add_parser("start", help="write a starter file for an exercise")
    start.add_argument("name", help="the exercise (see 'chainrule exercise list')")
    start.add_argument("--output", "-o", default=None, help="file to write (default NAME.py)")
    start.add_argument("--force", action="store_true", help="overwrite an existing file")
    check = sub.add_parser("check", help="check your solution file against the library")
    check.add_argument("name", help="the exercise (see 'chainrule exercise list')")
    check.add_argument("file", help="your Python file defining the exercise's function")
    check.add_argument("--cases", type=int, default=5, help="random shapes to try (default 5)")
    check.add_argument("--seed", type=int, default=0, help="seed of the random cases")
    check.add_argument(
        "--show-solution", action="store_true", help="also print a reference solution"
    )


def cmd_exercise(args: argparse.Namespace) -> int:
    from chainrule.learn.exercises import checker, registry, templates
    from chainrule.validation import check_int

    what = getattr(args, "exercise_command", None)
    if what is None or what == "list":
        width = max(len(n) for n in registry.exercise_names())
        for ex in registry.EXERCISES.values():
            print(f"{ex.name:<{width}}  {ex.title}")
        if what is None:
            print("\nchainrule exercise start NAME, then chainrule exercise check NAME NAME.py")
        return 0
    if what == "show":
        print(templates.statement_text(args.name))
        return 0
    if what == "start":
        path = templates.write_template(args.name, args.output, force=args.force)
        print(f"wrote {path}: fill it in, then run: chainrule exercise check {args.name} {path}")
        return 0
    registry.get_exercise(args.name)  # an unknown name is a usage error before the file is read
    cases = check_int("--cases", args.cases, 1)
    result = checker.check_file(args.name, args.file, cases=cases, seed=args.seed)
    print(checker.format_result(result))
    if args.show_solution:
        print("\nreference solution (chainrule.learn.exercises.solutions):\n")
        print(templates.solution_text(args.name))
    return 0 if result.passed else 1


register_command(
    "exercise",
    cmd_exercise,
    add_exercise_args,
    "exercises: write a backward pass yourself and check it against the library",
)
