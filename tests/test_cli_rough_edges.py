"""Issue 15's rough edges of the command line, as a new user meets them: flags checked before
anything loads or trains, --help with every default, advice phrased with flags, --resume."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule.cli import commands
from chainrule.cli.flags import advice_in_flags, resumed_epoch
from chainrule.cli.main import build_parser, main

TOY = [
    "train",
    "--data",
    "toy",
    "--layers",
    "2,3,3,1",
    "--activation",
    "sigmoid",
    "--output",
    "sigmoid",
    "--lr",
    "0.5",
    "--batch-size",
    "10",
]


def run(argv: list[str], capsys: Any) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return int(code or 0), out, err


@pytest.fixture
def no_data(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading any dataset fails the test: the flags must be refused before."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("data was loaded before the flags were checked")

    monkeypatch.setattr(commands, "load_data", refuse)
    monkeypatch.setattr(cr.datasets, "load", refuse)


BAD_FLAGS = [
    (["--plot", "{tmp}/curves.xyz"], r"format 'xyz' is not supported.*\.png"),
    (["--plot", "{tmp}/no/curves.png"], r"folder .*no does not exist"),
    (["--plot", "{tmp}"], r"is a folder"),
    (["--save", "{tmp}/no/m.npz"], r"model \(--save\) folder .*no' does not exist"),
    (["--save", "{tmp}"], r"--save .* is a folder"),
    (["--checkpoint", "{tmp}/no/run.npz"], r"checkpoint folder .* does not exist"),
    (["--epochs", "0"], r"--epochs must be an int >= 1, got 0"),
    (["--epochs", "-3"], r"--epochs must be an int >= 1, got -3"),
    (["--lr", "0"], r"--lr must be a finite number > 0, got 0"),
    (["--lr", "inf"], r"--lr must be a finite number > 0, got inf"),
    (["--batch-size", "0"], r"--batch-size must be an int >= 1, got 0"),
    (["--checkpoint-every", "0"], r"--checkpoint-every must be an int >= 1"),
    (["--weight-decay", "-1"], r"--weight-decay must be a finite number >= 0, got -1"),
    (["--clip-grad-norm", "0"], r"--clip-grad-norm must be a finite number > 0"),
    (["--optimizer", "nadam"], r"unknown optimizer 'nadam'; expected one of adam.*\(--optimizer\)"),
    (["--activation", "swish"], r"unknown activation 'swish'.*\(--activation\)"),
    (["--init", "glorot"], r"unknown init 'glorot'.*\(--init\)"),
    (["--output", "relu"], r"--output relu has no cost.*use --output sigmoid"),
    (["--resume", "{tmp}/none.npz"], r"checkpoint file '.*none\.npz' \(--resume\) does not exist"),
    (["--resume", "{tmp}"], r"checkpoint '.*' \(--resume\) is not a file"),
    (["--layers", ""], r"--layers needs a value, got an empty string"),
    (["--layers", " "], r"--layers needs a value"),
    (["--output", ""], r"--output needs a value"),
    (["--activation", ""], r"--activation needs a value"),
    (["--save", ""], r"--save needs a value"),
    (["--plot", ""], r"--plot needs a value"),
    (["--resume", ""], r"--resume needs a value"),
    (["--data", ""], r"--data needs a value"),
    (["--layers", "2,x"], r"comma-separated ints"),
    (["--target", "label"], r"--target names the label column of a \.csv file.*'moons'"),
    (["--data", "shakespeare", "--target", "x"], r"--target .*'shakespeare' is not one"),
]


@pytest.mark.parametrize(("extra", "pattern"), BAD_FLAGS, ids=[" ".join(c[0]) for c in BAD_FLAGS])
def test_bad_flags_are_refused_before_loading_data(
    extra: list[str], pattern: str, tmp_path: Path, capsys: Any, no_data: None
) -> None:
    argv = ["train", "--quiet", *[a.replace("{tmp}", str(tmp_path)) for a in extra]]
    code, out, err = run(argv, capsys)
    assert code == 2 and out == "", (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    assert re.search(pattern, lines[0]), (pattern, lines[0])


def test_target_on_a_builtin_dataset_is_refused_by_predict(tmp_path: Path, capsys: Any) -> None:
    model = tmp_path / "m.npz"
    assert run([*TOY, "--epochs", "2", "--quiet", "--save", str(model)], capsys)[0] == 0
    code, _, err = run(["predict", "--model", str(model), "--data", "toy", "--target", "y"], capsys)
    assert code == 2 and "--target names the label column of a .csv file" in err


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("no subcommands")


def test_every_option_of_every_command_says_its_meaning_and_default() -> None:
    subs = _subparsers(build_parser())
    mine = ("train", "predict", "gradcheck", "bench", "explain", "generate")
    assert set(mine) <= set(subs)
    for name in mine:
        sub = subs[name]
        for action in sub._actions:
            if "--help" in action.option_strings or not action.option_strings:
                continue
            where = f"{name} {action.option_strings[0]}"
            assert action.help and len(action.help) > 12, where
            assert "default" in action.help or "required" in action.help, (where, action.help)


def test_data_help_lists_the_datasets_and_predict_says_its_default(capsys: Any) -> None:
    for command in ("train", "predict"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        assert "--data" in capsys.readouterr().out
    subs = _subparsers(build_parser())
    for command in ("train", "predict"):
        data = next(a for a in subs[command]._actions if "--data" in a.option_strings)
        for dataset in cr.datasets.names():
            assert dataset in data.help, (command, dataset)
    data = next(a for a in subs["predict"]._actions if "--data" in a.option_strings)
    assert "(default: toy)" in data.help
    lr = next(a for a in subs["train"]._actions if "--lr" in a.option_strings)
    assert "default: 0.1" in lr.help and "1e-3" in lr.help


@pytest.mark.parametrize(
    ("argv", "wanted"),
    [
        (["train", "--data", "iris", "--output", "sigmoid"], "use --output softmax"),
        (["train", "--layers", "2,4,1", "--output", "softmax"], "use --output sigmoid"),
        (["gradcheck", "--layers", "4,1", "--output", "softmax"], "use --output sigmoid"),
    ],
)
def test_advice_names_flags_not_keyword_arguments(
    argv: list[str], wanted: str, capsys: Any
) -> None:
    code, _, err = run([*argv, "--quiet"] if argv[0] == "train" else argv, capsys)
    assert code == 2 and wanted in err, err
    assert "output='" not in err and "loss='" not in err, err


def test_advice_in_flags_rewrites_python_advice() -> None:
    assert advice_in_flags("use output='softmax'") == "use --output softmax"
    assert advice_in_flags("Try a smaller learning rate than lr=0.5") == (
        "Try a smaller learning rate than --lr 0.5"
    )
    assert "loss=" not in advice_in_flags("no default cost; pass loss='bce', 'ce' or 'mse'")
    ck = (
        "x is not a training checkpoint; write one with fit(..., checkpoint='run.npz') or "
        "'chainrule train --checkpoint run.npz'"
    )
    assert advice_in_flags(ck).endswith("write one with --checkpoint run.npz")
    assert advice_in_flags("batch_size=3 and steps=9") == "--batch-size 3 and --steps 9"


def test_divergence_warning_names_the_lr_flag(capsys: Any) -> None:
    code, _, err = run(
        ["train", "--data", "digits", "--lr", "1000", "--epochs", "2", "--quiet"], capsys
    )
    assert code == 0
    assert err.startswith("warning: training diverged") and "--lr 1000" in err, err
    assert "lr=" not in err


def test_epoch_lines_say_running_accuracy_and_name_the_test_split(
    tmp_path: Path, capsys: Any
) -> None:
    code, out, _ = run([*TOY, "--epochs", "20"], capsys)
    assert code == 0
    lines = [ln for ln in out.splitlines() if ln.startswith("epoch")]
    assert lines and all("running accuracy" in ln for ln in lines)
    assert "test accuracy" not in lines[0]  # no held-out split measured without --plot
    pytest.importorskip("matplotlib")
    code, out, _ = run([*TOY, "--epochs", "20", "--plot", str(tmp_path / "c.png")], capsys)
    lines = [ln for ln in out.splitlines() if ln.startswith("epoch")]
    assert code == 0 and "test cost" in lines[0] and "test accuracy" in lines[0]
    assert "validation" not in out


def test_epoch_line_format() -> None:
    line = commands.epoch_line(
        3,
        10,
        {"cost": 0.5, "accuracy": 0.75, "val_cost": 0.6, "val_accuracy": 0.7, "epoch_time": 1.0},
    )
    assert line == (
        "epoch  3/10  cost 0.5000  running accuracy 0.7500  test cost 0.6000  test accuracy 0.7000"
    )


def test_resume_alone_keeps_checkpointing_and_a_finished_run_says_so(
    tmp_path: Path, capsys: Any
) -> None:
    ck = tmp_path / "run.npz"
    assert run([*TOY, "--epochs", "3", "--quiet", "--checkpoint", str(ck)], capsys)[0] == 0
    assert resumed_epoch(str(ck)) == 3
    code, out, _ = run([*TOY, "--epochs", "6", "--quiet", "--resume", str(ck)], capsys)
    assert code == 0 and "nothing was trained" not in out
    assert resumed_epoch(str(ck)) == 6  # --resume alone wrote its checkpoints back to run.npz
    straight = tmp_path / "straight.npz"
    assert run([*TOY, "--epochs", "6", "--quiet", "--checkpoint", str(straight)], capsys)[0] == 0
    a, b = cr.load(ck), cr.load(straight)
    for (_, P, _, _), (_, Q, _, _) in zip(a.parameters(), b.parameters()):
        np.testing.assert_array_equal(P, Q)  # 3 + 3 epochs == 6 in one go
    code, out, _ = run([*TOY, "--epochs", "6", "--quiet", "--resume", str(ck)], capsys)
    assert code == 0
    assert f"{ck} already held 6 epochs (--epochs 6), so nothing was trained" in out
    assert "train accuracy" in out


def test_resume_of_a_plain_model_file_is_refused_naming_the_flag(
    tmp_path: Path, capsys: Any
) -> None:
    model = tmp_path / "m.npz"
    assert run([*TOY, "--epochs", "2", "--quiet", "--save", str(model)], capsys)[0] == 0
    code, _, err = run([*TOY, "--epochs", "4", "--quiet", "--resume", str(model)], capsys)
    assert code == 2 and "not a training checkpoint" in err
    assert "write one with --checkpoint run.npz" in err and "fit(" not in err


def test_empty_layers_is_not_the_default(capsys: Any) -> None:
    code, _, err = run(["train", "--epochs", "1", "--quiet", "--layers", ""], capsys)
    assert code == 2 and "--layers needs a value" in err
