"""The sessions replayed into a memory, by content, so that replaying one twice cannot silently
double the memory: `ami replay` asks `find` first, and `forget` (its --replace) erases the
earlier replay's keyframes before storing them again; a replay that fails or is interrupted is
undone (`undo`), so a replay is all or nothing.

A replay's keyframes are one run of ids (first_id..last_id: ids are AUTOINCREMENT and one writer
stores them). A replay's row goes once none of its keyframes are left (`drop_emptied`, run by
every forget), so a memory forgotten whole accepts the session again.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from sqlite_utils import Database

from memory import inputs
from memory.errors import StorageError
from memory.types import ForgetResult

if TYPE_CHECKING:
    from memory.context import StoreContext
    from memory.forget import Forgetting


@dataclass(frozen=True)
class ReplayRecord:
    content_id: str
    session: str
    first_id: int
    last_id: int
    recorded_at: float  # Unix s when the replay was stored


def drop_emptied(db: Database) -> None:
    """Delete the replays none of whose keyframes are left (inside the caller's transaction)."""
    db.execute("DELETE FROM replays WHERE NOT EXISTS (SELECT 1 FROM keyframes k "
               "WHERE k.id BETWEEN replays.first_id AND replays.last_id)")


class Replays:
    """The replays of one store: find one by content, note a new one, forget one."""

    def __init__(self, context: StoreContext, forgetting: Forgetting) -> None:
        self._ctx = context
        self._forgetting = forgetting

    def last_id(self) -> int:
        """The newest keyframe id ever given (0 for none): a replay's keyframes come after it."""
        row = self._ctx.live().execute("SELECT seq FROM sqlite_sequence WHERE name = 'keyframes'").fetchone()
        return 0 if row is None else int(row[0])

    def find(self, content_id: str) -> ReplayRecord | None:
        row = self._ctx.live().execute(
            "SELECT content_id, session, first_id, last_id, recorded_at FROM replays WHERE content_id = ?",
            (inputs.text(content_id, "content_id"),)).fetchone()
        return None if row is None else ReplayRecord(str(row[0]), str(row[1]), int(row[2]), int(row[3]),
                                                     float(row[4]))

    def note(self, content_id: str, session: str, after_id: int) -> ReplayRecord | None:
        """Record the replay whose keyframes got the ids after `after_id` (from `last_id` before it
        began); None when it stored no keyframe."""
        first = int(self._ctx.live().execute("SELECT MIN(id) FROM keyframes WHERE id > ?",
                                             (after_id,)).fetchone()[0] or 0)
        if not first:
            return None
        record = ReplayRecord(inputs.text(content_id, "content_id"), inputs.text(session, "session"), first,
                              self.last_id(), time.time())
        try:
            with self._ctx.write_lock:
                db = self._ctx.writer(f"the replay of {session!r}")
                with db.atomic():
                    db.execute("INSERT OR REPLACE INTO replays VALUES (?, ?, ?, ?, ?)",
                               (record.content_id, record.session, record.first_id, record.last_id,
                                record.recorded_at))
        except sqlite3.OperationalError as e:
            raise StorageError(self._ctx.db_path, f"the replay of {session!r}", e) from e
        return record

    def undo(self, session: str, after_id: int, new_items: list[str]) -> ForgetResult:
        """Erase what a replay that did not finish stored: its keyframes (ids after `after_id`) and
        the items it enrolled first. A replay into a memory is all or nothing."""
        ids = self._ctx.live().execute("SELECT id FROM keyframes WHERE id > ? AND session = ?",
                                       (int(after_id), inputs.text(session, "session"))).fetchall()
        return self._forgetting.erase(np.array([r[0] for r in ids], np.int64), new_items)

    def forget(self, record: ReplayRecord) -> ForgetResult:
        """Erase the keyframes that replay stored (and so its row)."""
        ids = self._ctx.live().execute("SELECT id FROM keyframes WHERE id BETWEEN ? AND ? AND session = ?",
                                       (record.first_id, record.last_id, record.session)).fetchall()
        return self._forgetting.erase(np.array([r[0] for r in ids], np.int64), [])
