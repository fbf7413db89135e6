"""Saying "pause" stops the glasses keeping what they see until "resume" (issue 24): nothing seen
meanwhile reaches the memory; the commands are exact phrasings, never a guess."""

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


def test_nothing_seen_while_paused_reaches_the_memory(tmp_path: Path) -> None:
    from device.app.replay import ReplayConfig, replay
    from memory.store import MemoryStore

    rng = np.random.default_rng(0)
    folder = tmp_path / "s"
    with SessionWriter(folder, SessionInfo(fps=10, width=32, height=32, source="test")) as w:
        for i in range(40):  # a new view every frame, the wearer walking: every frame is worth keeping
            w.add_frame(i / 10, rng.integers(0, 255, (32, 32, 3), dtype=np.uint8),
                        Pose(0.3 * i, 1.5, 0.0, 10.0 * i, -10.0), ext=".png")
        w.add_utterance(Utterance(1.0, "pause"))
        w.add_utterance(Utterance(2.5, "resume"))
        w.write_truth("rooms.json", {"rooms": []})
    result = replay(read_session(folder), None, tmp_path / "mem", ReplayConfig(progress=False))
    said = [r.text for r in result.responses if r.kind == "ack"]
    assert said[0].startswith("Paused") and said[1].startswith("Resumed"), said
    with MemoryStore.open_existing(tmp_path / "mem") as store:
        kept = sorted(store.keyframe(i).t for i in range(1, store.replays.last_id() + 1))
    assert kept and any(t < 1.0 for t in kept) and any(t > 2.5 for t in kept)
    assert not [t for t in kept if 1.0 < t < 2.5], f"kept while paused: {kept}"
