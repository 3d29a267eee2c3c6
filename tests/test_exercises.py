"""The exercises: every shipped solution passes, planted mistakes are caught with the right hint
and the right "where", and ``chainrule exercise`` behaves (exit codes, one-line errors)."""

from __future__ import annotations

import inspect
import textwrap
from pathlib import Path

import numpy as np
import pytest

from chainrule.cli.main import main
from chainrule.learn.exercises import checker, references, solutions, templates
from chainrule.learn.exercises.hints import HINT
from chainrule.learn.exercises.registry import EXERCISES, exercise_names, get_exercise
from chainrule.nn.gru import GRU

NAMES = exercise_names()


def plant(tmp_path: Path, name: str, body: str, filename: str = "mine.py") -> Path:
    """A learner's file: ``import numpy as np`` and the exercise's function with ``body``."""
    ex = get_exercise(name)
    code = (
        "import numpy as np\n\n\n"
        + ex.signature
        + "\n"
        + textwrap.indent(textwrap.dedent(body).strip() + "\n", "    ")
    )
    path = tmp_path / filename
    path.write_text(code, encoding="utf-8")
    return path


# --- the shipped solutions ---------------------------------------------------------------------
def test_the_required_exercises_exist() -> None:
    required = {
        "dense_backward",
        "sigmoid_backward",
        "softmax_ce_gradient",
        "conv2d_backward",
        "batchnorm_backward",
        "gru_step_backward",
        "attention_backward",
    }
    assert required <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_every_shipped_solution_passes(name: str) -> None:
    result = checker.check(name, getattr(solutions, name), cases=5)
    assert result.passed, checker.format_result(result)
    assert result.total == 5 and result.largest_error < 1e-12


@pytest.mark.parametrize("name", NAMES)
def test_every_solution_passes_from_a_file(tmp_path: Path, name: str) -> None:
    path = tmp_path / "solution.py"
    path.write_text("import numpy as np\n\n\n" + templates.solution_text(name), encoding="utf-8")
    assert checker.check_file(name, path, cases=3, seed=7).passed


@pytest.mark.parametrize("name", NAMES)
def test_registry_entries_are_complete(name: str) -> None:
    ex = EXERCISES[name]
    assert set(ex.shapes) == set(ex.params) | set(ex.returns)
    assert list(inspect.signature(getattr(solutions, name)).parameters) == list(ex.params)
    case = references.CASE_MAKERS[name](np.random.default_rng(0), 0)
    assert list(case.inputs) == list(ex.params) and case.m > 1


@pytest.mark.parametrize("name", NAMES)
def test_an_untouched_template_says_not_written_yet(tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.py"
    path.write_text(templates.template_text(name), encoding="utf-8")
    result = checker.check_file(name, path)
    assert not result.passed
    assert [p.output for p in result.problems] == list(EXERCISES[name].returns)
    assert all("not written yet" in p.message for p in result.problems)


def test_the_gru_step_reference_chained_over_time_is_the_gru_layer() -> None:
    """The step reference, run backwards over T steps, reproduces chainrule.nn.gru.GRU."""
    rng = np.random.default_rng(3)
    n_in, H, T, m = 3, 4, 5, 2
    layer = GRU(n_in, H, seed=1)
    X, dC_dA = rng.standard_normal((n_in, T, m)), rng.standard_normal((H, T, m))
    hs = np.concatenate([np.zeros((H, 1, m)), layer.forward(X)], axis=1)  # h_0 .. h_T
    dC_dX = layer.backward(dC_dA)
    params = (layer.W_ih, layer.W_hh, layer.b_ih, layer.b_hh)
    sums = dict.fromkeys(("dC_dW_ih", "dC_dW_hh", "dC_db_ih", "dC_db_hh"), 0.0)
    carried, dX = np.zeros((H, m)), np.zeros_like(X)
    for t in range(T, 0, -1):
        out = references.gru_step_reference(
            X[:, t - 1], hs[:, t - 1], *params, dC_dA[:, t - 1] + carried
        )
        dX[:, t - 1], carried = out["dC_dx"], out["dC_dh_prev"]
        for key in sums:
            sums[key] = sums[key] + out[key]
    np.testing.assert_allclose(dX, dC_dX, rtol=1e-12, atol=1e-14)
    for key, total in sums.items():
        np.testing.assert_allclose(total, getattr(layer, key), rtol=1e-12, atol=1e-14)


# --- planted mistakes: caught, with the right hint and the right "where" ------------------------
S = "from chainrule.learn.exercises import solutions; "  # a planted file may start from one
DB = "np.sum(dC_dZ, axis=1, keepdims=True)"
SOFTMAX = "E = np.exp(Z - Z.max(axis=0)); A = E / E.sum(axis=0); "
PLANTED = [  # (exercise, "kind, the wrong output, hint key", the function's body)
    ("dense_backward", "shape dC_db sum_m", "return dC_dZ @ A_prev.T, dC_dZ, W.T @ dC_dZ"),
    (
        "dense_backward",
        "value dC_dW extra_m",
        f"return dC_dZ @ A_prev.T / A_prev.shape[1], {DB}, W.T @ dC_dZ",
    ),
    ("dense_backward", "shape dC_dW transposed", f"return A_prev @ dC_dZ.T, {DB}, W.T @ dC_dZ"),
    (
        "dense_backward",
        "shape dC_db keepdims",
        "return dC_dZ @ A_prev.T, np.sum(dC_dZ, axis=1), W.T @ dC_dZ",
    ),
    (
        "dense_backward",
        "shape dC_db broadcast",
        "return dC_dZ @ A_prev.T, np.sum(dC_dZ, 1) + 0 * b, W.T @ dC_dZ",
    ),
    (
        "dense_backward",
        "value dC_db notebook_db",
        "dW = dC_dZ @ A_prev.T; return dW, np.sum(dW, axis=1, keepdims=True), W.T @ dC_dZ",
    ),
    (
        "sigmoid_backward",
        "value dC_dZ sign",
        "A = 1 / (1 + np.exp(-Z)); return -dC_dA * A * (1 - A)",
    ),
    ("sigmoid_backward", "value dC_dZ z_for_a", "return dC_dA * Z * (1 - Z)"),
    ("softmax_ce_gradient", "value dC_dZ missing_m", SOFTMAX + "return A - Y"),
    ("softmax_ce_gradient", "value dC_dZ sign", SOFTMAX + "return (Y - A) / Z.shape[1]"),
    (
        "conv2d_backward",
        "shape dC_db sum_positions",
        S
        + "dW, _, dA = solutions.conv2d_backward(A_prev, W, b, stride, padding, dC_dZ); return dW, dC_dZ.sum(axis=3), dA",
    ),
    (
        "batchnorm_backward",
        "value dC_dx bn_constants",
        S
        + "dg, db, _ = solutions.batchnorm_backward(x, gamma, beta, eps, dC_dA); return dg, db, gamma / np.sqrt(x.var(axis=1, keepdims=True) + eps) * dC_dA",
    ),
    (
        "gru_step_backward",
        "value dC_db_hh gru_r",
        S
        + "out = list(solutions.gru_step_backward(x, h_prev, W_ih, W_hh, b_ih, b_hh, dC_dh)); return (*out[:5], out[4])",
    ),
    (
        "attention_backward",
        "value dC_dq att_scale",
        S
        + "dq, dk, dv = solutions.attention_backward(q, k, v, dC_dy); return dq * np.sqrt(q.shape[1]), dk * np.sqrt(q.shape[1]), dv",
    ),
]


@pytest.mark.parametrize(("name", "expected", "body"), PLANTED)
def test_a_planted_mistake_is_caught_where_it_is(
    tmp_path: Path, name: str, expected: str, body: str
) -> None:
    kind, output, hint = expected.split()
    path = plant(tmp_path, name, body)
    result = checker.check_file(name, path)
    assert not result.passed and result.case_index == 0
    first = result.problems[0]
    assert (first.kind, first.output, first.hint) == (kind, output, HINT[hint])
    report = checker.format_result(result)
    assert output in report and HINT[hint] in report
    if kind == "shape":
        assert "expected" in first.message and "received" in first.message
    else:
        assert "largest error" in first.details[0] and "relative error" in first.details[1]


def test_the_notebook_bug_names_only_the_bias() -> None:
    def notebook(A_prev, W, b, dC_dZ):  # noqa: ANN001, ANN202 - a learner's function
        dC_dW = dC_dZ @ A_prev.T
        return dC_dW, np.sum(dC_dW, axis=1, keepdims=True), W.T @ dC_dZ

    result = checker.check("dense_backward", notebook)
    assert [p.output for p in result.problems] == ["dC_db"]
    assert result.correct == ["dC_dW", "dC_dA_prev"]


def test_the_padding_mistake_is_caught_on_the_first_padded_case() -> None:
    def kept(A_prev, W, b, stride, padding, dC_dZ):  # noqa: ANN001, ANN202
        p = padding
        big = np.pad(A_prev, ((0, 0), (p, p), (p, p), (0, 0)))
        return solutions.conv2d_backward(big, W, b, stride, 0, dC_dZ)

    result = checker.check("conv2d_backward", kept)
    assert result.case_index == 1  # case 0 has padding 0, case 1 padding 1
    problem = result.problems[0]
    assert (problem.kind, problem.output, problem.hint) == (
        "shape",
        "dC_dA_prev",
        HINT["padding_kept"],
    )


def test_the_gru_region_names_the_gate() -> None:
    def wrong_r(*args):  # noqa: ANN002, ANN202
        out = list(solutions.gru_step_backward(*args))
        out[5] = out[4]
        return tuple(out)

    text = checker.format_result(checker.check("gru_step_backward", wrong_r))
    assert "where: the rows of gate n (the candidate state)" in text
    assert "r (the reset gate)" not in text


def test_the_gru_direct_path_and_the_attention_softmax_are_recognised() -> None:
    def no_direct(x, h_prev, W_ih, W_hh, b_ih, b_hh, dC_dh):  # noqa: ANN001, ANN202
        out = list(solutions.gru_step_backward(x, h_prev, W_ih, W_hh, b_ih, b_hh, dC_dh))
        H = h_prev.shape[0]
        z = 1 / (1 + np.exp(-(W_ih @ x + b_ih + W_hh @ h_prev + b_hh)[H : 2 * H]))
        out[1] = out[1] - dC_dh * z
        return tuple(out)

    result = checker.check("gru_step_backward", no_direct)
    assert [(p.output, p.hint) for p in result.problems] == [("dC_dh_prev", HINT["gru_direct"])]

    def diagonal(q, k, v, dC_dy):  # noqa: ANN001, ANN202
        T, hs = q.shape[2], q.shape[1]
        S = np.einsum("hdtj,hdsj->htsj", q, k) / np.sqrt(hs)
        S = np.where(np.tril(np.ones((T, T), bool))[None, :, :, None], S, -np.inf)
        P = np.exp(S - S.max(axis=2, keepdims=True))
        P /= P.sum(axis=2, keepdims=True)
        dS = P * (1 - P) * np.einsum("hdtj,hdsj->htsj", dC_dy, v)
        dq = np.einsum("htsj,hdsj->hdtj", dS, k) / np.sqrt(hs)
        dk = np.einsum("htsj,hdtj->hdsj", dS, q) / np.sqrt(hs)
        return dq, dk, np.einsum("htsj,hdtj->hdsj", P, dC_dy)

    result = checker.check("attention_backward", diagonal)
    assert [p.output for p in result.problems] == ["dC_dq", "dC_dk"]
    assert {p.hint for p in result.problems} == {HINT["att_softmax_diag"]}
    assert result.correct == ["dC_dv"]
    assert "where: first at position t = 1, counting from 0" in checker.format_result(result)


def test_an_unrecognised_mistake_still_says_where() -> None:
    def noisy(Z, dC_dA):  # noqa: ANN001, ANN202
        A = 1 / (1 + np.exp(-Z))
        out = dC_dA * A * (1 - A)
        out[1, 0] += 0.5
        return out

    result = checker.check("sigmoid_backward", noisy)
    problem = result.problems[0]
    assert problem.hint is None and problem.output == "dC_dZ"
    assert "at [1, 0]" in problem.details[0] and "1 of 15 entries differ" in problem.details[1]


# --- files that do not run ------------------------------------------------------------------
def test_files_that_do_not_run_are_failures_with_one_reason(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("def dense_backward(A_prev, W, b, dC_dZ)\n    pass\n", encoding="utf-8")
    result = checker.check_file("dense_backward", bad)
    assert (
        result.problems[0].kind == "load" and "syntax error on line 1" in result.problems[0].message
    )

    other = tmp_path / "other.py"
    other.write_text("def dense_backwards(A_prev, W, b, dC_dZ):\n    pass\n", encoding="utf-8")
    message = checker.check_file("dense_backward", other).problems[0].message
    assert "defines no function dense_backward" in message and "dense_backwards" in message

    raises = plant(tmp_path, "dense_backward", "x = 1\nreturn undefined_name")
    problem = checker.check_file("dense_backward", raises).problems[0]
    assert problem.kind == "raised" and "NameError" in problem.message
    assert "line 6: return undefined_name" in problem.message

    two = plant(tmp_path, "dense_backward", "return W, b")
    assert (
        "returned 2 values; expected 3"
        in checker.check_file("dense_backward", two).problems[0].message
    )


def test_a_function_that_changes_its_inputs_gets_a_note() -> None:
    def in_place(Z, dC_dA):  # noqa: ANN001, ANN202
        A = 1 / (1 + np.exp(-Z))
        dC_dA *= A * (1 - A)
        return dC_dA

    result = checker.check("sigmoid_backward", in_place)
    assert result.passed  # correct values, but it wrote into dC_dA
    assert any("changed its input(s) dC_dA" in n for n in result.notes)


def test_usage_errors_are_value_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no such file"):
        checker.check_file("dense_backward", tmp_path / "missing.py")
    with pytest.raises(ValueError, match="not a file"):
        checker.check_file("dense_backward", tmp_path)
    with pytest.raises(ValueError, match="unknown exercise 'nope'; known: dense_backward"):
        get_exercise("nope")


# --- the command line ---------------------------------------------------------------------------
def test_cli_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["exercise", "list"]) == 0
    out = capsys.readouterr().out
    for name, ex in EXERCISES.items():
        assert f"{name}" in out and ex.title in out


def test_cli_start_show_and_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "d.py"
    assert main(["exercise", "start", "dense_backward", "--output", str(path)]) == 0
    assert "def dense_backward(A_prev, W, b, dC_dZ):" in path.read_text(encoding="utf-8")
    assert main(["exercise", "start", "dense_backward", "--output", str(path)]) == 2
    assert capsys.readouterr().err.strip().startswith("error: ")
    assert main(["exercise", "show", "conv2d_backward"]) == 0
    assert "def conv2d_backward(A_prev, W, b, stride, padding, dC_dZ):" in capsys.readouterr().out

    assert main(["exercise", "check", "dense_backward", str(path)]) == 1
    assert "not written yet" in capsys.readouterr().out
    path.write_text("import numpy as np\n\n\n" + templates.solution_text("dense_backward"))
    assert main(["exercise", "check", "dense_backward", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.strip().splitlines() == [out.strip().splitlines()[0]]
    assert "passed dense_backward on 5 random shapes" in out


def test_cli_never_shows_the_solution_unless_asked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = plant(
        tmp_path,
        "dense_backward",
        "dC_dW = dC_dZ @ A_prev.T\nreturn dC_dW, np.sum(dC_dW, axis=1, keepdims=True), W.T @ dC_dZ",
    )
    secret = "np.sum(dC_dZ, axis=1, keepdims=True)"
    assert main(["exercise", "check", "dense_backward", str(path)]) == 1
    out = capsys.readouterr().out
    assert "FAILED dense_backward" in out and HINT["notebook_db"] in out and secret not in out
    assert main(["exercise", "check", "dense_backward", str(path), "--show-solution"]) == 1
    out = capsys.readouterr().out
    assert secret in out and "reference solution" in out


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["exercise", "check", "dense_backward", "no/such/file.py"], "error: no such file"),
        (
            ["exercise", "check", "nope", "x.py"],
            "error: unknown exercise 'nope'; known: dense_backward",
        ),
        (["exercise", "show", "nope"], "error: unknown exercise 'nope'"),
        (["exercise", "check", "dense_backward", "x.py", "--cases", "0"], "error: --cases must be"),
    ],
)
def test_cli_usage_errors_are_one_line(
    argv: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(expected) and captured.err.count("\n") == 1
    assert "Traceback" not in captured.err + captured.out


def test_cli_check_needs_a_file(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["exercise", "check", "dense_backward"])
    assert info.value.code == 2
    assert capsys.readouterr().err.startswith("error: ")
