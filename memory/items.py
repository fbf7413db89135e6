"""Enrolled items in memory.db's `items` table: enroll (re-enrolling appends), look up, list.

An item is enrolled when the wearer says "this is my <name>" while looking at it; its prototypes
are patch vectors (Dp) and a patch scoring >= its threshold against any prototype is a sighting.
Names are stored exactly as given: matching "Keys" to "keys" is the caller's job.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from sqlite_utils import Database

from memory import checksums, inputs, schema
from memory.errors import InvalidInputError
from memory.types import ItemRecord

logger = logging.getLogger(__name__)

_COLUMNS = "name, enrolled_t, prototypes, k, threshold"


def enroll(
    db: Database,
    db_path: Path,
    patch_dim: int,
    name: str,
    t: float,
    prototypes: np.ndarray,  # (K, Dp) float32
    threshold: float,
    recorded_at: float,
) -> ItemRecord:
    """Enroll `name`; if it exists, append the prototypes, replace the threshold, keep enrolled_t."""
    name = inputs.text(name, "name")
    t = inputs.finite_float(t, "t")
    new = inputs.float_array(prototypes, "prototypes", (None, patch_dim))
    if len(new) == 0:
        raise InvalidInputError(f"prototypes must have at least one row, got shape {new.shape}")
    threshold = inputs.finite_float(threshold, "threshold")
    with db.atomic():
        row = db.execute(f"SELECT {_COLUMNS} FROM items WHERE name = ?", (name,)).fetchone()
        if row is None:
            enrolled_t, merged = t, new
        else:
            old = _record(row, db_path, patch_dim)
            enrolled_t, merged = old.enrolled_t, np.concatenate([old.prototypes, new])
        blob = schema.encode_f32(merged)
        crc = checksums.item_crc((name, enrolled_t, len(merged), threshold, recorded_at), blob)
        db.execute(
            f"INSERT OR REPLACE INTO items ({_COLUMNS}, recorded_at, row_crc) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (name, enrolled_t, blob, len(merged), threshold, recorded_at, crc),
        )
    logger.info("enrolled %r: %d prototypes, threshold %.3f", name, len(merged), threshold)
    return _frozen(name, enrolled_t, merged, threshold)


def get(db: Database, db_path: Path, patch_dim: int, name: str) -> ItemRecord | None:
    """The item called exactly `name`, or None (also when its row is damaged: logged)."""
    rows = _sound(db.execute(f"SELECT {_COLUMNS}, recorded_at, row_crc FROM items WHERE name = ?", (name,)).fetchall(),
                  db_path)
    return _record(rows[0], db_path, patch_dim) if rows else None


def list_all(db: Database, db_path: Path, patch_dim: int) -> list[ItemRecord]:
    """All items with sound rows, oldest enrollment first (then by name)."""
    rows = db.execute(f"SELECT {_COLUMNS}, recorded_at, row_crc FROM items ORDER BY enrolled_t, name").fetchall()
    return [_record(row, db_path, patch_dim) for row in _sound(rows, db_path)]


def _sound(rows: list[tuple], db_path: Path) -> list[tuple]:
    """The rows (with recorded_at and row_crc last) that match their checksum, as _COLUMNS rows; the
    others are left out with a warning (quarantined: no answer rests on a changed threshold)."""
    out = []
    for name, enrolled_t, blob, k, threshold, recorded_at, crc in rows:
        if crc is not None and checksums.item_crc((name, enrolled_t, k, threshold, recorded_at), blob) != crc:
            logger.warning("item %r in %s changed after it was written (checksum): left out; enroll it again "
                           "(\"this is my %s\") or run `ami memory verify`", name, db_path, name)
            continue
        out.append((name, enrolled_t, blob, k, threshold))
    return out


def count(db: Database) -> int:
    """Number of enrolled items."""
    return int(db.execute("SELECT COUNT(*) FROM items").fetchone()[0])


def _record(row: tuple, db_path: Path, patch_dim: int) -> ItemRecord:
    name, enrolled_t, blob, k, threshold = row
    prototypes = schema.decode(blob, "<f4", (int(k), patch_dim), db_path, f"item {name!r} prototypes")
    return _frozen(name, float(enrolled_t), prototypes, float(threshold))


def _frozen(name: str, enrolled_t: float, prototypes: np.ndarray, threshold: float) -> ItemRecord:
    prototypes = np.array(prototypes, dtype=np.float32)  # a private copy ...
    prototypes.setflags(write=False)  # ... read-only, as the record is frozen
    return ItemRecord(name=name, enrolled_t=enrolled_t, prototypes=prototypes, threshold=threshold)
