"""The world-model re-drive (benchmarks/wm_redrive.py): fed the calls a replay made, today's
answerer with the replay's own config gives the replay's answers and alerts, and an override
reaches it. Development figures in docs/BENCHMARKS.md rest on this."""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import wm_redrive as W  # noqa: E402


def test_a_redrive_gives_the_replays_own_answers_and_an_override_reaches_it(tmp_path: Path) -> None:
    W.capture([ROOT / "demo" / "session"], tmp_path)
    (path,) = tmp_path.glob("demo__session.pkl")
    cap = pickle.loads(path.read_bytes())

    def said(responses: list) -> list:
        return [(r.kind, r.item, r.position, r.abstain) for r in responses if r.kind in ("alert", "answer")]

    again = W.redrive(cap, W.config_with([]))
    assert said(again) == said(cap["responses"])
    assert any(r.kind == "alert" for r in again), "the demo raises its alert (else the next check shows nothing)"
    never_far_enough = W.redrive(cap, W.config_with(["leave_distance_m=1e6"]))
    assert [r for r in never_far_enough if r.kind == "alert"] == []
