"""MemoryStore: the episodic store of keyframes and enrolled items in one folder (see folder.py).

Every write commits at once (durable when it returns: WAL with synchronous=FULL, see schema.py)
and updates the in-RAM indexes; `save()` writes the index files. A crash loses at most the index
files' freshness, which the next open repairs by rebuilding. Forget methods erase rows, index
entries and the bytes in the folder at once (forget.py); `verify()` lists failed invariants.

One MemoryStore per folder at a time (enforced by the lock). One thread writes and may query
through the store; other threads query through `reader()`; compaction runs on the store's own
background thread (compact.py). docs/memory.md has the whole design.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
import uuid
from pathlib import Path
from types import TracebackType

import numpy as np
from sqlite_utils import Database

from memory import indexfiles, inputs, schema, verify
from memory import keyframes as keyframe_table
from memory import items as items_table
from memory import places as place_table
from memory.config import StoreConfig
from memory.errors import (
    CorruptDatabaseError,
    DimensionMismatchError,
    EmbeddingSpaceMismatchError,
    IndexOutOfSyncError,
    IndexSaveError,
    InvalidInputError,
    MemoryInUseError,
    StoreClosedError,
    StorageError,
)
from memory.folder import DB_FILE, FolderLock, make_private_file, make_private_folder
from memory.index import PATCH_ID_STRIDE, MemoryIndex, patch_ids
from memory.indexfiles import IndexState
from memory.compact import StoreCompact, build_longterm
from memory.reads import MemoryReader
from memory.types import ItemRecord, PlaceName

logger = logging.getLogger(__name__)

_REBUILD_BATCH = 512  # keyframes per FAISS add while rebuilding


class MemoryStore(StoreCompact):
    """The episodic store of one folder. Create it with `MemoryStore.open`; close it (or use `with`).

    Time windows are open intervals: `t_after < t < t_before`, so a query at time t sees only what
    came strictly before t.
    """

    def __init__(self, folder: Path, db: Database, lock: FolderLock, config: StoreConfig) -> None:
        """Private: use `MemoryStore.open`."""
        self.folder = folder
        self.config = config
        self.embedding_dim = 0  # set by _init_meta
        self.patch_dim = 0
        self.embedding_space: str | None = None  # set by _init_meta
        self._db_path = folder / DB_FILE
        self._repair = True
        self._index_problem: str | None = None  # why the saved index was not used, until saved
        self._layout = keyframe_table.Layout(self._db_path, 0, 0)
        self._db: Database | None = db
        self._folder_lock = lock
        self._reads: sqlite3.Connection | None = None  # the owner thread's query connection
        # One writer at a time (the assistant, or the background compaction's short commit);
        # the index lock is held only around FAISS calls, so queries never wait for a save's I/O
        # or a compaction's training.
        self._write_lock = threading.RLock()
        self._index_lock = threading.Lock()
        self._index = MemoryIndex(1, 1)
        self._store_id = ""
        self._generation = 0
        self._dirty = False

    # ---- open and close -------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        folder: Path | str,
        *,
        embedding_dim: int | None = None,
        patch_dim: int | None = None,
        embedding_space: str | None = None,
        config: StoreConfig | None = None,
        repair: bool = True,
        create: bool = True,
    ) -> MemoryStore:
        """Open the memory in `folder`, creating it (and the folder) when it does not exist yet.

        The dims may be left out for an existing memory (they are read from memory.db); when
        given they must match. So must `embedding_space`, the encoder's name for its space, once
        the memory records one (a memory created without it adopts the first one given).
        `repair=False` rebuilds a stale or damaged index in RAM only and leaves the files for
        `verify()` to report. `create=False` refuses a folder with no memory.
        """
        dims = {"embedding_dim": embedding_dim, "patch_dim": patch_dim}
        for name, value in dims.items():
            if value is not None:
                inputs.whole_number(value, name, minimum=1)
        folder = Path(folder)
        db_path = folder / DB_FILE
        if not create and not db_path.is_file():
            raise InvalidInputError(f"{folder} holds no memory ({DB_FILE} is missing); check --memory")
        make_private_folder(folder)
        lock = FolderLock(folder)
        db: Database | None = None
        reads: sqlite3.Connection | None = None
        try:
            make_private_file(db_path)
            try:
                db = schema.connect(db_path, (config or StoreConfig()).synchronous)
                schema.migrate(db, db_path)
                store = cls(folder, db, lock, config or StoreConfig())
                store._repair = repair
                store._init_meta(embedding_dim, patch_dim, embedding_space)
                reads = store._reads = schema.connect_reader(db_path)
                store._load_index()
            except sqlite3.OperationalError as e:
                if "locked" in str(e):
                    raise MemoryInUseError(folder) from e
                raise CorruptDatabaseError(db_path, str(e)) from e
            except sqlite3.DatabaseError as e:
                raise CorruptDatabaseError(db_path, str(e)) from e
        except BaseException:
            if reads is not None:
                reads.close()
            if db is not None:
                db.close()
            lock.close()
            raise
        logger.info("opened %s: %d keyframes, %d items", folder, store.count(), items_table.count(db))
        return store

    @classmethod
    def open_existing(cls, folder: Path | str, *, config: StoreConfig | None = None,
                      repair: bool = True) -> MemoryStore:
        """Open a memory that must exist, with the dims it was created with (for `ami memory`)."""
        return cls.open(folder, config=config, repair=repair, create=False)

    def _init_meta(self, embedding_dim: int | None, patch_dim: int | None, embedding_space: str | None) -> None:
        db = self._live()
        meta = schema.read_meta(db)
        if schema.META_EMBEDDING_DIM not in meta:
            if embedding_dim is None or patch_dim is None:
                raise InvalidInputError(
                    f"{self.folder} is a new memory: pass embedding_dim and patch_dim to create it"
                )
            with db.atomic():
                schema.write_meta(db, schema.META_EMBEDDING_DIM, str(embedding_dim))
                schema.write_meta(db, schema.META_PATCH_DIM, str(patch_dim))
                schema.write_meta(db, schema.META_GENERATION, "0")
                schema.write_meta(db, schema.META_STORE_ID, uuid.uuid4().hex)
            meta = schema.read_meta(db)
        try:
            keys = (schema.META_EMBEDDING_DIM, schema.META_PATCH_DIM, schema.META_GENERATION)
            stored = {key: int(meta[key]) for key in keys}
            self._store_id = meta[schema.META_STORE_ID]
        except (KeyError, ValueError) as e:
            raise CorruptDatabaseError(self._db_path, f"meta table is incomplete: {e}") from e
        requested = {schema.META_EMBEDDING_DIM: embedding_dim, schema.META_PATCH_DIM: patch_dim}
        for key, value in requested.items():
            if value is not None and stored[key] != value:
                raise DimensionMismatchError(self.folder, key, stored[key], value)
        self.embedding_dim = stored[schema.META_EMBEDDING_DIM]
        self.patch_dim = stored[schema.META_PATCH_DIM]
        self.embedding_space = meta.get(schema.META_EMBEDDING_SPACE)
        if embedding_space is not None:
            if self.embedding_space is None:
                with db.atomic():
                    schema.write_meta(db, schema.META_EMBEDDING_SPACE, embedding_space)
                self.embedding_space = embedding_space
            elif self.embedding_space != embedding_space:
                raise EmbeddingSpaceMismatchError(self.folder, self.embedding_space, embedding_space)
        self._layout = keyframe_table.Layout(self._db_path, self.embedding_dim, self.patch_dim)
        self._generation = stored[schema.META_GENERATION]

    def _db_state(self) -> IndexState:
        n_keyframes, n_patches, n_long = keyframe_table.counts(self._live())
        return IndexState(
            store_id=self._store_id,
            generation=self._generation,
            keyframes=n_keyframes,
            patches=n_patches,
            longterm=n_long,
            embedding_dim=self.embedding_dim,
            patch_dim=self.patch_dim,
        )

    def _load_index(self) -> None:
        state = self._db_state()
        index, why = MemoryIndex.load(self.folder, state)
        if index is not None:
            self._index = index
            indexfiles.remove_unreferenced(self.folder)
            return
        # An empty memory (a new one) has nothing to rebuild, so it is not worth a warning.
        log = logger.warning if state.keyframes else logger.debug
        log("rebuilding the search index of %s from memory.db: %s", self.folder, why)
        if self._repair:
            self.rebuild_index()
        else:  # rebuilt in RAM so that answers stay right; the files are left for verify()
            self._index = self._index_from_rows()
            self._index_problem = why

    def _index_from_rows(self) -> MemoryIndex:
        index = MemoryIndex(self.embedding_dim, self.patch_dim, self.config.nprobe)
        rows = keyframe_table.batches(self._live(), self._layout, _REBUILD_BATCH, tier=0)
        for ids, embeddings, cells, patches in rows:  # (B,), (B, D), B cell counts, (sum cells, Dp)
            patch_ids_ = np.concatenate([patch_ids(int(i), n) for i, n in zip(ids, cells)])
            index.add(ids, embeddings, patch_ids_, patches)
        index.longterm = build_longterm(self._live(), self._layout, self.config)
        return index

    def rebuild_index(self) -> None:
        """Rebuild the FAISS indexes from memory.db and save them (for `ami memory rebuild`)."""
        self._index = self._index_from_rows()
        self._dirty = True
        self.save()
        logger.info("rebuilt the index of %s: %d keyframes, %d patches", self.folder,
                    self._index.n_keyframes, self._index.n_patches)

    def save(self) -> None:
        """Commit, and write the index files atomically if they changed (see indexfiles.py).

        Raises IndexSaveError (with the database and the previous index files intact) when the
        files cannot be written, for example on a full disk; the store stays usable.
        """
        with self._write_lock:
            db = self._live()
            db.commit()
            if not self._dirty:
                return
            # A checkpoint copies the WAL into memory.db, so the WAL stays short.
            db.execute("PRAGMA wal_checkpoint(PASSIVE)")
            state = self._db_state()
            index = self._index
            if (state.keyframes, state.patches, state.longterm) != (
                    index.n_keyframes, index.n_patches, index.n_longterm):
                raise IndexOutOfSyncError(
                    self.folder,
                    f"memory.db has {state.keyframes} keyframes / {state.patches} patches / "
                    f"{state.longterm} long-term, the index {index.n_keyframes} / {index.n_patches} / "
                    f"{index.n_longterm}",
                )
            with self._index_lock:  # a memory copy; the file I/O below runs without the lock
                serialized = index.serialize(state)
                longterm_version = index.longterm_version
            try:
                written = indexfiles.save(self.folder, state, serialized)
            except OSError as e:
                raise IndexSaveError(self.folder, e) from e
            self._dirty = False
            self._index_problem = None
            if "longterm" in written and not index.longterm_mapped:
                self._map_longterm(index, written["longterm"], longterm_version)

    def _map_longterm(self, index: MemoryIndex, path: Path, version: int) -> None:
        """Serve the long-term tier from the file just saved, so the heap does not hold it."""
        try:
            mapped = indexfiles.map_index(path)
        except (OSError, RuntimeError) as e:  # the tier stays in RAM: answers are the same
            logger.warning("serving the long-term tier of %s from RAM: cannot map %s (%s)", self.folder, path.name, e)
            return
        with self._index_lock:
            if self._index is index and index.longterm_version == version:  # nothing changed it meanwhile
                index.map_longterm(mapped)
            else:
                mapped.file.close()

    def close(self) -> None:
        """Save and release the folder. Closing twice is harmless."""
        if self._db is None:
            return
        try:
            self._stop_compaction()
            self.save()
        finally:
            if self._reads is not None:
                self._reads.close()
                self._reads = None
            self._db.close()
            self._db = None
            self._folder_lock.close()
            logger.debug("closed %s", self.folder)

    def __enter__(self) -> MemoryStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._db is None else f"{self._index.n_keyframes} keyframes"
        return f"MemoryStore({str(self.folder)!r}, D={self.embedding_dim}, Dp={self.patch_dim}, {state})"

    def _live(self) -> Database:
        if self._db is None:
            raise StoreClosedError(self.folder)
        return self._db

    def _reading(self) -> Database:
        if self._reads is None:
            raise StoreClosedError(self.folder)
        return self._reads  # type: ignore[return-value]  # the reads use only .execute()

    # ---- writes ---------------------------------------------------------------------------

    def add_keyframe(
        self,
        t: float,
        frame: int,
        session: str,
        pose: tuple[float, float, float, float, float] | None,
        embedding: np.ndarray,  # (D,) float32
        patches: np.ndarray,  # (grid_h * grid_w, Dp) float32, row-major cells
        grid: tuple[int, int],
        *,
        recorded_at: float | None = None,
    ) -> int:
        """Store one keyframe and index it; returns its id once it is durable (acknowledged).

        Vectors are stored as given; patches as float16, and searches score the stored values, as
        `patches(id)` returns. `recorded_at` is the wall clock (Unix s, default now), which
        `forget_recorded_since` and retention go by.
        """
        db = self._live()
        t = inputs.finite_float(t, "t")
        frame = inputs.whole_number(frame, "frame", minimum=0)
        session = inputs.text(session, "session")
        pose_ = inputs.pose(pose)
        grid_h, grid_w = inputs.grid(grid, PATCH_ID_STRIDE)
        embedding = inputs.float_array(embedding, "embedding", (self.embedding_dim,))
        patches = inputs.float_array(patches, "patches", (grid_h * grid_w, self.patch_dim))
        if np.abs(patches).max() > np.finfo(np.float16).max:
            raise InvalidInputError("patches overflow float16 (|value| > 65504); L2-normalise them first")
        patches16 = patches.astype(np.float16)
        recorded = time.time() if recorded_at is None else inputs.finite_float(recorded_at, "recorded_at")
        with self._write_lock:
            try:
                with db.atomic():
                    keyframe_id = keyframe_table.insert(
                        db, t, frame, session, pose_, (grid_h, grid_w), embedding, patches16, recorded
                    )
                    schema.write_meta(db, schema.META_GENERATION, str(self._generation + 1))
            except sqlite3.OperationalError as e:  # "database or disk is full", I/O errors
                raise StorageError(self._db_path, f"keyframe t={t} of {session!r}", e) from e
            self._generation += 1
            self._dirty = True
            # Indexed after the commit, so a concurrent query never sees an id without its row.
            try:
                with self._index_lock:
                    self._index.add(np.array([keyframe_id], np.int64), embedding[None, :],
                                    patch_ids(keyframe_id, grid_h * grid_w), patches16.astype(np.float32))
            except (RuntimeError, MemoryError) as e:
                raise IndexOutOfSyncError(self.folder, f"keyframe {keyframe_id} is stored but not indexed") from e
        return keyframe_id

    def enroll_item(self, name: str, t: float, prototypes: np.ndarray, threshold: float, *,
                    recorded_at: float | None = None) -> ItemRecord:
        """Enroll `name` with prototypes (K, Dp) float32. Re-enrolling the same name appends the
        prototypes, replaces the threshold and keeps the first enrollment time."""
        db = self._live()
        recorded = time.time() if recorded_at is None else inputs.finite_float(recorded_at, "recorded_at")
        try:
            return items_table.enroll(db, self._db_path, self.patch_dim, name, t, prototypes, threshold,
                                      recorded)
        except sqlite3.OperationalError as e:
            raise StorageError(self._db_path, f"item {name!r}", e) from e

    def name_place(self, name: str, x: float, z: float, t: float, session: str, *, replace_radius_m: float,
                   recorded_at: float | None = None) -> PlaceName:
        """The wearer called where they stand (x, z) `name`; names within replace_radius_m go."""
        recorded = time.time() if recorded_at is None else inputs.finite_float(recorded_at, "recorded_at")
        try:
            return place_table.name_place(self._live(), name, x, z, t, session, recorded, replace_radius_m)
        except sqlite3.OperationalError as e:
            raise StorageError(self._db_path, f"place name {name!r}", e) from e

    def reader(self) -> MemoryReader:
        """A reader for queries from another thread (see MemoryReader); close it before the store."""
        self._live()
        return MemoryReader(self)

    def snapshot(self, path: Path) -> None:
        """Write a compact copy of memory.db to the new file `path` (VACUUM INTO: no WAL, no free
        pages), consistent as of the last commit."""
        db = self._live()
        db.commit()
        try:
            db.execute("VACUUM INTO ?", (str(path),))
        except sqlite3.OperationalError as e:
            raise StorageError(path, "a snapshot", e) from e

    # ---- integrity ------------------------------------------------------------------------

    def verify(self) -> list[str]:
        """Each failed invariant as one line; empty when the memory is sound (see verify.py)."""
        db = self._live()
        db.commit()
        failed = verify.check_database(db, self.embedding_dim, self.patch_dim, self._generation)
        expected = verify.expected_ids(db)
        failed += verify.check_index(self._index, expected, "in RAM")
        if self._index_problem is not None:
            failed.append(f"saved index: {self._index_problem}; run `ami memory rebuild --memory {self.folder}`")
        elif not self._dirty:
            failed += verify.check_saved(self.folder, self._db_state(), expected)
        return failed
