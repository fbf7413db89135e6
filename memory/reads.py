"""MemoryReader: the queries of the episodic store (items, keyframes, searches, stats).

The store answers its own queries through one MemoryReader and delegates to it; other threads
query through their own (`MemoryStore.reader()`).

Searches go through the FAISS index and then memory.db: an index id without a row is dropped
(and logged), so a search never returns a keyframe that does not exist (see keyframes.times).
Time windows are open intervals: `t_after < t < t_before`.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np
from sqlite_utils import Database

from memory import indexfiles, inputs, schema
from memory import items as items_table
from memory import keyframes as keyframe_table
from memory import places as place_table
from memory import alerts as alert_table
from memory import thumbnails as thumbnail_table
from memory.errors import InvalidInputError, ItemNotFoundError, StoreClosedError
from memory.folder import DB_FILE, file_bytes
from memory.index import split_patch_ids
from memory.keyframes import ids_near
from memory.alerts import AlertRecord
from memory.types import ItemRecord, KeyframeHit, KeyframeRecord, PatchHit, PlaceName

if TYPE_CHECKING:
    from memory.context import StoreContext
    from memory.store import MemoryStore

# Anything that answers the queries: the store itself, or a reader of another thread.
StoreReads: TypeAlias = "MemoryStore | MemoryReader"


def time_window(t_before: float | None, t_after: float | None) -> tuple[float, float]:
    """(lo, hi) of the open time window lo < t < hi; a missing side is infinite."""
    lo = -np.inf if t_after is None else inputs.finite_float(t_after, "t_after")
    hi = np.inf if t_before is None else inputs.finite_float(t_before, "t_before")
    return lo, hi


class MemoryReader:
    """Queries over one read-only SQLite connection (WAL: never blocked by the writer), sharing
    the store's in-RAM index under its index lock. The store answers its own queries through one;
    `MemoryStore.reader()` makes another for a thread of its own, which uses it from that thread
    only and closes it before the store."""

    def __init__(self, context: StoreContext) -> None:
        self._ctx = context
        self.folder = context.folder
        self.embedding_dim = context.layout.embedding_dim
        self.patch_dim = context.layout.patch_dim
        self.config = context.config
        self._conn: sqlite3.Connection | None = schema.connect_reader(context.db_path)

    def _reading(self) -> Database:
        if self._conn is None:
            raise StoreClosedError(self.folder)
        return self._conn  # type: ignore[return-value]  # the reads use only .execute()

    def close(self) -> None:
        """Close the connection. Closing twice is harmless."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> MemoryReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def item(self, name: str) -> ItemRecord | None:
        """The enrolled item called exactly `name`, or None."""
        return items_table.get(self._reading(), self._ctx.db_path, self.patch_dim, name)

    def items(self) -> list[ItemRecord]:
        """All enrolled items, oldest enrollment first."""
        return items_table.list_all(self._reading(), self._ctx.db_path, self.patch_dim)

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
        db = self._reading()
        queries = inputs.float_array(queries, "queries", (None, self.patch_dim))
        min_score = inputs.finite_float(min_score, "min_score")
        window = time_window(t_before, t_after)
        with self._ctx.index_lock:
            ids, scores = self._ctx.index.range_search_patches(queries, min_score)
        if ids.size == 0:
            return []
        unique_ids, inverse = np.unique(ids, return_inverse=True)
        best = np.full(unique_ids.shape, -np.inf, np.float32)
        np.maximum.at(best, inverse, scores)  # best score per patch over the queries
        keyframe_ids, cells = split_patch_ids(unique_ids)
        rows = keyframe_table.times(db, self._ctx.layout, np.unique(keyframe_ids).tolist(), window)
        hits = [
            PatchHit(keyframe_id=k, cell=c, score=s, t=rows[k][0], frame=rows[k][1], recorded_at=rows[k][2])
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
        near: tuple[float, float, float] | None = None,
        item: str | None = None,
    ) -> list[KeyframeHit]:
        """The k keyframes whose embeddings score highest against `query`, best first, among
        those with t_after < t < t_before, taken within `near` = (x, z, radius_m) of a place, and
        showing `item` (a patch >= its threshold against its prototypes; recent tier only).
        The filters are applied inside the FAISS search, so k hits come back when k exist."""
        db = self._reading()
        query = inputs.float_array(query, "query", (self.embedding_dim,))
        k = inputs.whole_number(k, "k", minimum=1)
        window = time_window(t_before, t_after)
        allowed = None
        if t_before is not None or t_after is not None:
            allowed = keyframe_table.ids_in_window(db, window)
        if near is not None:
            if not isinstance(near, (tuple, list)) or len(near) != 3:
                raise InvalidInputError(f"near must be (x, z, radius_m), got {near!r}")
            x, z, r = (inputs.finite_float(v, f"near[{i}]") for i, v in enumerate(near))
            in_place = ids_near(db, x, z, r)
            allowed = in_place if allowed is None else np.intersect1d(allowed, in_place)
        if item is not None:
            record = self.item(item)
            if record is None:
                raise ItemNotFoundError(item, [i.name for i in self.items()])
            hits = self.search_patches(record.prototypes, min_score=record.threshold)
            seen = np.unique(np.array([h.keyframe_id for h in hits], np.int64))
            allowed = seen if allowed is None else np.intersect1d(allowed, seen)
        if allowed is not None and allowed.size == 0:
            return []
        with self._ctx.index_lock:
            index = self._ctx.index
            ids, scores, long_ids = index.search_keyframes(query, k, allowed, k * self.config.candidates_per_hit)
        if long_ids.size:  # long-term candidates come from compressed codes: rerank them exactly
            exact = keyframe_table.embeddings(db, self._ctx.layout, long_ids.tolist())
            long_ids = np.array(list(exact), np.int64)
            long_scores = np.array([float(exact[i] @ query) for i in exact.keys()], np.float32)
            ids, scores = np.concatenate([ids, long_ids]), np.concatenate([scores, long_scores])
            best = np.argsort(-scores, kind="stable")[:k]
            ids, scores = ids[best], scores[best]
        rows = keyframe_table.times(db, self._ctx.layout, ids.tolist(), window)
        return [
            KeyframeHit(keyframe_id=i, score=s, t=rows[i][0], frame=rows[i][1])
            for i, s in zip(ids.tolist(), scores.tolist())
            if i in rows
        ]

    def keyframe(self, keyframe_id: int) -> KeyframeRecord:
        """The keyframe with this id; raises KeyframeNotFoundError if there is none."""
        return keyframe_table.record(self._reading(), int(keyframe_id))

    def embedding(self, keyframe_id: int) -> np.ndarray:
        """The keyframe's embedding: (D,) float32."""
        return keyframe_table.embedding(self._reading(), self._ctx.layout, int(keyframe_id))

    def patches(self, keyframe_id: int) -> np.ndarray:
        """The keyframe's patches as stored (float16 values): (grid_h * grid_w, Dp) float32."""
        return keyframe_table.patches(self._reading(), self._ctx.layout, int(keyframe_id))

    def grid(self, keyframe_id: int) -> tuple[int, int]:
        """The keyframe's patch grid (grid_h, grid_w); cell c is row c // grid_w, column c % grid_w."""
        return keyframe_table.grid(self._reading(), int(keyframe_id))

    def count(self) -> int:
        """Number of stored keyframes."""
        return keyframe_table.counts(self._reading())[0]

    def count_recorded_before(self, recorded_before: float) -> int:
        """Number of keyframes stored before the wall clock `recorded_before` (Unix s), of any session."""
        return keyframe_table.count_recorded_before(self._reading(), inputs.finite_float(recorded_before,
                                                                                          "recorded_before"))

    def last_keyframe(self) -> KeyframeRecord | None:
        """The keyframe last recorded by the wall clock (keyframes.last), or None when empty."""
        return keyframe_table.last(self._reading())

    def keyframe_at(self, t: float, frame: int) -> KeyframeRecord | None:
        """The keyframe of (t, frame), an answer's evidence; of several sessions, the latest stored."""
        return keyframe_table.at(self._reading(), float(t), int(frame))

    def thumbnail(self, keyframe_id: int) -> bytes | None:
        """The keyframe's evidence JPEG (faces blurred), or None when it has none (memory/thumbnails.py)."""
        return thumbnail_table.get(self._reading(), int(keyframe_id))

    def timeline(self, since_unix: float | None = None, until_unix: float | None = None,
                 limit: int = 10_000) -> list[tuple[KeyframeRecord, bool]]:
        """(keyframe, has a thumbnail) of the keyframes stored since <= recorded_at <
        until (wall clock; None: open), in time order, at most `limit` (the latest)."""
        lo = -np.inf if since_unix is None else inputs.finite_float(since_unix, "since")
        hi = np.inf if until_unix is None else inputs.finite_float(until_unix, "until")
        return keyframe_table.timeline(self._reading(), (lo, hi), int(limit))

    def alerts(self, since_unix: float | None = None, until_unix: float | None = None) -> list[AlertRecord]:
        """The left-behind alerts raised since <= recorded_at < until (wall clock; None: open), oldest first."""
        lo = -np.inf if since_unix is None else inputs.finite_float(since_unix, "since")
        hi = np.inf if until_unix is None else inputs.finite_float(until_unix, "until")
        return alert_table.between(self._reading(), lo, hi)

    def place_names(self) -> list[PlaceName]:
        """The wearer's names for places ("this is the kitchen"), oldest first."""
        return place_table.list_all(self._reading())

    def stats(self) -> dict[str, Any]:
        """Counts and sizes: keyframes (both tiers), longterm (keyframes in the long-term tier),
        patches, items, place_names, db_bytes (with the WAL), index_bytes, total_bytes; and the
        wall clock (Unix s, None when empty) of the first and the last keyframe: first_seen, last_seen;
        thumbnails, thumbnail_bytes and faces_blurred (in the stored thumbnails); alerts raised; wear_s (the
        wall-clock time the keyframes span, time off the glasses not counted) and bytes_per_wear_hour."""
        n_keyframes, n_patches, n_long = keyframe_table.counts(self._reading())
        first, last = keyframe_table.recorded_span(self._reading())
        n_thumbs, thumb_bytes, faces = thumbnail_table.counts(self._reading())
        db_bytes = file_bytes(self.folder, (DB_FILE, DB_FILE + "-wal", DB_FILE + "-shm"))
        names = (*indexfiles.referenced_files(self.folder), indexfiles.SIDECAR_FILE)
        index_bytes = file_bytes(self.folder, names)
        return {
            "keyframes": n_keyframes,
            "longterm": n_long,
            "patches": n_patches,
            "items": items_table.count(self._reading()),
            "place_names": place_table.count(self._reading()),
            "db_bytes": db_bytes,
            "index_bytes": index_bytes,
            "total_bytes": db_bytes + index_bytes,
            "first_seen": first,
            "last_seen": last,
            "thumbnails": n_thumbs,
            "thumbnail_bytes": thumb_bytes,
            "faces_blurred": faces,
            "alerts": alert_table.count(self._reading()),
            "wear_s": (wear := keyframe_table.wear_s(self._reading())),
            "bytes_per_wear_hour": (db_bytes + index_bytes) * 3600.0 / wear if wear > 0 else None,
        }
