"""Left-behind alerts in the memory (schema v8): kept with their evidence keyframe, read back by the
wall clock, erased by every forget that erases the keyframe or the item, checked by verify."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from memory import InvalidInputError, KeyframeNotFoundError, MemoryStore

D, DP, GRID = 16, 8, (2, 2)


def add(store: MemoryStore, t: float) -> int:
    rng = np.random.default_rng(int(t))
    return store.add_keyframe(t, int(t), "s", None, rng.standard_normal(D).astype(np.float32),
                              rng.standard_normal((4, DP)).astype(np.float32), GRID, recorded_at=1000.0 + t)


@pytest.fixture
def memory(tmp_path: Path) -> tuple[Path, list[int]]:
    with MemoryStore.open(tmp_path / "m", embedding_dim=D, patch_dim=DP) as store:
        ids = [add(store, t) for t in (1.0, 2.0, 3.0)]
        store.alerts.add(ids[0], "keys", 5.0, 1005.0, "You left your keys behind.")
        store.alerts.add(ids[2], "wallet", 9.0, 1009.0, "You left your wallet behind.")
    return tmp_path / "m", ids


def test_alerts_are_read_back_by_the_wall_clock_and_counted(memory: tuple[Path, list[int]]) -> None:
    folder, ids = memory
    with MemoryStore.open(folder) as store, store.reader() as reader:
        assert [(a.keyframe_id, a.item, a.t) for a in reader.alerts()] == [(ids[0], "keys", 5.0),
                                                                           (ids[2], "wallet", 9.0)]
        assert [a.item for a in reader.alerts(since_unix=1006.0)] == ["wallet"]
        assert store.stats()["alerts"] == 2 and store.verify() == []


def test_an_alert_needs_its_keyframe_and_an_item(memory: tuple[Path, list[int]]) -> None:
    folder, _ = memory
    with MemoryStore.open(folder) as store:
        with pytest.raises(KeyframeNotFoundError):
            store.alerts.add(999, "keys", 1.0, None, "x")
        with pytest.raises(InvalidInputError, match="item name"):
            store.alerts.add(1, " ", 1.0, None, "x")
        assert store.stats()["alerts"] == 2


@pytest.mark.parametrize("forget, left", [
    (lambda s: s.forget_between(0.5, 1.5), ["wallet"]),  # the keys alert's keyframe
    (lambda s: s.forget_recorded_since(1002.5), ["keys"]),  # the wallet alert's keyframe
    (lambda s: s.forget_all(), []),
], ids=["span", "recorded-since", "everything"])
def test_a_forget_erases_the_alerts_of_the_keyframes_it_erases(memory: tuple[Path, list[int]], forget: object,
                                                               left: list[str]) -> None:
    folder, _ = memory
    with MemoryStore.open(folder) as store:
        forget(store)  # type: ignore[operator]
        with store.reader() as reader:
            assert [a.item for a in reader.alerts()] == left
        assert store.verify() == []
    assert b"You left your" not in (folder / "memory.db").read_bytes() or left, "the bytes are gone"


def test_forgetting_an_item_erases_its_alerts(memory: tuple[Path, list[int]]) -> None:
    folder, _ = memory
    with MemoryStore.open(folder) as store:
        store.enroll_item("keys", 0.5, np.eye(DP, dtype=np.float32)[:1], 0.99)
        store.forget_item("keys")
        with store.reader() as reader:
            assert [a.item for a in reader.alerts()] == ["wallet"]
    assert b"your keys behind" not in (folder / "memory.db").read_bytes()


def test_verify_names_a_changed_alert_and_an_orphan(memory: tuple[Path, list[int]]) -> None:
    folder, ids = memory
    with MemoryStore.open(folder) as store:
        db = store._live()
        db.execute("UPDATE alerts SET text = 'You left nothing.' WHERE item = 'keys'")
        db.execute("DELETE FROM keyframes WHERE id = ?", (ids[2],))  # as a forget that missed its alert would
        db.commit()
        failed = store.verify()
        assert any("alerts: 1 changed after they were written" in f for f in failed)
        assert any("alerts: 1 belong to no keyframe" in f for f in failed)
        with store.reader() as reader:
            assert [a.item for a in reader.alerts()] == ["wallet"], "a changed alert is not shown"
