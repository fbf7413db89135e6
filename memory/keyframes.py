"""Keyframe rows in memory.db's `keyframes` table: insert, read back, and look up by id or time.

Functions take the open `Database`, the path (for error messages) and the dims; the store
validates inputs and keeps the FAISS index in step. Time windows are open: lo < t < hi.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlite_utils import Database

from memory import checksums, schema
from memory.errors import KeyframeNotFoundError
from memory.types import KeyframeRecord

logger = logging.getLogger(__name__)

_RECORD_COLUMNS = "id, t, frame, session, x, y, z, yaw_deg, pitch_deg, recorded_at"


@dataclass(frozen=True)
class Layout:
    """Where the rows live and what shapes their blobs decode to."""

    db_path: Path
    embedding_dim: int
    patch_dim: int

    def embedding(self, keyframe_id: int, blob: bytes) -> np.ndarray:
        """(D,) float32."""
        what = f"keyframe {keyframe_id} embedding"
        return schema.decode(blob, "<f4", (self.embedding_dim,), self.db_path, what)

    def patches(self, keyframe_id: int, grid_h: int, grid_w: int, blob: bytes) -> np.ndarray:
        """(grid_h * grid_w, Dp) float32 holding the stored float16 values."""
        shape = (int(grid_h) * int(grid_w), self.patch_dim)
        return schema.decode(blob, "<f2", shape, self.db_path, f"keyframe {keyframe_id} patches")


def insert(
    db: Database,
    t: float,
    frame: int,
    session: str,
    pose: tuple[float | None, float | None, float | None, float | None, float | None],
    grid: tuple[int, int],
    embedding: np.ndarray,  # (D,) float32
    patches16: np.ndarray,  # (grid_h * grid_w, Dp) float16
    recorded_at: float,
) -> int:
    """Insert one row with its checksums (in the caller's transaction); returns its id."""
    emb, pat = schema.encode_f32(embedding), schema.encode_f16(patches16)
    meta = (t, frame, session, *pose, *grid, recorded_at)
    cursor = db.execute(
        "INSERT INTO keyframes (t, frame, session, x, y, z, yaw_deg, pitch_deg, grid_h, grid_w, recorded_at,"
        " embedding, patches, meta_crc, embedding_crc, patches_crc) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
        " ?, ?, ?, ?, ?)",
        (*meta, emb, pat, checksums.meta_crc(meta), checksums.blob_crc(emb), checksums.blob_crc(pat)),
    )
    assert cursor.lastrowid is not None, "INSERT INTO keyframes gave no rowid"
    return int(cursor.lastrowid)


def record(db: Database, keyframe_id: int) -> KeyframeRecord:
    """The row's metadata; raises KeyframeNotFoundError."""
    row = db.execute(f"SELECT {_RECORD_COLUMNS} FROM keyframes WHERE id = ?", (keyframe_id,)).fetchone()
    if row is None:
        raise KeyframeNotFoundError(keyframe_id)
    return KeyframeRecord(*row)


def at(db: Database, t: float, frame: int) -> KeyframeRecord | None:
    """The row of (t, frame); of several sessions', the latest stored."""
    row = db.execute(f"SELECT {_RECORD_COLUMNS} FROM keyframes WHERE t = ? AND frame = ?"
                     " ORDER BY recorded_at DESC, id DESC LIMIT 1", (t, frame)).fetchone()
    return None if row is None else KeyframeRecord(*row)


def timeline(db: Database, window: tuple[float, float], limit: int) -> list[tuple[KeyframeRecord, bool]]:
    """(row, has a thumbnail) with lo <= recorded_at < hi (NULL as 0), in time order, the latest `limit`."""
    columns = ", ".join(f"k.{c}" for c in _RECORD_COLUMNS.split(", "))
    rows = db.execute(
        f"SELECT {columns}, th.keyframe_id IS NOT NULL FROM keyframes k"
        " LEFT JOIN thumbnails th ON th.keyframe_id = k.id WHERE COALESCE(k.recorded_at, 0) >= ?"
        " AND COALESCE(k.recorded_at, 0) < ? ORDER BY k.recorded_at DESC, k.id DESC LIMIT ?",
        (*window, limit)).fetchall()
    return [(KeyframeRecord(*r[:10]), bool(r[10])) for r in reversed(rows)]


def last(db: Database) -> KeyframeRecord | None:
    """The row last recorded by the wall clock, or None. Each session counts t from its own start, so
    the latest t is not the latest keyframe once a memory holds several; rows from before schema v2
    (no wall clock) only when no row has one; then the latest t, then the highest id."""
    # SQLite sorts NULL last in DESC order, and the recorded_at index serves the sort
    row = db.execute(f"SELECT {_RECORD_COLUMNS} FROM keyframes ORDER BY recorded_at DESC, t DESC, id DESC LIMIT 1"
                     ).fetchone()
    return None if row is None else KeyframeRecord(*row)


def embedding(db: Database, layout: Layout, keyframe_id: int) -> np.ndarray:
    """The row's embedding: (D,) float32; raises KeyframeNotFoundError."""
    row = db.execute("SELECT embedding FROM keyframes WHERE id = ?", (keyframe_id,)).fetchone()
    if row is None:
        raise KeyframeNotFoundError(keyframe_id)
    return layout.embedding(keyframe_id, row[0])


def patches(db: Database, layout: Layout, keyframe_id: int) -> np.ndarray:
    """The row's patches: (grid_h * grid_w, Dp) float32, or (0, Dp) for a long-term keyframe
    (compaction dropped them); raises KeyframeNotFoundError."""
    row = db.execute("SELECT grid_h, grid_w, patches, tier FROM keyframes WHERE id = ?", (keyframe_id,)).fetchone()
    if row is None:
        raise KeyframeNotFoundError(keyframe_id)
    if row[3] != 0:
        return np.empty((0, layout.patch_dim), np.float32)
    return layout.patches(keyframe_id, row[0], row[1], row[2])


def counts(db: Database) -> tuple[int, int, int]:
    """(keyframes, patches, long-term keyframes) stored; long-term keyframes have no patches."""
    n_keyframes, n_patches, n_long = db.execute(
        "SELECT COUNT(*), COALESCE(SUM(CASE tier WHEN 0 THEN grid_h * grid_w ELSE 0 END), 0),"
        " COALESCE(SUM(tier), 0) FROM keyframes"
    ).fetchone()
    return int(n_keyframes), int(n_patches), int(n_long)


def recorded_span(db: Database) -> tuple[float | None, float | None]:
    """(earliest, latest) wall clock (Unix s) of the stored keyframes; (None, None) when none has one."""
    lo, hi = db.execute("SELECT MIN(recorded_at), MAX(recorded_at) FROM keyframes").fetchone()
    return (None if lo is None else float(lo)), (None if hi is None else float(hi))


WEAR_GAP_S = 60.0  # keyframes come at least every 2 s while the glasses are worn; a longer gap is time off


def wear_s(db: Database) -> float:
    """Seconds of wear the stored keyframes span by the wall clock, gaps over WEAR_GAP_S not counted."""
    row = db.execute("SELECT COALESCE(SUM(CASE WHEN d <= ? THEN d ELSE 0 END), 0) FROM (SELECT recorded_at - "
                     "LAG(recorded_at) OVER (ORDER BY recorded_at) AS d FROM keyframes WHERE recorded_at IS NOT NULL)",
                     (WEAR_GAP_S,)).fetchone()
    return float(row[0])


def grid(db: Database, keyframe_id: int) -> tuple[int, int]:
    """The row's (grid_h, grid_w); raises KeyframeNotFoundError."""
    row = db.execute("SELECT grid_h, grid_w FROM keyframes WHERE id = ?", (keyframe_id,)).fetchone()
    if row is None:
        raise KeyframeNotFoundError(keyframe_id)
    return int(row[0]), int(row[1])


def count_recorded_before(db: Database, recorded_before: float) -> int:
    """Number of rows stored before the wall clock `recorded_before` (uses the index on recorded_at)."""
    return int(db.execute("SELECT COUNT(*) FROM keyframes WHERE recorded_at < ?", (recorded_before,)).fetchone()[0])


def ids_in_window(db: Database, window: tuple[float, float]) -> np.ndarray:
    """Ids of the rows with lo < t < hi: (N,) int64 (uses the index on t)."""
    rows = db.execute("SELECT id FROM keyframes WHERE t > ? AND t < ?", window).fetchall()
    return np.array([row[0] for row in rows], np.int64)


def times(
    db: Database, layout: Layout, keyframe_ids: list[int], window: tuple[float, float]
) -> dict[int, tuple[float, int, float | None]]:
    """id -> (t, frame, recorded_at) for those of `keyframe_ids` that have a row with lo < t < hi.

    An id without a row means the index disagrees with the database; it is dropped and logged. So
    is a row whose metadata no longer matches its checksum: no answer rests on it (quarantined).
    """
    # One JSON parameter instead of a placeholder per id: no limit on the number of ids.
    rows = db.execute(
        f"SELECT id, {checksums.KEYFRAME_META}, meta_crc FROM keyframes WHERE id IN (SELECT value FROM json_each(?))",
        (json.dumps(keyframe_ids),),
    ).fetchall()
    damaged = {r[0] for r in rows if r[12] is not None and checksums.meta_crc(r[1:12]) != r[12]}
    if damaged:
        logger.warning("keyframes %s of %s changed after they were written (checksum): left out of the answer; "
                       "`ami memory verify --memory %s` lists every damaged row", sorted(damaged)[:5],
                       layout.db_path, layout.db_path.parent)
        rows = [r for r in rows if r[0] not in damaged]
    rows = [(r[0], r[1], r[2], r[11]) for r in rows]
    if len(rows) != len(set(keyframe_ids)):
        logger.warning(
            "%d search index ids have no keyframe row in %s; dropped them. "
            "Run `ami memory rebuild --memory %s`",
            len(set(keyframe_ids)) - len(rows), layout.db_path, layout.db_path.parent,
        )
    lo, hi = window
    return {int(i): (float(t), int(f), None if w is None else float(w)) for i, t, f, w in rows if lo < t < hi}


def embeddings(db: sqlite3.Connection | Database, layout: Layout, keyframe_ids: list[int]) -> dict[int, np.ndarray]:
    """id -> (D,) float32 embedding, for those of `keyframe_ids` that have a row."""
    rows = db.execute(
        "SELECT id, embedding FROM keyframes WHERE id IN (SELECT value FROM json_each(?))",
        (json.dumps(keyframe_ids),),
    ).fetchall()
    return {int(i): layout.embedding(int(i), blob) for i, blob in rows}


def ids_near(db: Database, x: float, z: float, radius_m: float) -> np.ndarray:
    """Keyframe ids whose pose (x, z) lies within radius_m of (x, z): (N,) int64."""
    sql = ("SELECT id FROM keyframes WHERE x IS NOT NULL AND z IS NOT NULL"
           " AND (x - ?) * (x - ?) + (z - ?) * (z - ?) <= ?")
    rows = db.execute(sql, (x, x, z, z, radius_m * radius_m)).fetchall()
    return np.array([row[0] for row in rows], np.int64)


def batches(
    db: sqlite3.Connection | Database, layout: Layout, size: int, tier: int
) -> Iterator[tuple[np.ndarray, np.ndarray, list[int], np.ndarray]]:
    """All rows of `tier` in id order, `size` at a time, as (ids (B,), embeddings (B, D), cells
    per row, patches (sum of cells, Dp); (0, Dp) for the long-term tier)."""
    cursor = db.execute(
        "SELECT id, grid_h, grid_w, embedding, patches FROM keyframes WHERE tier = ? ORDER BY id", (tier,)
    )
    while rows := cursor.fetchmany(size):
        yield (
            np.array([row[0] for row in rows], np.int64),
            np.stack([layout.embedding(i, blob) for i, _, _, blob, _ in rows]),
            [gh * gw for _, gh, gw, _, _ in rows],
            np.concatenate([layout.patches(i, gh, gw, blob) for i, gh, gw, _, blob in rows])
            if tier == 0 else np.empty((0, layout.patch_dim), np.float32),
        )
