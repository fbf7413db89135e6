"""Evidence thumbnails in memory.db's `thumbnails` table (schema v7): one small JPEG per kept keyframe.

A thumbnail is what a person can look at later ("frame 1413" once the session folder is gone):
about 160 px on the long side, with faces already blurred by the glasses before it got here (the
memory stores bytes; it never sees a face). It lives in memory.db beside its keyframe rather than
as a file, so it is written in the keyframe's own transaction (a crash keeps both or neither) or,
given later (`Thumbnails.add`: the glasses make pictures off the frame loop), in one of its own;
erased by every forget that covers the keyframe (secure_delete zeroes its pages), exported and
imported with the database, and checked by `verify` (its CRC32, like every row since v6).

    thumbnails  keyframe_id INTEGER PRIMARY KEY  (a keyframes.id; the row goes with the keyframe)
                jpeg BLOB, faces INTEGER  (face regions blurred before it was stored), crc INTEGER
"""

from __future__ import annotations

import json
from typing import Any

from memory import inputs
from memory.checksums import blob_crc
from memory.errors import KeyframeNotFoundError

JPEG_MAGIC = b"\xff\xd8\xff"


def insert(db: Any, keyframe_id: int, jpeg: bytes, faces: int) -> None:
    """Store the keyframe's thumbnail (in the caller's transaction)."""
    db.execute("INSERT INTO thumbnails (keyframe_id, jpeg, faces, crc) VALUES (?, ?, ?, ?)",
               (keyframe_id, jpeg, faces, blob_crc(jpeg) ^ faces))


class Thumbnails:
    """A thumbnail given to a keyframe already stored (`MemoryStore.thumbnails`): the glasses keep
    pictures of only some keyframes, and one they did not keep can become evidence later (the view
    of "this is my keys"). One durable change of its own; a keyframe keeps its first picture."""

    def __init__(self, context: Any) -> None:
        self._ctx = context  # memory.context.StoreContext

    def add(self, keyframe_id: int, jpeg: bytes, faces: int) -> bool:
        """Store `jpeg` (faces already blurred: `faces` regions) for the keyframe; False when it has
        one already. KeyframeNotFoundError when there is no such keyframe."""
        keyframe_id = inputs.whole_number(keyframe_id, "keyframe_id", minimum=1)
        jpeg, faces = inputs.jpeg(jpeg, faces)
        with self._ctx.write_lock, self._ctx.change(f"the thumbnail of keyframe {keyframe_id}") as db:
            if db.execute("SELECT 1 FROM keyframes WHERE id = ?", (keyframe_id,)).fetchone() is None:
                raise KeyframeNotFoundError(keyframe_id)
            if db.execute("SELECT 1 FROM thumbnails WHERE keyframe_id = ?", (keyframe_id,)).fetchone():
                return False
            insert(db, keyframe_id, jpeg, faces)
        return True


def get(db: Any, keyframe_id: int) -> bytes | None:
    """The keyframe's JPEG, or None when it has none (kept without one, or forgotten). A row that
    no longer matches its checksum is withheld, as damaged keyframes are."""
    row = db.execute("SELECT jpeg, faces, crc FROM thumbnails WHERE keyframe_id = ?", (keyframe_id,)).fetchone()
    if row is None or blob_crc(row[0]) ^ row[1] != row[2]:
        return None
    return bytes(row[0])


def delete(db: Any, keyframe_ids: list[int]) -> None:
    """Delete the thumbnails of these keyframes (in the caller's transaction)."""
    db.execute("DELETE FROM thumbnails WHERE keyframe_id IN (SELECT value FROM json_each(?))",
               (json.dumps(keyframe_ids),))


def counts(db: Any) -> tuple[int, int, int]:
    """(thumbnails, their bytes, face regions blurred in them)."""
    n, nbytes, faces = db.execute(
        "SELECT COUNT(*), COALESCE(SUM(length(jpeg)), 0), COALESCE(SUM(faces), 0) FROM thumbnails").fetchone()
    return int(n), int(nbytes), int(faces)


def problems(db: Any) -> list[str]:
    """Failed invariants: thumbnails without a keyframe, and rows that changed after they were
    written (checksum) or are not JPEG."""
    failed = []
    orphans = db.execute("SELECT COUNT(*) FROM thumbnails WHERE keyframe_id NOT IN (SELECT id FROM keyframes)"
                         ).fetchone()[0]
    if orphans:
        failed.append(f"thumbnails: {orphans} belong to no keyframe (a forget left them); forget again")
    cursor = db.execute("SELECT keyframe_id, jpeg, faces, crc FROM thumbnails")
    damaged = []
    while rows := cursor.fetchmany(256):
        damaged += [r[0] for r in rows if blob_crc(r[1]) ^ r[2] != r[3] or not bytes(r[1][:3]) == JPEG_MAGIC]
    if damaged:
        failed.append(f"thumbnails: {len(damaged)} changed after they were written (checksum), e.g. keyframes "
                      f"{', '.join(map(str, damaged[:5]))}; they are not shown")
    return failed
