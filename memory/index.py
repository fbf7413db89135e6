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
_MIN_SCANNED = 20_000  # long-term codes visited per query at least (about 1 ms on one core)
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
    """The FAISS indexes of one memory: the recent tier in RAM, the long-term tier memory-mapped
    from its saved file once saved (so the heap does not grow with it); `serialize`/`load` move
    them to and from a folder."""

    def __init__(self, embedding_dim: int, patch_dim: int, nprobe: int = 32) -> None:
        self.embedding_dim = embedding_dim
        self.patch_dim = patch_dim
        self.nprobe = nprobe
        self.keyframes = _new_index(embedding_dim)  # the recent tier
        self.patches = _new_index(patch_dim)  # patches of the recent tier
        self._longterm: faiss.IndexIVFPQ | None = None  # the long-term tier, once trained
        self._mapped: indexfiles.Mapped | None = None  # set while the long-term tier is served from its file
        self.longterm_version = 0  # bumped on every change to the long-term tier

    @property
    def longterm(self) -> faiss.IndexIVFPQ | None:
        """The long-term tier: read-only when memory-mapped (`longterm_mapped`); change it only
        through `remove` or by assigning a new index."""
        return self._longterm

    @longterm.setter
    def longterm(self, index: faiss.IndexIVFPQ | None) -> None:
        self._mapped = None  # FAISS unmaps the old lists when their index goes
        self._longterm = index
        self.longterm_version += 1

    @property
    def longterm_mapped(self) -> bool:
        return self._mapped is not None

    def map_longterm(self, mapped: indexfiles.Mapped) -> None:
        """Serve the long-term tier from its saved file (the same vectors, not in the heap)."""
        self._longterm, self._mapped = mapped.index, mapped

    def longterm_copy(self) -> faiss.IndexIVFPQ | None:
        """An in-RAM copy of the long-term tier that may be changed (compaction adds to it)."""
        if self._mapped is not None:
            return faiss.deserialize_index(np.frombuffer(self._mapped.data(), np.uint8))
        return None if self._longterm is None else faiss.clone_index(self._longterm)

    @property
    def n_keyframes(self) -> int:
        """Keyframes in both tiers."""
        return int(self.keyframes.ntotal) + self.n_longterm

    @property
    def n_longterm(self) -> int:
        return 0 if self.longterm is None else int(self.longterm.ntotal)

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
        """Add recent keyframes and their patches; on failure neither index keeps any of them."""
        self.keyframes.add_with_ids(np.ascontiguousarray(embeddings, np.float32), keyframe_ids)
        try:
            self.patches.add_with_ids(np.ascontiguousarray(patches, np.float32), patch_ids_)
        except BaseException:
            self.keyframes.remove_ids(keyframe_ids)
            raise

    def remove(self, keyframe_ids: np.ndarray, patch_ids_: np.ndarray) -> None:
        """Remove keyframes (from either tier) and patches by FAISS id (absent ids are ignored)."""
        keyframe_ids = np.ascontiguousarray(keyframe_ids, np.int64)
        self.keyframes.remove_ids(keyframe_ids)
        self.patches.remove_ids(np.ascontiguousarray(patch_ids_, np.int64))
        if self._longterm is not None:
            if self._mapped is not None:  # mapped lists are read-only: change an in-RAM copy
                self._longterm, self._mapped = self.longterm_copy(), None
            self._longterm.remove_ids(keyframe_ids)
            self.longterm_version += 1

    def search_keyframes(
        self, query: np.ndarray, k: int, allowed: np.ndarray | None = None, candidates: int = 0
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Top-k recent keyframes by inner product with query (D,) as (ids, scores), best first,
        and the ids of up to `candidates` long-term candidates (approximate; to rerank exactly).

        `allowed` (int64 keyframe ids) restricts the search; FAISS applies the selector inside
        the search (through the id map), so the restriction is exact, not a post-filter.
        """
        q = np.ascontiguousarray(query.reshape(1, -1), np.float32)
        params = None if allowed is None else faiss.SearchParameters(
            sel=faiss.IDSelectorBatch(np.ascontiguousarray(allowed, np.int64)))
        ids, scores = _top(self.keyframes, q, k, params, allowed)
        long_ids = np.empty(0, np.int64)
        if self.longterm is not None and candidates > 0:
            # Visit at least _MIN_SCANNED codes: a small or sparse tier then gets (nearly)
            # exhaustive search, which costs little and keeps recall where lists are thin.
            per_list = max(1.0, self.longterm.ntotal / self.longterm.nlist)
            nprobe = min(self.longterm.nlist, max(self.nprobe, int(np.ceil(_MIN_SCANNED / per_list))))
            ivf = faiss.SearchParametersIVF(nprobe=nprobe)
            if allowed is not None:
                ivf.sel = faiss.IDSelectorBatch(np.ascontiguousarray(allowed, np.int64))
            long_ids, _ = _top(self.longterm, q, candidates, ivf, allowed)
        return ids, scores, long_ids

    def range_search_patches(self, queries: np.ndarray, min_score: float) -> tuple[np.ndarray, np.ndarray]:
        """Every patch (id, score) with score >= min_score against any of queries (Q, Dp)."""
        return range_search(self.patches, np.ascontiguousarray(queries, np.float32), min_score)

    def ids(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(recent keyframe ids, patch ids, long-term keyframe ids) the index holds, sorted int64."""
        return (np.sort(faiss.vector_to_array(self.keyframes.id_map)).astype(np.int64),
                np.sort(faiss.vector_to_array(self.patches.id_map)).astype(np.int64),
                longterm_ids(self.longterm))

    def serialize(self, state: IndexState) -> dict[str, tuple[memoryview, int]]:
        """A copy of every index as bytes, for indexfiles.save; checks it matches `state`."""
        assert (state.keyframes, state.patches, state.longterm) == (
            self.n_keyframes, self.n_patches, self.n_longterm), f"saving {self.n_keyframes} keyframes as {state}"
        out = indexfiles.serialize({"keyframes": self.keyframes, "patches": self.patches})
        if self._mapped is not None:  # its file's bytes: FAISS would write a reference to the mapping
            out["longterm"] = (memoryview(self._mapped.data()), self.n_longterm)
        elif self._longterm is not None:
            out.update(indexfiles.serialize({"longterm": self._longterm}))
        return out

    @classmethod
    def load(cls, folder: Path, expected: IndexState) -> tuple[MemoryIndex | None, str]:
        """The saved index if it matches `expected`, else (None, why it cannot be used)."""
        loaded, why = indexfiles.load(folder, expected, mapped=("longterm",))
        if loaded is None:
            return None, why
        index = cls(expected.embedding_dim, expected.patch_dim)
        for name, dim in (("keyframes", expected.embedding_dim), ("patches", expected.patch_dim)):
            got = loaded.get(name)
            if not (isinstance(got, faiss.IndexIDMap2) and got.metric_type == faiss.METRIC_INNER_PRODUCT
                    and got.d == dim):
                return None, f"index {name!r} is {type(got).__name__}, expected IndexIDMap2 inner-product d={dim}"
            setattr(index, name, got)
        longterm = loaded.get("longterm")
        if longterm is None and expected.longterm:
            return None, f"the long-term index is missing but memory.db has {expected.longterm} long-term keyframes"
        if longterm is not None:
            assert isinstance(longterm, indexfiles.Mapped), "loaded mapped"
            if not (isinstance(longterm.index, faiss.IndexIVFPQ) and longterm.index.d == expected.embedding_dim):
                return None, f"index 'longterm' is {type(longterm.index).__name__}, expected IndexIVFPQ"
            index.map_longterm(longterm)
        return index, ""


def _top(index: faiss.Index, q: np.ndarray, k: int, params: faiss.SearchParameters | None,
         allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    n = int(index.ntotal) if allowed is None else min(int(index.ntotal), len(allowed))
    k = min(k, n)
    if k == 0:
        return np.empty(0, np.int64), np.empty(0, np.float32)
    scores, ids = index.search(q, k, params=params)
    keep = ids[0] >= 0
    return ids[0][keep].astype(np.int64), scores[0][keep].astype(np.float32)


def longterm_ids(index: faiss.IndexIVF | None) -> np.ndarray:
    """The ids an IVF index holds, sorted int64."""
    if index is None or index.ntotal == 0:
        return np.empty(0, np.int64)
    invlists = index.invlists
    parts = [faiss.rev_swig_ptr(invlists.get_ids(i), invlists.list_size(i)).copy()
             for i in range(index.nlist) if invlists.list_size(i)]
    return np.sort(np.concatenate(parts)).astype(np.int64)


def new_longterm(train: np.ndarray, pq_bytes: int) -> faiss.IndexIVFPQ:
    """An IVF-PQ inner-product index trained on `train` (N, D) float32: pq_bytes bytes of code per
    vector (the largest divisor of D up to pq_bytes; plus its 8-byte id), sqrt(N)-ish lists
    (16..1024)."""
    n, dim = train.shape
    pq_bytes = max(m for m in range(1, pq_bytes + 1) if dim % m == 0)
    nlist = int(np.clip(2 ** round(np.log2(max(np.sqrt(n), 1.0))), 16, 1024))
    index = faiss.IndexIVFPQ(faiss.IndexFlatIP(dim), dim, nlist, pq_bytes, 8, faiss.METRIC_INNER_PRODUCT)
    index.cp.seed = index.pq.cp.seed = 1234  # deterministic training
    index.train(np.ascontiguousarray(train, np.float32))
    return index
