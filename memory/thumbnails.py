"""Evidence thumbnails in memory.db's `thumbnails` table (schema v7): one small JPEG per keyframe.

A thumbnail is what a person can look at later ("frame 1413" once the session folder is gone):
about 160 px on the long side, with faces already blurred by the glasses before it got here (the
memory stores bytes; it never sees a face). It lives in memory.db beside its keyframe rather than
as a file, so it is written in the keyframe's own transaction (a crash keeps both or neither),
erased by every forget that covers the keyframe (secure_delete zeroes its pages), exported and
imported with the database, and checked by `verify` (its CRC32, like every row since v6).

    thumbnails  keyframe_id INTEGER PRIMARY KEY  (a keyframes.id; the row goes with the keyframe)
                jpeg BLOB, faces INTEGER  (face regions blurred before it was stored), crc INTEGER
"""

from __future__ import annotations

import json
from typing import Any

from memory.checksums import blob_crc

JPEG_MAGIC = b"\xff\xd8\xff"


def insert(db: Any, keyframe_id: int, jpeg: bytes, faces: int) -> None:
    """Store the keyframe's thumbnail (in the caller's transaction)."""
    db.execute("INSERT INTO thumbnails (keyframe_id, jpeg, faces, crc) VALUES (?, ?, ?, ?)",
               (keyframe_id, jpeg, faces, blob_crc(jpeg) ^ faces))


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
