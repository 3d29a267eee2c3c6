"""Bad input on the command line: one line ``error: ...`` on stderr, exit code 2, no traceback.

Most cases run ``chainrule.cli.main.main`` in-process (fast); a few run the real ``chainrule``
process to prove nothing leaks past the entry point (argparse, MemoryError, Ctrl-C, warnings).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule.cli.main import main

TRAIN = ["train", "--epochs", "1", "--quiet"]


def run_cli(argv: list[str], capsys: Any) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse errors exit through SystemExit
        code = exc.code
    out, err = capsys.readouterr()
    return int(code or 0), out, err


def assert_one_line_error(code: int, out: str, err: str, pattern: str) -> None:
    assert code == 2, (code, out, err)
    assert "Traceback" not in out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: "), err
    import re

    assert re.search(pattern, lines[0]), (pattern, lines[0])


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    """CSV files and model files, good and bad."""
    d: dict[str, str] = {}

    def write(name: str, text: str) -> None:
        (tmp_path / name).write_text(text)
        d[name] = str(tmp_path / name)

    rows = "\n".join(f"{i % 7},{(i * 3) % 5},{i % 2}" for i in range(40))
    write("good.csv", "a,b,label\n" + rows + "\n")
    write("bad_cell.csv", "a,b,label\n1,2,0\n3,4,1\n5,oops,0\n")
    write("empty_cell.csv", "a,b,label\n1,2,0\n3,,1\n")
    write("nan_cell.csv", "a,b,label\n1,2,0\n3,nan,1\n")
    write("short_row.csv", "a,b,label\n1,2,0\n3,1\n")
    write("one_class.csv", "a,b,label\n1,2,1\n3,4,1\n5,6,1\n")
    write("header_only.csv", "a,b,label\n")
    write("empty.csv", "")
    (tmp_path / "binary.csv").write_bytes(b"\xff\xfe\x00\x01garbage\x80\x81")
    d["binary.csv"] = str(tmp_path / "binary.csv")
    write("not_a_model.npz", "hello")
    np.savez(tmp_path / "foreign.npz", a=np.arange(3))
    d["foreign.npz"] = str(tmp_path / "foreign.npz")
    net = cr.mlp([4, 3, 3], seed=0)
    net.fit(np.random.default_rng(0).random((30, 4)), np.arange(30) % 3, epochs=1, verbose=False)
    net.save(tmp_path / "iris_like.npz")
    d["iris_like.npz"] = str(tmp_path / "iris_like.npz")
    d["dir"] = str(tmp_path)
    return d


CASES: list[tuple[str, list[str], str]] = [
    # (id, argv with {file} placeholders, regex the error line must match)
    (
        "unknown dataset",
        [*TRAIN, "--data", "nosuch"],
        r"unknown dataset 'nosuch'; expected one of .*moons",
    ),
    ("epochs 0", [*TRAIN[:1], "--epochs", "0"], r"epochs must be an int >= 1, got 0"),
    ("epochs not int", ["train", "--epochs", "abc"], r"--epochs: invalid int value: 'abc'"),
    ("lr 0", [*TRAIN, "--lr", "0"], r"lr must be a finite number > 0, got 0"),
    ("lr negative", [*TRAIN, "--lr", "-1"], r"> 0, got -1"),
    ("lr nan", [*TRAIN, "--lr", "nan"], r"> 0, got nan"),
    ("lr not a number", [*TRAIN, "--lr", "fast"], r"--lr: invalid float value: 'fast'"),
    ("batch size 0", [*TRAIN, "--batch-size", "0"], r"--batch-size must be an int >= 1, got 0"),
    ("layers zero", [*TRAIN, "--layers", "2,0,1"], r"n\[1\] must be an int >= 1, got 0"),
    ("layers negative", [*TRAIN, "--layers", "2,-3,1"], r"n\[1\] must be an int >= 1, got -3"),
    ("layers not ints", [*TRAIN, "--layers", "2,x,1"], r"comma-separated ints.*'2,x,1'"),
    ("layers one size", [*TRAIN, "--layers", "2"], r"at least an input and an output"),
    ("layers don't chain", [*TRAIN, "--layers", "3,4,1"], r"n\[0\] = 3.*has 2 features"),
    (
        "layers absurd",
        [*TRAIN, "--layers", "2,99999999999999999999,1"],
        r"parameters .*expected at most",
    ),
    (
        "layers huge",
        [*TRAIN, "--layers", "2,20000,20000,1"],
        r"400,100,001 parameters.*at most 268,435,456",
    ),
    (
        "activation",
        [*TRAIN, "--activation", "relu6"],
        r"unknown activation 'relu6'; expected one of",
    ),
    ("output", [*TRAIN, "--output", "softplus"], r"unknown activation 'softplus'"),
    (
        "optimizer",
        [*TRAIN, "--optimizer", "nadam"],
        r"unknown optimizer 'nadam'; expected one of adam",
    ),
    ("init", [*TRAIN, "--init", "glorot"], r"unknown init 'glorot'; expected one of he"),
    ("seed negative", [*TRAIN, "--seed", "-1"], r"--seed must be an int >= 0, got -1"),
    (
        "unknown option",
        [*TRAIN, "--learning-rate", "1"],
        r"unrecognized arguments: --learning-rate",
    ),
    ("unknown command", ["fly"], r"invalid choice: 'fly'"),
    # CSV input
    (
        "csv missing file",
        [*TRAIN, "--data", "{dir}/nope.csv", "--target", "y"],
        r"nope\.csv' does not exist",
    ),
    (
        "csv no target",
        [*TRAIN, "--data", "{good.csv}"],
        r"name the target column.*columns: a, b, label",
    ),
    (
        "csv missing column",
        [*TRAIN, "--data", "{good.csv}", "--target", "y"],
        r"no column named 'y'; the header has: a, b, label",
    ),
    (
        "csv non-numeric cell",
        [*TRAIN, "--data", "{bad_cell.csv}", "--target", "label"],
        r"line 4, column 2 \('b'\): expected a number, got 'oops'",
    ),
    (
        "csv empty cell",
        [*TRAIN, "--data", "{empty_cell.csv}", "--target", "label"],
        r"line 3, column 2 \('b'\): empty cell",
    ),
    (
        "csv nan cell",
        [*TRAIN, "--data", "{nan_cell.csv}", "--target", "label"],
        r"line 3, column 2.*NaN and inf are not allowed",
    ),
    (
        "csv short row",
        [*TRAIN, "--data", "{short_row.csv}", "--target", "label"],
        r"line 3: expected 3 cells.*got 2",
    ),
    (
        "csv one class",
        [*TRAIN, "--data", "{one_class.csv}", "--target", "label"],
        r"single value 1 in all 3 rows",
    ),
    (
        "csv header only",
        [*TRAIN, "--data", "{header_only.csv}", "--target", "label"],
        r"no data rows",
    ),
    ("csv empty", [*TRAIN, "--data", "{empty.csv}", "--target", "label"], r"is empty"),
    ("csv binary junk", [*TRAIN, "--data", "{binary.csv}", "--target", "label"], r"not UTF-8 text"),
    (
        "csv is a folder",
        [*TRAIN, "--data", "{dir}/sub.csv", "--target", "y"],
        r"does not exist|not a file",
    ),
    # model files
    (
        "predict missing model",
        ["predict", "--model", "{dir}/none.npz"],
        r"model file '.*none\.npz' does not exist",
    ),
    (
        "predict not a model",
        ["predict", "--model", "{not_a_model.npz}"],
        r"not a chainrule model file",
    ),
    (
        "predict foreign npz",
        ["predict", "--model", "{foreign.npz}"],
        r"not a chainrule model \(no __chainrule__",
    ),
    ("predict folder", ["predict", "--model", "{dir}"], r"is not a file"),
    (
        "predict wrong features",
        ["predict", "--model", "{iris_like.npz}", "--data", "moons"],
        r"per-example shape \(2,\), but the network expects \(4,\)",
    ),
    ("predict needs --model", ["predict"], r"the following arguments are required: --model"),
    # checkpoints
    (
        "checkpoint folder missing",
        [*TRAIN, "--checkpoint", "{dir}/no/run.npz"],
        r"checkpoint folder .* does not exist",
    ),
    (
        "checkpoint every 0",
        [*TRAIN, "--checkpoint", "{dir}/run.npz", "--checkpoint-every", "0"],
        r"--checkpoint-every must be an int >= 1",
    ),
    ("resume missing", [*TRAIN, "--resume", "{dir}/none.npz"], r"does not exist"),
    (
        "resume plain model",
        [*TRAIN, "--data", "iris", "--layers", "4,3,3", "--resume", "{iris_like.npz}"],
        r"not a training checkpoint",
    ),
    (
        "resume not a model",
        [*TRAIN, "--resume", "{not_a_model.npz}"],
        r"not a chainrule model file",
    ),
]


@pytest.mark.parametrize(("argv", "pattern"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_cli_bad_input_one_line_error(
    argv: list[str], pattern: str, files: dict[str, str], capsys: Any
) -> None:
    for key, value in files.items():
        argv = [a.replace("{" + key + "}", value) for a in argv]
    assert_one_line_error(*run_cli(argv, capsys), pattern)


def test_cli_good_csv_trains(files: dict[str, str], capsys: Any) -> None:
    code, out, err = run_cli([*TRAIN, "--data", files["good.csv"], "--target", "label"], capsys)
    assert code == 0, err
    assert "test accuracy" in out


def test_cli_resume_with_other_settings_is_refused(files: dict[str, str], capsys: Any) -> None:
    ck = files["dir"] + "/run.npz"
    assert run_cli([*TRAIN, "--checkpoint", ck, "--lr", "0.1"], capsys)[0] == 0
    code, out, err = run_cli([*TRAIN, "--resume", ck, "--lr", "0.2"], capsys)
    assert_one_line_error(
        code, out, err, r"optimizer 'sgd' \{'lr': 0\.1.*called with 'sgd' \{'lr': 0\.2"
    )
    code, out, err = run_cli([*TRAIN, "--resume", ck, "--batch-size", "8"], capsys)
    assert_one_line_error(code, out, err, r"batch_size was 32 in the checkpoint but is 8 now")
    code, out, err = run_cli([*TRAIN, "--resume", ck, "--data", "circles"], capsys)
    assert_one_line_error(code, out, err, r"training data \(X, y\) differ")


def test_cli_memory_error_is_one_line(monkeypatch: Any, capsys: Any) -> None:
    from chainrule.cli import main as main_module

    def explode(args: Any) -> int:
        raise MemoryError("Unable to allocate 74.5 GiB for an array")

    run, add, help_text = main_module.COMMANDS["train"]
    monkeypatch.setitem(main_module.COMMANDS, "train", (explode, add, help_text))
    assert_one_line_error(*run_cli(TRAIN, capsys), r"too large: MemoryError: Unable to allocate")


# --- the real process: nothing escapes the entry point --------------------------------------


def chainrule_process(*args: str) -> list[str]:
    return [sys.executable, "-m", "chainrule.cli.main", *args]


@pytest.mark.parametrize(
    ("args", "pattern"),
    [
        (["train", "--epochs", "x"], "invalid int value"),
        (["train", "--layers", "2,20000,20000,1", "--epochs", "1"], "at most"),
        (["train", "--data", "no.csv", "--target", "y"], "does not exist"),
        (["predict", "--model", "no.npz"], "does not exist"),
    ],
)
def test_process_exits_2_without_traceback(args: list[str], pattern: str, tmp_path: Path) -> None:
    proc = subprocess.run(
        chainrule_process(*args), capture_output=True, text=True, cwd=tmp_path, timeout=120
    )
    assert_one_line_error(proc.returncode, proc.stdout, proc.stderr, pattern)


def test_process_divergence_is_one_warning_line(tmp_path: Path) -> None:
    proc = subprocess.run(
        chainrule_process("train", "--data", "digits", "--lr", "1000", "--epochs", "3", "--quiet"),
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("warning: training diverged at epoch 1"), lines
    assert "smaller learning rate" in lines[0]
    assert "RuntimeWarning" not in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.skipif(os.name != "posix", reason="SIGINT delivery")
def test_process_ctrl_c_is_one_line(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        chainrule_process("train", "--data", "moons", "--epochs", "1000000"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        # a shell that starts this suite in the background hands SIGINT down as ignored; the
        # child must see Ctrl-C as a user's terminal delivers it
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert proc.stdout is not None
    for line in proc.stdout:  # wait until training has started
        if line.startswith("epoch"):
            break
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130
    assert err.strip().splitlines()[-1] == "error: interrupted"
    assert "Traceback" not in err
