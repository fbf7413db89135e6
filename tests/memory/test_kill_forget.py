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
