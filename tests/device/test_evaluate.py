"""`ami eval` scoring on a hand-made truth/, where every number can be checked by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from device.evaluation.evaluate import evaluate, format_table
from device.responses import Evidence, Response, read_responses
from device.session import Pose, SessionInfo, SessionWriter, jsonl, read_session
from device.errors import ResponsesError


@pytest.fixture
def session(tmp_path: Path):
    out = tmp_path / "s"
    with SessionWriter(out, SessionInfo(fps=1, width=8, height=8)) as w:
        for i in range(20):  # the wearer stands in room 1 (x in [5, 10]) throughout
            w.add_frame(float(i), np.zeros((8, 8, 3), np.uint8), Pose(7.0, 1.5, 2.0, 0.0, 0.0))
        w.write_truth("rooms.json", {"rooms": [
            {"id": 0, "min_x": 0, "max_x": 5, "min_z": 0, "max_z": 5},
            {"id": 1, "min_x": 5, "max_x": 10, "min_z": 0, "max_z": 5}]})
        w.write_truth("queries.jsonl", [
            {"t": 5.0, "item": "keys", "exists": True, "seen": True, "carried": False, "room": 0,
             "position": {"x": 1.0, "z": 1.0}},
            {"t": 8.0, "item": "mug", "exists": True, "seen": True, "carried": False, "room": 0,
             "position": {"x": 2.0, "z": 2.0}},
            {"t": 12.0, "item": "passport", "exists": False, "seen": False, "carried": False, "room": None,
             "position": None},
        ])
        w.write_truth("left_behind.jsonl", [{"t": 10.0, "put_t": 6.0, "item": "phone", "room": 1,
                                             "position": {"x": 8.0, "z": 1.0}}])
    return read_session(out)


def _r(t, kind, ut, item, abstain=False, ev=None, pos=None) -> Response:
    return Response(t=t, kind=kind, utterance_t=ut, item=item, text="", abstain=abstain, confidence=0.5,
                    evidence=ev, position=pos)


def test_metrics_by_hand(session) -> None:
    responses = [
        _r(5.2, "answer", 5.0, "keys", pos=(1.0, 4.0)),  # room 0, right; error 3 m
        _r(8.1, "answer", 8.0, "mug", ev=Evidence(3.0, 3)),  # no position: the wearer was in room 1, wrong
        _r(12.1, "answer", 12.0, "passport", abstain=True),  # right to abstain
        _r(9.0, "alert", None, "phone"),  # before the wearer left the room: premature, a false alarm
        _r(11.0, "alert", None, "phone"),  # 1 s after leaving: a hit
        _r(15.0, "alert", None, "keys"),  # no such event: a false alarm
    ]
    m = evaluate(session, responses)
    assert m["locate"]["room_accuracy"] == 0.5
    assert m["locate"]["median_position_error_m"] == pytest.approx(3.0)
    assert m["locate"]["abstention_on_never_seen"] == 1.0
    assert m["locate"]["false_abstention_rate"] == 0.0
    assert (m["alerts"]["precision"], m["alerts"]["recall"]) == (pytest.approx(1 / 3), 1.0)
    assert m["alerts"]["f1"] == pytest.approx(0.5)
    assert m["alerts"]["median_delay_s"] == pytest.approx(1.0)
    assert m["latency"]["median_s"] == pytest.approx(0.1)
    assert "room accuracy" in format_table(m)


def test_missing_answer_counts_as_abstention(session) -> None:
    m = evaluate(session, [])
    assert m["locate"]["room_accuracy"] == 0.0 and m["locate"]["false_abstention_rate"] == 1.0
    assert m["alerts"]["recall"] == 0.0


def test_bad_responses_file_is_named(tmp_path: Path) -> None:
    p = tmp_path / "responses.jsonl"
    p.write_text(jsonl([_r(1.0, "answer", 1.0, "keys").to_json()]) + '{"t": 2, "kind": "shout"}\n')
    with pytest.raises(ResponsesError, match=r"responses.jsonl:2: field 'kind'"):
        read_responses(p)


def test_the_independent_generators_truth_is_scored_by_its_own_rules(tmp_path: Path) -> None:
    """truth/ as ../shared/foreign writes it (rooms by name, `pos`, `never_seen`, left_items.jsonl):
    one command scores it, and an alert counts only from leaving to 30 s after (its scorer's rule)."""
    out = tmp_path / "foreign"
    box = {"polygon": [], "bounds": {"min_x": 0, "max_x": 5, "min_z": 0, "max_z": 5}}
    with SessionWriter(out, SessionInfo(fps=1, width=8, height=8)) as w:
        for i in range(60):
            w.add_frame(float(i), np.zeros((8, 8, 3), np.uint8), Pose(7.0, 1.5, 2.0, 0.0, 0.0))
        w.write_truth("rooms.json", {"kitchen": box, "hall": {**box, "bounds": {**box["bounds"], "min_x": 5,
                                                                                  "max_x": 10}}})
        w.write_truth("queries.jsonl", [
            {"t": 5.0, "item": "keys", "never_seen": False, "room": "kitchen", "pos": {"x": 1.0, "y": 0.9, "z": 1.0}},
            {"t": 9.0, "item": "duck", "never_seen": True, "room": None, "pos": None}])
        w.write_truth("left_items.jsonl", [{"item": "phone", "t_put_down": 10.0, "t_leave": 20.0, "room": "hall",
                                            "pos": {"x": 8.0, "y": 0.0, "z": 1.0}}])
        w.write_truth("events.jsonl", [])
    s = read_session(out)

    def answer(t: float, item: str, pos: tuple[float, float] | None) -> Response:
        return Response(t=t + 1, kind="answer", utterance_t=t, item=item, text="", abstain=pos is None,
                        confidence=0.9, evidence=None, position=pos)

    def alert(t: float) -> Response:
        return Response(t=t, kind="alert", utterance_t=None, item="phone", text="", abstain=False,
                        confidence=0.9, evidence=Evidence(t, int(t)), position=(8.0, 1.0))

    m = evaluate(s, [answer(5.0, "keys", (1.5, 1.0)), answer(9.0, "duck", None), alert(15.0), alert(25.0)])
    assert m["locate"]["room_accuracy"] == 1.0 and m["locate"]["within_1m"] == 1.0
    assert m["locate"]["abstention_on_never_seen"] == 1.0
    # the alert before leaving is a false one here (the recorder's rule would take it)
    assert (m["alerts"]["alerts"], m["alerts"]["matched"], m["alerts"]["median_delay_s"]) == (2, 1, 5.0)
