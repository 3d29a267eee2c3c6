"""Exercises the library checks: write one backward pass yourself, and be told where it is wrong.

``chainrule exercise list`` names them, ``chainrule exercise start NAME`` writes a starter file,
``chainrule exercise check NAME FILE`` grades it against the library's own layers on random
shapes (``--show-solution`` also prints a plain reference solution). docs/exercises.md explains.

    registry    the exercises: name, title, signature, statement, shapes
    references  random inputs and the reference answers, from the library's layers
    hints       mutated references: the common mistakes the checker can name
    checker     load a learner's file, run it, compare shapes then values, report
    solutions   plain reference solutions (NumPy only)
    templates   starter files and solution texts
"""

from chainrule.learn.exercises.checker import CheckResult, check, check_file, format_result
from chainrule.learn.exercises.registry import EXERCISES, Exercise, exercise_names, get_exercise

__all__ = [
    "CheckResult",
    "check",
    "check_file",
    "format_result",
    "EXERCISES",
    "Exercise",
    "exercise_names",
    "get_exercise",
]
