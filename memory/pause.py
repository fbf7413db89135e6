"""The wearer's pause, kept in the memory itself: while it is on, nothing the glasses see is kept.

"Pause" said to the glasses or to `ami listen`, `ami memory pause`, or the viewer's button turns it
on; "resume", `ami memory resume` or the button again turns it off. It is a row of the memory's
meta table, so every program that opens the memory afterwards honours it, and
`MemoryStore.add_keyframe` refuses a keyframe while it is on (MemoryPausedError): the guarantee is
the store's, not each caller's. The row is read once per open store: the store is the folder's one
writer (its lock), so nothing else changes it meanwhile, and a keyframe costs no extra query.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from memory import inputs, schema

if TYPE_CHECKING:
    from memory.context import StoreContext

META_PAUSED_SINCE = "paused_since"  # the wall clock (Unix s) the pause began; no row: not paused


class Pause:
    def __init__(self, context: StoreContext) -> None:
        self._ctx = context
        self._since: tuple[float | None] | None = None  # the row, once read: (since,)

    @property
    def since(self) -> float | None:
        """When the pause began (Unix s), or None when the memory is not paused."""
        db = self._ctx.live()  # StoreClosedError once closed, cached or not
        if self._since is None:
            row = db.execute("SELECT value FROM meta WHERE key = ?", (META_PAUSED_SINCE,)).fetchone()
            self._since = (None if row is None else float(row[0]),)
        return self._since[0]

    @property
    def on(self) -> bool:
        return self.since is not None

    def set(self, on: bool, at: float | None = None) -> None:
        """Pause (on) or resume, durable when it returns; pausing an already paused memory keeps
        when the pause began."""
        if on == self.on:
            return
        since = (time.time() if at is None else inputs.finite_float(at, "at")) if on else None
        with self._ctx.write_lock, self._ctx.change("the pause" if on else "the resume") as db:
            if since is not None:
                schema.write_meta(db, META_PAUSED_SINCE, repr(since))
            else:
                db.execute("DELETE FROM meta WHERE key = ?", (META_PAUSED_SINCE,))
        self._since = (since,)
