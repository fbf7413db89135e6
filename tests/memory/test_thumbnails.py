"""Evidence thumbnails in the memory: kept in the keyframe's transaction, counted, checked by
verify, carried by export and import. (Forget erasing their bytes: test_forget.py; a SIGKILL
between a keyframe and its thumbnail: test_faults.py through benchmarks/memory_crash.py.)"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from memory import InvalidInputError, MemoryStore, export_archive, import_archive

D, DP, GRID = 16, 8, (2, 2)


def jpeg(seed: int) -> bytes:
    out = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, (12, 16, 3), np.uint8)).save(out, "JPEG")
    return out.getvalue()


def add(store: MemoryStore, t: float, thumbnail: tuple[bytes, int] | None) -> int:
    rng = np.random.default_rng(int(t))
    return store.add_keyframe(t, int(t), "s", None, rng.standard_normal(D).astype(np.float32),
                              rng.standard_normal((4, DP)).astype(np.float32), GRID, thumbnail=thumbnail)


@pytest.fixture
def memory(tmp_path: Path) -> Path:
    with MemoryStore.open(tmp_path / "m", embedding_dim=D, patch_dim=DP) as store:
        add(store, 1.0, (jpeg(1), 2))
        add(store, 2.0, None)  # kept without one (the face blur failed, or thumbnails are off)
        add(store, 3.0, (jpeg(3), 0))
    return tmp_path / "m"


def test_thumbnails_are_read_back_and_counted(memory: Path) -> None:
    with MemoryStore.open(memory) as store, store.reader() as reader:
        ids = [k.id for k, _ in reader.timeline()]
        assert [reader.thumbnail(i) for i in ids] == [jpeg(1), None, jpeg(3)]
        assert [has for _, has in reader.timeline()] == [True, False, True]
        stats = store.stats()
        assert (stats["thumbnails"], stats["faces_blurred"]) == (2, 2)
        assert stats["thumbnail_bytes"] == len(jpeg(1)) + len(jpeg(3))
        assert store.verify() == []


def test_a_thumbnail_that_is_not_jpeg_stores_nothing(memory: Path) -> None:
    with MemoryStore.open(memory) as store:
        with pytest.raises(InvalidInputError, match="JPEG"):
            add(store, 4.0, (b"\x89PNG....", 0))
        with pytest.raises(InvalidInputError, match="faces"):
            add(store, 4.0, (jpeg(4), -1))
        assert store.count() == 3 and store.stats()["thumbnails"] == 2


def test_verify_names_a_changed_thumbnail_and_it_is_not_shown(memory: Path) -> None:
    with MemoryStore.open(memory) as store:
        db = store._live()
        first = int(db.execute("SELECT MIN(keyframe_id) FROM thumbnails").fetchone()[0])
        blob = bytearray(db.execute("SELECT jpeg FROM thumbnails WHERE keyframe_id = ?", (first,)).fetchone()[0])
        blob[-10] ^= 0xFF
        db.execute("UPDATE thumbnails SET jpeg = ? WHERE keyframe_id = ?", (bytes(blob), first))
        db.commit()
        assert any(f"thumbnails: 1 changed after they were written (checksum), e.g. keyframes {first}" in line
                   for line in store.verify())
        with store.reader() as reader:
            assert reader.thumbnail(first) is None


def test_verify_finds_a_thumbnail_left_without_its_keyframe(memory: Path) -> None:
    with MemoryStore.open(memory) as store:
        db = store._live()
        db.execute("DELETE FROM keyframes WHERE id = (SELECT MIN(keyframe_id) FROM thumbnails)")
        db.commit()
        assert any("thumbnails: 1 belong to no keyframe" in line for line in store.verify())


def test_export_and_import_carry_the_thumbnails(memory: Path, tmp_path: Path) -> None:
    with MemoryStore.open(memory) as store:
        export_archive(store, tmp_path / "m.tar.gz")
    import_archive(tmp_path / "m.tar.gz", tmp_path / "copy")
    with MemoryStore.open(tmp_path / "copy") as store, store.reader() as reader:
        assert [reader.thumbnail(k.id) for k, _ in reader.timeline()] == [jpeg(1), None, jpeg(3)]
        assert store.verify() == []


def test_a_keyframe_kept_without_a_picture_gets_one_later(tmp_path: Path) -> None:
    """The glasses keep pictures of some keyframes only; one that becomes evidence gets its picture
    afterwards, once (the first stays), and only a stored keyframe can."""
    from memory.errors import KeyframeNotFoundError

    with MemoryStore.open(tmp_path / "m", embedding_dim=D, patch_dim=DP) as store:
        kf = add(store, 1.0, None)
        assert store.thumbnails.add(kf, jpeg(1), 1) is True
        assert store.thumbnails.add(kf, jpeg(2), 0) is False
        with pytest.raises(KeyframeNotFoundError):
            store.thumbnails.add(kf + 1, jpeg(2), 0)
        with store.reader() as reader:
            assert reader.thumbnail(kf) == jpeg(1)
        assert (store.stats()["thumbnails"], store.stats()["faces_blurred"]) == (1, 1) and store.verify() == []
