"""A memory whose folder cannot be written (issue 27 item 2): reading works and writes nothing,
writing says the folder is read-only and changes nothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from device.cli.main import main
from memory import MemoryStore
from memory.errors import ReadOnlyMemoryError
from mounts import CAN_MOUNT, read_only_mount

D, DP, GRID = 8, 4, (2, 2)


def _written(folder: Path) -> Path:
    """A memory of 6 keyframes and one item, closed cleanly (its index saved, its WAL folded in)."""
    rng = np.random.default_rng(0)
    with MemoryStore.open(folder, embedding_dim=D, patch_dim=DP) as store:
        for i in range(6):
            e = rng.standard_normal(D)
            store.add_keyframe(float(i), i, "s", (float(i), 1.6, 0.0, 0.0, 0.0), e / np.linalg.norm(e),
                               rng.standard_normal((4, DP)) / 4, GRID, recorded_at=1e9 + i)
        store.enroll_item("keys", 3.0, rng.standard_normal((1, DP)), 0.5, recorded_at=1e9)
    return folder


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_opened_read_only_it_reads_and_writes_nothing(tmp_path: Path) -> None:
    folder = _written(tmp_path / "mem")
    before = _files(folder)
    with MemoryStore.open(folder, read_only=True) as store:
        assert store.count() == 6 and [i.name for i in store.items()] == ["keys"]
        assert store.verify() == [] and store.stats()["keyframes"] == 6
        assert store.search_keyframes(store.embedding(1), 1)[0].keyframe_id == 1
        writes = {
            "a keyframe": lambda: store.add_keyframe(9.0, 9, "s", None, np.ones(D), np.ones((4, DP)) / 2, GRID),
            "an item": lambda: store.enroll_item("phone", 9.0, np.ones((1, DP)), 0.5),
            "a place name": lambda: store.name_place("hall", 0.0, 0.0, 9.0, "s", replace_radius_m=1.0),
            "a forget": lambda: store.forget_all(),
            "a rebuild": store.rebuild_index,
            "retention": lambda: store.compact(now=2e9),
        }
        for what, write in writes.items():
            with pytest.raises(ReadOnlyMemoryError, match="is read-only"):
                write()
            assert store.count() == 6, what
    after = _files(folder)  # SQLite may add its WAL's housekeeping files, empty of rows, in a writable folder
    assert {k: v for k, v in after.items() if k not in ("memory.db-wal", "memory.db-shm")} == before
    assert after.get("memory.db-wal", b"") == b"", "a read-only open wrote to the WAL"


@pytest.mark.skipif(not CAN_MOUNT, reason="needs root's mount")
def test_a_read_only_folder_reads_and_refuses_writes_in_one_line(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """On a read-only bind mount (what root cannot override): stats, verify, export, ask and view work;
    forget says the folder is read-only, with no traceback, and exits 2 (the viewer's: 409)."""
    folder = _written(tmp_path / "mem")
    with read_only_mount(folder, tmp_path / "ro") as ro:
        assert main(["memory", "stats", "--memory", str(ro)]) == 0
        assert "6 keyframes" in capsys.readouterr().out
        assert main(["memory", "verify", "--memory", str(ro)]) == 0
        assert main(["memory", "export", "--memory", str(ro), "--out", str(tmp_path / "copy.tar.gz")]) == 0
        capsys.readouterr()
        assert main(["memory", "forget", "--all", "--yes", "--memory", str(ro)]) == 2
        err = capsys.readouterr().err
        assert "is read-only" in err and "Traceback" not in err, err
        from device.app.spoken import SpeechConfig, SpokenAssistant
        from device.session import Utterance

        with SpokenAssistant(ro, SpeechConfig()) as spoken:  # `ami ask` answers from it
            said = spoken.assistant.on_utterance(Utterance(t=spoken.clock0, text="where are my keys?"))
            assert said.kind == "answer" and "keys" in said.text, said.text
            with pytest.raises(ReadOnlyMemoryError):
                spoken.assistant.on_utterance(Utterance(t=spoken.clock0, text="forget my keys"))
        from fastapi.testclient import TestClient

        from device.app.memory_view import MemoryView
        from device.app.viewer import build_app

        view = MemoryView(ro)  # `ami view` shows it, and refuses a forget with 409 and one line
        try:
            client = TestClient(build_app(view, "t"))
            assert len(client.get("/api/timeline", params={"token": "t"}).json()) == 6
            refused = client.post("/api/forget", params={"token": "t"}, json={"kind": "all", "confirm": True})
            assert refused.status_code == 409 and "is read-only" in refused.json()["detail"]
        finally:
            view.close()
    with MemoryStore.open(folder) as store:
        assert store.count() == 6
