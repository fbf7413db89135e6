"""A full disk (issue 27 item 1), on a real small tmpfs: the clean error is the one raised, the
memory stays consistent and usable (read and forget on the full disk), writes resume when space
returns, and a replay that fills the disk says so in one line and keeps its responses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from memory import MemoryStore
from memory.config import StoreConfig
from memory.errors import StorageError
from mounts import CAN_MOUNT, grow, small_disk

pytestmark = pytest.mark.skipif(not CAN_MOUNT, reason="needs root's mount")
D, GRID = 64, (14, 14)  # the shipped encoder's dims and grid: about 25 kB of patches per keyframe


def _keyframe(store: MemoryStore, i: int, rng: np.random.Generator) -> int:
    e = rng.standard_normal(D)
    p = rng.standard_normal((GRID[0] * GRID[1], D))
    return store.add_keyframe(float(i), i, "s", (0.0, 1.5, 0.0, 0.0, 0.0), e / np.linalg.norm(e),
                              p / np.linalg.norm(p, axis=1, keepdims=True), GRID)


def test_a_full_disk_keeps_the_memory_usable(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    config = StoreConfig(reserve_bytes=512 * 1024)
    with small_disk(tmp_path / "disk", "3m") as disk:
        acknowledged = []
        with pytest.raises(StorageError, match="disk is full|database or disk is full"):
            with MemoryStore.open(disk / "mem", embedding_dim=D, patch_dim=D, config=config) as store:
                for i in range(1000):  # until the disk is full: the error that ends it is the clean one
                    acknowledged.append(_keyframe(store, i, rng))
        assert 10 < len(acknowledged) < 1000
        with MemoryStore.open_existing(disk / "mem", config=config) as store:  # reads on the full disk
            assert store.count() == len(acknowledged), "an acknowledged keyframe was lost"
            query = store.embedding(acknowledged[-1])
            assert store.search_keyframes(query, 1)[0].keyframe_id == acknowledged[-1]
            assert store.forget_all().keyframes == len(acknowledged), "forget on a full disk"
            assert store.count() == 0
        grow(disk, "16m")  # space returns: writes resume
        with MemoryStore.open_existing(disk / "mem", config=config) as store:
            _keyframe(store, 0, rng)
        with MemoryStore.open_existing(disk / "mem", config=config) as store:
            assert store.count() == 1 and store.verify() == []


@pytest.mark.slow
def test_a_replay_that_fills_the_disk_says_so_and_keeps_its_responses(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from device.cli.main import main
    from device.sim.record import RecordConfig, record_session

    session = record_session(tmp_path / "s", RecordConfig(seed=3, width=64, height=64, short=True,
                                                          start_time="2026-12-07T09:00:00+00:00"), progress=False)
    with small_disk(tmp_path / "disk", "6m") as disk:  # the 4 MB reserve, and 2 MB for the replay
        replay = ["replay", str(session), "--out", str(tmp_path / "r.jsonl"), "--memory", str(disk / "mem"), "--quiet"]
        assert main(replay) == 2
        err = capsys.readouterr().err
        lines = [line for line in err.splitlines() if line.startswith("ami replay: error:")]
        assert len(lines) == 1 and "the disk filled up" in lines[0] and "MB is free" in lines[0], err
        assert "Traceback" not in err and "taken back out of the memory" in lines[0]
        assert (tmp_path / "r.jsonl").exists(), "the responses up to the full disk are written"
        assert main(["memory", "stats", "--memory", str(disk / "mem")]) == 0
        assert "0 keyframes" in capsys.readouterr().out, "the replay is all or nothing"
        assert main(["memory", "verify", "--memory", str(disk / "mem")]) == 0
        grow(disk, "64m")
        assert main(replay) == 0, capsys.readouterr().err
        with MemoryStore.open_existing(disk / "mem") as store:
            assert store.count() > 0 and store.verify() == []
