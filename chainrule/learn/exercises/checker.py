"""The checker: run a learner's function on random shapes against the library and say WHERE it is wrong.

For each of several seeded random cases (float64, distinct sizes in every dimension) the
learner's function gets copies of the inputs; its outputs are compared with the reference (the
library's own layers, :mod:`chainrule.learn.exercises.references`) in two passes:

1. shapes: every output's shape, before any value (a wrong shape makes values meaningless);
2. values: the relative error ||received - expected|| / (||received|| + ||expected||) of each
   output (chainrule.learn.gradcheck.relative_error), against a tolerance of 1e-7.

A wrong output is reported with its expected and received shapes, its largest absolute error
and where it lies, its relative error, and a hint when the received array equals one of the
mutated references of :mod:`chainrule.learn.exercises.hints` (a known mistake). The first
failing case stops the check. The reference solution is never shown here.
"""

from __future__ import annotations

import traceback
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from chainrule.learn.exercises.hints import mistakes_for, region, shape_hint
from chainrule.learn.exercises.references import CASE_MAKERS, REFERENCES, Arrays, Case
from chainrule.learn.exercises.registry import Exercise, get_exercise
from chainrule.learn.gradcheck import relative_error
from chainrule.validation import check_int

__all__ = ["Problem", "CheckResult", "load_solution", "check", "check_file", "format_result"]

#: relative error above which an output is wrong
TOLERANCE = 1e-7
#: relative error under which a wrong output "equals" a mutated reference
HINT_MATCH = 1e-6


class SolutionError(Exception):
    """The learner's file cannot be run (syntax error, import error, no such function)."""


@dataclass
class Problem:
    """One thing wrong with one output (``output`` None: with the call itself)."""

    output: str | None
    kind: str  # "load", "raised", "returned", "shape", "value"
    message: str
    hint: str | None = None
    details: list[str] = field(default_factory=list)


@dataclass
class CheckResult:
    exercise: str
    passed: bool
    total: int
    case_index: int | None = None
    case_text: str = ""
    problems: list[Problem] = field(default_factory=list)
    correct: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    largest_error: float = 0.0


def load_solution(path: str | Path, function: str) -> Callable[..., object]:
    """The function ``function`` defined by the Python file at ``path``.

    ValueError for a path that is not a readable file (a usage error); SolutionError when the
    file does not run or does not define the function (the learner's error)."""
    p = Path(path)
    if not p.exists():
        raise ValueError(f"no such file: {str(p)!r}")
    if not p.is_file():
        raise ValueError(f"not a file: {str(p)!r} (give the path of your .py solution)")
    try:
        source = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{str(p)!r} is not a UTF-8 text file: {exc}") from None
    module = types.ModuleType(f"chainrule_exercise_{function}")
    module.__file__ = str(p)
    try:  # compiled from the text, so no __pycache__ is written next to the learner's file
        exec(compile(source, str(p), "exec"), module.__dict__)
    except SyntaxError as exc:
        raise SolutionError(
            f"{p.name} has a syntax error on line {exc.lineno}: {exc.msg}"
        ) from None
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - anything the learner's module raises
        raise SolutionError(f"running {p.name} raised {_describe(exc, str(p))}") from None
    fn = module.__dict__.get(function)
    if not callable(fn):
        defined = sorted(k for k, v in module.__dict__.items() if isinstance(v, types.FunctionType))
        also = f" (it defines: {', '.join(defined)})" if defined else " (it defines no function)"
        raise SolutionError(f"{p.name} defines no function {function}(...){also}")
    return fn


def _describe(exc: BaseException, filename: str | None) -> str:
    """'ValueError: ... (line 7: dC_dW = ...)' with the deepest line of the learner's file."""
    text = f"{type(exc).__name__}: {exc}"
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == filename]
    if frames:
        text += f" (line {frames[-1].lineno}: {(frames[-1].line or '').strip()})"
    return text


def _case_text(ex: Exercise, case: Case) -> str:
    parts = []
    for name in ex.params:
        value = case.inputs[name]
        parts.append(
            f"{name} {value.shape}" if isinstance(value, np.ndarray) else f"{name}={value}"
        )
    return ", ".join(parts) + f"  [m = {case.m}]"


def _outputs(ex: Exercise, returned: object) -> tuple[list[object] | None, Problem | None]:
    """The returned value as a list of len(ex.returns), or a Problem."""
    want = ", ".join(ex.returns)
    if len(ex.returns) == 1:
        values = list(returned) if isinstance(returned, (tuple, list)) else [returned]
    elif isinstance(returned, (tuple, list)):
        values = list(returned)
    else:
        got = type(returned).__name__
        return None, Problem(
            None,
            "returned",
            f"returned one {got}; expected {len(ex.returns)} values: return {want}",
        )
    if len(values) != len(ex.returns):
        return None, Problem(
            None,
            "returned",
            f"returned {len(values)} values; expected {len(ex.returns)}: return {want}",
        )
    return values, None


def _hint_for(name: str, received: np.ndarray, mistakes: list) -> str | None:
    for output, candidate, hint in mistakes:
        if output == name and np.shape(candidate) == received.shape:
            if relative_error(received, candidate) < HINT_MATCH:
                return hint
    return None


def _compare(ex: Exercise, case: Case, ref: Arrays, values: list[object]) -> CheckResult:
    result = CheckResult(ex.name, passed=False, total=0)
    mistakes = mistakes_for(ex.name, case, ref)
    arrays: dict[str, np.ndarray] = {}
    for name, value in zip(ex.returns, values):  # 1. types and shapes, before any value
        if value is None:
            result.problems.append(Problem(name, "returned", f"{name} is None: not written yet"))
            continue
        try:
            arr = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            msg = f"{name} is a {type(value).__name__}, not an array of numbers"
            result.problems.append(Problem(name, "returned", msg))
            continue
        e = ref[name]
        if arr.shape != e.shape:
            hint = _hint_for(name, arr, mistakes) or shape_hint(e.shape, arr.shape, case)
            msg = f"{name}: wrong shape: expected {e.shape} {ex.shapes[name]}, received {arr.shape}"
            result.problems.append(Problem(name, "shape", msg, hint))
        arrays[name] = arr
    if result.problems:
        result.notes.append("values are compared once every output has the right shape")
        return result
    for name in ex.returns:  # 2. values
        arr, e = arrays[name], ref[name]
        err = relative_error(arr, e) if np.all(np.isfinite(arr)) else float("inf")
        if err <= TOLERANCE:
            result.correct.append(name)
            result.largest_error = max(result.largest_error, err)
            continue
        diff = np.abs(arr - e)
        if not np.all(np.isfinite(arr)):
            bad = ~np.isfinite(arr)
            details = [f"contains {int(bad.sum())} NaN or infinite entries"]
        else:
            bad = ~np.isclose(arr, e, rtol=1e-6, atol=1e-9 * max(1.0, float(np.max(np.abs(e)))))
            at = list(map(int, np.unravel_index(int(np.argmax(diff)), diff.shape)))
            details = [
                f"largest error {float(diff.max()):.3g} at {at}, expected {e[tuple(at)]:.6g}, "
                f"received {arr[tuple(at)]:.6g}",
                f"relative error {err:.3g} (tolerance {TOLERANCE:g}); "
                f"{int(bad.sum())} of {bad.size} entries differ",
            ]
        where = region(ex.name, name, bad) if bad.any() else None
        if where:
            details.append(f"where: {where}")
        msg = f"{name}: wrong values (its shape {e.shape} is right)"
        result.problems.append(Problem(name, "value", msg, _hint_for(name, arr, mistakes), details))
    result.passed = not result.problems
    return result


def check(
    exercise: str | Exercise,
    fn: Callable[..., object],
    cases: int = 5,
    seed: int = 0,
) -> CheckResult:
    """Run ``fn`` on ``cases`` seeded random cases; stop at the first one it gets wrong."""
    ex = exercise if isinstance(exercise, Exercise) else get_exercise(exercise)
    if not callable(fn):
        raise TypeError(f"check needs a function, got {type(fn).__name__}")
    cases = check_int("cases", cases)
    rng = np.random.default_rng(seed)
    largest, notes = 0.0, []
    for i in range(cases):
        case = CASE_MAKERS[ex.name](rng, i)
        ref = REFERENCES[ex.name](**case.inputs)
        given = {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in case.inputs.items()}
        filename = getattr(getattr(fn, "__code__", None), "co_filename", None)
        try:
            returned = fn(*given.values())
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - the learner's code may raise anything
            result = CheckResult(ex.name, passed=False, total=cases)
            hint = None
            if "matmul" in str(exc) or ("shapes" in str(exc) and "aligned" in str(exc)):
                hint = (
                    "a matrix product's inner sizes differ: write each line's shape as a "
                    "comment and see which factor needs a .T"
                )
            result.problems.append(
                Problem(None, "raised", f"raised {_describe(exc, filename)}", hint)
            )
        else:
            values, problem = _outputs(ex, returned)
            if problem is not None:
                result = CheckResult(ex.name, passed=False, total=cases, problems=[problem])
            else:
                assert values is not None
                result = _compare(ex, case, ref, values)
        changed = [
            k
            for k, v in given.items()
            if isinstance(v, np.ndarray) and not np.array_equal(v, case.inputs[k])
        ]
        if changed:
            result.notes.append(
                f"your function changed its input(s) {', '.join(changed)} in "
                "place; the checker passes copies, a network would not"
            )
        result.total = cases
        if not result.passed:
            result.case_index = i
            result.case_text = _case_text(ex, case)
            return result
        largest = max(largest, result.largest_error)
        notes += [n for n in result.notes if n not in notes]
    return CheckResult(ex.name, passed=True, total=cases, notes=notes, largest_error=largest)


def check_file(exercise: str, path: str | Path, cases: int = 5, seed: int = 0) -> CheckResult:
    """Load the learner's file and :func:`check` it; a file that does not run is a failure."""
    ex = get_exercise(exercise)
    try:
        fn = load_solution(path, ex.name)
    except SolutionError as exc:
        return CheckResult(ex.name, False, cases, problems=[Problem(None, "load", str(exc))])
    return check(ex, fn, cases=cases, seed=seed)


def format_result(result: CheckResult) -> str:
    """The report the CLI prints: one line when passed, the diagnosis when not."""
    if result.passed:
        lines = [
            f"passed {result.exercise} on {result.total} random shapes "
            f"(largest relative error {result.largest_error:.1e})"
        ]
        return "\n".join(lines + [f"  note: {n}" for n in result.notes])
    lines = [f"FAILED {result.exercise}"]
    if result.case_index is not None:
        lines[0] += f" on case {result.case_index + 1} of {result.total}: {result.case_text}"
    for k, problem in enumerate(result.problems):
        first = (
            "first wrong: "
            if problem.kind == "value" and k == 0 and len(result.problems) > 1
            else ""
        )
        lines.append(f"  {first}{problem.message}")
        lines += [f"      {d}" for d in problem.details]
        if problem.hint:
            lines.append(f"      hint: {problem.hint}")
    if result.correct:
        lines.append(f"  correct: {', '.join(result.correct)}")
    lines += [f"  note: {n}" for n in result.notes]
    return "\n".join(lines)
