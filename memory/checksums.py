"""Row checksums: a row that changed after it was written (a flipped bit, a stray write, a tool
that edited memory.db) is found by `verify` and kept out of answers, where SQLite's own checks
see nothing wrong.

Each keyframe carries three CRC32s (schema v6): of its metadata (t, frame, session, pose, grid,
wall clock), of its embedding and of its patches (compaction empties the patches and sets theirs
to crc32(b"") = 0). Each item carries one, of its whole row. Rows from before v6 get theirs in the
migration, so they are checked from then on.
"""

from __future__ import annotations

import json
import zlib
from typing import Any

KEYFRAME_META = "t, frame, session, x, y, z, yaw_deg, pitch_deg, grid_h, grid_w, recorded_at"
ITEM_FIELDS = "name, enrolled_t, k, threshold, recorded_at"


def _canonical(values: tuple[Any, ...], kinds: str) -> bytes:
    """The values as SQLite gives them back (r: REAL, i: INTEGER, t: TEXT; None stays None), as JSON:
    a pose written as the int 0 reads back as 0.0, and -0.0 as 0.0 (SQLite keeps a whole REAL as an
    integer), and must check the same."""
    return json.dumps([None if v is None else float(v) + 0.0 if k == "r" else int(v) if k == "i" else str(v)
                       for v, k in zip(values, kinds, strict=True)]).encode()


def meta_crc(row: tuple[Any, ...]) -> int:
    """CRC32 of a keyframe's KEYFRAME_META values, in that order (floats exactly, by repr)."""
    return zlib.crc32(_canonical(row, "ritrrrrriir"))


def blob_crc(blob: bytes) -> int:
    return zlib.crc32(blob)


def item_crc(fields: tuple[Any, ...], prototypes: bytes) -> int:
    """CRC32 of an item's ITEM_FIELDS values and its prototypes blob."""
    return zlib.crc32(prototypes, zlib.crc32(_canonical(fields, "trirr")))


def alert_crc(fields: tuple[Any, ...]) -> int:
    """CRC32 of an alert's (keyframe_id, item, t, recorded_at, text), in that order (memory/alerts.py)."""
    return zlib.crc32(_canonical(fields, "itrrt"))


def fill(db: Any) -> None:
    """Give every row that has none its checksums (the v6 migration; in its transaction)."""
    ids = [int(r[0]) for r in db.execute("SELECT id FROM keyframes ORDER BY id").fetchall()]
    for k in range(0, len(ids), 256):  # a chunk of rows in RAM at a time, however large the memory
        rows = db.execute(f"SELECT id, {KEYFRAME_META}, embedding, patches FROM keyframes "
                          "WHERE id IN (SELECT value FROM json_each(?))", (json.dumps(ids[k:k + 256]),)).fetchall()
        for row in rows:
            db.execute("UPDATE keyframes SET meta_crc = ?, embedding_crc = ?, patches_crc = ? WHERE id = ?",
                       (meta_crc(row[1:12]), blob_crc(row[12]), blob_crc(row[13]), row[0]))
    for row in db.execute(f"SELECT {ITEM_FIELDS}, prototypes FROM items").fetchall():
        db.execute("UPDATE items SET row_crc = ? WHERE name = ?", (item_crc(row[:5], row[5]), row[0]))


def damaged_keyframes(db: Any, limit: int | None = None) -> list[tuple[int, str]]:
    """(id, what changed) of every keyframe whose row no longer matches its checksums."""
    out = []
    cursor = db.execute(f"SELECT id, {KEYFRAME_META}, embedding, patches, meta_crc, embedding_crc, patches_crc "
                        "FROM keyframes WHERE meta_crc IS NOT NULL")
    while rows := cursor.fetchmany(256):
        for row in rows:
            what = [name for name, got, want in (("metadata", meta_crc(row[1:12]), row[14]),
                                                  ("embedding", blob_crc(row[12]), row[15]),
                                                  ("patches", blob_crc(row[13]), row[16])) if got != want]
            if what:
                out.append((int(row[0]), " and ".join(what)))
                if limit is not None and len(out) >= limit:
                    return out
    return out


def damaged_items(db: Any) -> list[str]:
    """Names of the items whose row no longer matches its checksum."""
    rows = db.execute(f"SELECT {ITEM_FIELDS}, prototypes, row_crc FROM items WHERE row_crc IS NOT NULL").fetchall()
    return [row[0] for row in rows if item_crc(row[:5], row[5]) != row[6]]
