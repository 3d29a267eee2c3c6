"""Crash-safe saving: a process killed (SIGKILL) while saving leaves the previous file loadable.

``save`` writes a temporary file in the same folder and renames it over the target
(``os.replace`` is atomic), so a reader sees either the old file or the new one, never half of
one. Three proofs, each with a child process that saves in a loop, every save filling all
weights with its save number k (so a file mixing two saves is detectable):

* deterministic: the child stops HALF-WAY through writing save k and is killed there; the file
  must hold save k-1, complete. The same kill with a naive in-place write corrupts the file,
  which shows the test can fail.
* random: the child saves as fast as it can and is killed at random moments; every time, the
  file loads and holds one complete save.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr

pytestmark = pytest.mark.skipif(os.name != "posix", reason="uses SIGKILL")

CHILD = r"""
import io, sys, time
import numpy as np
import chainrule as cr
from chainrule.model import files as serialization

mode, path = sys.argv[1], sys.argv[2]
net = cr.mlp([400, 500, 10], seed=0)  # ~200k parameters: each save writes ~0.8 MB

def fill(k):
    for _, P, _, _ in net.parameters():
        P[...] = k

if mode != "loop":
    real_savez = np.savez
    def half_then_hang(fh, **arrays):  # write half of the archive, then wait to be killed
        buf = io.BytesIO()
        real_savez(buf, **arrays)
        data = buf.getvalue()
        fh.write(data[: len(data) // 2])
        fh.flush()
        print("HALF", flush=True)
        time.sleep(600)

k = 0
while True:
    k += 1
    fill(k)
    if mode == "loop" or k == 1:
        net.save(path)
    elif mode == "half-atomic":
        serialization.np.savez = half_then_hang
        net.save(path)
    else:  # "half-naive": what an in-place, non-atomic save would do
        with open(path, "wb") as fh:
            half_then_hang(fh, **{"x": net.layers[0].W})
    print(k, flush=True)
"""


def start(tmp_path: Path, mode: str, target: Path) -> subprocess.Popen[str]:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    return subprocess.Popen(
        [sys.executable, str(script), mode, str(target)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(proc: subprocess.Popen[str], token: str) -> list[str]:
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        lines.append(line.strip())
        if line.strip() == token:
            return lines
    raise AssertionError(f"child ended before printing {token!r}: {proc.stderr.read()}")  # type: ignore[union-attr]


def kill(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


def saved_number(path: Path) -> int:
    """The k every parameter of the file holds; fails if the file mixes saves."""
    net = cr.load(path)
    values = {float(v) for _, P, _, _ in net.parameters() for v in np.unique(P)}
    assert len(values) == 1, f"file mixes saves: {sorted(values)[:5]}"
    return int(values.pop())


def test_kill_half_way_through_a_save_keeps_previous_file(tmp_path: Path) -> None:
    target = tmp_path / "model.npz"
    proc = start(tmp_path, "half-atomic", target)
    try:
        wait_for(proc, "1")  # save 1 completed
        wait_for(proc, "HALF")  # save 2 half written, the child is hanging inside save()
    finally:
        kill(proc)
    assert saved_number(target) == 1
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert len(leftovers) == 1 and leftovers[0].startswith(".model.npz.")  # the half save


def test_same_kill_corrupts_a_naive_in_place_save(tmp_path: Path) -> None:
    """Control: without the temp-file-and-rename, the same kill leaves a broken file."""
    target = tmp_path / "model.npz"
    proc = start(tmp_path, "half-naive", target)
    try:
        wait_for(proc, "1")
        wait_for(proc, "HALF")
    finally:
        kill(proc)
    with pytest.raises(ValueError, match="not a (valid )?chainrule model"):
        cr.load(target)


def test_kill_at_random_moments_during_a_save_loop(tmp_path: Path) -> None:
    target = tmp_path / "model.npz"
    rng = np.random.default_rng(7)
    last_seen = 0
    for _ in range(6):
        proc = start(tmp_path, "loop", target)
        try:
            lines = wait_for(proc, str(1))  # at least one complete save in this round
            time.sleep(float(rng.uniform(0.0, 0.3)))  # a random moment: mostly mid-save
        finally:
            kill(proc)
        k = saved_number(target)  # loads, and holds ONE complete save
        assert k >= 1 and lines
        last_seen = max(last_seen, k)
    assert last_seen >= 1
