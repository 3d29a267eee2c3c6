"""The finite-difference gradient checks run on a machine without torch.

torch is the oracle of many tests, but a learner checking a backward pass by central
differences needs NumPy only: every test module imports torch inside the tests that use it.
This runs the finite-difference tests of the gradient test files in a fresh interpreter in
which ``import torch`` fails, as it does where torch is not installed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent
FILES = [
    "test_dense.py",
    "test_activations.py",
    "test_seq_layers_basic.py",
    "test_attention.py",
    "test_recurrent.py",
    "test_gpt.py",
    "test_losses.py",
    "test_conv.py",
    "test_pool.py",
    "test_batchnorm.py",
    "test_dropout.py",
    "test_gradcheck.py",
    "test_network_gradients.py",
]

BLOCK_TORCH = """
import importlib.abc, sys

class NoTorch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ModuleNotFoundError(f"No module named {name!r} (blocked for this test)")
        return None

sys.meta_path.insert(0, NoTorch())
import pytest
sys.exit(pytest.main(sys.argv[1:]))
"""


def test_finite_difference_checks_run_without_torch() -> None:
    args = [str(TESTS / f) for f in FILES]
    args += [
        "-q",
        "-p",
        "no:cacheprovider",
        "-k",
        "(finite_differences or gradcheck) and not torch",
    ]
    proc = subprocess.run(
        [sys.executable, "-c", BLOCK_TORCH, *args],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=TESTS.parent,
    )
    tail = proc.stdout[-3000:] + proc.stderr[-2000:]
    assert proc.returncode == 0, tail
    assert " passed" in proc.stdout and "error" not in proc.stdout.lower(), tail
