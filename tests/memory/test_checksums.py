"""Silent row damage (issue 27 item 4): a row changed after it was written (eight bytes of a pose,
bytes inside a patch blob, an item's threshold) passes SQLite's own checks; its checksum does not.
verify names it, and no answer rests on it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from memory import MemoryStore, checksums

D, DP, GRID = 8, 4, (2, 2)


@pytest.fixture
def damaged(tmp_path: Path) -> tuple[Path, np.ndarray]:
    """Six keyframes (keyframe 3 holds the item's patch) and an item, then three rows changed behind
    the store's back, as a stray write or a flipped bit would."""
    rng = np.random.default_rng(0)
    keys = rng.standard_normal((1, DP)).astype(np.float32)
    keys /= np.linalg.norm(keys)
    with MemoryStore.open(tmp_path / "m", embedding_dim=D, patch_dim=DP) as store:
        for i in range(1, 7):
            patches = rng.standard_normal((4, DP)) / 4
            if i in (3, 4):
                patches[0] = keys[0]
            store.add_keyframe(float(i), i, "s", (float(i), 1.5, 0.0, 0, -10.0), rng.standard_normal(D), patches, GRID)
        store.enroll_item("keys", 1.0, keys, 0.9)
        store.enroll_item("phone", 1.0, -keys, 0.9)
    with sqlite3.connect(tmp_path / "m" / "memory.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        db.execute("UPDATE keyframes SET x = x + 0.5 WHERE id = 3")  # the pose: answers would move
        blob = bytearray(db.execute("SELECT patches FROM keyframes WHERE id = 5").fetchone()[0])
        blob[8:16] = bytes(8)
        db.execute("UPDATE keyframes SET patches = ? WHERE id = 5", (bytes(blob),))
        db.execute("UPDATE items SET threshold = 0.1 WHERE name = 'phone'")
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok", "SQLite sees nothing wrong"
    return tmp_path / "m", keys


def test_verify_names_each_damaged_row(damaged: tuple[Path, np.ndarray]) -> None:
    with MemoryStore.open_existing(damaged[0], repair=False) as store:
        failed = store.verify()
    text = "\n".join(failed)
    assert "2 keyframes changed" in text and "3 (metadata)" in text and "5 (patches)" in text, text
    assert "items 'phone' changed" in text, text
    assert "index vectors == rows (all 6 keyframes): 1 differ, e.g. [5]" in text, text


def test_no_answer_rests_on_a_damaged_row(damaged: tuple[Path, np.ndarray], caplog: pytest.LogCaptureFixture) -> None:
    folder, keys = damaged
    with MemoryStore.open_existing(folder) as store:
        hits = {h.keyframe_id for h in store.search_patches(keys, min_score=0.99)}
        names = [i.name for i in store.items()]
    assert hits == {4}, f"keyframe 3's changed pose must not be answered from: {hits}"
    assert names == ["keys"] and "changed after it was written" in caplog.text


def test_rows_without_checksums_get_them_in_the_migration(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    with MemoryStore.open(tmp_path / "m", embedding_dim=D, patch_dim=DP) as store:
        store.add_keyframe(0.0, 0, "s", None, rng.standard_normal(D), rng.standard_normal((4, DP)) / 4, GRID)
        store.enroll_item("keys", 0.0, rng.standard_normal((1, DP)), 0.9)
    with sqlite3.connect(tmp_path / "m" / "memory.db") as db:  # as a schema v5 memory had them
        db.execute("UPDATE keyframes SET meta_crc = NULL, embedding_crc = NULL, patches_crc = NULL")
        db.execute("UPDATE items SET row_crc = NULL")
        checksums.fill(db)
        assert checksums.damaged_keyframes(db) == [] and checksums.damaged_items(db) == []
        assert db.execute("SELECT COUNT(*) FROM keyframes WHERE meta_crc IS NULL").fetchone()[0] == 0


def test_values_sqlite_stores_its_own_way_still_check(tmp_path: Path) -> None:
    """-0.0 reads back as 0.0 and a whole float as a whole float: a sound row is never called damaged."""
    rng = np.random.default_rng(2)
    with MemoryStore.open(tmp_path / "m", embedding_dim=D, patch_dim=DP) as store:
        for pose in [(-0.0, 1.5, 0.0, -0.0, 0.0), (0, 2, -3, 90, -10), (1e-300, 1.5, -1e300, 359.999, -89.5)]:
            store.add_keyframe(-0.0, 0, "s", pose, rng.standard_normal(D), rng.standard_normal((4, DP)) / 4, GRID,
                               recorded_at=-0.0 + 1e9)
        assert store.verify() == []
