"""Forget: which keyframes and items each kind of forget selects, and how their rows are erased.

Semantics (docs/memory.md has the long form):
- between t0 and t1: keyframes with t0 <= t <= t1 on the session clock (optionally of one
  session), and items enrolled (enrolled_t) in that span;
- recorded since (`--last 10m`): keyframes and items stored (wall clock `recorded_at`) at or
  after a Unix time;
- near (x, z, radius_m): keyframes whose camera position is within radius_m of (x, z) on the
  floor plane; keyframes without a pose are never selected; items are kept;
- place names ("this is the kitchen") go with the time span, the recording span, the place or
  everything that covers them; forgetting an item keeps them;
- item: the item's row (name, prototypes, threshold) and every keyframe holding a sighting of
  it, i.e. a patch scoring >= its threshold against any of its prototypes (the same rule the
  assistant uses to find it), at any time;
- everything: every keyframe and item; the memory's identity and dims stay.

Rows are deleted in one transaction with secure_delete on (zeros over the freed bytes); the
store then rewrites the index and truncates the WAL, so no copy survives in the folder.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING

import numpy as np
from sqlite_utils import Database

from memory import alerts, indexfiles, inputs, thumbnails
from memory.errors import IndexSaveError, InvalidInputError, ItemNotFoundError, StorageError
from memory.folder import release_reserve
from memory.index import patch_ids
from memory.keyframes import ids_near
from memory.places import near as places_near
from memory.replays import drop_emptied
from memory.types import ForgetResult

if TYPE_CHECKING:
    from memory.context import StoreContext
    from memory.reads import MemoryReader

logger = logging.getLogger(__name__)


def ids_between(db: Database, t0: float, t1: float, session: str | None) -> np.ndarray:
    """Keyframe ids with t0 <= t <= t1 (of `session` only, unless None): (N,) int64."""
    sql = "SELECT id FROM keyframes WHERE t >= ? AND t <= ?"
    params: tuple[object, ...] = (t0, t1)
    if session is not None:
        sql, params = sql + " AND session = ?", (*params, session)
    return _ids(db, sql, params)


def items_between(db: Database, t0: float, t1: float) -> list[str]:
    """Names of the items enrolled with t0 <= enrolled_t <= t1."""
    rows = db.execute("SELECT name FROM items WHERE enrolled_t >= ? AND enrolled_t <= ?", (t0, t1))
    return [row[0] for row in rows.fetchall()]


def ids_recorded_since(db: Database, since_unix: float) -> np.ndarray:
    """Keyframe ids stored at or after `since_unix` (wall clock): (N,) int64."""
    return _ids(db, "SELECT id FROM keyframes WHERE recorded_at >= ?", (since_unix,))


def items_recorded_since(db: Database, since_unix: float) -> list[str]:
    """Names of the items (re-)enrolled at or after `since_unix` (wall clock)."""
    rows = db.execute("SELECT name FROM items WHERE recorded_at >= ?", (since_unix,))
    return [row[0] for row in rows.fetchall()]


def ids_recorded_before(db: Database, before_unix: float) -> np.ndarray:
    """Keyframe ids stored before `before_unix` (wall clock; v1 rows with no time are kept)."""
    return _ids(db, "SELECT id FROM keyframes WHERE recorded_at < ?", (before_unix,))


def all_ids(db: Database) -> np.ndarray:
    """Every keyframe id: (N,) int64."""
    return _ids(db, "SELECT id FROM keyframes", ())


def all_items(db: Database) -> list[str]:
    """Every item name."""
    return [row[0] for row in db.execute("SELECT name FROM items").fetchall()]


def cells_of(db: Database, keyframe_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(ids that have a row, their cell counts), in id order."""
    rows = db.execute(
        "SELECT id, grid_h * grid_w FROM keyframes WHERE id IN (SELECT value FROM json_each(?)) ORDER BY id",
        (json.dumps([int(i) for i in keyframe_ids]),),
    ).fetchall()
    return np.array([r[0] for r in rows], np.int64), np.array([int(r[1]) for r in rows], np.int64)


# Which place names a forget removes: a condition on place_names rows, and its parameters.
Places = tuple[str, tuple[object, ...]]
NO_PLACES: Places = ("0", ())


def delete_rows(db: Database, keyframe_ids: np.ndarray, item_names: list[str], places: Places) -> int:
    """Delete the keyframes (with their thumbnails and alerts), items (with their alerts) and place
    names (inside the caller's transaction); returns the number of place names deleted."""
    ids = [int(i) for i in keyframe_ids]
    db.execute("DELETE FROM keyframes WHERE id IN (SELECT value FROM json_each(?))", (json.dumps(ids),))
    thumbnails.delete(db, ids)
    alerts.delete(db, ids, item_names)
    db.execute("DELETE FROM items WHERE name IN (SELECT value FROM json_each(?))", (json.dumps(item_names),))
    drop_emptied(db)
    return int(db.execute(f"DELETE FROM place_names WHERE {places[0]}", places[1]).rowcount)


def _ids(db: Database, sql: str, params: tuple[object, ...]) -> np.ndarray:
    return np.array([row[0] for row in db.execute(sql, params).fetchall()], np.int64)


class Forgetting:
    """The forgets of one store (see the module docstring for what each kind selects): selects
    through the store's reader, erases through its context, under its write lock."""

    def __init__(self, context: StoreContext, reads: MemoryReader) -> None:
        self._ctx = context
        self._reads = reads

    def between(self, t0: float, t1: float, *, session: str | None = None, dry_run: bool = False) -> ForgetResult:
        """Keyframes with t0 <= t <= t1, items enrolled and places named in that span."""
        t0, t1 = inputs.finite_float(t0, "t0"), inputs.finite_float(t1, "t1")
        if t1 < t0:
            raise InvalidInputError(f"t1 must be >= t0, got t0={t0}, t1={t1}")
        db = self._ctx.live()
        named = ("t BETWEEN ? AND ?" + ("" if session is None else " AND session = ?"),
                 (t0, t1) + (() if session is None else (session,)))
        return self.erase(ids_between(db, t0, t1, session), items_between(db, t0, t1), named, dry_run)

    def recorded_since(self, since_unix: float, *, dry_run: bool = False) -> ForgetResult:
        """Keyframes, items and place names stored at or after `since_unix` (wall clock)."""
        since = inputs.finite_float(since_unix, "since_unix")
        db = self._ctx.live()
        return self.erase(ids_recorded_since(db, since), items_recorded_since(db, since),
                          ("recorded_at >= ?", (since,)), dry_run)

    def near(self, x: float, z: float, radius_m: float, *, dry_run: bool = False) -> ForgetResult:
        """Keyframes taken within radius_m of (x, z), and the place names anchored there."""
        x, z = inputs.finite_float(x, "x"), inputs.finite_float(z, "z")
        radius_m = inputs.finite_float(radius_m, "radius_m")
        if radius_m <= 0:
            raise InvalidInputError(f"radius_m must be > 0, got {radius_m}")
        return self.erase(ids_near(self._ctx.live(), x, z, radius_m), [], places_near(x, z, radius_m), dry_run)

    def item(self, name: str, *, dry_run: bool = False) -> ForgetResult:
        """The item and every keyframe with a sighting of it."""
        item = self._reads.item(name)
        if item is None:
            raise ItemNotFoundError(name, [i.name for i in self._reads.items()])
        hits = self._reads.search_patches(item.prototypes, min_score=item.threshold)
        return self.erase(np.unique(np.array([h.keyframe_id for h in hits], np.int64)), [item.name], NO_PLACES, dry_run)

    def everything(self, *, dry_run: bool = False) -> ForgetResult:
        """Every keyframe, item and place name."""
        db = self._ctx.live()
        return self.erase(all_ids(db), all_items(db), ("1", ()), dry_run)

    def erase(self, keyframe_ids: np.ndarray, item_names: list[str], places: Places = NO_PLACES,
              dry_run: bool = False) -> ForgetResult:
        """Delete the rows and index entries, save the index files and truncate the WAL, so no
        copy of what was forgotten survives in the folder. dry_run: only count what would go.

        One transaction: a crash leaves all of it or none. Only on a full disk, once the reserve
        (StoreConfig.reserve_bytes) is given up, do the keyframes go in batches of half of it, the
        WAL truncated after each, so that a forget of any size fits (a crash then leaves the batches
        before it done: forget again)."""
        ctx = self._ctx
        with ctx.write_lock:
            ids, cells = cells_of(ctx.live(), keyframe_ids)
            if dry_run:
                named = int(ctx.live().execute(f"SELECT COUNT(*) FROM place_names WHERE {places[0]}",
                                               places[1]).fetchone()[0])
                return ForgetResult(keyframes=len(ids), items=tuple(sorted(item_names)), place_names=named)
            try:
                named = self._erase_batch(ids, cells, item_names, places)
            except StorageError:
                if not release_reserve(ctx.folder):  # a full disk: the reserve makes room
                    raise
                batches = _batches(cells, 2 * ctx.layout.patch_dim, ctx.config.reserve_bytes // 2)
                for k, batch in enumerate(batches):
                    ctx.scrub_wal(strict=False)  # each batch reuses the WAL's room
                    last = k == len(batches) - 1
                    named = self._erase_batch(ids[batch], cells[batch], item_names if last else [],
                                              places if last else NO_PLACES)
            try:
                ctx.save()  # the old index files held the forgotten vectors: replace them now
            except IndexSaveError as e:  # a full disk: remove them instead; the next open rebuilds
                indexfiles.remove_all(ctx.folder)
                ctx.index_problem = f"removed after a forget that could not save them ({e.__cause__})"
            ctx.scrub_wal()
        logger.info("forgot %d keyframes, %d items and %d place names in %s", len(ids), len(item_names), named,
                    ctx.folder)
        return ForgetResult(keyframes=len(ids), items=tuple(sorted(item_names)), place_names=named)

    def _erase_batch(self, ids: np.ndarray, cells: np.ndarray, item_names: list[str], places: Places) -> int:
        """One transaction of erase (the caller holds the write lock); the number of place names
        deleted. A StorageError leaves the rows and the index as they were."""
        ctx = self._ctx
        pids = np.concatenate([patch_ids(int(i), n) for i, n in zip(ids, cells)]) if len(ids) else ids
        try:
            with ctx.change("the forget") as db:
                named = delete_rows(db, ids, item_names, places)
                # Out of the index before the rows go, so a concurrent query never gets an id
                # without its row.
                with ctx.index_lock:
                    ctx.index.remove(ids, pids)
        except StorageError:
            ctx.index = ctx.index_from_rows()  # the rows stayed: put them back
            raise
        return named


def _batches(cells: np.ndarray, bytes_per_cell: int, max_bytes: int) -> list[np.ndarray]:
    """Index arrays splitting keyframes (with `cells` patches each) into runs of at most max_bytes of
    patches (at least one keyframe each); one run when max_bytes is 0 (no reserve)."""
    if max_bytes <= 0 or len(cells) == 0:
        return [np.arange(len(cells))]
    run = np.cumsum(np.asarray(cells, np.int64) * bytes_per_cell) // max_bytes
    return [np.flatnonzero(run == r) for r in np.unique(run)]
