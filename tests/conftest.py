"""Shared fixtures. Warnings are errors (pyproject's filterwarnings), so no RuntimeWarning hides."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("OMP_NUM_THREADS", "2")
# lets scikit-learn's estimator checks test array-API inputs instead of skipping them
os.environ.setdefault("SCIPY_ARRAY_API", "1")


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)
