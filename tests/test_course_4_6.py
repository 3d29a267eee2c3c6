"""The learning path's chapters 4-6 (docs/course/04-06): the figure script runs and checks its
worked examples against the layers, every named function exists, every chapter ends in
exercises, and every link points at a file that exists."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from docs_paths import named_paths, resolve

ROOT = Path(__file__).resolve().parent.parent
COURSE = ROOT / "docs" / "course"
CHAPTERS = ["04-vectorization.md", "05-convolutions.md", "06-sequences.md"]
FIGURES = ["ch4-ways.png", "ch5-conv1d.png", "ch5-batchnorm.png", "ch6-attention.png"]


def _text(name: str) -> str:
    return (COURSE / name).read_text(encoding="utf-8")


def _resolve(path: str) -> object:
    return resolve(path)


def _paths() -> list[str]:
    return named_paths(*(_text(name) for name in CHAPTERS))


def test_the_figure_script_runs_small(tmp_path: Path) -> None:
    script = ROOT / "scripts" / "course_figures_4_6.py"
    done = subprocess.run(
        [sys.executable, str(script), "--small", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    for fig in FIGURES:
        assert (tmp_path / fig).stat().st_size > 1000, fig
    out = done.stdout
    # the worked examples' numbers, which the chapters state, do not depend on the machine
    assert "dC_dx = [2.0, -3.0, 5.0, -2.0]" in out
    assert "dC_dx = [0.8854, -0.506, -2.0239, 1.6444]" in out
    assert "P = [[1.0, 0.0, 0.0], [0.6698, 0.3302, 0.0], [0.2483, 0.2483, 0.5035]]" in out
    for line in ("np.maximum(Z, zeros, out=Z)", "two products of 3136 terms", "9 contiguous adds"):
        assert line in out, line  # section 4.7's three measurements


def test_the_committed_figures_exist() -> None:
    for fig in FIGURES:
        assert (COURSE / "figures" / fig).is_file(), fig


def test_the_chapters_name_functions() -> None:
    assert len(_paths()) > 30


@pytest.mark.parametrize("path", _paths())
def test_every_named_function_exists(path: str) -> None:
    _resolve(path)


@pytest.mark.parametrize("name", CHAPTERS)
def test_every_chapter_ends_in_exercises(name: str) -> None:
    text = _text(name)
    assert "\n## Exercises\n" in text
    tail = text.split("\n## Exercises\n", 1)[1]
    assert "<details>" in tail and "</details>" in tail
    assert "chainrule exercise check " in tail


@pytest.mark.parametrize("name", CHAPTERS)
def test_every_link_points_at_a_file(name: str) -> None:
    for target in re.findall(r"\]\(([^)\s]+)\)", _text(name)):
        if target.startswith(("http://", "https://", "#")):
            continue
        path = (COURSE / target.split("#", 1)[0]).resolve()
        if path.parent == COURSE and (
            re.match(r"0[1-3]", path.name) or path.name in ("index.md", "glossary.md")
        ):
            continue  # written by another chapter's author at the same time
        assert path.exists(), f"{name}: {target}"


def test_math_md_points_at_the_chapter() -> None:
    math = (ROOT / "docs" / "math.md").read_text(encoding="utf-8")
    for heading in (
        "### 7.2 Folding the learning rate into the seed of backward",
        "### 7.3 The SGD step inside the matrix product",
    ):
        section = math.split(heading, 1)[1].split("\n#", 1)[0]
        assert "course/04-vectorization.md" in section
