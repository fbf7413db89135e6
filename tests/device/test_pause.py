"""Saying "pause" stops the glasses keeping what they see until "resume" (issue 24): nothing seen
meanwhile reaches the memory; the commands are exact phrasings, never a guess. The pause is kept in
the memory, so the next program to open it honours it too (memory/pause.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from device.session import Pose, SessionInfo, SessionWriter, Utterance, read_session
from device.speech.privacy import privacy_command


@pytest.mark.parametrize("text, command", [
    ("Pause.", "pause"), ("stop recording", "pause"), ("please stop remembering for now", "pause"),
    ("Resume", "resume"), ("start recording again", "resume"), ("you can look again", "resume"),
    ("pause my music", None), ("where did I pause the video", None), ("stop tracking my keys", None),
])
def test_only_exact_phrasings_are_commands(text: str, command: str | None) -> None:
    assert privacy_command(text) == command


def walk(folder: Path, said: list[Utterance], seed: int = 0) -> Path:
    """A session of 40 frames, a new view every frame (every frame is worth keeping), and `said`; each
    seed walks from another place (another session to the memory, which knows sessions by content)."""
    rng = np.random.default_rng(seed)
    with SessionWriter(folder, SessionInfo(fps=10, width=32, height=32, source="test")) as w:
        for i in range(40):
            w.add_frame(i / 10, rng.integers(0, 255, (32, 32, 3), dtype=np.uint8),
                        Pose(0.3 * i + 20.0 * seed, 1.5, 0.0, 10.0 * i, -10.0), ext=".png")
        for u in said:
            w.add_utterance(u)
        w.write_truth("rooms.json", {"rooms": []})
    return folder


def test_nothing_seen_while_paused_reaches_the_memory(tmp_path: Path) -> None:
    from device.app.replay import ReplayConfig, replay
    from memory.store import MemoryStore

    folder = walk(tmp_path / "s", [Utterance(1.0, "pause"), Utterance(2.5, "resume")])
    result = replay(read_session(folder), None, tmp_path / "mem", ReplayConfig(progress=False))
    said = [r.text for r in result.responses if r.kind == "ack"]
    assert said[0].startswith("Paused") and said[1].startswith("Resumed"), said
    with MemoryStore.open_existing(tmp_path / "mem") as store:
        kept = sorted(store.keyframe(i).t for i in range(1, store.replays.last_id() + 1))
    assert kept and any(t < 1.0 for t in kept) and any(t > 2.5 for t in kept)
    assert not [t for t in kept if 1.0 < t < 2.5], f"kept while paused: {kept}"


def test_a_pause_left_on_holds_for_the_next_program_until_resumed(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """"Pause" with no "resume": the memory stays paused, so the next replay into it keeps nothing
    (and warns), `ami memory stats` says so, and after `ami memory resume` frames are kept again."""
    from device.app.replay import ReplayConfig, replay
    from device.cli.main import main
    from memory.store import MemoryStore

    mem = tmp_path / "mem"
    replay(read_session(walk(tmp_path / "a", [Utterance(1.0, "pause")])), None, mem, ReplayConfig(progress=False))
    with MemoryStore.open_existing(mem) as store:
        assert store.pause.on
        kept = store.count()
    assert kept > 0  # before the pause
    replay(read_session(walk(tmp_path / "b", [], seed=1)), None, mem, ReplayConfig(progress=False))
    assert main(["memory", "stats", "--memory", str(mem)]) == 0
    assert "PAUSED since" in capsys.readouterr().out
    with MemoryStore.open_existing(mem) as store:
        assert store.count() == kept, "a paused memory kept frames of the next replay"
    assert main(["memory", "resume", "--memory", str(mem)]) == 0
    assert "resumed" in capsys.readouterr().out
    replay(read_session(walk(tmp_path / "c", [], seed=2)), None, mem, ReplayConfig(progress=False))
    with MemoryStore.open_existing(mem) as store:
        assert not store.pause.on and store.count() > kept
