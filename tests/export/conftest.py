"""Fixtures for the export tests: real frames from clips of the committed demo session (seed 7,
a development seed), so the fast tests need no MiniWorld recording."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

DEMO = Path(__file__).resolve().parents[2] / "demo" / "session"


def clip_session(src: Path, dst: Path, first: int, stop: int) -> Path:
    """A session of frames [first, stop) of src, renumbered from 0 and shifted to start at t=0."""
    frames = [json.loads(line) for line in (src / "frames.jsonl").read_text().splitlines()][first:stop]
    t0 = frames[0]["t"]
    (dst / "frames").mkdir(parents=True)
    (dst / "session.json").write_text((src / "session.json").read_text())
    lines = []
    for k, fr in enumerate(frames):
        name = f"{fr['i']:06d}.jpg"
        os.symlink(src / "frames" / name, dst / "frames" / f"{k:06d}.jpg")
        lines.append(json.dumps({**fr, "i": k, "t": round(fr["t"] - t0, 3)}))
    (dst / "frames.jsonl").write_text("\n".join(lines) + "\n")
    t1 = frames[-1]["t"]
    utts = [json.loads(line) for line in (src / "utterances.jsonl").read_text().splitlines()]
    kept = [{"t": round(u["t"] - t0, 3), "text": u["text"]} for u in utts if t0 <= u["t"] <= t1]
    (dst / "utterances.jsonl").write_text("".join(json.dumps(u) + "\n" for u in kept))
    return dst


@pytest.fixture(scope="session")
def calib_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Frames 0-449 of the demo session (one enrollment)."""
    return clip_session(DEMO, tmp_path_factory.mktemp("clips") / "calib", 0, 450)


@pytest.fixture(scope="session")
def verify_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Frames 480-799 of the demo session (enrollments at 51.4, 67.2 and 73.3 s), held out from calib_clip."""
    return clip_session(DEMO, tmp_path_factory.mktemp("clips") / "verify", 480, 800)
