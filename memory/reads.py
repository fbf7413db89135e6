"""Reads of the episodic store: items, keyframes, searches and stats; the base of MemoryStore.

Searches go through the FAISS index and then memory.db: an index id without a row is dropped
(and logged), so a search never returns a keyframe that does not exist (see keyframes.times).
Time windows are open intervals: `t_after < t < t_before`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sqlite_utils import Database

from memory import indexfiles, inputs
from memory import items as items_table
from memory import keyframes as keyframe_table
from memory.folder import DB_FILE, file_bytes
from memory.index import MemoryIndex, split_patch_ids
from memory.indexfiles import IndexState
from memory.types import ItemRecord, KeyframeHit, KeyframeRecord, PatchHit


def time_window(t_before: float | None, t_after: float | None) -> tuple[float, float]:
    """(lo, hi) of the open time window lo < t < hi; a missing side is infinite."""
    lo = -np.inf if t_after is None else inputs.finite_float(t_after, "t_after")
    hi = np.inf if t_before is None else inputs.finite_float(t_before, "t_before")
    return lo, hi


class StoreReads:
    """The read side of MemoryStore; the attributes are set by MemoryStore."""

    folder: Path
    embedding_dim: int
    patch_dim: int
    _db_path: Path
    _layout: keyframe_table.Layout
    _index: MemoryIndex

    def _live(self) -> Database:
        raise NotImplementedError("MemoryStore implements _live")

    def _db_state(self) -> IndexState:
        raise NotImplementedError("MemoryStore implements _db_state")

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
        window = time_window(t_before, t_after)
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
        window = time_window(t_before, t_after)
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
        return keyframe_table.count_in_window(self._live(), time_window(t_before, None))

    def last_keyframe(self) -> KeyframeRecord | None:
        """The keyframe with the latest t (the highest id among equal t), or None when empty."""
        return keyframe_table.last(self._live())

    def stats(self) -> dict[str, int]:
        """Counts and sizes: keyframes, patches, items, db_bytes (with the WAL), index_bytes, total_bytes."""
        state = self._db_state()
        db_bytes = file_bytes(self.folder, (DB_FILE, DB_FILE + "-wal", DB_FILE + "-shm"))
        names = (*indexfiles.referenced_files(self.folder), indexfiles.SIDECAR_FILE)
        index_bytes = file_bytes(self.folder, names)
        return {
            "keyframes": state.keyframes,
            "patches": state.patches,
            "items": items_table.count(self._live()),
            "db_bytes": db_bytes,
            "index_bytes": index_bytes,
            "total_bytes": db_bytes + index_bytes,
        }
