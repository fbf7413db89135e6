"""Score responses against a session's truth/ folder.

Scoring goes through evidence times and positions, never internal place ids, so any assistant
that writes the response format can be scored:
- locate: the room that contains the answer's position (or, without one, the wearer's position
  at the evidence frame) against the item's true room; position error in metres; abstention on
  items that were never seen;
- left-item alerts: precision, recall, F1 and delay after leaving; an alert counts from the wearer
  leaving the item's room to 30 s after, in both truth formats (device/evaluation/truth.py);
- latency: response t minus utterance t.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from device.evaluation.truth import Room, Truth, load_truth
from device.responses import Response
from device.session import Session

UTTERANCE_MATCH_S = 1.5  # an answer belongs to the query whose t is this close to its utterance_t
WITHIN_M = 1.0  # "within 1 m": an answer this close to the item


@dataclass(frozen=True)
class QueryResult:
    t: float
    item: str
    seen: bool
    true_room: int | str | None
    answered_room: int | str | None
    abstain: bool
    position_error_m: float | None
    latency_s: float | None


@dataclass(frozen=True)
class AlertResult:
    true_events: int
    alerts: int
    matched: int
    delays_s: tuple[float, ...]
    matched_events: tuple[bool, ...] = ()  # per true event, in order of leaving: an alert counted for it


def room_of(x: float, z: float, rooms: tuple[Room, ...]) -> int | str | None:
    """The room containing (x, z); on a wall or outside, the nearest room."""
    best, best_d = None, math.inf
    for r in rooms:
        d = math.hypot(max(r.min_x - x, 0.0, x - r.max_x), max(r.min_z - z, 0.0, z - r.max_z))
        if d < best_d:
            best, best_d = r.id, d
    return best


def _answer_room(r: Response, session: Session, rooms: tuple[Room, ...]) -> int | str | None:
    if r.abstain:
        return None
    if r.position is not None:
        return room_of(r.position[0], r.position[1], rooms)
    if r.evidence is not None and 0 <= r.evidence.frame < len(session.frames):
        pose = session.frames[r.evidence.frame].pose
        if pose is not None:
            return room_of(pose.x, pose.z, rooms)
    return None


def score_queries(session: Session, responses: list[Response], truth: Truth | None = None) -> list[QueryResult]:
    truth = truth or load_truth(session)
    answers = [r for r in responses if r.kind == "answer" and r.utterance_t is not None]
    out = []
    for q in truth.queries:
        if q.carried:
            continue  # "where are my keys?" while holding them is not scored in v1
        near = [r for r in answers if abs(r.utterance_t - q.t) <= UTTERANCE_MATCH_S]
        r = min(near, key=lambda r: abs(r.utterance_t - q.t)) if near else None
        err = None
        if r is not None and q.seen and not r.abstain and r.position is not None and q.position is not None:
            err = math.dist(r.position, q.position)
        out.append(QueryResult(
            t=q.t, item=q.item, seen=q.seen, true_room=q.room,
            answered_room=None if r is None else _answer_room(r, session, truth.rooms),
            abstain=True if r is None else r.abstain, position_error_m=err,
            latency_s=None if r is None else r.t - r.utterance_t))
    return out


def score_alerts(session: Session, responses: list[Response], truth: Truth | None = None) -> AlertResult:
    events = sorted((truth or load_truth(session)).left, key=lambda e: e.t_leave)
    alerts = sorted((r for r in responses if r.kind == "alert"), key=lambda r: r.t)
    used: set[int] = set()
    delays, hit = [], []
    for ev in events:
        hit.append(False)
        for k, a in enumerate(alerts):
            if k in used or a.item != ev.item:
                continue
            if ev.window[0] <= a.t <= ev.window[1]:
                used.add(k)
                delays.append(a.t - ev.t_leave)
                hit[-1] = True
                break
    return AlertResult(true_events=len(events), alerts=len(alerts), matched=len(used), delays_s=tuple(delays),
                       matched_events=tuple(hit))


def _median(xs: list[float]) -> float | None:
    return statistics.median(xs) if xs else None


def _p90(xs: list[float]) -> float | None:
    return sorted(xs)[min(len(xs) - 1, int(0.9 * len(xs)))] if xs else None


def summarize(queries: list[QueryResult], alerts: list[AlertResult]) -> dict[str, Any]:
    """Pool per-query and per-session alert results into the metrics dict."""
    seen = [q for q in queries if q.seen]
    unseen = [q for q in queries if not q.seen]
    errs = [q.position_error_m for q in seen if q.position_error_m is not None]
    lat = [q.latency_s for q in queries if q.latency_s is not None]
    n_true = sum(a.true_events for a in alerts)
    n_alerts = sum(a.alerts for a in alerts)
    matched = sum(a.matched for a in alerts)
    precision = matched / n_alerts if n_alerts else None
    recall = matched / n_true if n_true else None
    f1 = (2 * precision * recall / (precision + recall)
          if precision is not None and recall is not None and precision + recall > 0 else
          (0.0 if n_true or n_alerts else None))
    return {
        "locate": {
            "queries_seen_items": len(seen),
            "room_accuracy": sum(q.answered_room == q.true_room for q in seen) / len(seen) if seen else None,
            "false_abstention_rate": sum(q.abstain for q in seen) / len(seen) if seen else None,
            "median_position_error_m": _median(errs),
            "within_1m": sum(e <= WITHIN_M for e in errs) / len(seen) if seen else None,
            "queries_never_seen": len(unseen),
            "abstention_on_never_seen": sum(q.abstain for q in unseen) / len(unseen) if unseen else None,
        },
        "alerts": {"true_events": n_true, "alerts": n_alerts, "matched": matched, "precision": precision,
                   "recall": recall, "f1": f1,
                   "median_delay_s": _median([d for a in alerts for d in a.delays_s])},
        "latency": {"responses": len(lat), "median_s": _median(lat), "p90_s": _p90(lat)},
        "queries": [asdict(q) for q in queries],
    }


def evaluate(session: Session, responses: list[Response]) -> dict[str, Any]:
    truth = load_truth(session)
    return summarize(score_queries(session, responses, truth), [score_alerts(session, responses, truth)])


def format_table(metrics: dict[str, Any]) -> str:
    def f(v: Any, pct: bool = False) -> str:
        if v is None:
            return "n/a"
        return f"{100 * v:.0f}%" if pct else (f"{v:.2f}" if isinstance(v, float) else str(v))

    loc, al, lat = metrics["locate"], metrics["alerts"], metrics["latency"]
    rows = [
        ("locate: queries about seen items", f(loc["queries_seen_items"])),
        ("locate: room accuracy", f(loc["room_accuracy"], pct=True)),
        ("locate: false abstention", f(loc["false_abstention_rate"], pct=True)),
        ("locate: median position error (m)", f(loc["median_position_error_m"])),
        ("locate: answers within 1 m", f(loc["within_1m"], pct=True)),
        ("locate: queries about never-seen items", f(loc["queries_never_seen"])),
        ("locate: abstention on never-seen", f(loc["abstention_on_never_seen"], pct=True)),
        ("alerts: true events / alerts / matched", f"{al['true_events']} / {al['alerts']} / {al['matched']}"),
        ("alerts: precision / recall / F1",
         f"{f(al['precision'], True)} / {f(al['recall'], True)} / {f(al['f1'], True)}"),
        ("alerts: median delay after leaving (s)", f(al["median_delay_s"])),
        ("latency: median / p90 (s)", f"{f(lat['median_s'])} / {f(lat['p90_s'])}"),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def write_metrics(path: Path, metrics: dict[str, Any]) -> None:
    from device.session import write_json_atomic

    write_json_atomic(path, metrics)
