"""Tiers and retention: compaction moves old keyframes to the compressed long-term tier, drops those
past retention, runs in the background without blocking queries, and filtered search."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

from memory import MemoryStore, RetentionPolicy, StoreConfig
from memory import compact as compact_module

D, DP, GRID = 32, 8, (1, 2)
DAY_S = 86_400.0
NOW = 1_800_000_000.0
CONFIG = StoreConfig(synchronous="NORMAL", min_longterm_train=1024, pq_bytes=16,
                     retention=RetentionPolicy(full_detail_days=7, keep_days=365))
AGES_DAYS = {"dropped": (400, 100), "longterm": (10, 1500), "recent": (1, 200)}  # age, how many


def clustered(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n, D) unit vectors from a 40-component Gaussian mixture."""
    centres = np.random.default_rng(99).standard_normal((40, D))
    x = centres[rng.integers(0, 40, n)] + 0.35 * rng.standard_normal((n, D))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, dict[int, np.ndarray]]]:
    """A memory with keyframes of three ages, compacted once; returns the folder and id -> vector."""
    folder = tmp_path_factory.mktemp("tiers") / "memory"
    rng = np.random.default_rng(0)
    groups: dict[str, dict[int, np.ndarray]] = {}
    with MemoryStore.open(folder, embedding_dim=D, patch_dim=DP, config=CONFIG) as store:
        for name, (age_days, n) in AGES_DAYS.items():
            groups[name] = {}
            for i, e in enumerate(clustered(rng, n)):
                patches = np.full((2, DP), 0.25, np.float32)
                kf = store.add_keyframe(float(i), i, name, (float(i % 9), 0.0, float(i % 4), 0.0, 0.0), e,
                                        patches, GRID, recorded_at=NOW - age_days * DAY_S)
                groups[name][kf] = e
        result = store.compact(now=NOW)
    assert (result.dropped, result.compressed, result.retrained) == (100, 1500, True)
    return folder, groups


def test_compaction_tiers_and_retention(built) -> None:
    folder, groups = built
    kept = {**groups["longterm"], **groups["recent"]}
    ids = np.array(list(kept))
    vectors = np.stack(list(kept.values()))
    with MemoryStore.open(folder, config=CONFIG) as store:
        assert store.verify() == []
        stats = store.stats()
        assert (stats["keyframes"], stats["longterm"], stats["patches"]) == (1700, 1500, 400)
        some_long = next(iter(groups["longterm"]))
        assert store.patches(some_long).shape == (0, DP) and store.grid(some_long) == GRID
        dropped = next(iter(groups["dropped"]))
        assert not [h for h in store.search_keyframes(groups["dropped"][dropped], 5) if h.keyframe_id == dropped]
        queries = clustered(np.random.default_rng(5), 50)
        recalls = []
        for q in queries:  # recall@10 against exact search over the same vectors
            exact = set(ids[np.argsort(-(vectors @ q))[:10]].tolist())
            hits = store.search_keyframes(q, 10)
            recalls.append(len(exact & {h.keyframe_id for h in hits}) / 10)
            assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
        assert np.mean(recalls) >= 0.95
        for kf in list(groups["longterm"])[:20]:  # an exact score after the rerank
            hit = store.search_keyframes(kept[kf], 1)[0]
            assert hit.keyframe_id == kf and abs(hit.score - 1.0) < 1e-5


def test_long_term_tier_rebuilds_from_the_database(built) -> None:
    folder, _ = built
    q = clustered(np.random.default_rng(8), 1)[0]
    with MemoryStore.open(folder, config=CONFIG) as store:
        before = store.search_keyframes(q, 10)
        store.rebuild_index()
        assert store.search_keyframes(q, 10) == before and store.verify() == []


def test_long_term_tier_is_served_from_its_file_and_still_forgets(built, tmp_path) -> None:
    """The long-term tier is memory-mapped (its lists stay in the file, not the heap); a forget
    changes an in-RAM copy, saves it, and serves the new file mapped again."""
    folder, groups = tmp_path / "memory", built[1]
    shutil.copytree(built[0], folder)
    gone = {kf: v for kf, v in groups["longterm"].items() if kf in list(groups["longterm"])[:5]}
    with MemoryStore.open(folder, config=CONFIG) as store:
        assert store._ctx.index.longterm_mapped
        hit = store.search_keyframes(next(iter(gone.values())), 1)[0]
        assert hit.keyframe_id == next(iter(gone)) and abs(hit.score - 1.0) < 1e-5
        result = store.forget_between(0.0, 4.0, session="longterm")
        assert result.keyframes == 5 and store._ctx.index.longterm_mapped and store.verify() == []
        assert store.stats()["longterm"] == 1495
    with MemoryStore.open(folder, config=CONFIG) as store:
        assert store._ctx.index.longterm_mapped and store.verify() == []
        for kf, v in gone.items():
            assert kf not in {h.keyframe_id for h in store.search_keyframes(v, 10)}


def test_too_few_due_keyframes_stay_in_the_recent_tier(tmp_path) -> None:
    with MemoryStore.open(tmp_path / "m", embedding_dim=D, patch_dim=DP, config=CONFIG) as store:
        for e in clustered(np.random.default_rng(1), 50):
            store.add_keyframe(0.0, 0, "s", None, e, np.zeros((2, DP), np.float32), GRID,
                               recorded_at=NOW - 30 * DAY_S)
        result = store.compact(now=NOW)
        assert result.compressed == 0 and "1024" in result.skipped
        assert store.stats()["longterm"] == 0 and store.verify() == []


def test_background_compaction_does_not_block_queries(tmp_path, monkeypatch) -> None:
    """While the compaction trains and encodes (held here on an event), queries from the writer's
    thread and from a reader on its own connection run and answer."""
    rng = np.random.default_rng(2)
    vectors = clustered(rng, 1200)
    with MemoryStore.open(tmp_path / "m", embedding_dim=D, patch_dim=DP, config=CONFIG) as store:
        ids = [store.add_keyframe(float(i), i, "s", None, e, np.zeros((2, DP), np.float32), GRID,
                                  recorded_at=NOW - 30 * DAY_S) for i, e in enumerate(vectors)]
        training, release = threading.Event(), threading.Event()
        real = compact_module.new_longterm

        def slow_training(train: np.ndarray, pq_bytes: int):  # noqa: ANN202
            training.set()
            assert release.wait(30), "the test never released the compaction"
            return real(train, pq_bytes)

        monkeypatch.setattr(compact_module, "new_longterm", slow_training)
        future = store.compact_in_background(now=NOW)
        assert training.wait(30)
        with store.reader() as reader:
            for i in range(0, 1200, 100):
                assert reader.search_keyframes(vectors[i], 1)[0].keyframe_id == ids[i]
                assert store.search_keyframes(vectors[i], 1)[0].keyframe_id == ids[i]
            new = store.add_keyframe(5000.0, 0, "s", None, vectors[0], np.zeros((2, DP), np.float32), GRID)
            assert not future.done(), "the queries above ran while the compaction was still working"
            release.set()
            assert future.result(timeout=60).compressed == 1200
            assert reader.search_keyframes(vectors[7], 1)[0].keyframe_id == ids[7]
        assert store.verify() == [] and store.stats()["longterm"] == 1200 and store.keyframe(new).t == 5000.0


def test_filtered_search_by_place_and_item(tmp_path) -> None:
    rng = np.random.default_rng(4)
    vectors = clustered(rng, 60)
    item = np.zeros(DP, np.float32)
    item[0] = 1.0
    with MemoryStore.open(tmp_path / "m", embedding_dim=D, patch_dim=DP, config=CONFIG) as store:
        ids = []
        for i, e in enumerate(vectors):
            patches = np.full((2, DP), 0.1, np.float32)
            if i % 10 == 0:
                patches[1] = item
            ids.append(store.add_keyframe(float(i), i, "s", (float(i), 1.6, 0.0, 0.0, 0.0), e, patches, GRID))
        store.enroll_item("keys", 1.0, item[None, :], 0.95)
        near = store.search_keyframes(vectors[0], 60, near=(20.0, 0.0, 5.0))
        assert sorted(h.keyframe_id for h in near) == ids[15:26]
        seen = store.search_keyframes(vectors[0], 60, item="keys", t_before=35.0)
        assert sorted(h.keyframe_id for h in seen) == [ids[0], ids[10], ids[20], ids[30]]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: RetentionPolicy(full_detail_days=0), "full_detail_days must be a number > 0, got 0"),
        (lambda: RetentionPolicy(full_detail_days=10, keep_days=5), "keep_days must be None"),
        (lambda: StoreConfig(synchronous="OFF"), "synchronous must be one of NORMAL, FULL, EXTRA, got 'OFF'"),
        (lambda: StoreConfig(nprobe=0), "nprobe must be an integer in 1..4096, got 0"),
    ],
)
def test_config_errors_name_field_value_and_allowed(make, message) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        make()


