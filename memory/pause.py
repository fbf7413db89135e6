"""The wearer's pause, kept in the memory itself: while it is on, nothing the glasses see is kept.

"Pause" said to the glasses or to `ami listen`, `ami memory pause`, or the viewer's button turns it
on; "resume", `ami memory resume` or the button again turns it off. It is a row of the memory's
meta table, so every program that opens the memory afterwards honours it, and
`MemoryStore.add_keyframe` refuses a keyframe while it is on (MemoryPausedError): the guarantee is
the store's, not each caller's.
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

    @property
    def since(self) -> float | None:
        """When the pause began (Unix s), or None when the memory is not paused."""
        row = self._ctx.live().execute("SELECT value FROM meta WHERE key = ?", (META_PAUSED_SINCE,)).fetchone()
        return None if row is None else float(row[0])

    @property
    def on(self) -> bool:
        return self.since is not None

    def set(self, on: bool, at: float | None = None) -> None:
        """Pause (on) or resume, durable when it returns; pausing an already paused memory keeps
        when the pause began."""
        if on == self.on:
            return
        with self._ctx.write_lock, self._ctx.change("the pause" if on else "the resume") as db:
            if on:
                schema.write_meta(db, META_PAUSED_SINCE,
                                  repr(time.time() if at is None else inputs.finite_float(at, "at")))
            else:
                db.execute("DELETE FROM meta WHERE key = ?", (META_PAUSED_SINCE,))
