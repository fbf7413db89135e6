"""The left-behind alerts the glasses raised, in memory.db's `alerts` table (schema v8).

An alert ("You left your keys behind ...") is what the wearer heard; the Timeline marks it at its
time, and its evidence keyframe is the view it rested on. It belongs to that keyframe: every forget
that erases the keyframe erases the alert (and forgetting the item erases every alert about it), in
the same transaction. Each row carries a CRC32 of its fields, checked by `verify`.

    alerts  id INTEGER PRIMARY KEY, keyframe_id INTEGER (the evidence keyframe), item TEXT,
            t REAL (session clock), recorded_at REAL (wall clock, Unix s), text TEXT, crc INTEGER
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from memory import inputs
from memory.checksums import alert_crc
from memory.errors import InvalidInputError, KeyframeNotFoundError


@dataclass(frozen=True)
class AlertRecord:
    id: int
    keyframe_id: int
    item: str
    t: float
    recorded_at: float | None
    text: str


class Alerts:
    """`MemoryStore.alerts`: an alert raised is kept as one durable change of its own."""

    def __init__(self, context: Any) -> None:
        self._ctx = context  # memory.context.StoreContext

    def add(self, keyframe_id: int, item: str, t: float, recorded_at: float | None, text: str) -> int:
        """Keep an alert with its evidence keyframe; its row id. KeyframeNotFoundError when there is
        no such keyframe (forgotten meanwhile: the alert is not kept either)."""
        keyframe_id = inputs.whole_number(keyframe_id, "keyframe_id", minimum=1)
        t = inputs.finite_float(t, "t")
        recorded_at = None if recorded_at is None else inputs.finite_float(recorded_at, "recorded_at")
        if not isinstance(item, str) or not item.strip() or not isinstance(text, str):
            raise InvalidInputError(f"an alert needs an item name and a text, got {item!r} and {text!r}")
        with self._ctx.write_lock, self._ctx.change(f"the alert about the {item} at t={t:.1f}") as db:
            if db.execute("SELECT 1 FROM keyframes WHERE id = ?", (keyframe_id,)).fetchone() is None:
                raise KeyframeNotFoundError(keyframe_id)
            cursor = db.execute("INSERT INTO alerts (keyframe_id, item, t, recorded_at, text, crc) VALUES "
                                "(?, ?, ?, ?, ?, ?)", (keyframe_id, item, t, recorded_at, text,
                                                       alert_crc((keyframe_id, item, t, recorded_at, text))))
            return int(cursor.lastrowid)


def between(db: Any, lo: float, hi: float) -> list[AlertRecord]:
    """The alerts with lo <= recorded_at < hi (wall clock; NULL as 0), oldest first; a row that no
    longer matches its checksum is withheld."""
    rows = db.execute("SELECT id, keyframe_id, item, t, recorded_at, text, crc FROM alerts WHERE "
                      "COALESCE(recorded_at, 0) >= ? AND COALESCE(recorded_at, 0) < ? ORDER BY recorded_at, id",
                      (lo if math.isfinite(lo) else -1e300, hi if math.isfinite(hi) else 1e300)).fetchall()
    return [AlertRecord(*r[:6]) for r in rows if alert_crc(r[1:6]) == r[6]]


def delete(db: Any, keyframe_ids: list[int], items: list[str]) -> None:
    """Delete the alerts of these keyframes and about these items (in the caller's transaction)."""
    db.execute("DELETE FROM alerts WHERE keyframe_id IN (SELECT value FROM json_each(?)) "
               "OR item IN (SELECT value FROM json_each(?))", (json.dumps(keyframe_ids), json.dumps(items)))


def count(db: Any) -> int:
    return int(db.execute("SELECT COUNT(*) FROM alerts").fetchone()[0])


def problems(db: Any) -> list[str]:
    """Failed invariants: alerts whose keyframe is gone, and rows changed after they were written."""
    failed = []
    orphans = db.execute("SELECT COUNT(*) FROM alerts WHERE keyframe_id NOT IN (SELECT id FROM keyframes)"
                         ).fetchone()[0]
    if orphans:
        failed.append(f"alerts: {orphans} belong to no keyframe (a forget left them); forget again")
    damaged = [r[0] for r in db.execute("SELECT id, keyframe_id, item, t, recorded_at, text, crc FROM alerts")
               if alert_crc(r[1:6]) != r[6]]
    if damaged:
        failed.append(f"alerts: {len(damaged)} changed after they were written (checksum), e.g. "
                      f"{', '.join(map(str, damaged[:5]))}; they are not shown")
    return failed
