"""The chainrule command: train, predict, gradcheck (in-process with capsys, and one subprocess)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule.cli.main import main

TOY_TRAIN = [
    "train",
    "--data",
    "toy",
    "--layers",
    "2,3,3,1",
    "--activation",
    "sigmoid",
    "--output",
    "sigmoid",
    "--epochs",
    "500",
    "--lr",
    "0.5",
    "--batch-size",
    "10",
]


def test_train_toy_prints_costs_and_full_accuracy_then_predict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = tmp_path / "m.npz"
    assert main([*TOY_TRAIN, "--save", str(model)]) == 0
    out = capsys.readouterr().out
    epoch_lines = [ln for ln in out.splitlines() if ln.startswith("epoch")]
    assert len(epoch_lines) >= 10 and "cost" in epoch_lines[0]
    assert epoch_lines[-1].startswith("epoch 500/500")
    costs = [float(ln.split("cost ")[1].split()[0]) for ln in epoch_lines]
    assert costs[-1] < costs[0]
    assert "train accuracy: 1.0000" in out
    assert "test accuracy:  1.0000" in out
    assert model.exists() and f"saved model to {model}" in out

    assert main(["predict", "--model", str(model), "--data", "toy"]) == 0
    out = capsys.readouterr().out
    assert out.count("predicted") == 10
    assert "test accuracy: 1.0000 on 10 examples" in out
    # the saved model predicts what the CLI reported
    data = cr.datasets.load("toy")
    assert (cr.load(model).predict(data.X_test) == data.y_test).all()


def test_gradcheck_command_passes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gradcheck", "--layers", "4,5,3", "--output", "softmax"]) == 0
    out = capsys.readouterr().out
    for label in ("W[1]", "b[1]", "W[2]", "b[2]"):
        assert label in out
    assert "PASSED" in out


@pytest.mark.parametrize("output", ["sigmoid", "identity"])
def test_gradcheck_command_other_heads(output: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gradcheck", "--layers", "3,4,2", "--output", output]) == 0
    assert "PASSED" in capsys.readouterr().out


def test_train_without_arguments_runs_a_quick_default(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--quiet"]) == 0
    out = capsys.readouterr().out
    acc = float(out.split("test accuracy:")[1].split()[0])
    assert acc > 0.8  # moons, 2-16-16-1


@pytest.mark.parametrize(
    "argv,message",
    [
        (["train", "--data", "toy", "--layers", "3,3,1"], "n[0] = 3"),
        (["train", "--data", "nope"], "unknown dataset 'nope'"),
        (["train", "--data", "toy", "--layers", "2,x,1"], "--layers must be comma-separated"),
        (["train", "--data", "toy", "--optimizer", "newton", "--epochs", "1"], "unknown optimizer"),
        (["predict", "--model", "missing.npz"], "does not exist"),
        (["gradcheck", "--layers", "4"], "at least an input and an output"),
    ],
)
def test_errors_are_one_line_and_exit_2(
    argv: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_bad_option_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["train", "--epochs", "many"])
    assert exc.value.code == 2
    assert capsys.readouterr().err.startswith("error: ")


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "train" in out and "predict" in out and "gradcheck" in out


def test_subprocess_train_save_and_gradcheck(tmp_path: Path) -> None:
    """The real entry point, in a fresh interpreter."""
    model = tmp_path / "m.npz"
    env = {**os.environ, "PYTHONWARNINGS": "error"}
    run = subprocess.run(
        [sys.executable, "-m", "chainrule.cli.main", *TOY_TRAIN, "--quiet", "--save", str(model)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert run.returncode == 0, run.stderr
    assert "train accuracy: 1.0000" in run.stdout and run.stderr == ""
    net = cr.load(model)
    assert net.predict(np.array([[150.0, 70.0], [254.0, 73.0]])).tolist() == [0, 1]
    run = subprocess.run(
        [sys.executable, "-m", "chainrule.cli.main", "gradcheck", "--layers", "4,5,3"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert run.returncode == 0 and "PASSED" in run.stdout
