"""The language-model commands: train --model gpt|gru|rnn on text, generate, and their errors."""

from __future__ import annotations

from pathlib import Path

import pytest

import chainrule as cr
from chainrule.cli.main import main

TEXT = "to be or not to be, that is the question.\n" * 30


def _train(tmp_path: Path, *extra: str) -> list[str]:
    path = tmp_path / "text.txt"
    path.write_text(TEXT, encoding="utf-8")
    return [
        "train", "--data", str(path), "--steps", "30", "--block-size", "8", "--n-layer", "1",
        "--n-head", "2", "--n-embd", "16", "--batch-size", "8", "--eval-every", "10",
        "--warmup", "5", "--lr", "0.003", *extra,
    ]  # fmt: skip


def test_train_a_gpt_on_a_text_file_then_generate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = tmp_path / "gpt.npz"
    assert main([*_train(tmp_path), "--save", str(model)]) == 0
    out = capsys.readouterr().out
    assert "step 10/30" in out and "step 30/30" in out and "val loss:" in out
    net = cr.load(model)
    assert net.vocabulary is not None and net.vocabulary.size == len(set(TEXT))
    assert main(["generate", "--model", str(model), "--prompt", "to be", "--tokens", "25"]) == 0
    text = capsys.readouterr().out.rstrip("\n")
    assert text.startswith("to be") and len(text) == len("to be") + 25
    again = main(["generate", "--model", str(model), "--prompt", "to be", "--tokens", "25"])
    assert again == 0 and capsys.readouterr().out.rstrip("\n") == text  # seeded: the same


@pytest.mark.parametrize("kind", ["gru", "rnn"])
def test_train_recurrent_language_models(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    assert main([*_train(tmp_path), "--model", kind, "--quiet"]) == 0
    assert "val loss:" in capsys.readouterr().out


def test_checkpoint_and_resume_on_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ck = tmp_path / "run.npz"
    assert main([*_train(tmp_path), "--quiet", "--checkpoint", str(ck)]) == 0
    straight = capsys.readouterr().out
    assert cr.load(ck).is_fitted
    # resuming a finished run with the same settings continues nothing and reports the same loss
    assert main([*_train(tmp_path), "--quiet", "--resume", str(ck)]) == 0
    assert straight.splitlines()[0] == capsys.readouterr().out.splitlines()[0]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "--data", "moons", "--model", "gpt", "--steps", "2"], "needs text data"),
        (["train", "--data", "names", "--model", "gpt", "--steps", "0"], "--steps must be"),
        (["train", "--data", "names", "--n-embd", "10", "--n-head", "3"], "must divide n_embd"),
        (["train", "--data", "missing.txt", "--steps", "2"], "does not exist"),
        (["generate", "--model", "missing.npz"], "does not exist"),
    ],
)
def test_errors_are_one_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and len(err.strip().splitlines()) == 1


def test_generate_refuses_a_model_without_vocabulary_and_predict_refuses_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dense = tmp_path / "dense.npz"
    net = cr.mlp([2, 3, 1], output="sigmoid", seed=0)
    net.is_fitted = True
    net.save(dense)
    assert main(["generate", "--model", str(dense)]) == 2
    assert "holds no vocabulary" in capsys.readouterr().err
    model = tmp_path / "gpt.npz"
    assert main([*_train(tmp_path), "--quiet", "--save", str(model)]) == 0
    capsys.readouterr()
    assert main(["predict", "--model", str(model), "--data", "names"]) == 2
    assert "chainrule generate" in capsys.readouterr().err
