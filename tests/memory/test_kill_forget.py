"""A forget killed part way (SIGKILL) is all or nothing at the next open (issue 27 item 3): the
keyframes are all there or all gone, and the memory verifies clean."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from memory import MemoryStore

D, GRID, N = 64, (14, 14), 600  # about 25 kB of patches a keyframe: a forget that takes a while

FORGET = """
import sys
from memory import MemoryStore
with MemoryStore.open_existing(sys.argv[1]) as store:
    print("open", flush=True)
    store.forget_all()
"""


def _memory(folder: Path) -> None:
    rng = np.random.default_rng(0)
    with MemoryStore.open(folder, embedding_dim=D, patch_dim=D) as store:
        for i in range(N):
            e = rng.standard_normal(D)
            p = rng.standard_normal((GRID[0] * GRID[1], D))
            store.add_keyframe(float(i), i, "s", None, e / np.linalg.norm(e),
                               p / np.linalg.norm(p, axis=1, keepdims=True), GRID)


@pytest.mark.slow
@pytest.mark.parametrize("after_s", [0.0, 0.05, 0.15, 0.4])
def test_a_killed_forget_is_all_or_nothing(tmp_path: Path, after_s: float) -> None:
    folder = tmp_path / "m"
    _memory(folder)
    proc = subprocess.Popen([sys.executable, "-c", FORGET, str(folder)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "open"
    time.sleep(after_s)
    proc.kill()
    proc.wait()
    with MemoryStore.open_existing(folder) as store:  # the next open
        count, failed = store.count(), store.verify()
    assert count in (0, N), f"a forget killed after {after_s} s left {count} of {N} keyframes"
    assert failed == [], failed


@pytest.mark.slow
def test_a_replay_killed_part_way_is_undone_at_the_next_open(tmp_path: Path) -> None:
    """SIGKILL while `ami replay` is storing keyframes: the next open takes them out (and the items
    the replay enrolled), so the same session then replays once, not on top of a half."""
    import sqlite3

    from device.sim.record import RecordConfig, record_session

    session = record_session(tmp_path / "s", RecordConfig(seed=3, width=64, height=64, short=True,
                                                          start_time="2026-12-07T09:00:00+00:00"), progress=False)
    mem = tmp_path / "mem"
    cmd = [sys.executable, "-m", "device", "replay", str(session), "--out", str(tmp_path / "r.jsonl"), "--memory",
           str(mem), "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    stored = 0
    while stored < 20 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
        if (mem / "memory.db").is_file():
            try:
                with sqlite3.connect(f"file:{mem / 'memory.db'}?mode=ro", uri=True) as db:
                    stored = db.execute("SELECT COUNT(*) FROM keyframes").fetchone()[0]
            except sqlite3.OperationalError:
                stored = 0  # not created yet
    proc.kill()
    proc.wait()
    assert stored >= 20, "the replay never got going"
    with MemoryStore.open_existing(mem) as store:
        assert store.count() == 0 and store.items() == [] and store.verify() == []
    assert subprocess.run(cmd, capture_output=True).returncode == 0
    with MemoryStore.open_existing(mem) as store:
        assert store.count() > stored and store.verify() == []
    again = subprocess.run(cmd, capture_output=True, text=True)
    assert again.returncode == 2 and "already in the memory" in again.stderr, "the session is in it once"
