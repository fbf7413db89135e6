"""A session's truth/ folder, in either format that `ami eval` scores, as one set of records.

- `ami record-sim`'s truth: rooms.json ({"rooms": [{id, min_x, ...}]}), queries.jsonl (exists, seen,
  carried, room, position) and left_behind.jsonl (t = leaving, put_t);
- the independent generator's truth (`../shared/foreign/README.md`): rooms.json (name -> polygon and
  bounds), queries.jsonl (never_seen, room, pos) and left_items.jsonl (t_put_down, t_leave).

Each format keeps its own rule for when an alert counts: the recorder's from the put-down to 60 s
after leaving, the other generator's (its scorer's) from leaving to 30 s after.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from device.errors import SessionError
from device.session import Session

# One rule for every generator, as the independent one scores it: an alert about a left item counts from
# the moment the wearer leaves the item's room to this long after. "You left your keys" said while the
# wearer is still in the room is premature: it counts as a false alert, and the event as missed.
ALERT_AFTER_S = 30.0


@dataclass(frozen=True)
class Room:
    id: int | str
    min_x: float
    max_x: float
    min_z: float
    max_z: float


@dataclass(frozen=True)
class Query:
    t: float
    item: str
    seen: bool  # the item exists and was in view before the question
    room: int | str | None
    position: tuple[float, float] | None
    carried: bool = False  # asked while holding it: not scored


@dataclass(frozen=True)
class LeftEvent:
    item: str
    t_leave: float
    window: tuple[float, float]  # an alert about the item in this span counts


@dataclass(frozen=True)
class Truth:
    rooms: tuple[Room, ...]
    queries: tuple[Query, ...]
    left: tuple[LeftEvent, ...]
    generator: str  # "ami record-sim" or "foreign"


def _load(session: Session, name: str) -> Any:
    path = session.truth_dir / name
    if not path.is_file():
        raise SessionError(f"{path}: missing; `ami eval` needs the truth/ files that `ami record-sim` writes "
                           "(or those of the generator in ../shared/foreign)")
    try:
        if name.endswith(".jsonl"):
            return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise SessionError(f"{path}: malformed JSON ({e.msg} at line {e.lineno})") from e


def _xz(p: dict[str, float] | None) -> tuple[float, float] | None:
    return None if p is None else (float(p["x"]), float(p["z"]))


def load_truth(session: Session) -> Truth:
    """The session's truth in either format (told apart by left_items.jsonl, the foreign one's)."""
    if (session.truth_dir / "left_items.jsonl").is_file():
        return _foreign(session)
    rooms = tuple(Room(r["id"], r["min_x"], r["max_x"], r["min_z"], r["max_z"])
                  for r in _load(session, "rooms.json")["rooms"])
    queries = tuple(Query(q["t"], q["item"], bool(q.get("seen")) and bool(q.get("exists", True)), q.get("room"),
                          _xz(q.get("position")), bool(q.get("carried")))
                    for q in _load(session, "queries.jsonl"))
    left = tuple(LeftEvent(e["item"], e["t"], (e["t"], e["t"] + ALERT_AFTER_S))
                 for e in _load(session, "left_behind.jsonl"))
    return Truth(rooms, queries, left, "ami record-sim")


def _foreign(session: Session) -> Truth:
    rooms = tuple(Room(name, r["bounds"]["min_x"], r["bounds"]["max_x"], r["bounds"]["min_z"], r["bounds"]["max_z"])
                  for name, r in _load(session, "rooms.json").items())
    queries = tuple(Query(q["t"], q["item"], not q.get("never_seen", False), q.get("room"), _xz(q.get("pos")))
                    for q in _load(session, "queries.jsonl"))
    left = tuple(LeftEvent(e["item"], e["t_leave"], (e["t_leave"], e["t_leave"] + ALERT_AFTER_S))
                 for e in _load(session, "left_items.jsonl"))
    return Truth(rooms, queries, left, "foreign")
