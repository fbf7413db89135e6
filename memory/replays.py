"""The sessions replayed into a memory, by content, so that replaying one twice cannot silently
double the memory: `ami replay` asks `find` first, and `forget` (its --replace) erases the
earlier replay's keyframes before storing them again; a replay that fails or is interrupted is
undone (`undo`), and one whose process was killed is undone at the next open (`begin` marks it
under way, `recover`), so a replay is all or nothing.

A replay's keyframes are one run of ids (first_id..last_id: ids are AUTOINCREMENT and one writer
stores them). A replay's row goes once none of its keyframes are left (`drop_emptied`, run by
every forget), so a memory forgotten whole accepts the session again.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from sqlite_utils import Database

from memory import inputs, schema
from memory.errors import StorageError
from memory.types import ForgetResult

logger = logging.getLogger(__name__)

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

    def begin(self, session: str, after_id: int, items_before: list[str]) -> None:
        """Mark a replay under way (committed at once): if the process dies before `note` or `undo`,
        the next open undoes it (`recover`), so even a SIGKILL leaves a replay all or nothing."""
        marker = json.dumps({"session": inputs.text(session, "session"), "after_id": int(after_id),
                             "items_before": sorted(items_before)})
        with self._ctx.write_lock, self._ctx.change(f"the start of the replay of {session!r}") as db:
            schema.write_meta(db, schema.META_REPLAY_UNDER_WAY, marker)

    def recover(self) -> ForgetResult | None:
        """Undo the replay a killed process left under way (the store's open calls this)."""
        db = self._ctx.live()
        marker = schema.read_meta(db).get(schema.META_REPLAY_UNDER_WAY)
        if marker is None:
            return None
        left = json.loads(marker)
        names = [str(r[0]) for r in db.execute("SELECT name FROM items").fetchall()]
        new_items = [n for n in names if n not in set(left["items_before"])]
        try:
            undone = self.undo(left["session"], int(left["after_id"]), new_items)
        except StorageError as e:  # a full disk even with the reserve: the mark stays, the next open retries
            logger.warning("%s: the replay of %r did not finish and cannot be taken out yet (%s); the next open "
                           "tries again", self._ctx.folder, left["session"], e)
            return None
        logger.warning("%s: the replay of %r did not finish (the process was killed); its %d keyframes were "
                       "taken out again", self._ctx.folder, left["session"], undone.keyframes)
        return undone

    def end(self) -> None:
        """The replay under way stopped where it was asked to (`ami explain --t`): keep what it
        stored, without a record (it is not the whole session)."""
        with self._ctx.write_lock, self._ctx.change("the end of a partial replay") as db:
            self._clear(db)

    def _clear(self, db: Database) -> None:
        db.execute("DELETE FROM meta WHERE key = ?", (schema.META_REPLAY_UNDER_WAY,))

    def note(self, content_id: str, session: str, after_id: int) -> ReplayRecord | None:
        """Record the replay whose keyframes got the ids after `after_id` (from `last_id` before it
        began); None when it stored no keyframe."""
        first = int(self._ctx.live().execute("SELECT MIN(id) FROM keyframes WHERE id > ?",
                                             (after_id,)).fetchone()[0] or 0)
        if not first:
            self.end()
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
                    self._clear(db)
        except sqlite3.OperationalError as e:
            raise StorageError(self._ctx.db_path, f"the replay of {session!r}", e) from e
        return record

    def undo(self, session: str, after_id: int, new_items: list[str]) -> ForgetResult:
        """Erase what a replay that did not finish stored: its keyframes (ids after `after_id`) and
        the items it enrolled first. A replay into a memory is all or nothing."""
        ids = self._ctx.live().execute("SELECT id FROM keyframes WHERE id > ? AND session = ?",
                                       (int(after_id), inputs.text(session, "session"))).fetchall()
        undone = self._forgetting.erase(np.array([r[0] for r in ids], np.int64), new_items)
        with self._ctx.write_lock, self._ctx.change("the end of an undone replay") as db:
            self._clear(db)
        return undone

    def forget(self, record: ReplayRecord) -> ForgetResult:
        """Erase the keyframes that replay stored (and so its row)."""
        ids = self._ctx.live().execute("SELECT id FROM keyframes WHERE id BETWEEN ? AND ? AND session = ?",
                                       (record.first_id, record.last_id, record.session)).fetchall()
        return self._forgetting.erase(np.array([r[0] for r in ids], np.int64), [])
