"""MemoryStore: the episodic store of keyframes and enrolled items in one folder (see folder.py).

Every write commits at once (cheap with WAL and synchronous=NORMAL, see schema.py) and updates the
in-RAM indexes; `save()` makes the database durable and writes the index files. A crash loses at
most the index files' freshness, which the next open repairs by rebuilding.

One MemoryStore per folder at a time (enforced by the lock), used from one thread.
"""

from __future__ import annotations

import logging
import sqlite3
import uuid
from pathlib import Path
from types import TracebackType

import numpy as np
from sqlite_utils import Database

from memory import inputs, schema
from memory import keyframes as keyframe_table
from memory import items as items_table
from memory.errors import (
    CorruptDatabaseError,
    DimensionMismatchError,
    IndexOutOfSyncError,
    InvalidInputError,
    MemoryInUseError,
    StoreClosedError,
)
from memory.folder import DB_FILE, FolderLock, file_bytes, make_private_file, make_private_folder
from memory.index import (
    KEYFRAMES_FILE,
    PATCH_ID_STRIDE,
    PATCHES_FILE,
    SIDECAR_FILE,
    IndexState,
    MemoryIndex,
    patch_ids,
    split_patch_ids,
)
from memory.types import ItemRecord, KeyframeHit, KeyframeRecord, PatchHit

logger = logging.getLogger(__name__)

_REBUILD_BATCH = 512  # keyframes per FAISS add while rebuilding


def _window(t_before: float | None, t_after: float | None) -> tuple[float, float]:
    """(lo, hi) of the open time window lo < t < hi; a missing side is infinite."""
    lo = -np.inf if t_after is None else inputs.finite_float(t_after, "t_after")
    hi = np.inf if t_before is None else inputs.finite_float(t_before, "t_before")
    return lo, hi


class MemoryStore:
    """The episodic store of one folder. Create it with `MemoryStore.open`; close it (or use `with`).

    Time windows are open intervals: `t_after < t < t_before`, so a query at time t sees only what
    came strictly before t.
    """

    def __init__(
        self, folder: Path, db: Database, lock: FolderLock, embedding_dim: int, patch_dim: int
    ) -> None:
        """Private: use `MemoryStore.open`."""
        self.folder = folder
        self.embedding_dim = embedding_dim
        self.patch_dim = patch_dim
        self._db_path = folder / DB_FILE
        self._layout = keyframe_table.Layout(self._db_path, embedding_dim, patch_dim)
        self._db: Database | None = db
        self._lock = lock
        self._index = MemoryIndex(embedding_dim, patch_dim)
        self._store_id = ""
        self._generation = 0
        self._dirty = False

    # ---- open and close -------------------------------------------------------------------

    @classmethod
    def open(cls, folder: Path | str, *, embedding_dim: int, patch_dim: int) -> MemoryStore:
        """Open the memory in `folder`, creating it (and the folder) when it does not exist yet."""
        embedding_dim = inputs.whole_number(embedding_dim, "embedding_dim", minimum=1)
        patch_dim = inputs.whole_number(patch_dim, "patch_dim", minimum=1)
        folder = Path(folder)
        make_private_folder(folder)
        lock = FolderLock(folder)
        db: Database | None = None
        db_path = folder / DB_FILE
        try:
            make_private_file(db_path)
            try:
                db = schema.connect(db_path)
                schema.migrate(db, db_path)
                store = cls(folder, db, lock, embedding_dim, patch_dim)
                store._init_meta()
                store._load_index()
            except sqlite3.OperationalError as e:
                if "locked" in str(e):
                    raise MemoryInUseError(folder) from e
                raise CorruptDatabaseError(db_path, str(e)) from e
            except sqlite3.DatabaseError as e:
                raise CorruptDatabaseError(db_path, str(e)) from e
        except BaseException:
            if db is not None:
                db.close()
            lock.close()
            raise
        logger.info("opened %s: %d keyframes, %d items", folder, store.count(), items_table.count(db))
        return store

    def _init_meta(self) -> None:
        db = self._live()
        meta = schema.read_meta(db)
        if schema.META_EMBEDDING_DIM not in meta:
            with db.atomic():
                schema.write_meta(db, schema.META_EMBEDDING_DIM, str(self.embedding_dim))
                schema.write_meta(db, schema.META_PATCH_DIM, str(self.patch_dim))
                schema.write_meta(db, schema.META_GENERATION, "0")
                schema.write_meta(db, schema.META_STORE_ID, uuid.uuid4().hex)
            meta = schema.read_meta(db)
        try:
            keys = (schema.META_EMBEDDING_DIM, schema.META_PATCH_DIM, schema.META_GENERATION)
            stored = {key: int(meta[key]) for key in keys}
            self._store_id = meta[schema.META_STORE_ID]
        except (KeyError, ValueError) as e:
            raise CorruptDatabaseError(self._db_path, f"meta table is incomplete: {e}") from e
        requested = {schema.META_EMBEDDING_DIM: self.embedding_dim, schema.META_PATCH_DIM: self.patch_dim}
        for key, value in requested.items():
            if stored[key] != value:
                raise DimensionMismatchError(self.folder, key, stored[key], value)
        self._generation = stored[schema.META_GENERATION]

    def _db_state(self) -> IndexState:
        n_keyframes, n_patches = keyframe_table.counts(self._live())
        return IndexState(
            store_id=self._store_id,
            generation=self._generation,
            keyframes=int(n_keyframes),
            patches=int(n_patches),
            embedding_dim=self.embedding_dim,
            patch_dim=self.patch_dim,
        )

    def _load_index(self) -> None:
        state = self._db_state()
        index, why = MemoryIndex.load(self.folder, state)
        if index is None:
            # An empty memory (a new one) has nothing to rebuild, so it is not worth a warning.
            log = logger.warning if state.keyframes else logger.debug
            log("rebuilding the search index of %s from memory.db: %s", self.folder, why)
            self.rebuild_index()
        else:
            self._index = index

    def rebuild_index(self) -> None:
        """Rebuild both FAISS indexes from memory.db and save them (for `ami memory rebuild`)."""
        index = MemoryIndex(self.embedding_dim, self.patch_dim)
        rows = keyframe_table.batches(self._live(), self._layout, _REBUILD_BATCH)
        for ids, embeddings, cells, patches in rows:  # (B,), (B, D), B cell counts, (sum cells, Dp)
            patch_ids_ = np.concatenate([patch_ids(int(i), n) for i, n in zip(ids, cells)])
            index.add(ids, embeddings, patch_ids_, patches)
        self._index = index
        self._dirty = True
        self.save()
        logger.info("rebuilt the index of %s: %d keyframes, %d patches", self.folder, index.n_keyframes,
                    index.n_patches)

    def save(self) -> None:
        """Commit, make the database durable, and write the index files atomically if they changed."""
        db = self._live()
        db.commit()
        if not self._dirty:
            return
        # A checkpoint syncs the WAL, so the index files written next never claim rows that a
        # power cut could still take back from the database.
        db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        state = self._db_state()
        if (state.keyframes, state.patches) != (self._index.n_keyframes, self._index.n_patches):
            raise IndexOutOfSyncError(
                self.folder,
                f"memory.db has {state.keyframes} keyframes / {state.patches} patches, the index "
                f"{self._index.n_keyframes} / {self._index.n_patches}",
            )
        self._index.save(self.folder, state)
        self._dirty = False

    def close(self) -> None:
        """Save and release the folder. Closing twice is harmless."""
        if self._db is None:
            return
        try:
            self.save()
        finally:
            self._db.close()
            self._db = None
            self._lock.close()
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
    ) -> int:
        """Store one keyframe and index it; returns its id. Vectors are stored as given.

        Patches are stored as float16; searches score the stored values, as `patches(id)` returns.
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
        indexed = False
        try:
            with db.atomic():
                keyframe_id = keyframe_table.insert(
                    db, t, frame, session, pose_, (grid_h, grid_w), embedding, patches16
                )
                schema.write_meta(db, schema.META_GENERATION, str(self._generation + 1))
                self._index.add(
                    np.array([keyframe_id], np.int64),
                    embedding[None, :],
                    patch_ids(keyframe_id, grid_h * grid_w),
                    patches16.astype(np.float32),
                )
                indexed = True
        except BaseException:
            if indexed:  # the COMMIT failed after the index took the vectors: take them back
                try:
                    self._index.remove(
                        np.array([keyframe_id], np.int64), patch_ids(keyframe_id, grid_h * grid_w)
                    )
                except RuntimeError as e:
                    raise IndexOutOfSyncError(self.folder, f"could not undo keyframe {keyframe_id}") from e
            raise
        self._generation += 1
        self._dirty = True
        return keyframe_id

    def enroll_item(self, name: str, t: float, prototypes: np.ndarray, threshold: float) -> ItemRecord:
        """Enroll `name` with prototypes (K, Dp) float32. Re-enrolling the same name appends the
        prototypes, replaces the threshold and keeps the first enrollment time."""
        db = self._live()
        return items_table.enroll(db, self._db_path, self.patch_dim, name, t, prototypes, threshold)

    # ---- reads ----------------------------------------------------------------------------

    def item(self, name: str) -> ItemRecord | None:
        """The enrolled item called exactly `name`, or None."""
        return items_table.get(self._live(), self._db_path, self.patch_dim, name)

    def items(self) -> list[ItemRecord]:
        """All enrolled items, oldest enrollment first."""
        return items_table.list_all(self._live(), self._db_path, self.patch_dim)

    def search_patches(
        self,
        queries: np.ndarray,  # (Q, Dp) float32
        *,
        min_score: float,
        t_before: float | None = None,
        t_after: float | None = None,
    ) -> list[PatchHit]:
        """Every stored patch scoring >= min_score against any query, best score per (keyframe,
        cell), within t_after < t < t_before, sorted by (t, keyframe_id, cell)."""
        db = self._live()
        queries = inputs.float_array(queries, "queries", (None, self.patch_dim))
        min_score = inputs.finite_float(min_score, "min_score")
        window = _window(t_before, t_after)
        ids, scores = self._index.range_search_patches(queries, min_score)
        if ids.size == 0:
            return []
        unique_ids, inverse = np.unique(ids, return_inverse=True)
        best = np.full(unique_ids.shape, -np.inf, np.float32)
        np.maximum.at(best, inverse, scores)  # best score per patch over the queries
        keyframe_ids, cells = split_patch_ids(unique_ids)
        rows = keyframe_table.times(db, self._layout, np.unique(keyframe_ids).tolist(), window)
        hits = [
            PatchHit(keyframe_id=k, cell=c, score=s, t=rows[k][0], frame=rows[k][1])
            for k, c, s in zip(keyframe_ids.tolist(), cells.tolist(), best.tolist())
            if k in rows
        ]
        hits.sort(key=lambda h: (h.t, h.keyframe_id, h.cell))
        return hits

    def search_keyframes(
        self,
        query: np.ndarray,  # (D,) float32
        k: int,
        t_before: float | None = None,
        *,
        t_after: float | None = None,
    ) -> list[KeyframeHit]:
        """The k keyframes whose embeddings score highest against `query` within
        t_after < t < t_before, best first."""
        db = self._live()
        query = inputs.float_array(query, "query", (self.embedding_dim,))
        k = inputs.whole_number(k, "k", minimum=1)
        window = _window(t_before, t_after)
        allowed = None
        if t_before is not None or t_after is not None:
            allowed = keyframe_table.ids_in_window(db, window)
            if allowed.size == 0:
                return []
        ids, scores = self._index.search_keyframes(query, k, allowed)
        rows = keyframe_table.times(db, self._layout, ids.tolist(), window)
        return [
            KeyframeHit(keyframe_id=i, score=s, t=rows[i][0], frame=rows[i][1])
            for i, s in zip(ids.tolist(), scores.tolist())
            if i in rows
        ]

    def keyframe(self, keyframe_id: int) -> KeyframeRecord:
        """The keyframe with this id; raises KeyframeNotFoundError if there is none."""
        return keyframe_table.record(self._live(), int(keyframe_id))

    def embedding(self, keyframe_id: int) -> np.ndarray:
        """The keyframe's embedding: (D,) float32."""
        return keyframe_table.embedding(self._live(), self._layout, int(keyframe_id))

    def patches(self, keyframe_id: int) -> np.ndarray:
        """The keyframe's patches as stored (float16 values): (grid_h * grid_w, Dp) float32."""
        return keyframe_table.patches(self._live(), self._layout, int(keyframe_id))

    def grid(self, keyframe_id: int) -> tuple[int, int]:
        """The keyframe's patch grid (grid_h, grid_w); cell c is row c // grid_w, column c % grid_w."""
        return keyframe_table.grid(self._live(), int(keyframe_id))

    def count(self) -> int:
        """Number of stored keyframes."""
        return keyframe_table.counts(self._live())[0]

    def count_before(self, t_before: float) -> int:
        """Number of keyframes with t < t_before."""
        return keyframe_table.count_in_window(self._live(), _window(t_before, None))

    def last_keyframe(self) -> KeyframeRecord | None:
        """The keyframe with the latest t (the highest id among equal t), or None when empty."""
        return keyframe_table.last(self._live())

    def stats(self) -> dict[str, int]:
        """Counts and sizes: keyframes, patches, items, db_bytes (with the WAL), index_bytes, total_bytes."""
        state = self._db_state()
        db_bytes = file_bytes(self.folder, (DB_FILE, DB_FILE + "-wal", DB_FILE + "-shm"))
        index_bytes = file_bytes(self.folder, (KEYFRAMES_FILE, PATCHES_FILE, SIDECAR_FILE))
        return {
            "keyframes": state.keyframes,
            "patches": state.patches,
            "items": items_table.count(self._live()),
            "db_bytes": db_bytes,
            "index_bytes": index_bytes,
            "total_bytes": db_bytes + index_bytes,
        }
