"""MemoryStore against a real SQLite file and real FAISS indexes, checked against numpy brute force."""

from __future__ import annotations

import json
import logging
import os
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from memory import (
    CorruptDatabaseError,
    DimensionMismatchError,
    EmbeddingSpaceMismatchError,
    InvalidInputError,
    KeyframeNotFoundError,
    MemoryInUseError,
    MemoryStore,
    PatchHit,
    SchemaTooNewError,
)

D, DP = 24, 16  # embedding and patch dims
GRID = (3, 4)
N_KEYFRAMES = 40


@dataclass(frozen=True)
class Stored:
    """What the test put in, with the patches as the store keeps them (float16 values)."""

    id: int
    t: float
    frame: int
    embedding: np.ndarray  # (D,)
    patches16: np.ndarray  # (12, DP) float32 holding float16 values


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def open_store(folder: Path) -> MemoryStore:
    return MemoryStore.open(folder, embedding_dim=D, patch_dim=DP)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return tmp_path / "memory"


@pytest.fixture
def stored(folder: Path) -> list[Stored]:
    """N_KEYFRAMES keyframes at shuffled times (ids are not in time order), then closed."""
    rng = np.random.default_rng(7)
    times = rng.permutation(N_KEYFRAMES) * 2.5
    out = []
    with open_store(folder) as store:
        for i, t in enumerate(times):
            embedding = unit(rng.standard_normal(D))
            patches = unit(rng.standard_normal((GRID[0] * GRID[1], DP)))
            pose = (float(i), 1.6, -float(i), 10.0 * i, -5.0) if i % 3 else None
            kf = store.add_keyframe(float(t), 10 * i, "kitchen", pose, embedding, patches, GRID)
            out.append(Stored(kf, float(t), 10 * i, embedding, patches.astype(np.float16).astype(np.float32)))
    return out


@pytest.fixture
def queries(stored: list[Stored]) -> np.ndarray:
    """Three queries near stored patches, so that high thresholds still have hits: (3, DP)."""
    rng = np.random.default_rng(11)
    near = np.stack([stored[3].patches16[5], stored[17].patches16[0], stored[30].patches16[11]])
    return unit(near + 0.3 * rng.standard_normal(near.shape))


def brute_patch_hits(
    stored: list[Stored], queries: np.ndarray, min_score: float, t_before: float | None, t_after: float | None
) -> list[tuple[int, int, float, float, int]]:
    """(keyframe_id, cell, best score, t, frame) for every patch >= min_score, sorted like the store."""
    hits = []
    for s in stored:
        if (t_before is not None and not s.t < t_before) or (t_after is not None and not s.t > t_after):
            continue
        best = (s.patches16 @ queries.T).max(axis=1)  # (cells,)
        hits += [(s.id, c, float(best[c]), s.t, s.frame) for c in np.flatnonzero(best >= min_score)]
    return sorted(hits, key=lambda h: (h[3], h[0], h[1]))


def threshold_in_gap(stored: list[Stored], queries: np.ndarray, quantile: float) -> float:
    """A min_score near `quantile` of all best scores, midway in a gap wide enough that float
    rounding (FAISS's BLAS vs numpy's) cannot move a patch across it."""
    scores = np.unique(np.concatenate([(s.patches16 @ queries.T).max(axis=1) for s in stored]))
    i = int(quantile * len(scores))
    i += int(np.argmax(np.diff(scores[i : i + 20])))
    assert scores[i + 1] - scores[i] > 1e-4, "random data left no clean gap; change the seed"
    return float((scores[i] + scores[i + 1]) / 2)


def assert_same_hits(hits: list[PatchHit], expected: list[tuple[int, int, float, float, int]]) -> None:
    got = [(h.keyframe_id, h.cell, h.t, h.frame) for h in hits]
    assert got == [(e[0], e[1], e[3], e[4]) for e in expected]
    np.testing.assert_allclose([h.score for h in hits], [e[2] for e in expected], rtol=0, atol=1e-5)


def search_all(store: MemoryStore, queries: np.ndarray, embedding_query: np.ndarray) -> tuple[list, list]:
    return (
        store.search_patches(queries, min_score=0.5),
        store.search_keyframes(embedding_query, 5, t_before=60.0),
    )


WINDOWS = [(None, None), (60.0, None), (None, 30.0), (75.0, 20.0)]


@pytest.mark.parametrize(("t_before", "t_after"), WINDOWS)
@pytest.mark.parametrize("quantile", [0.5, 0.95])
def test_search_patches_matches_brute_force(folder, stored, queries, t_before, t_after, quantile) -> None:
    min_score = threshold_in_gap(stored, queries, quantile)
    expected = brute_patch_hits(stored, queries, min_score, t_before, t_after)
    assert expected, "the test needs hits to compare"
    with open_store(folder) as store:
        hits = store.search_patches(queries, min_score=min_score, t_before=t_before, t_after=t_after)
    assert_same_hits(hits, expected)


def test_count_recorded_before_goes_by_the_wall_clock_of_any_session(folder: Path) -> None:
    """Keyframes of two sessions whose own t overlap: counted by when they were stored."""
    rng = np.random.default_rng(3)
    with open_store(folder) as store:
        for k, (session, t, wall) in enumerate([("a", 50.0, 1000.0), ("a", 51.0, 1001.0), ("b", 1.0, 2000.0)]):
            store.add_keyframe(t, k, session, None, unit(rng.standard_normal(D)),
                               unit(rng.standard_normal((GRID[0] * GRID[1], DP))), GRID, recorded_at=wall)
        assert [store.count_recorded_before(w) for w in (1000.0, 1500.0, 2000.5)] == [0, 2, 3]


def test_time_window_is_open(folder, stored, queries) -> None:
    """A query at time t sees only what came strictly before t (and strictly after t_after)."""
    edge = sorted(stored, key=lambda s: s.t)[10]
    with open_store(folder) as store:
        before = store.search_patches(queries, min_score=-1.0, t_before=edge.t)
        after = store.search_patches(queries, min_score=-1.0, t_after=edge.t)
        assert {h.keyframe_id for h in before} == {s.id for s in stored if s.t < edge.t}
        assert {h.keyframe_id for h in after} == {s.id for s in stored if s.t > edge.t}
        assert [h.t for h in before] == sorted(h.t for h in before)
        assert store.search_patches(queries, min_score=-1.0, t_before=5.0, t_after=5.0) == []


@pytest.mark.parametrize(("t_before", "t_after"), WINDOWS)
def test_search_keyframes_matches_brute_force(folder, stored, t_before, t_after) -> None:
    query = unit(stored[5].embedding + 0.5 * np.random.default_rng(3).standard_normal(D))
    in_window = [
        s for s in stored if (t_before is None or s.t < t_before) and (t_after is None or s.t > t_after)
    ]
    expected = sorted(in_window, key=lambda s: -float(s.embedding @ query))[:5]
    with open_store(folder) as store:
        hits = store.search_keyframes(query, 5, t_before=t_before, t_after=t_after)
    assert [h.keyframe_id for h in hits] == [s.id for s in expected]
    np.testing.assert_allclose([h.score for h in hits], [s.embedding @ query for s in expected], atol=1e-5)
    assert [(h.t, h.frame) for h in hits] == [(s.t, s.frame) for s in expected]


def test_round_trip_across_close_and_reopen(folder, stored, queries, caplog) -> None:
    rng = np.random.default_rng(5)
    protos = unit(rng.standard_normal((4, DP)))
    with open_store(folder) as store:
        store.enroll_item("keys", 12.5, protos, 0.71)
        before = search_all(store, queries, stored[0].embedding)
        records = [store.keyframe(s.id) for s in stored]
        stats = store.stats()
    assert stats["keyframes"] == N_KEYFRAMES and stats["patches"] == N_KEYFRAMES * 12 and stats["items"] == 1
    assert stats["total_bytes"] == stats["db_bytes"] + stats["index_bytes"] > 0

    caplog.set_level(logging.DEBUG, logger="memory")
    with open_store(folder) as store:
        rebuilt = [r for r in caplog.records if "rebuilding" in r.getMessage()]
        assert not rebuilt, "reopen must load the saved index, not rebuild it"
        assert search_all(store, queries, stored[0].embedding) == before
        assert [store.keyframe(s.id) for s in stored] == records
        assert store.count() == N_KEYFRAMES
        assert store.last_keyframe() == max(records, key=lambda r: (r.recorded_at, r.t, r.id))  # by the wall clock
        for s in stored[:5]:
            np.testing.assert_array_equal(store.patches(s.id), s.patches16)
            np.testing.assert_array_equal(store.embedding(s.id), s.embedding)
            assert store.grid(s.id) == GRID
        item = store.item("keys")
        assert item is not None and (item.name, item.enrolled_t, item.threshold) == ("keys", 12.5, 0.71)
        np.testing.assert_array_equal(item.prototypes, protos)
    assert records[1].x == 1.0 and records[0].x is None and records[0].pitch_deg is None


def test_reenrollment_appends_prototypes_and_replaces_threshold(folder) -> None:
    rng = np.random.default_rng(2)
    first, second = unit(rng.standard_normal((3, DP))), unit(rng.standard_normal((2, DP)))
    with open_store(folder) as store:
        assert store.item("keys") is None
        store.enroll_item("keys", 1.0, first, 0.6)
        store.enroll_item("phone", 2.0, first[:1], 0.5)
        again = store.enroll_item("keys", 9.0, second, 0.8)
    assert (again.k, again.enrolled_t, again.threshold) == (5, 1.0, 0.8)
    with open_store(folder) as store:
        keys = store.item("keys")
        assert keys is not None
        np.testing.assert_array_equal(keys.prototypes, np.concatenate([first, second]))
        assert (keys.enrolled_t, keys.threshold) == (1.0, 0.8)
        assert [i.name for i in store.items()] == ["keys", "phone"]
        assert not keys.prototypes.flags.writeable


def test_place_names_persist_and_naming_a_spot_again_replaces_it(folder) -> None:
    with open_store(folder) as store:
        store.name_place("Kitchen", 0.0, 0.0, 1.0, "s1", replace_radius_m=1.0)
        store.name_place("hall", 8.0, 0.0, 2.0, "s1", replace_radius_m=1.0)
        store.name_place(" Dining  Room ", 0.5, 0.0, 3.0, "s1", replace_radius_m=1.0)  # the same spot
        with pytest.raises(InvalidInputError, match="x"):
            store.name_place("attic", float("nan"), 0.0, 4.0, "s1", replace_radius_m=1.0)
    with open_store(folder) as store:
        assert [(p.name, p.position, p.t) for p in store.place_names()] == [
            ("hall", (8.0, 0.0), 2.0), ("dining room", (0.5, 0.0), 3.0)]
        assert store.stats()["place_names"] == 2


def index_file(folder: Path, name: str) -> Path:
    """The saved file of index `name` ("keyframes" or "patches"), as index.json names it."""
    return folder / json.loads((folder / "index.json").read_text())["files"][name]["file"]


def saved_files(folder: Path) -> list[Path]:
    return [index_file(folder, "keyframes"), index_file(folder, "patches"), folder / "index.json"]


def _delete_index_files(folder: Path) -> None:
    for name in ("keyframes", "patches"):
        index_file(folder, name).unlink()


def _corrupt_sidecar_count(folder: Path) -> None:
    sidecar = json.loads((folder / "index.json").read_text())
    sidecar["patches"] += 1
    (folder / "index.json").write_text(json.dumps(sidecar))


def _truncate_patch_index(folder: Path) -> None:
    path = index_file(folder, "patches")
    path.write_bytes(path.read_bytes()[:100])


def _garble_sidecar(folder: Path) -> None:
    (folder / "index.json").write_text("{not json")


DAMAGE = [_delete_index_files, _corrupt_sidecar_count, _truncate_patch_index, _garble_sidecar]


@pytest.mark.parametrize("damage", DAMAGE, ids=lambda f: f.__name__.strip("_"))
def test_damaged_index_is_rebuilt_from_sqlite(folder, stored, queries, damage, caplog) -> None:
    with open_store(folder) as store:
        before = search_all(store, queries, stored[0].embedding)
    damage(folder)
    caplog.set_level(logging.WARNING, logger="memory")
    with open_store(folder) as store:
        assert search_all(store, queries, stored[0].embedding) == before
    assert [r for r in caplog.records if "rebuilding" in r.getMessage()], "the rebuild must say why"
    caplog.clear()
    with open_store(folder) as store:  # the rebuilt index was saved: no second rebuild
        assert search_all(store, queries, stored[0].embedding) == before
    assert not [r for r in caplog.records if "rebuilding" in r.getMessage()]


def test_index_older_than_database_is_rebuilt(folder, stored, queries, tmp_path, caplog) -> None:
    """Index files from an earlier save (a crash before the next save) are stale: rebuilt."""
    old = tmp_path / "old-index"
    old.mkdir()
    for path in saved_files(folder):
        shutil.copy2(path, old / path.name)
    with open_store(folder) as store:
        new_id = store.add_keyframe(500.0, 9999, "hall", None, stored[0].embedding, stored[0].patches16, GRID)
    for path in old.iterdir():
        shutil.copy2(path, folder / path.name)
    caplog.set_level(logging.WARNING, logger="memory")
    with open_store(folder) as store:
        hits = store.search_patches(stored[0].patches16[:1], min_score=0.999)
    assert {h.keyframe_id for h in hits} == {stored[0].id, new_id}
    assert any("generation" in r.getMessage() for r in caplog.records)


def test_files_are_owner_only_whatever_the_umask(tmp_path) -> None:
    folder = tmp_path / "deep" / "memory"
    previous = os.umask(0)
    try:
        with open_store(folder) as store:
            store.add_keyframe(1.0, 0, "s", None, unit(np.ones(D)), unit(np.ones((12, DP))), GRID)
            store.save()
            names = ["memory.db", "memory.db-wal", "memory.db-shm", "index.json", "memory.lock",
                     *(p.name for p in saved_files(folder))]
            modes = {name: stat.S_IMODE((folder / name).stat().st_mode) for name in names}
    finally:
        os.umask(previous)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert modes == dict.fromkeys(names, 0o600)


@pytest.mark.parametrize(
    ("embedding_dim", "patch_dim", "named"), [(D + 1, DP, "embedding_dim"), (D, 8, "patch_dim")]
)
def test_dims_mismatch_on_reopen_is_clear(folder, embedding_dim, patch_dim, named) -> None:
    open_store(folder).close()
    with pytest.raises(DimensionMismatchError) as e:
        MemoryStore.open(folder, embedding_dim=embedding_dim, patch_dim=patch_dim)
    wrong = embedding_dim if named == "embedding_dim" else patch_dim
    right = D if named == "embedding_dim" else DP
    assert f"{named}={right}" in str(e.value) and f"{named}={wrong}" in str(e.value)
    open_store(folder).close()  # the failed open released the folder


def test_memory_refuses_an_encoder_from_another_embedding_space(folder) -> None:
    MemoryStore.open(folder, embedding_dim=D, patch_dim=DP).close()  # made before spaces were recorded
    with MemoryStore.open(folder, embedding_space="encoder A") as store:  # adopts the first one named
        assert store.embedding_space == "encoder A"
    with MemoryStore.open(folder, embedding_space="encoder A") as store:
        assert store.embedding_space == "encoder A"
    with pytest.raises(EmbeddingSpaceMismatchError) as e:
        MemoryStore.open(folder, embedding_space="encoder B")
    assert "'encoder A'" in str(e.value) and "'encoder B'" in str(e.value) and str(folder) in str(e.value)
    with MemoryStore.open(folder) as store:  # `ami memory` opens without an encoder: it still works
        assert store.embedding_space == "encoder A"


def test_second_open_of_a_folder_is_refused(folder) -> None:
    with open_store(folder):
        with pytest.raises(MemoryInUseError, match="already open"):
            open_store(folder)
    open_store(folder).close()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"embedding": np.ones(D + 1, np.float32)}, "embedding must have shape"),
        ({"grid": (4, 4)}, r"patches must have shape \(16, 16\)"),
        ({"grid": (16, 17)}, "at most 256"),
        ({"patches": np.full((12, DP), np.nan, np.float32)}, "finite"),
        ({"patches": np.full((12, DP), 1e6, np.float32)}, "float16"),
        ({"pose": (1.0, 2.0)}, "pose must be"),
        ({"t": float("inf")}, "t must be a finite number"),
    ],
)
def test_bad_keyframes_are_refused_before_anything_is_written(folder, change, message) -> None:
    args = {"t": 1.0, "frame": 0, "session": "s", "pose": None, "embedding": unit(np.ones(D)),
            "patches": unit(np.ones((12, DP))), "grid": GRID}
    with open_store(folder) as store:
        with pytest.raises(InvalidInputError, match=message):
            store.add_keyframe(**{**args, **change})
        assert store.count() == 0
        with pytest.raises(KeyframeNotFoundError):
            store.keyframe(1)


def _garbage_db(folder: Path) -> None:
    (folder / "memory.db").write_bytes(b"this is not a database" * 100)


def _future_schema(folder: Path) -> None:
    import sqlite3

    with sqlite3.connect(folder / "memory.db") as conn:
        conn.execute("PRAGMA user_version = 99")


@pytest.mark.parametrize(
    ("damage", "error", "message"),
    [
        (_garbage_db, CorruptDatabaseError, "restore it from a backup"),
        (_future_schema, SchemaTooNewError, "upgrade"),
    ],
)
def test_unusable_database_gives_a_clear_error(folder, damage, error, message) -> None:
    open_store(folder).close()
    damage(folder)
    with pytest.raises(error, match=message):
        open_store(folder)
    with pytest.raises(error):  # the failed open released the folder lock
        open_store(folder)
