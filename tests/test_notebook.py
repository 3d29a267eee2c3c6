"""Execute notebooks/from-scratch.ipynb with nbclient, so the notebook never rots."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("matplotlib")

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "from-scratch.ipynb"


def test_notebook_has_no_committed_outputs() -> None:
    nb = json.loads(NOTEBOOK.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code, "the notebook has no code cells"
    assert all(c["outputs"] == [] and c["execution_count"] is None for c in code)


def test_notebook_matches_its_generator() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "make_notebook", ROOT / "scripts/make_notebook.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    built = module.build()
    assert [c["source"] for c in built.cells] == [
        c["source"] for c in nbformat.read(NOTEBOOK, as_version=4).cells
    ], "notebooks/from-scratch.ipynb is stale: run python scripts/make_notebook.py"


def test_notebook_executes(tmp_path: Path) -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        nb,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()  # raises CellExecutionError on the first failing cell
    text = "\n".join(
        out.get("text", "")
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.outputs
        if out.get("output_type") == "stream"
    )
    assert "PASSED" in text  # the gradient check
    assert "Z[1] = W[1] @ A[0] + b[1]" in text
    images = [
        out
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.outputs
        if "image/png" in out.get("data", {})
    ]
    assert len(images) >= 4
    errors = [
        o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.get("name") == "stderr"
    ]
    assert not errors, errors
