"""Execute notebooks/to-a-gpt.ipynb with nbclient, so the notebook never rots.

As tests/test_notebook.py does for from-scratch.ipynb: the committed file has no outputs, it
matches its generator (scripts/make_gpt_notebook.py), and it runs top to bottom in a kernel.
The kernel turns every warning into an error first, as pyproject's ``filterwarnings`` does for
the test process, and the notebook must stay fast (every model in it is tiny).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "to-a-gpt.ipynb"
GENERATOR = ROOT / "scripts" / "make_gpt_notebook.py"
#: generous: the notebook runs in a few seconds; this only catches a model grown by mistake
MAX_SECONDS = 120
WARNINGS_AS_ERRORS = """import warnings
warnings.simplefilter("error")
warnings.filterwarnings("ignore", module="ipykernel")"""


def _stream_text(nb: nbformat.NotebookNode, name: str) -> str:
    return "\n".join(
        out.get("text", "")
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.outputs
        if out.get("output_type") == "stream" and out.get("name") == name
    )


def test_gpt_notebook_has_no_committed_outputs() -> None:
    nb = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code, "the notebook has no code cells"
    assert all(c["outputs"] == [] and c["execution_count"] is None for c in code)


def test_gpt_notebook_matches_its_generator() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_gpt_notebook", GENERATOR)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    built = module.build()
    assert [c["source"] for c in built.cells] == [
        c["source"] for c in nbformat.read(NOTEBOOK, as_version=4).cells
    ], "notebooks/to-a-gpt.ipynb is stale: run python scripts/make_gpt_notebook.py"


def test_gpt_notebook_executes(tmp_path: Path) -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    # warnings are errors in the kernel too (in this copy of the notebook, not in the file);
    # ipykernel's own (a PendingDeprecationWarning at shutdown) are not the notebook's
    nb.cells.insert(0, nbformat.v4.new_code_cell(WARNINGS_AS_ERRORS))
    client = nbclient.NotebookClient(
        nb,
        timeout=MAX_SECONDS,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    t0 = time.perf_counter()
    client.execute()  # raises CellExecutionError on the first failing cell
    elapsed = time.perf_counter() - t0
    text = _stream_text(nb, "stdout")
    assert "PASSED" in text  # the GPT's gradient check
    assert "equals W @ onehot: True" in text  # an Embedding is a Dense layer on one-hot inputs
    assert "= 1 + 3 + 4" in text and "dC_dW[0, 1] = 8.0" in text  # the scatter-add
    assert "zero above the diagonal: True" in text  # the causal mask
    assert "earlier predictions unchanged: True" in text
    assert "step 60/60" in text  # fit_lm's progress lines
    assert "whole notebook:" in text
    stderr = _stream_text(nb, "stderr")
    assert not stderr, stderr
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if "ename" in o]
    assert not errors, errors
    assert elapsed < MAX_SECONDS, f"the notebook took {elapsed:.0f} s; keep its models tiny"
