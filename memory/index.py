"""The FAISS side of the store: a rebuildable search index over what memory.db holds.

Two exact inner-product indexes, both `IndexIDMap2(IndexFlatIP(dim))`:
- keyframes.faiss: one vector per keyframe, FAISS id = keyframes.id;
- patches.faiss: one vector per patch, FAISS id = keyframe_id * PATCH_ID_STRIDE + cell, where
  cell < PATCH_ID_STRIDE (256) is the row-major cell of the keyframe's grid. The keyframe id is
  `id // 256` and the cell `id % 256`. int64 ids leave room for 2**55 keyframes.

Patch vectors are indexed as stored, i.e. rounded to float16 like memory.db's blob, so an index
rebuilt from the database is identical to one built incrementally.

Both files are written atomically (temp file in the same folder, fsync, os.replace, fsync the
folder), then index.json, a sidecar with the counts and the database generation they were built
from. `MemoryIndex.load` returns None with the reason when anything disagrees with the database,
and the store then rebuilds from SQLite. Nothing here reads SQLite: the store passes the rows.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import faiss
import numpy as np

logger = logging.getLogger(__name__)

PATCH_ID_STRIDE = 256  # cells per keyframe at most; see the module docstring
KEYFRAMES_FILE = "keyframes.faiss"
PATCHES_FILE = "patches.faiss"
SIDECAR_FILE = "index.json"
SIDECAR_FORMAT = "ami-memory-index/1"
_KNN_FIRST_K = 64  # first k of the k-NN fallback for range search; doubled until complete


def patch_ids(keyframe_id: int, n_cells: int) -> np.ndarray:
    """FAISS ids of cells 0..n_cells-1 of one keyframe: (n_cells,) int64."""
    assert 0 < n_cells <= PATCH_ID_STRIDE, f"n_cells must be in 1..{PATCH_ID_STRIDE}, got {n_cells}"
    return np.int64(keyframe_id) * PATCH_ID_STRIDE + np.arange(n_cells, dtype=np.int64)


def split_patch_ids(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(keyframe ids, cells) of patch FAISS ids, both int64 like `ids`."""
    return ids // PATCH_ID_STRIDE, ids % PATCH_ID_STRIDE


@dataclass(frozen=True)
class IndexState:
    """What the sidecar records; it must equal what the database expects for the files to be used."""

    store_id: str
    generation: int
    keyframes: int
    patches: int
    embedding_dim: int
    patch_dim: int

    @classmethod
    def from_json(cls, data: object) -> IndexState:
        """Parse a sidecar; raises ValueError when it is not one this version wrote."""
        if not isinstance(data, dict) or data.get("format") != SIDECAR_FORMAT:
            raise ValueError(f"not an {SIDECAR_FORMAT} sidecar")
        values = {}
        for f in fields(cls):
            value = data.get(f.name)
            wanted = str if f.name == "store_id" else int
            if type(value) is not wanted:
                raise ValueError(f"field {f.name!r} is {value!r}, expected {wanted.__name__}")
            values[f.name] = value
        return cls(**values)

    def differences(self, other: IndexState) -> list[str]:
        """Human-readable 'field: self != other' for each field that differs."""
        mine, theirs = asdict(self), asdict(other)
        return [f"{k} {mine[k]!r} != {theirs[k]!r}" for k in mine if mine[k] != theirs[k]]


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


def _fsync_path(path: Path | str, *, directory: bool = False) -> None:
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _atomic_write(path: Path, write: Callable[[str], None]) -> None:
    """Write `path` through `write(temp_name)` so that readers see the old or the new file, whole."""
    # mkstemp creates the file with mode 0o600, and writers that reopen it by name keep that mode.
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        _fsync_path(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_path(path.parent, directory=True)


def _write_text(text: str) -> Callable[[str], None]:
    def write(name: str) -> None:
        with open(name, "w", encoding="utf-8") as f:
            f.write(text)

    return write


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

    def save(self, folder: Path, state: IndexState) -> None:
        """Write both index files, then the sidecar that vouches for them, each atomically."""
        assert state.keyframes == self.n_keyframes and state.patches == self.n_patches, (
            f"saving an index of {self.n_keyframes}/{self.n_patches} vectors as {state}"
        )
        # The sidecar goes last: until it is replaced, the old sidecar's counts or generation
        # disagree with the new files or the database, so a crash in between means a rebuild.
        _atomic_write(folder / KEYFRAMES_FILE, lambda name: faiss.write_index(self.keyframes, name))
        _atomic_write(folder / PATCHES_FILE, lambda name: faiss.write_index(self.patches, name))
        sidecar = {"format": SIDECAR_FORMAT, **asdict(state)}
        _atomic_write(folder / SIDECAR_FILE, _write_text(json.dumps(sidecar, indent=2) + "\n"))
        logger.debug("saved index of %s: %s", folder, state)

    @classmethod
    def load(cls, folder: Path, expected: IndexState) -> tuple[MemoryIndex | None, str]:
        """The saved index if it matches `expected`, else (None, why it cannot be used)."""
        for name in (KEYFRAMES_FILE, PATCHES_FILE, SIDECAR_FILE):
            for stale in folder.glob(f".{name}.*.tmp"):
                # Left by a crash in _atomic_write; the store's lock means nobody is writing it now.
                stale.unlink(missing_ok=True)
        missing = [n for n in (KEYFRAMES_FILE, PATCHES_FILE, SIDECAR_FILE) if not (folder / n).is_file()]
        if missing:
            return None, f"index files missing: {', '.join(missing)}"
        try:
            state = IndexState.from_json(json.loads((folder / SIDECAR_FILE).read_text(encoding="utf-8")))
        except (OSError, ValueError) as e:
            return None, f"{SIDECAR_FILE} unreadable: {e}"
        if state != expected:
            return None, f"{SIDECAR_FILE} disagrees with memory.db: {'; '.join(state.differences(expected))}"
        index = cls(expected.embedding_dim, expected.patch_dim)
        for name, dim, count in (
            (KEYFRAMES_FILE, expected.embedding_dim, expected.keyframes),
            (PATCHES_FILE, expected.patch_dim, expected.patches),
        ):
            try:
                loaded = faiss.read_index(str(folder / name))
            except RuntimeError as e:
                return None, f"{name} unreadable: {e}"
            if not (
                isinstance(loaded, faiss.IndexIDMap2)
                and loaded.metric_type == faiss.METRIC_INNER_PRODUCT
                and loaded.d == dim
                and loaded.ntotal == count
            ):
                return None, (
                    f"{name} is {type(loaded).__name__} d={loaded.d} ntotal={loaded.ntotal}, "
                    f"expected IndexIDMap2 inner-product d={dim} ntotal={count}"
                )
            if name == KEYFRAMES_FILE:
                index.keyframes = loaded
            else:
                index.patches = loaded
        return index, ""
