"""Fuzzing the model loader: random and mutated bytes, and random architecture JSON.

Property: ``chainrule.load`` on any file either raises ValueError or -- when a mutation happened
to hit bytes that do not matter (a zip timestamp, padding) -- returns a network whose arrays are
EXACTLY the original ones. It never raises anything else, never crashes the interpreter and never
hangs. A seeded loop runs in a child process with a timeout (so a segfault or a hang is caught and
reported instead of taking pytest down); hypothesis explores further in-process. Everything is
derandomized, so the suite is reproducible.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import chainrule as cr
from chainrule.model.files import HEADER_KEY

FUZZ = settings(
    max_examples=150,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def reference_model(folder: Path) -> tuple[cr.Sequential, bytes]:
    rng = np.random.default_rng(0)
    net = cr.mlp([3, 4, 2], activation="tanh", output="softmax", seed=0)
    net.fit(
        rng.standard_normal((20, 3)), np.arange(20) % 2, epochs=1, verbose=False, standardize=True
    )
    path = folder / "good.npz"
    net.save(path)
    return net, path.read_bytes()


def check_one(path: Path, data: bytes, original: cr.Sequential) -> str:
    """Write ``data`` to ``path`` and load it: 'rejected' or 'intact'; anything else fails."""
    path.write_bytes(data)
    try:
        net = cr.load(path)
    except ValueError:
        return "rejected"
    same = len(net.layers) == len(original.layers) and all(
        k1 == k2 and P.dtype == Q.dtype and np.array_equal(P, Q)
        for (k1, P, _, _), (k2, Q, _, _) in zip(net.parameters(), original.parameters())
    )
    assert same, "a mutated file loaded as a DIFFERENT network"
    return "intact"


def mutate(data: bytes, rng: np.random.Generator) -> bytes:
    b = bytearray(data)
    kind = int(rng.integers(5))
    if kind == 0:  # flip 1-3 bits
        for _ in range(int(rng.integers(1, 4))):
            b[int(rng.integers(len(b)))] ^= 1 << int(rng.integers(8))
    elif kind == 1:  # truncate
        b = b[: int(rng.integers(len(b)))]
    elif kind == 2:  # overwrite a run with random bytes
        s, n = int(rng.integers(len(b))), int(rng.integers(1, 64))
        b[s : s + n] = rng.integers(0, 256, size=len(b[s : s + n]), dtype=np.uint8).tobytes()
    elif kind == 3:  # insert or delete bytes
        s = int(rng.integers(len(b)))
        if rng.random() < 0.5:
            b[s:s] = rng.integers(0, 256, size=int(rng.integers(1, 16)), dtype=np.uint8).tobytes()
        else:
            del b[s : s + int(rng.integers(1, 16))]
    else:  # pure random bytes, sometimes behind a zip or npy magic number
        prefix = [b"", b"PK\x03\x04", b"PK\x05\x06", b"\x93NUMPY\x01\x00"][int(rng.integers(4))]
        b = bytearray(
            prefix + rng.integers(0, 256, size=int(rng.integers(0, 3000)), dtype=np.uint8).tobytes()
        )
    return bytes(b)


CHILD = """
import sys, collections
from pathlib import Path
import numpy as np
sys.path.insert(0, sys.argv[1])
from test_fuzz_model_files import check_one, mutate, reference_model
folder = Path(sys.argv[2])
net, good = reference_model(folder)
rng = np.random.default_rng(int(sys.argv[3]))
counts = collections.Counter()
for i in range(int(sys.argv[4])):
    counts[check_one(folder / "fuzz.npz", mutate(good, rng), net)] += 1
print(dict(counts))
"""


@pytest.mark.parametrize("seed", [0, 1])
def test_seeded_mutations_in_a_child_process(tmp_path: Path, seed: int) -> None:
    """1000 mutated/random files per seed; a crash or hang of the child fails the test."""
    script = tmp_path / "fuzz_child.py"
    script.write_text(CHILD)
    proc = subprocess.run(
        [
            sys.executable,
            "-X",
            "faulthandler",
            str(script),
            str(Path(__file__).parent),
            str(tmp_path),
            str(seed),
            "1000",
        ],
        capture_output=True,
        text=True,
        timeout=300,  # a hang fails here instead of blocking the suite
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    counts = ast.literal_eval(proc.stdout.strip().splitlines()[-1])  # {'rejected': n, 'intact': n}
    assert set(counts) <= {"rejected", "intact"}
    assert counts["rejected"] >= 900  # nearly every mutation is caught


@FUZZ
@given(data=st.binary(max_size=4096))
def test_random_bytes_are_rejected(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "random.npz"
    path.write_bytes(data)
    with pytest.raises(ValueError):
        cr.load(path)


@pytest.fixture(scope="module")
def good_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[cr.Sequential, bytes]:
    return reference_model(tmp_path_factory.mktemp("fuzz"))


@FUZZ
@given(
    edits=st.lists(st.tuples(st.integers(0, 10**9), st.integers(0, 255)), min_size=1, max_size=8)
)
def test_byte_edits_are_rejected_or_harmless(
    tmp_path: Path, good_model: tuple[cr.Sequential, bytes], edits: list[tuple[int, int]]
) -> None:
    net, good = good_model
    b = bytearray(good)
    for pos, value in edits:
        b[pos % len(b)] = value
    check_one(tmp_path / "edited.npz", bytes(b), net)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
FIELDS = [
    "format",
    "version",
    "layers",
    "loss",
    "input_shape",
    "dtype",
    "seed",
    "is_fitted",
    "standardizer",
    "extra",
]


@FUZZ
@given(
    field=st.sampled_from(FIELDS),
    value=JSON,
    layer=st.integers(0, 3),
    key=st.sampled_from(["type", "config", "n_in", "n_out", "init", "alpha", "seed"]),
)
def test_random_architecture_json_is_rejected_or_valid(
    tmp_path: Path,
    good_model: tuple[cr.Sequential, bytes],
    field: str,
    value: Any,
    layer: int,
    key: str,
) -> None:
    """Replace one header field (or one layer's entry / config value) with random JSON."""
    net, good = good_model
    src = tmp_path / "src.npz"
    src.write_bytes(good)
    with np.load(src, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    header = json.loads(str(arrays.pop(HEADER_KEY)))
    if field == "layers" and isinstance(value, (int, str)) and key in ("type", "config"):
        header["layers"][layer][key] = value
    elif field == "layers" and key not in ("type", "config"):
        header["layers"][layer]["config"][key] = value
    else:
        header[field] = value
    path = tmp_path / "fuzzed.npz"
    np.savez(path, **{HEADER_KEY: np.array(json.dumps(header))}, **arrays)
    try:
        loaded = cr.load(path)
    except ValueError:
        return
    # accepted: then it is a working network with the file's exact weights
    X = np.random.default_rng(0).standard_normal((4, 3))
    assert np.all(np.isfinite(loaded.decision_output(X)))
    for (_, P, _, _), (_, Q, _, _) in zip(loaded.parameters(), net.parameters()):
        assert np.array_equal(P, Q)
