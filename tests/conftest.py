"""Shared fixtures. Warnings are errors (pyproject's filterwarnings), so no RuntimeWarning hides."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("OMP_NUM_THREADS", "2")


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)
