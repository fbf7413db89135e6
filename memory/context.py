"""StoreContext: what MemoryStore shares with its collaborators (reads, forget, compaction).

The writer's connection, the memory's identity (dims, generation), the in-RAM index with its two
locks, and the steps every write path shares: commit one change (`change`), save the index files,
rebuild the index from the rows, truncate the WAL. MemoryStore creates one per open folder and
closes it; MemoryReader, Forgetting and Compaction hold a reference to it.

Locking: one writer at a time holds `write_lock` (the assistant, or the background compaction's
short commit); `index_lock` is held only around FAISS calls, so queries never wait for a save's
I/O or a compaction's training.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from sqlite_utils import Database

from memory import indexfiles, schema
from memory import keyframes as keyframe_table
from memory.compact import build_longterm
from memory.config import StoreConfig
from memory.errors import (
    CorruptDatabaseError,
    DimensionMismatchError,
    EmbeddingSpaceMismatchError,
    IndexOutOfSyncError,
    IndexSaveError,
    InvalidInputError,
    ReadOnlyMemoryError,
    StorageError,
    StoreClosedError,
)
from memory.folder import DB_FILE
from memory.index import MemoryIndex, patch_ids
from memory.indexfiles import IndexState

logger = logging.getLogger(__name__)

_REBUILD_BATCH = 512  # keyframes per FAISS add while rebuilding


class StoreContext:
    """The shared state of one open memory; the attributes are read and written under the locks."""

    def __init__(self, folder: Path, db: Database, config: StoreConfig, read_only: bool = False) -> None:
        self.folder = folder
        self.read_only = read_only  # opened read-only: every write raises ReadOnlyMemoryError
        self.config = config
        self.db_path = folder / DB_FILE
        self.db: Database | None = db  # the writer's connection; None once closed
        self.layout = keyframe_table.Layout(self.db_path, 0, 0)  # the dims, once the meta is read
        self.store_id = ""
        self.generation = 0  # memory.db's change counter, which vouches for the index files
        self.dirty = False  # the in-RAM index differs from the saved files
        self.index_problem: str | None = None  # why the saved index was not used, until saved
        self.write_lock = threading.RLock()
        self.index_lock = threading.Lock()
        self.index = MemoryIndex(1, 1)

    def init_meta(self, embedding_dim: int | None, patch_dim: int | None, embedding_space: str | None) -> str | None:
        """Create the memory's identity in a new memory.db, or check the given dims and space against
        it; set the layout (dims), identity and generation, and return the embedding space."""
        db, folder = self.live(), self.folder
        meta = schema.read_meta(db)
        if schema.META_EMBEDDING_DIM not in meta:
            if embedding_dim is None or patch_dim is None:
                raise InvalidInputError(f"{folder} is a new memory: pass embedding_dim and patch_dim to create it")
            with self.writer("the memory's identity").atomic():
                schema.write_meta(db, schema.META_EMBEDDING_DIM, str(embedding_dim))
                schema.write_meta(db, schema.META_PATCH_DIM, str(patch_dim))
                schema.write_meta(db, schema.META_GENERATION, "0")
                schema.write_meta(db, schema.META_STORE_ID, uuid.uuid4().hex)
            meta = schema.read_meta(db)
        try:
            keys = (schema.META_EMBEDDING_DIM, schema.META_PATCH_DIM, schema.META_GENERATION)
            stored = {key: int(meta[key]) for key in keys}
            self.store_id = meta[schema.META_STORE_ID]
        except (KeyError, ValueError) as e:
            raise CorruptDatabaseError(self.db_path, f"meta table is incomplete: {e}") from e
        requested = {schema.META_EMBEDDING_DIM: embedding_dim, schema.META_PATCH_DIM: patch_dim}
        for key, value in requested.items():
            if value is not None and stored[key] != value:
                raise DimensionMismatchError(folder, key, stored[key], value)
        dims = stored[schema.META_EMBEDDING_DIM], stored[schema.META_PATCH_DIM]
        self.layout = keyframe_table.Layout(self.db_path, *dims)
        self.generation = stored[schema.META_GENERATION]
        space = meta.get(schema.META_EMBEDDING_SPACE)
        if embedding_space is not None:
            if space is None:
                if not self.read_only:  # a read-only memory adopts it for this run only
                    with db.atomic():
                        schema.write_meta(db, schema.META_EMBEDDING_SPACE, embedding_space)
                space = embedding_space
            elif space != embedding_space:
                raise EmbeddingSpaceMismatchError(folder, space, embedding_space)
        return space

    def live(self) -> Database:
        """The writer's connection; raises StoreClosedError once the store is closed."""
        if self.db is None:
            raise StoreClosedError(self.folder)
        return self.db

    def load_index(self, repair: bool) -> None:
        """Load the saved index files, or rebuild the index from memory.db when they are missing,
        damaged or stale: saved (repair), or in RAM only with the reason kept for verify()."""
        state = self.db_state()
        index, why = MemoryIndex.load(self.folder, state)
        if index is not None:
            self.index = index
            if repair and not self.read_only:  # without repair they stay for verify() to report
                freed = indexfiles.remove_unreferenced(self.folder)
                if freed:
                    logger.info("removed %d bytes of leftover index files (an interrupted save) from %s",
                                freed, self.folder)
            return
        # A warning only when a saved index was lost; a memory that never saved one (new, or just
        # imported from an archive, which holds none) has lost nothing.
        lost = state.keyframes and (self.folder / indexfiles.SIDECAR_FILE).is_file()
        (logger.warning if lost else logger.info)("rebuilding the search index of %s from memory.db: %s",
                                                  self.folder, why)
        if repair:
            try:
                self.rebuild_index()
                return
            except IndexSaveError as e:  # a full disk: serve the rebuilt index from RAM, save it later
                logger.warning("%s", e)
                why = f"{why}; the rebuilt index could not be saved ({e.__cause__})"
        # rebuilt in RAM so that answers stay right; the files are left for verify()
        self.index = self.index if repair else self.index_from_rows()
        self.index_problem = why

    def rebuild_index(self) -> None:
        """Rebuild the FAISS indexes from memory.db and save them."""
        self.writer("a rebuilt search index")
        self.index = self.index_from_rows()
        self.dirty = True
        self.save()
        logger.info("rebuilt the index of %s: %d keyframes, %d patches", self.folder,
                    self.index.n_keyframes, self.index.n_patches)

    def writer(self, what: str) -> Database:
        """The writer's connection for storing `what`; raises ReadOnlyMemoryError on a memory opened
        read-only, before anything is tried."""
        db = self.live()
        if self.read_only:
            raise ReadOnlyMemoryError(self.folder, what)
        return db

    @contextmanager
    def change(self, what: str) -> Iterator[Database]:
        """One durable change to memory.db: the caller's statements and the next generation in one
        transaction. A full disk or an I/O error becomes StorageError naming `what`; after the
        commit the index files are stale. The caller holds `write_lock`."""
        db = self.writer(what)
        try:
            with db.atomic():
                yield db
                schema.write_meta(db, schema.META_GENERATION, str(self.generation + 1))
        except sqlite3.OperationalError as e:  # "database or disk is full", I/O errors
            raise StorageError(self.db_path, what, e) from e
        self.generation += 1
        self.dirty = True

    def db_state(self) -> IndexState:
        """What the index files must agree with: memory.db's identity, generation and counts."""
        n_keyframes, n_patches, n_long = keyframe_table.counts(self.live())
        return IndexState(
            store_id=self.store_id,
            generation=self.generation,
            keyframes=n_keyframes,
            patches=n_patches,
            longterm=n_long,
            embedding_dim=self.layout.embedding_dim,
            patch_dim=self.layout.patch_dim,
        )

    def index_from_rows(self) -> MemoryIndex:
        """A new in-RAM index of every row of memory.db (both tiers)."""
        db = self.live()
        index = MemoryIndex(self.layout.embedding_dim, self.layout.patch_dim, self.config.nprobe)
        for ids, embeddings, cells, patches in keyframe_table.batches(db, self.layout, _REBUILD_BATCH, tier=0):
            # (B,), (B, D), B cell counts, (sum cells, Dp)
            patch_ids_ = np.concatenate([patch_ids(int(i), n) for i, n in zip(ids, cells)])
            index.add(ids, embeddings, patch_ids_, patches)
        index.longterm = build_longterm(db, self.layout, self.config)
        return index

    def save(self) -> None:
        """Commit, and write the index files atomically if they changed (see indexfiles.py).

        Raises IndexSaveError (with the database and the previous index files intact) when the
        files cannot be written, for example on a full disk; the store stays usable.
        """
        with self.write_lock:
            db = self.live()
            db.commit()
            if not self.dirty or self.read_only:  # read-only: a rebuilt index stays in RAM
                return
            # A checkpoint copies the WAL into memory.db, so the WAL stays short; on a full disk the
            # rows stay in the WAL, as durable, and the next save checkpoints.
            try:
                db.execute("PRAGMA wal_checkpoint(PASSIVE)")
            except sqlite3.OperationalError as e:
                logger.info("%s: WAL not checkpointed (%s); the next save will", self.folder, e)
            state = self.db_state()
            index = self.index
            if (state.keyframes, state.patches, state.longterm) != (
                    index.n_keyframes, index.n_patches, index.n_longterm):
                raise IndexOutOfSyncError(
                    self.folder,
                    f"memory.db has {state.keyframes} keyframes / {state.patches} patches / "
                    f"{state.longterm} long-term, the index {index.n_keyframes} / {index.n_patches} / "
                    f"{index.n_longterm}",
                )
            with self.index_lock:  # a memory copy; the file I/O below runs without the lock
                serialized = index.serialize(state)
                longterm_version = index.longterm_version
            try:
                written = indexfiles.save(self.folder, state, serialized)
            except OSError as e:
                raise IndexSaveError(self.folder, e) from e
            self.dirty = False
            self.index_problem = None
            if "longterm" in written and not index.longterm_mapped:
                self._map_longterm(index, written["longterm"], longterm_version)

    def _map_longterm(self, index: MemoryIndex, path: Path, version: int) -> None:
        """Serve the long-term tier from the file just saved, so the heap does not hold it."""
        try:
            mapped = indexfiles.map_index(path)
        except (OSError, RuntimeError) as e:  # the tier stays in RAM: answers are the same
            logger.warning("serving the long-term tier of %s from RAM: cannot map %s (%s)", self.folder, path.name, e)
            return
        with self.index_lock:
            if self.index is index and index.longterm_version == version:  # nothing changed it meanwhile
                index.map_longterm(mapped)
            else:
                mapped.file.close()

    def scrub_wal(self, *, strict: bool = True) -> None:
        """Copy the WAL into memory.db and truncate it, so no old page image survives there."""
        busy, _, _ = self.live().execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if busy and strict:
            raise StorageError(self.db_path, "the forget's checkpoint",
                               RuntimeError("a reader held the WAL; the rows are deleted, retry to scrub"))
        if busy:
            logger.info("WAL of %s not truncated: a reader held it; the next checkpoint will", self.folder)
