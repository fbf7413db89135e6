"""The SQLite schema of memory.db: migrations, connection settings and the blob formats.

The schema changes only through `MIGRATIONS`, applied in order by `migrate()`; the database's
`PRAGMA user_version` is the number of migrations applied. Each migration runs in one transaction
together with its `user_version` bump, so a crash leaves the database at a whole version.

Schema v1:

    keyframes  id INTEGER PRIMARY KEY AUTOINCREMENT  (also the FAISS id; never reused)
               t REAL, frame INTEGER, session TEXT,
               x, y, z, yaw_deg, pitch_deg REAL NULL  (all NULL when the frame had no pose)
               grid_h, grid_w INTEGER  (grid_h * grid_w <= 256 cells)
               embedding BLOB   little-endian float32, (D,)
               patches BLOB     little-endian float16, (grid_h * grid_w, Dp) row-major
    items      name TEXT PRIMARY KEY, enrolled_t REAL,
               prototypes BLOB  little-endian float32, (k, Dp) row-major
               k INTEGER, threshold REAL
    meta       key TEXT PRIMARY KEY, value TEXT  (see the META_* keys)

Schema v2 adds `recorded_at REAL NULL` to keyframes and items: Unix seconds (wall clock) when the
row was stored, NULL for rows from v1. Session times `t` restart with each session, so "forget
the last 10 minutes" and retention go by recorded_at.

Schema v3 adds `tier INTEGER NOT NULL DEFAULT 0` to keyframes: 0 recent (patches kept, exact
search), 1 long-term (compressed index entry, patches dropped: the blob is empty), and the
`codecs` table (name TEXT PRIMARY KEY, data BLOB, trained_on INTEGER): trained FAISS codecs
(the long-term IVF-PQ, empty), so the index is rebuildable from the database alone.

Schema v4 adds `place_names` (the wearer's names for places). Schema v5 adds `replays`
(content_id TEXT PRIMARY KEY, session TEXT, first_id and last_id INTEGER: the keyframe ids the
replay stored, recorded_at REAL): a session replayed into the memory, so the same one is not
stored twice; a row goes when none of its keyframes are left (memory/replays.py). Schema v6
adds row checksums: `meta_crc`, `embedding_crc`, `patches_crc INTEGER` on keyframes and
`row_crc INTEGER` on items (memory/checksums.py), filled for older rows by the migration.
Schema v7 adds `thumbnails` (memory/thumbnails.py): a small face-blurred JPEG per keyframe.
Schema v8 adds `alerts` (memory/alerts.py): the left-behind alerts the glasses raised, each with
its evidence keyframe, so the Timeline can mark them; an alert goes with its keyframe.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import numpy as np
from sqlite_utils import Database

from memory import checksums
from memory.config import SYNCHRONOUS_MODES
from memory.errors import CorruptDatabaseError, ReadOnlyMemoryError, SchemaTooNewError

logger = logging.getLogger(__name__)

META_EMBEDDING_DIM = "embedding_dim"  # D of keyframes.embedding
META_PATCH_DIM = "patch_dim"  # Dp of keyframes.patches and items.prototypes
# Bumped in the same transaction as every change to keyframes; the FAISS sidecar records the
# generation it was built from, so a stale index is detected on open.
META_GENERATION = "generation"
# Random id of this memory, so index files copied from another memory are never trusted.
META_STORE_ID = "store_id"
# The encoder's embedding space (device/perception/encoder.py embedding_space): another encoder's vectors
# would search as noise, so an encoder from another space is refused.
META_EMBEDDING_SPACE = "embedding_space"
# A replay under way (memory/replays.py): JSON {session, after_id, items_before}; set when it begins,
# cleared when it is noted or undone. Found at an open, the replay was killed: it is undone then.
META_REPLAY_UNDER_WAY = "replay_under_way"

BUSY_TIMEOUT_MS = 5_000


@dataclass(frozen=True)
class Migration:
    """One schema step: its SQL statements, then an optional Python step, in one transaction."""

    version: int
    description: str
    statements: tuple[str, ...] = ()
    apply: Callable[[Database], None] | None = None


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        version=1,
        description="keyframes, items and meta tables",
        statements=(
            # AUTOINCREMENT: ids are FAISS ids and evidence references held by the world model,
            # so a forgotten keyframe's id must never come back as a different keyframe.
            """CREATE TABLE keyframes (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                t REAL NOT NULL,
                frame INTEGER NOT NULL,
                session TEXT NOT NULL,
                x REAL, y REAL, z REAL, yaw_deg REAL, pitch_deg REAL,
                grid_h INTEGER NOT NULL,
                grid_w INTEGER NOT NULL,
                -- blobs last: scans of the small columns then never walk overflow pages
                embedding BLOB NOT NULL,
                patches BLOB NOT NULL
            )""",
            "CREATE INDEX keyframes_t ON keyframes (t)",
            """CREATE TABLE items (
                name TEXT PRIMARY KEY,
                enrolled_t REAL NOT NULL,
                prototypes BLOB NOT NULL,
                k INTEGER NOT NULL,
                threshold REAL NOT NULL
            )""",
            "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        ),
    ),

    Migration(
        version=2,
        description="recorded_at (wall clock) on keyframes and items",
        statements=(
            "ALTER TABLE keyframes ADD COLUMN recorded_at REAL",
            "ALTER TABLE items ADD COLUMN recorded_at REAL",
            "CREATE INDEX keyframes_recorded_at ON keyframes (recorded_at)",
        ),
    ),
    Migration(
        version=3,
        description="tier on keyframes: 0 recent, 1 long-term",
        statements=(
            "ALTER TABLE keyframes ADD COLUMN tier INTEGER NOT NULL DEFAULT 0",
            "CREATE INDEX keyframes_tier_recorded_at ON keyframes (tier, recorded_at)",
            "CREATE TABLE codecs (name TEXT PRIMARY KEY, data BLOB NOT NULL, trained_on INTEGER NOT NULL)",
        ),
    ),
    Migration(
        version=4,
        description="place_names: the wearer's names for places",
        statements=(
            """CREATE TABLE place_names (
                name TEXT NOT NULL,
                x REAL NOT NULL,
                z REAL NOT NULL,
                t REAL NOT NULL,
                session TEXT NOT NULL,
                recorded_at REAL NOT NULL
            )""",
        ),
    ),
    Migration(
        version=5,
        description="replays: the sessions replayed into this memory, by content",
        statements=(
            """CREATE TABLE replays (
                content_id TEXT PRIMARY KEY,
                session TEXT NOT NULL,
                first_id INTEGER NOT NULL,
                last_id INTEGER NOT NULL,
                recorded_at REAL NOT NULL
            )""",
        ),
    ),
    Migration(
        version=6,
        description="row checksums: keyframes (metadata, embedding, patches) and items (memory/checksums.py)",
        statements=(
            "ALTER TABLE keyframes ADD COLUMN meta_crc INTEGER",
            "ALTER TABLE keyframes ADD COLUMN embedding_crc INTEGER",
            "ALTER TABLE keyframes ADD COLUMN patches_crc INTEGER",
            "ALTER TABLE items ADD COLUMN row_crc INTEGER",
        ),
        apply=lambda db: checksums.fill(db),
    ),
    Migration(
        version=7,
        description="thumbnails: a small JPEG per keyframe, faces blurred (memory/thumbnails.py)",
        statements=(
            """CREATE TABLE thumbnails (
                keyframe_id INTEGER PRIMARY KEY,
                jpeg BLOB NOT NULL,
                faces INTEGER NOT NULL,
                crc INTEGER NOT NULL
            )""",
        ),
    ),
    Migration(
        version=8,
        description="alerts: each left-behind alert raised, with its evidence keyframe (memory/alerts.py)",
        statements=(
            """CREATE TABLE alerts (
                id INTEGER PRIMARY KEY,
                keyframe_id INTEGER NOT NULL,
                item TEXT NOT NULL,
                t REAL NOT NULL,
                recorded_at REAL,
                text TEXT NOT NULL,
                crc INTEGER NOT NULL
            )""",
            "CREATE INDEX alerts_keyframe ON alerts (keyframe_id)",
        ),
    ),
)

LATEST_VERSION = MIGRATIONS[-1].version


def connect(db_path: Path, synchronous: str = "FULL", read_only: bool = False, wal_bytes: int = 0) -> Database:
    """Open memory.db through sqlite-utils with the store's connection settings (read_only: see
    connect_reader; nothing is written, not even the WAL mode). wal_bytes: checkpoint the WAL into
    memory.db whenever it holds this much (0: SQLite's default, about 4 MB)."""
    assert synchronous in SYNCHRONOUS_MODES, f"synchronous must be one of {SYNCHRONOUS_MODES}"
    if read_only:
        return Database(connect_reader(db_path), execute_plugins=False)
    # No sqlite-utils plugins: the memory holds private data and must not run foreign code.
    # check_same_thread=False: the background compaction commits through this connection, always
    # under the store's write lock, so two threads never use it at once.
    db = Database(sqlite3.connect(str(db_path), check_same_thread=False), execute_plugins=False)
    # WAL: readers (queries, the companion's memory viewer) never block the writer, and a crash
    # mid-write never corrupts the database.
    db.enable_wal()
    # FULL (the default): each commit fsyncs the WAL, so a keyframe is durable when add_keyframe
    # returns, even if the battery dies next (NORMAL would survive a killed process but may lose
    # the last commits on power loss). One fsync per keyframe, a few per second at most, is
    # cheap next to the encoder; see docs/memory.md.
    db.execute(f"PRAGMA synchronous = {synchronous}")
    # Deleted content is overwritten with zeros, so forgotten rows do not linger in free pages.
    db.execute("PRAGMA secure_delete = ON")
    db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    if wal_bytes > 0:
        page = int(db.execute("PRAGMA page_size").fetchone()[0])
        db.execute(f"PRAGMA wal_autocheckpoint = {max(wal_bytes // page, 16)}")
    return db


def connect_reader(db_path: Path) -> sqlite3.Connection:
    """A read-only connection of its own, for queries from another thread (WAL: never blocked).

    In a folder nobody can write (a read-only mount, or no write permission) SQLite cannot make the
    WAL's shared-memory file, so the database is opened immutable: read as memory.db holds it (a
    memory closed cleanly has everything there)."""
    immutable = "" if os.access(db_path.parent, os.W_OK) else "&immutable=1"
    conn = sqlite3.connect(f"file:{quote(str(db_path))}?mode=ro{immutable}", uri=True, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    return conn


def user_version(db: Database) -> int:
    """The number of migrations applied to `db`."""
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def migrate(db: Database, db_path: Path, read_only: bool = False) -> int:
    """Apply the pending migrations in order; returns the schema version now in force. A memory
    opened read-only must need none (ReadOnlyMemoryError)."""
    current = user_version(db)
    if current > LATEST_VERSION:
        raise SchemaTooNewError(db_path, current, LATEST_VERSION)
    if read_only and current < LATEST_VERSION:
        raise ReadOnlyMemoryError(db_path.parent, f"the upgrade of memory.db to schema v{LATEST_VERSION}")
    for migration in MIGRATIONS[current:]:
        assert migration.version == current + 1, "MIGRATIONS must be numbered 1, 2, 3, ..."
        with db.atomic():
            for statement in migration.statements:
                db.execute(statement)
            if migration.apply is not None:
                migration.apply(db)
            # user_version lives in the database header, so it commits or rolls back with the step.
            db.execute(f"PRAGMA user_version = {migration.version}")
        logger.info("%s: migrated to schema v%d (%s)", db_path, migration.version, migration.description)
        current = migration.version
    return current


def read_meta(db: Database) -> dict[str, str]:
    """All meta rows as key -> value."""
    return {row[0]: row[1] for row in db.execute("SELECT key, value FROM meta").fetchall()}


def write_meta(db: Database, key: str, value: str) -> None:
    """Insert or replace one meta row (inside the caller's transaction, if any)."""
    db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))


def encode_f32(array: np.ndarray) -> bytes:
    """Little-endian float32 bytes of `array`, row-major."""
    return np.ascontiguousarray(array, dtype="<f4").tobytes()


def encode_f16(array: np.ndarray) -> bytes:
    """Little-endian float16 bytes of `array`, row-major (the caller checked the range)."""
    return np.ascontiguousarray(array, dtype="<f2").tobytes()


def decode(blob: bytes, dtype: str, shape: tuple[int, ...], db_path: Path, what: str) -> np.ndarray:
    """Decode a blob written by `encode_f32`/`encode_f16` into a writable float32 array."""
    itemsize = np.dtype(dtype).itemsize
    expected = int(np.prod(shape)) * itemsize
    if len(blob) != expected:
        raise CorruptDatabaseError(
            db_path, f"{what} is {len(blob)} bytes, expected {expected} for shape {shape} {dtype}"
        )
    return np.frombuffer(blob, dtype=dtype).reshape(shape).astype(np.float32)
