"""A small synthetic session (random frames, a straight walk, two utterances) for fast tests that
need a valid session folder but not MiniWorld's pictures."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from device.session import Pose, SessionInfo, SessionWriter, Utterance


def make_session(root: Path, n: int = 4, size: int = 32) -> Path:
    out = root / "s"
    rng = np.random.default_rng(0)
    with SessionWriter(out, SessionInfo(fps=10, width=size, height=size, source="test")) as w:
        for i in range(n):
            w.add_frame(i / 10, rng.integers(0, 255, (size, size, 3), dtype=np.uint8),
                        Pose(float(i), 1.5, 0.0, 90.0, -10.0), ext=".png")
        w.add_utterance(Utterance(0.1, "this is my keys", (0.1, 0.9)))
        w.add_utterance(Utterance(0.3, "where are my keys?"))
        w.write_truth("rooms.json", {"rooms": []})
    return out
