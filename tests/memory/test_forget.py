"""Forget, each kind: afterwards search, the database bytes and the folder hold nothing forgotten
(the keyframes' thumbnails included), what was not forgotten is intact, and verify() is clean."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from memory import ItemNotFoundError, MemoryStore

D, DP = 32, 16
GRID = (2, 3)
MARKER = "FORGETME-7c1d"  # the session name of every keyframe to forget
PLACE = "pantry-7c1d"  # the wearer's name for the place the forget-keyframes were taken
NOW = time.time()


def jpeg(rng: np.random.Generator, comment: str) -> bytes:
    """A real 16x16 JPEG carrying `comment` (a COM segment), so its bytes can be looked for."""
    out = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (16, 16, 3), np.uint8)).save(out, "JPEG", comment=comment.encode())
    return out.getvalue()


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


class Fixture:
    """A memory of 30 keep-keyframes and 6 forget-keyframes that every kind of forget selects."""

    def __init__(self, folder: Path) -> None:
        rng = np.random.default_rng(3)
        self.folder = folder
        self.item_patch = unit(rng.standard_normal(DP))  # only the forget-keyframes show the item
        self.keep: dict[int, np.ndarray] = {}
        self.forget: dict[int, np.ndarray] = {}
        with MemoryStore.open(folder, embedding_dim=D, patch_dim=DP) as store:
            for i in range(36):
                target = i % 6 == 0
                embedding = unit(rng.standard_normal(D))
                patches = unit(rng.standard_normal((GRID[0] * GRID[1], DP)))
                if target:
                    patches[0] = self.item_patch
                    pose = (10.0 + 0.1 * i / 6, 1.6, -5.0, 0.0, 0.0)
                    t, recorded, session = 100.0 + i / 6, NOW - 60.0, MARKER
                else:
                    pose = (float(i % 5), 1.6, float(i % 7), 0.0, 0.0) if i % 4 else None
                    t, recorded, session = 200.0 + i, NOW - 3600.0, "keep"
                thumb = jpeg(rng, f"{MARKER}-thumb-{i}" if target else f"keep-{i}")
                kf = store.add_keyframe(t, i, session, pose, embedding, patches, GRID, recorded_at=recorded,
                                        thumbnail=(thumb, i % 2))
                (self.forget if target else self.keep)[kf] = embedding
            store.enroll_item("keys", 101.0, self.item_patch[None, :], 0.99, recorded_at=NOW - 60)
            store.enroll_item("mug", 250.0, unit(rng.standard_normal((1, DP))), 0.9, recorded_at=NOW - 3600)
            store.name_place(PLACE, 10.1, -5.0, 102.0, "walk", replace_radius_m=1.0, recorded_at=NOW - 60)
            store.name_place("hall", 0.0, 0.0, 210.0, "keep", replace_radius_m=1.0, recorded_at=NOW - 3600)

    def folder_bytes(self) -> bytes:
        return b"".join(p.read_bytes() for p in sorted(self.folder.iterdir()) if p.is_file())

    def markers(self) -> list[bytes]:
        """Byte strings that only forgotten content contains."""
        out = [MARKER.encode()]
        out += [e.astype("<f4").tobytes()[:32] for e in self.forget.values()]  # db blob and index
        out += [f"{MARKER}-thumb-{i}".encode() for i in range(0, 36, 6)]  # the thumbnails' JPEG bytes
        return out


FORGETS: dict[str, Callable[[MemoryStore], object]] = {
    "between": lambda s: s.forget_between(99.0, 106.0),
    "last_10_minutes": lambda s: s.forget_recorded_since(NOW - 600),
    "near": lambda s: s.forget_near(10.0, -5.0, 1.0),
    "item": lambda s: s.forget_item("keys"),
    "all": lambda s: s.forget_all(),
}


@pytest.mark.parametrize("kind", FORGETS)
def test_forget_leaves_nothing_behind(tmp_path: Path, kind: str) -> None:
    fx = Fixture(tmp_path / "memory")
    assert all(m in fx.folder_bytes() for m in fx.markers()[:1]), "the marker must be there first"
    with MemoryStore.open(fx.folder) as store:
        result = FORGETS[kind](store)
        assert result.keyframes == (36 if kind == "all" else 6)
        assert store.verify() == []
        for e in fx.forget.values():  # search finds nothing forgotten
            assert not [h for h in store.search_keyframes(e, 36) if h.keyframe_id in fx.forget]
        assert store.search_patches(fx.item_patch[None, :], min_score=0.99) == []
        data = fx.folder_bytes()  # while open: the db, the WAL, the index files
        assert not [m for m in fx.markers() if m in data]
        kept = {} if kind == "all" else fx.keep
        assert store.count() == len(kept)
        for kf, e in kept.items():
            assert store.search_keyframes(e, 1)[0].keyframe_id == kf
        with store.reader() as reader:
            assert all(reader.thumbnail(kf) is not None for kf in kept)
            assert all(reader.thumbnail(kf) is None for kf in fx.forget)
        assert store.stats()["thumbnails"] == len(kept)
        items = [i.name for i in store.items()]
        places = [p.name for p in store.place_names()]
        assert result.place_names == {"all": 2, "item": 0}.get(kind, 1)
    assert items == {"all": [], "near": ["keys", "mug"]}.get(kind, ["mug"])  # by place keeps items
    assert places == {"all": [], "item": ["hall", PLACE]}.get(kind, ["hall"])  # forgetting an item keeps names
    assert (PLACE.encode() in fx.folder_bytes()) == (kind == "item")
    data = fx.folder_bytes()  # after close
    assert not [m for m in fx.markers() if m in data]
    with MemoryStore.open(fx.folder) as store:
        assert store.verify() == [] and store.count() == len(kept)


def test_forget_item_that_is_not_enrolled_names_the_enrolled(tmp_path: Path) -> None:
    fx = Fixture(tmp_path / "memory")
    with MemoryStore.open(fx.folder) as store, pytest.raises(ItemNotFoundError, match="'mug'"):
        store.forget_item("wallet")


def test_forgotten_ids_are_never_reused(tmp_path: Path) -> None:
    fx = Fixture(tmp_path / "memory")
    with MemoryStore.open(fx.folder) as store:
        store.forget_all()
        new = store.add_keyframe(1.0, 0, "s", None, unit(np.ones(D)), unit(np.ones((6, DP))), GRID)
    assert new > max(fx.keep) and new > max(fx.forget)
