"""Session format v1: the writer's output reads back, and every kind of bad input is named."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from device.errors import SessionError
from device.session import Pose, SessionInfo, SessionWriter, Utterance, read_session
from synthetic import make_session


def test_round_trip(tmp_path: Path) -> None:
    s = read_session(make_session(tmp_path))
    assert s.info == SessionInfo(fps=10, width=32, height=32, source="test")
    assert [f.i for f in s.frames] == [0, 1, 2, 3]
    assert s.frames[2].pose == Pose(2.0, 1.5, 0.0, 90.0, -10.0)
    assert s.utterances[0] == Utterance(0.1, "this is my keys", (0.1, 0.9))
    assert s.utterances[1].audio is None
    assert s.load_frame(3).shape == (32, 32, 3)
    assert json.loads((s.path / "session.json").read_text())["format"] == "ami-session/1"


def test_start_time_is_the_wall_clock_at_t0(tmp_path: Path) -> None:
    root = make_session(tmp_path)
    start = '"start_time": "2026-12-07T09:14:00+01:00"'
    _rewrite(root / "session.json", lambda s: s.replace('"fps": 10', '"fps": 10, ' + start))
    info = read_session(root).info
    assert info.start_unix == 1796631240.0  # 08:14 UTC
    assert SessionInfo(fps=10, width=32, height=32).start_unix is None


def _rewrite(path: Path, edit) -> None:
    path.write_text(edit(path.read_text()))


@pytest.mark.parametrize("edit, message", [
    (lambda p: _rewrite(p / "session.json", lambda s: s.replace("ami-session/1", "ami-session/9")), "unknown format"),
    (lambda p: _rewrite(p / "frames.jsonl", lambda s: s + "{not json\n"), "frames.jsonl:5: malformed JSON"),
    (lambda p: _rewrite(p / "frames.jsonl", lambda s: s.replace('"i": 2', '"i": 7')),
     "frames.jsonl:3: expected frame index 2"),
    (lambda p: _rewrite(p / "utterances.jsonl", lambda s: "\n".join(reversed(s.strip().split("\n"))) + "\n"),
     "utterances.jsonl:2: utterance at t=0.1 is out of order"),
    (lambda p: (p / "frames" / "000002.png").unlink(), "frame 2 is missing"),
    (lambda p: (p / "frames.jsonl").write_text(""), "the session is empty"),
    (lambda p: (p / "session.json").unlink(), "not a session folder"),
    (lambda p: _rewrite(p / "session.json", lambda s: s.replace('"fps": 10', '"fps": -1')),
     "field 'fps' must be a finite number > 0"),
    (lambda p: _rewrite(p / "session.json", lambda s: s.replace('"fps": 10', '"fps": 1e999')),
     "field 'fps' must be a finite number > 0"),
    (lambda p: _rewrite(p / "session.json", lambda s: s.replace('"fps": 10', '"fps": Infinity')),
     "Infinity is not a JSON number"),
    (lambda p: (p / "session.json").write_bytes(b'{"format": "ami-session/1", "source": "\xff"}'),
     "session.json: not UTF-8"),
    (lambda p: _rewrite(p / "frames.jsonl", lambda s: s.replace('"i": 1,', '"i": 1.0,')),
     "frames.jsonl:2: expected frame index 1, got 1.0"),
    (lambda p: _rewrite(p / "frames.jsonl", lambda s: s.replace('"i": 1,', '"i": true,')),
     "frames.jsonl:2: expected frame index 1, got True"),
    (lambda p: (p / "frames.jsonl").write_bytes((p / "frames.jsonl").read_bytes() + b'{"i": 4, "t": "\xfe"}\n'),
     "frames.jsonl:5: not UTF-8"),
    (lambda p: _rewrite(p / "utterances.jsonl", lambda s: s.replace("[0.1, 0.9]", "[1.0, Infinity]")),
     "utterances.jsonl:1: malformed JSON \\(Infinity is not a JSON number"),
    (lambda p: _rewrite(p / "utterances.jsonl", lambda s: s.replace("[0.1, 0.9]", "[1.0, 1e999]")),
     "utterances.jsonl:1: field 'audio' must be \\[start_s, end_s\\], finite numbers"),
    (lambda p: _rewrite(p / "session.json", lambda s: s.replace('"fps": 10', '"fps": 10, "start_time": "9am"')),
     "field 'start_time' must be ISO 8601"),
    (lambda p: _rewrite(p / "session.json", lambda s: s.replace('"fps": 10', '"fps": 10, "start_time": '
                                                                '"2026-12-07T09:14:00"')), "needs a UTC offset"),
])
def test_bad_sessions_are_named(tmp_path: Path, edit, message: str) -> None:
    root = make_session(tmp_path)
    edit(root)
    with pytest.raises(SessionError, match=message):
        read_session(root)


def test_corrupt_and_wrong_size_frames_are_named(tmp_path: Path) -> None:
    root = make_session(tmp_path)
    (root / "frames" / "000001.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    from PIL import Image
    Image.new("RGB", (16, 32)).save(root / "frames" / "000002.png")
    s = read_session(root)
    with pytest.raises(SessionError, match="000001.png: frame 1 is corrupt"):
        s.load_frame(1)
    with pytest.raises(SessionError, match="frame 2 is 16x32, but session.json says 32x32"):
        s.load_frame(2)


def test_a_decompression_bomb_is_a_named_error(tmp_path: Path) -> None:
    from PIL import Image

    root = make_session(tmp_path)
    Image.new("1", (20_000, 20_000)).save(root / "frames" / "000001.png")  # 400 Mpixel, a few kB
    with pytest.raises(SessionError, match="000001.png: frame 1 is far larger than"):
        read_session(root).load_frame(1)


def test_writer_is_atomic_and_refuses_empty(tmp_path: Path) -> None:
    out = tmp_path / "s"
    with pytest.raises(RuntimeError):
        with SessionWriter(out, SessionInfo(fps=10, width=8, height=8)) as w:
            w.add_frame(0.0, np.zeros((8, 8, 3), np.uint8), None)
            raise RuntimeError("crash mid-recording")
    assert not out.exists() and list(tmp_path.iterdir()) == []
    with pytest.raises(SessionError, match="empty session"):
        with SessionWriter(out, SessionInfo(fps=10, width=8, height=8)):
            pass
    assert not out.exists()


def test_writer_rejects_bad_frames(tmp_path: Path) -> None:
    with SessionWriter(tmp_path / "s", SessionInfo(fps=10, width=8, height=8)) as w:
        with pytest.raises(SessionError, match="expected \\(8, 8, 3\\) uint8"):
            w.add_frame(0.0, np.zeros((8, 9, 3), np.uint8), None)
        w.add_frame(1.0, np.zeros((8, 8, 3), np.uint8), None)
        with pytest.raises(SessionError, match="goes back in time"):
            w.add_frame(0.5, np.zeros((8, 8, 3), np.uint8), None)
