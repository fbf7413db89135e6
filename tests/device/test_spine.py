"""The spine, end to end with the real parts: a MiniWorld session is recorded headless, replayed
through the assistant into a real SQLite file and FAISS index, and scored."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from device.cli.main import main
from device.evaluation.evaluate import room_of
from device.evaluation.truth import load_truth
from device.session import read_session

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("spine") / "session"
    assert main(["record-sim", "--out", str(out), "--seed", "4", "--short", "--quiet"]) == 0
    return out


def test_answer_names_the_room_the_item_was_put_in(recorded: Path, tmp_path: Path) -> None:
    responses = tmp_path / "responses.jsonl"
    memory = tmp_path / "memory"
    assert main(["replay", str(recorded), "--out", str(responses), "--memory", str(memory), "--quiet"]) == 0
    assert (memory / "memory.db").is_file() and any(memory.glob("*.faiss"))

    truth_rooms = load_truth(read_session(recorded)).rooms
    queries = [json.loads(line) for line in (recorded / "truth" / "queries.jsonl").read_text().splitlines()]
    answers = {r["utterance_t"]: r for r in map(json.loads, responses.read_text().splitlines())
               if r["kind"] == "answer"}
    put = [q for q in queries if q["exists"]]
    assert put, "the short session asks about the item it moved"
    for q in put:
        a = answers[q["t"]]
        assert not a["abstain"], a["text"]
        assert room_of(a["position"]["x"], a["position"]["z"], truth_rooms) == q["room"], a
    never = [q for q in queries if not q["exists"]]
    assert never and all(answers[q["t"]]["abstain"] for q in never)


def test_eval_scores_the_replay(recorded: Path, tmp_path: Path, capsys) -> None:
    responses = tmp_path / "r.jsonl"
    assert main(["replay", str(recorded), "--out", str(responses), "--quiet"]) == 0
    assert main(["eval", str(recorded), str(responses), "--metrics", str(tmp_path / "m.json")]) == 0
    m = json.loads((tmp_path / "m.json").read_text())
    assert m["locate"]["room_accuracy"] == 1.0
    assert m["locate"]["abstention_on_never_seen"] == 1.0
    assert "room accuracy" in capsys.readouterr().out


def test_demo_session_is_valid_and_the_demo_writes_a_contact_sheet(tmp_path: Path) -> None:
    """`ami demo`: responses, metrics and a contact sheet whose evidence frames are ringed where
    the item was found."""
    import numpy as np
    from PIL import Image

    from device.app.demo import DEMO_SESSION, SHEET_FRAME_PX

    session = read_session(DEMO_SESSION)
    assert session.info.source == "miniworld" and len(session.frames) > 1000
    assert main(["demo", "--out", str(tmp_path), "--quiet"]) == 0
    sheet = tmp_path / "contact_sheet.png"
    assert (tmp_path / "responses.jsonl").is_file() and (tmp_path / "metrics.json").is_file()
    with Image.open(sheet) as im:
        px = np.asarray(im.convert("RGB"))
    assert px.shape[1] > 600 and px.shape[0] > 200
    evidence = px[:, SHEET_FRAME_PX + 16:2 * SHEET_FRAME_PX + 16]  # the evidence column
    ring = (evidence[..., 0] == 255) & (evidence[..., 1] == 0) & (evidence[..., 2] == 0)
    assert ring.sum() > 100, "no evidence frame was ringed"
    assert sheet.stat().st_mode & 0o077 == 0
