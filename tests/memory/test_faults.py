"""Fault injection: a damaged index, a full disk mid-save, a torn WAL tail, and SIGKILL at random
moments. The store recovers or refuses with a clear message; it never loses an acknowledged
keyframe (add_keyframe returned) and never answers with an id that has no row."""

from __future__ import annotations

import errno
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from memory import IndexSaveError, MemoryStore, StorageError, indexfiles
from memory.indexfiles import IndexState

D, DP, GRID = 16, 8, (2, 2)
ROOT = Path(__file__).resolve().parents[2]


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def add(store: MemoryStore, t: int) -> int:
    rng = np.random.default_rng(t)
    return store.add_keyframe(float(t), t, "s", None, unit(rng.standard_normal(D)),
                              unit(rng.standard_normal((4, DP))), GRID)


def embedding(t: int) -> np.ndarray:
    return unit(np.random.default_rng(t).standard_normal(D))


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    folder = tmp_path / "memory"
    with MemoryStore.open(folder, embedding_dim=D, patch_dim=DP) as store:
        for t in range(30):
            add(store, t)
    return folder


def sidecar(folder: Path) -> dict:
    return json.loads((folder / "index.json").read_text())


def flip_one_byte(folder: Path) -> None:
    """Same size, one byte changed in the middle: only the checksum can tell."""
    path = folder / sidecar(folder)["files"]["keyframes"]["file"]
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def test_bit_flip_in_an_index_file_is_caught_by_the_checksum(folder, caplog) -> None:
    flip_one_byte(folder)
    with MemoryStore.open(folder) as store:
        assert store.verify() == []
        assert all(store.search_keyframes(embedding(t), 1)[0].t == t for t in range(30))
    assert any("checksum" in r.getMessage() for r in caplog.records)


def test_verify_without_repair_names_the_damage_and_changes_nothing(folder) -> None:
    flip_one_byte(folder)
    before = {p.name: p.read_bytes() for p in folder.iterdir() if p.suffix in (".faiss", ".json")}
    with MemoryStore.open_existing(folder, repair=False) as store:
        failed = store.verify()
        assert store.search_keyframes(embedding(3), 1)[0].t == 3  # answers stay right meanwhile
    assert len(failed) == 1 and "checksum" in failed[0] and "ami memory rebuild" in failed[0]
    assert before == {p.name: p.read_bytes() for p in folder.iterdir() if p.suffix in (".faiss", ".json")}


def test_full_disk_mid_save_refuses_and_keeps_the_previous_files(folder, monkeypatch) -> None:
    old = sidecar(folder)
    old_files = {p.name: p.read_bytes() for p in folder.iterdir() if p.suffix in (".faiss", ".json")}
    real_write = indexfiles.write_file

    def full_disk(path: str, data: memoryview) -> None:
        real_write(path, data[: len(data) // 2])  # half of it lands, then the disk is full
        raise OSError(errno.ENOSPC, "No space left on device")

    with MemoryStore.open(folder) as store:
        new_id = add(store, 100)
        monkeypatch.setattr(indexfiles, "write_file", full_disk)
        with pytest.raises(IndexSaveError, match="No space left on device.*previous index files are intact"):
            store.save()
        now = {p.name: p.read_bytes() for p in folder.iterdir() if p.suffix in (".faiss", ".json")}
        assert now == old_files, "the failed save must leave the previous files as they were"
        assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]
        state = IndexState.from_json(old)
        loaded, why = indexfiles.load(folder, state)
        assert loaded is not None, why  # still a valid save of the previous generation
        assert store.search_keyframes(embedding(100), 1)[0].keyframe_id == new_id  # still usable
        monkeypatch.setattr(indexfiles, "write_file", real_write)  # space is freed
    with MemoryStore.open(folder) as store:
        assert store.verify() == [] and store.count() == 31


def test_full_database_refuses_the_keyframe_and_keeps_the_rest(folder) -> None:
    with MemoryStore.open(folder) as store:
        pages = store._live().execute("PRAGMA page_count").fetchone()[0]
        store._live().execute(f"PRAGMA max_page_count = {pages}")  # SQLITE_FULL on the next page
        with pytest.raises(StorageError, match="free disk space"):
            for t in range(100, 200):
                add(store, t)
        acknowledged = store.count()
        assert store.verify() == []
    with MemoryStore.open(folder) as store:
        assert store.count() == acknowledged and store.verify() == []


CRASHING_WRITER = textwrap.dedent("""
    import os, sys
    import numpy as np
    sys.path.insert(0, {root!r})
    from memory import MemoryStore
    from tests_memory_faults_add import add
    store = MemoryStore.open({folder!r})
    for t in range(100, 110):
        add(store, t)
        print(t, os.path.getsize({wal!r}), flush=True)
    db = store._live()
    db.execute("PRAGMA cache_size = 1")  # spill the open transaction's pages into the WAL
    db.execute("BEGIN")
    blob = np.ones(4 * {d}, np.uint8).tobytes()
    for i in range(200):
        db.execute("INSERT INTO keyframes (t, frame, session, grid_h, grid_w, embedding, patches)"
                   " VALUES (?, 0, 'never-committed', 1, 1, ?, ?)", (1000.0 + i, blob, blob))
    os._exit(0)  # a crash: no COMMIT, no checkpoint, no close
""")


@pytest.mark.parametrize("damage", ["garble_tail", "truncate_tail", "append_garbage"])
def test_torn_wal_tail_loses_nothing_acknowledged(folder, tmp_path, damage) -> None:
    helper = tmp_path / "tests_memory_faults_add.py"
    helper.write_text(textwrap.dedent(f"""
        import numpy as np
        D, DP, GRID = {D}, {DP}, {GRID}
        def unit(x):
            return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)
        def add(store, t):
            rng = np.random.default_rng(t)
            return store.add_keyframe(float(t), t, "s", None, unit(rng.standard_normal(D)),
                                      unit(rng.standard_normal((4, DP))), GRID)
    """))
    wal = folder / "memory.db-wal"
    script = CRASHING_WRITER.format(root=str(ROOT), folder=str(folder), wal=str(wal), d=D)
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path,
                       env={"PYTHONPATH": f"{tmp_path}:{ROOT}"}, check=True)
    acked = [tuple(map(int, line.split())) for line in r.stdout.splitlines()]
    assert [t for t, _ in acked] == list(range(100, 110))
    acked_wal_bytes = acked[-1][1]
    data = bytearray(wal.read_bytes())
    assert len(data) > acked_wal_bytes + 4096, "the uncommitted transaction must have spilled into the WAL"
    if damage == "garble_tail":
        data[acked_wal_bytes:] = bytes(np.random.default_rng(0).integers(0, 256, len(data) - acked_wal_bytes,
                                                                          dtype=np.uint8))
    elif damage == "truncate_tail":
        data = data[: acked_wal_bytes + (len(data) - acked_wal_bytes) // 3]
    else:
        data += b"\x37" * 5000
    wal.write_bytes(bytes(data))
    with MemoryStore.open(folder) as store:
        assert store.verify() == []
        assert store.count() == 40  # 30 from before, 10 acknowledged, none of the uncommitted
        for t in [*range(30), *range(100, 110)]:
            hit = store.search_keyframes(embedding(t), 1)[0]
            assert hit.t == t and hit.score > 0.999


@pytest.mark.slow
def test_sigkill_at_random_moments_loses_nothing_acknowledged(tmp_path) -> None:
    r = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "memory_crash.py"), "--kills", "20", "--seed", "1",
         "--memory", str(tmp_path / "memory")],
        capture_output=True, text=True, timeout=600,
    )
    figures = json.loads(r.stdout)
    assert r.returncode == 0, figures
    assert figures["restarts"] == figures["clean_restarts"] == 20
    assert figures["lost_after_ack"] == figures["mismatched_ids"] == figures["resurrected"] == 0
    assert figures["missing_thumbnails"] == 0
    assert figures["acknowledged"] > 100
