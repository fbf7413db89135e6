"""The FAISS side of the store: a rebuildable search index over what memory.db holds.

Two exact inner-product indexes, both `IndexIDMap2(IndexFlatIP(dim))`:
- "keyframes": one vector per keyframe, FAISS id = keyframes.id;
- "patches": one vector per patch, FAISS id = keyframe_id * PATCH_ID_STRIDE + cell, where
  cell < PATCH_ID_STRIDE (256) is the row-major cell of the keyframe's grid. The keyframe id is
  `id // 256` and the cell `id % 256`. int64 ids leave room for 2**55 keyframes.

Patch vectors are indexed as stored, i.e. rounded to float16 like memory.db's blob, so an index
rebuilt from the database is identical to one built incrementally.

indexfiles.py saves and loads them (atomic, checksummed, vouched for by the database
generation); `MemoryIndex.load` returns None with the reason when anything disagrees with the
database, and the store then rebuilds from SQLite. Nothing here reads SQLite: the store passes
the rows.
"""

from __future__ import annotations

import logging
from pathlib import Path

import faiss
import numpy as np

from memory import indexfiles
from memory.indexfiles import IndexState

logger = logging.getLogger(__name__)

PATCH_ID_STRIDE = 256  # cells per keyframe at most; see the module docstring
_KNN_FIRST_K = 64  # first k of the k-NN fallback for range search; doubled until complete


def patch_ids(keyframe_id: int, n_cells: int) -> np.ndarray:
    """FAISS ids of cells 0..n_cells-1 of one keyframe: (n_cells,) int64."""
    assert 0 < n_cells <= PATCH_ID_STRIDE, f"n_cells must be in 1..{PATCH_ID_STRIDE}, got {n_cells}"
    return np.int64(keyframe_id) * PATCH_ID_STRIDE + np.arange(n_cells, dtype=np.int64)


def split_patch_ids(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(keyframe ids, cells) of patch FAISS ids, both int64 like `ids`."""
    return ids // PATCH_ID_STRIDE, ids % PATCH_ID_STRIDE


def range_search_by_knn(
    index: faiss.Index, queries: np.ndarray, min_score: float
) -> tuple[np.ndarray, np.ndarray]:
    """Every (id, score) with score >= min_score, via k-NN search with k doubled until complete.

    The fallback for index types without range_search: a query's results are complete once its
    k-th best score is below min_score, or k covers the whole index.
    """
    n = int(index.ntotal)
    if n == 0 or len(queries) == 0:
        return np.empty(0, np.int64), np.empty(0, np.float32)
    k = min(_KNN_FIRST_K, n)
    while True:
        scores, ids = index.search(queries, k)  # (Q, k) each, best first
        if k == n or bool(np.all(scores[:, -1] < min_score)):
            break
        k = min(2 * k, n)
    keep = (ids >= 0) & (scores >= min_score)
    return ids[keep].astype(np.int64), scores[keep].astype(np.float32)


def range_search(index: faiss.Index, queries: np.ndarray, min_score: float) -> tuple[np.ndarray, np.ndarray]:
    """Every (id, score) with score >= min_score over all queries, flat (a pair per query hit).

    FAISS's inner-product range search keeps score > radius (strict), so the radius is the float32
    just below min_score and the >= is applied here.
    """
    if int(index.ntotal) == 0 or len(queries) == 0:
        return np.empty(0, np.int64), np.empty(0, np.float32)
    radius = float(np.nextafter(np.float32(min_score), np.float32(-np.inf)))
    try:
        _, scores, ids = index.range_search(queries, radius)
    except RuntimeError as e:
        if "not implemented" not in str(e):
            raise
        logger.debug("range_search not implemented for %s; using k-NN search", type(index).__name__)
        return range_search_by_knn(index, queries, min_score)
    keep = scores >= min_score
    return ids[keep].astype(np.int64), scores[keep].astype(np.float32)


def _new_index(dim: int) -> faiss.IndexIDMap2:
    return faiss.IndexIDMap2(faiss.IndexFlatIP(dim))


class MemoryIndex:
    """The two FAISS indexes of one memory, in RAM; `save`/`load` move them to and from a folder."""

    def __init__(self, embedding_dim: int, patch_dim: int) -> None:
        self.embedding_dim = embedding_dim
        self.patch_dim = patch_dim
        self.keyframes = _new_index(embedding_dim)
        self.patches = _new_index(patch_dim)

    @property
    def n_keyframes(self) -> int:
        return int(self.keyframes.ntotal)

    @property
    def n_patches(self) -> int:
        return int(self.patches.ntotal)

    def add(
        self,
        keyframe_ids: np.ndarray,  # (B,) int64
        embeddings: np.ndarray,  # (B, D) float32
        patch_ids_: np.ndarray,  # (M,) int64, from patch_ids()
        patches: np.ndarray,  # (M, Dp) float32, float16-representable
    ) -> None:
        """Add keyframes and their patches; on failure neither index keeps any of them."""
        self.keyframes.add_with_ids(np.ascontiguousarray(embeddings, np.float32), keyframe_ids)
        try:
            self.patches.add_with_ids(np.ascontiguousarray(patches, np.float32), patch_ids_)
        except BaseException:
            self.keyframes.remove_ids(keyframe_ids)
            raise

    def remove(self, keyframe_ids: np.ndarray, patch_ids_: np.ndarray) -> None:
        """Remove keyframes and patches by FAISS id (ids not present are ignored)."""
        self.keyframes.remove_ids(np.asarray(keyframe_ids, np.int64))
        self.patches.remove_ids(np.asarray(patch_ids_, np.int64))

    def search_keyframes(
        self, query: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k keyframes by inner product with query (D,): (ids, scores), best first.

        `allowed` (int64 keyframe ids) restricts the search; FAISS translates the selector
        through the id map, so the restriction is exact, not a post-filter.
        """
        n = self.n_keyframes if allowed is None else min(self.n_keyframes, len(allowed))
        k = min(k, n)
        if k == 0:
            return np.empty(0, np.int64), np.empty(0, np.float32)
        q = np.ascontiguousarray(query.reshape(1, -1), np.float32)
        if allowed is None:
            scores, ids = self.keyframes.search(q, k)
        else:
            selector = faiss.IDSelectorBatch(np.ascontiguousarray(allowed, np.int64))
            scores, ids = self.keyframes.search(q, k, params=faiss.SearchParameters(sel=selector))
        keep = ids[0] >= 0
        return ids[0][keep].astype(np.int64), scores[0][keep].astype(np.float32)

    def range_search_patches(self, queries: np.ndarray, min_score: float) -> tuple[np.ndarray, np.ndarray]:
        """Every patch (id, score) with score >= min_score against any of queries (Q, Dp)."""
        return range_search(self.patches, np.ascontiguousarray(queries, np.float32), min_score)

    def ids(self) -> tuple[np.ndarray, np.ndarray]:
        """(keyframe ids, patch ids) the index holds, each sorted int64."""
        return (np.sort(faiss.vector_to_array(self.keyframes.id_map)).astype(np.int64),
                np.sort(faiss.vector_to_array(self.patches.id_map)).astype(np.int64))

    def save(self, folder: Path, state: IndexState) -> None:
        """Write the indexes and the sidecar that vouches for them (see indexfiles.py)."""
        assert state.keyframes == self.n_keyframes and state.patches == self.n_patches, (
            f"saving an index of {self.n_keyframes}/{self.n_patches} vectors as {state}"
        )
        indexfiles.save(folder, state, {"keyframes": self.keyframes, "patches": self.patches})

    @classmethod
    def load(cls, folder: Path, expected: IndexState) -> tuple[MemoryIndex | None, str]:
        """The saved index if it matches `expected`, else (None, why it cannot be used)."""
        loaded, why = indexfiles.load(folder, expected, ("keyframes", "patches"))
        if loaded is None:
            return None, why
        index = cls(expected.embedding_dim, expected.patch_dim)
        for name, dim in (("keyframes", expected.embedding_dim), ("patches", expected.patch_dim)):
            got = loaded[name]
            if not (isinstance(got, faiss.IndexIDMap2) and got.metric_type == faiss.METRIC_INNER_PRODUCT
                    and got.d == dim):
                return None, f"index {name!r} is {type(got).__name__} d={got.d}, expected IndexIDMap2 d={dim}"
            setattr(index, name, got)
        return index, ""
