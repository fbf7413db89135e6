"""MemoryStore: the episodic store of keyframes and enrolled items in one folder (see folder.py).

Every write commits at once (durable when it returns: WAL with synchronous=FULL, see schema.py)
and updates the in-RAM indexes; `save()` writes the index files. A crash loses at most the index
files' freshness, which the next open repairs by rebuilding. Forget methods erase rows, index
entries and the bytes in the folder at once (forget.py); `verify()` lists failed invariants.

One MemoryStore per folder at a time (enforced by the lock). One thread writes and may query through
the store; other threads query through `reader()`; compaction runs on its own thread (compact.py).
"""
from __future__ import annotations

import logging
import os
import sqlite3
import time
from concurrent.futures import Future
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
from sqlite_utils import Database

from memory import inputs, schema, verify, keyframes as keyframe_table, thumbnails as thumbnail_table
from memory.alerts import Alerts
from memory import items as items_table
from memory import places as place_table
from memory.compact import CompactResult, Compaction
from memory.config import StoreConfig
from memory.context import StoreContext
from memory.errors import (CorruptDatabaseError, IndexOutOfSyncError, IndexSaveError, InvalidInputError,
                           MemoryInUseError, MemoryPausedError, MemoryStoreError, StorageError)
from memory.folder import DB_FILE, FolderLock, keep_reserve, make_private_file, make_private_folder
from memory.forget import Forgetting
from memory.pause import Pause
from memory.replays import Replays
from memory.index import PATCH_ID_STRIDE, patch_ids
from memory.reads import MemoryReader
from memory.types import ForgetResult, ItemRecord, KeyframeHit, KeyframeRecord, PatchHit, PlaceName

logger = logging.getLogger(__name__)


class MemoryStore:
    """The episodic store of one folder. Create it with `MemoryStore.open`; close it (or use `with`).

    It owns the writer's connection, the index and the locks (its StoreContext: context.py), writes
    keyframes, items and place names, and answers the rest through three collaborators: its
    MemoryReader (queries: reads.py), Forgetting (forget.py) and Compaction (compact.py). Time
    windows are open intervals, `t_after < t < t_before`: a query at t sees only what came before.
    """

    def __init__(self, context: StoreContext, lock: FolderLock | None, embedding_space: str | None) -> None:
        """Private: use `MemoryStore.open`."""
        self.folder = context.folder
        self.config = context.config
        self.embedding_dim = context.layout.embedding_dim
        self.patch_dim = context.layout.patch_dim
        self.embedding_space = embedding_space
        self._ctx = context
        self._folder_lock = lock
        self._queries = MemoryReader(context)  # the owner thread's queries, on their own connection
        self._forgetting = Forgetting(context, self._queries)
        self._compaction = Compaction(context, self._forgetting)
        self.replays = Replays(context, self._forgetting)  # sessions replayed in, by content (replays.py)
        self.pause = Pause(context)  # the wearer's pause: add_keyframe refuses while it is on (pause.py)
        self.thumbnails = thumbnail_table.Thumbnails(context)  # a picture for a keyframe stored without one
        self.alerts = Alerts(context)  # the left-behind alerts raised, with their evidence keyframes (alerts.py)

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
        read_only: bool = False,
    ) -> MemoryStore:
        """Open the memory in `folder`, creating it (and the folder) when it does not exist yet.

        The dims may be left out for an existing memory (they are read from memory.db); when
        given they must match. So must `embedding_space`, the encoder's name for its space, once
        the memory records one (a memory created without it adopts the first one given).
        `repair=False` rebuilds a stale or damaged index in RAM only and leaves the files for
        `verify()` to report. `create=False` refuses a folder with no memory. `read_only=True` writes
        nothing (no lock, no migration, no index files); every write raises ReadOnlyMemoryError.
        """
        dims = {"embedding_dim": embedding_dim, "patch_dim": patch_dim}
        for name, value in dims.items():
            if value is not None:
                inputs.whole_number(value, name, minimum=1)
        folder = Path(folder)
        db_path = folder / DB_FILE
        if (read_only or not create) and not db_path.is_file():
            raise InvalidInputError(f"{folder} holds no memory ({DB_FILE} is missing); check --memory")
        if db_path.is_file() and db_path.stat().st_size == 0:  # damage (a lost write), not a new memory
            raise CorruptDatabaseError(db_path, "it is empty: 0 bytes")
        if not read_only:
            make_private_folder(folder)
        lock = None if read_only else FolderLock(folder)
        db: Database | None = None
        store: MemoryStore | None = None
        try:
            if not read_only:
                make_private_file(db_path)
            try:
                config = config or StoreConfig()
                # the WAL is checkpointed at a quarter of the disk reserve, so that on a full disk
                # the reserve can take in what the WAL still holds (see Forgetting.erase)
                db = schema.connect(db_path, config.synchronous, read_only, config.reserve_bytes // 4)
                schema.migrate(db, db_path, read_only)
                context = StoreContext(folder, db, config, read_only)
                space = context.init_meta(embedding_dim, patch_dim, embedding_space)
                store = cls(context, lock, space)
                context.load_index(repair and not read_only)
            except sqlite3.OperationalError as e:
                if "locked" in str(e):
                    raise MemoryInUseError(folder) from e
                raise CorruptDatabaseError(db_path, str(e)) from e
            except sqlite3.DatabaseError as e:
                raise CorruptDatabaseError(db_path, str(e)) from e
        except BaseException:
            if store is not None:
                store._queries.close()
            if db is not None:
                db.close()
            if lock is not None:
                lock.close()
            raise
        if not read_only:
            keep_reserve(folder, store.config.reserve_bytes)
            store.replays.recover()  # a replay a killed process left under way is undone first
        logger.info("opened %s: %d keyframes, %d items", folder, store.count(), items_table.count(db))
        return store

    @classmethod
    def open_existing(cls, folder: Path | str, *, config: StoreConfig | None = None,
                      repair: bool = True) -> MemoryStore:
        """Open a memory that must exist, with the dims it was created with (for `ami memory`);
        read-only when its folder cannot be written (a read-only mount, no write permission)."""
        read_only = Path(folder).is_dir() and not os.access(folder, os.W_OK)
        return cls.open(folder, config=config, repair=repair, create=False, read_only=read_only)

    def rebuild_index(self) -> None:
        """Rebuild the FAISS indexes from memory.db and save them (for `ami memory rebuild`)."""
        self._ctx.rebuild_index()

    def save(self) -> None:
        """Commit, and write the index files atomically if they changed (see indexfiles.py).

        Raises IndexSaveError (with the database and the previous index files intact) when the
        files cannot be written, for example on a full disk; the store stays usable.
        """
        self._ctx.save()

    def close(self) -> None:
        """Save and release the folder. Closing twice is harmless. Index files that cannot be
        written (a full disk) are logged, not raised: memory.db holds everything, and the next
        open rebuilds the index from it."""
        ctx = self._ctx
        if ctx.db is None:
            return
        try:
            self._compaction.stop()
            try:
                ctx.save()
            except IndexSaveError as e:
                logger.warning("%s", e)
        finally:
            self._queries.close()
            ctx.db.close()
            ctx.db = None
            if self._folder_lock is not None:
                self._folder_lock.close()
            logger.debug("closed %s", self.folder)

    def __enter__(self) -> MemoryStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is None:
            self.close()
            return
        try:  # the error that ended the block is the one to report: closing's own only joins it
            self.close()
        except (MemoryStoreError, sqlite3.Error) as e:
            exc.add_note(f"closing the memory at {self.folder} then also failed: {e}")

    def __repr__(self) -> str:
        state = "closed" if self._ctx.db is None else f"{self._ctx.index.n_keyframes} keyframes"
        return f"MemoryStore({str(self.folder)!r}, D={self.embedding_dim}, Dp={self.patch_dim}, {state})"

    def _live(self) -> Database:
        """The writer's connection (StoreClosedError once closed); fault tests and benchmarks use it."""
        return self._ctx.live()

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
        thumbnail: tuple[bytes, int] | None = None,
    ) -> int:
        """Store one keyframe and index it; returns its id once it is durable (acknowledged).

        Vectors are stored as given; patches as float16, and searches score the stored values, as
        `patches(id)` returns. `recorded_at` is the wall clock (Unix s, default now), which
        `forget_recorded_since` and retention go by. `thumbnail`: (JPEG bytes, face regions blurred
        in it), stored in the same transaction (memory/thumbnails.py). MemoryPausedError while paused.
        """
        ctx = self._ctx
        if self.pause.on:
            raise MemoryPausedError(self.folder)
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
        jpeg = None if thumbnail is None else inputs.jpeg(*thumbnail)
        with ctx.write_lock:
            with ctx.change(f"keyframe t={t} of {session!r}") as db:
                keyframe_id = keyframe_table.insert(db, t, frame, session, pose_, (grid_h, grid_w), embedding,
                                                    patches16, recorded)
                if jpeg is not None:
                    thumbnail_table.insert(db, keyframe_id, *jpeg)
            # Indexed after the commit, so a concurrent query never sees an id without its row.
            try:
                with ctx.index_lock:
                    ctx.index.add(np.array([keyframe_id], np.int64), embedding[None, :],
                                  patch_ids(keyframe_id, grid_h * grid_w), patches16.astype(np.float32))
            except (RuntimeError, MemoryError) as e:
                raise IndexOutOfSyncError(self.folder, f"keyframe {keyframe_id} is stored but not indexed") from e
        return keyframe_id

    def enroll_item(self, name: str, t: float, prototypes: np.ndarray, threshold: float, *,
                    recorded_at: float | None = None) -> ItemRecord:
        """Enroll `name` with prototypes (K, Dp) float32. Re-enrolling the same name appends the
        prototypes, replaces the threshold and keeps the first enrollment time."""
        db = self._ctx.writer(f"item {name!r}")
        recorded = time.time() if recorded_at is None else inputs.finite_float(recorded_at, "recorded_at")
        try:
            return items_table.enroll(db, self._ctx.db_path, self.patch_dim, name, t, prototypes, threshold,
                                      recorded)
        except sqlite3.OperationalError as e:
            raise StorageError(self._ctx.db_path, f"item {name!r}", e) from e

    def name_place(self, name: str, x: float, z: float, t: float, session: str, *, replace_radius_m: float,
                   recorded_at: float | None = None) -> PlaceName:
        """The wearer called where they stand (x, z) `name`; names within replace_radius_m go."""
        recorded = time.time() if recorded_at is None else inputs.finite_float(recorded_at, "recorded_at")
        try:
            db = self._ctx.writer(f"place name {name!r}")
            return place_table.name_place(db, name, x, z, t, session, recorded, replace_radius_m)
        except sqlite3.OperationalError as e:
            raise StorageError(self._ctx.db_path, f"place name {name!r}", e) from e

    def reader(self) -> MemoryReader:
        """A reader for queries from another thread (see MemoryReader); close it before the store."""
        self._live()
        return MemoryReader(self._ctx)

    def snapshot(self, path: Path) -> None:
        """A compact copy of memory.db as of the last commit, in the new file `path` (VACUUM INTO)."""
        db = self._live()
        db.commit()
        try:
            db.execute("VACUUM INTO ?", (str(path),))
        except sqlite3.OperationalError as e:
            raise StorageError(path, "a snapshot", e) from e

    # ---- integrity ------------------------------------------------------------------------

    def verify(self, full: bool = False) -> list[str]:
        """Each failed invariant as one line, none when sound (verify.py); `full`: every vector."""
        ctx = self._ctx
        db = ctx.live()
        db.commit()
        failed = verify.check_database(db, self.embedding_dim, self.patch_dim, ctx.generation)
        expected = verify.expected_ids(db)
        failed += verify.check_index(ctx.index, expected, "in RAM") + verify.check_vectors(ctx, expected[0], full)
        if ctx.index_problem is not None:
            failed.append(f"saved index: {ctx.index_problem}; run `ami memory rebuild --memory {self.folder}`")
        elif not ctx.dirty:
            failed += verify.check_saved(self.folder, ctx.db_state(), expected)
        return failed + verify.check_leftovers(self.folder)

    # ---- queries: the store's own MemoryReader --------------------------------------------

    def item(self, name: str) -> ItemRecord | None:
        """The enrolled item called exactly `name`, or None."""
        return self._queries.item(name)

    def items(self) -> list[ItemRecord]:
        """All enrolled items, oldest enrollment first."""
        return self._queries.items()

    def search_patches(self, queries: np.ndarray, *, min_score: float, t_before: float | None = None,
                       t_after: float | None = None) -> list[PatchHit]:
        """Every stored patch scoring >= min_score against any query (Q, Dp); see MemoryReader."""
        return self._queries.search_patches(queries, min_score=min_score, t_before=t_before, t_after=t_after)

    def search_keyframes(self, query: np.ndarray, k: int, t_before: float | None = None, *,
                         t_after: float | None = None, near: tuple[float, float, float] | None = None,
                         item: str | None = None) -> list[KeyframeHit]:
        """The k keyframes scoring highest against `query` (D,), filtered; see MemoryReader."""
        return self._queries.search_keyframes(query, k, t_before, t_after=t_after, near=near, item=item)

    def keyframe(self, keyframe_id: int) -> KeyframeRecord:
        """The keyframe with this id; raises KeyframeNotFoundError if there is none."""
        return self._queries.keyframe(keyframe_id)

    def embedding(self, keyframe_id: int) -> np.ndarray:
        """The keyframe's embedding: (D,) float32."""
        return self._queries.embedding(keyframe_id)

    def patches(self, keyframe_id: int) -> np.ndarray:
        """The keyframe's patches as stored (float16 values): (grid_h * grid_w, Dp) float32."""
        return self._queries.patches(keyframe_id)

    def grid(self, keyframe_id: int) -> tuple[int, int]:
        """The keyframe's patch grid (grid_h, grid_w)."""
        return self._queries.grid(keyframe_id)

    def count(self) -> int:
        """Number of stored keyframes."""
        return self._queries.count()

    def count_recorded_before(self, recorded_before: float) -> int:
        """Number of keyframes stored before the wall clock `recorded_before`, of any session."""
        return self._queries.count_recorded_before(recorded_before)

    def last_keyframe(self) -> KeyframeRecord | None:
        """The keyframe last recorded by the wall clock, or None when empty."""
        return self._queries.last_keyframe()

    def place_names(self) -> list[PlaceName]:
        """The wearer's names for places, oldest first."""
        return self._queries.place_names()

    def stats(self) -> dict[str, Any]:
        """Counts and sizes (see MemoryReader.stats)."""
        return self._queries.stats()

    # ---- forget and compaction (forget.py, compact.py); dry_run=True counts, erases nothing -

    def forget_between(self, t0: float, t1: float, *, session: str | None = None,
                       dry_run: bool = False) -> ForgetResult:
        """Forget keyframes with t0 <= t <= t1 (session clock; one session's only if given), and
        items enrolled and places named in that span."""
        return self._forgetting.between(t0, t1, session=session, dry_run=dry_run)

    def forget_recorded_since(self, since_unix: float, *, dry_run: bool = False) -> ForgetResult:
        """Forget keyframes, items and place names stored at or after `since_unix` (wall clock):
        "the last 10 minutes" is `forget_recorded_since(time.time() - 600)`."""
        return self._forgetting.recorded_since(since_unix, dry_run=dry_run)

    def forget_near(self, x: float, z: float, radius_m: float, *, dry_run: bool = False) -> ForgetResult:
        """Forget keyframes whose camera was within radius_m of (x, z), and place names anchored there."""
        return self._forgetting.near(x, z, radius_m, dry_run=dry_run)

    def forget_item(self, name: str, *, dry_run: bool = False) -> ForgetResult:
        """Forget the item and every keyframe with a patch scoring >= its threshold against it."""
        return self._forgetting.item(name, dry_run=dry_run)

    def forget_all(self, *, dry_run: bool = False) -> ForgetResult:
        """Forget every keyframe, item and place name; the memory's identity and dims stay."""
        return self._forgetting.everything(dry_run=dry_run)

    def compact(self, now: float | None = None) -> CompactResult:
        """Apply the retention policy as of `now` (Unix s, default: the wall clock)."""
        return self._compaction.run(now)

    def compact_in_background(self, now: float | None = None) -> Future[CompactResult]:
        """Run `compact(now)` on the store's background thread; returns its future."""
        return self._compaction.in_background(now)

