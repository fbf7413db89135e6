"""The store's invariants, checked one by one; each failure is one line that names the invariant.

- database: SQLite's quick_check passes, and every row's blobs have the sizes its dims imply;
- generation: the meta table's generation is the one the store holds;
- index ids == row ids: the recent keyframe index holds exactly the ids of the recent rows, the
  long-term index those of the long-term rows, and the patch index exactly `id * 256 + cell`
  for every recent row and cell;
- saved index: the sidecar's state (store id, generation, counts, dims) equals the database's,
  and each index file has the size and sha256 the sidecar records and the same ids.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from sqlite_utils import Database

from memory import alerts, checksums, indexfiles, schema, thumbnails
from memory.index import MemoryIndex, patch_ids
from memory.indexfiles import IndexState

if TYPE_CHECKING:
    from memory.context import StoreContext


def check_database(db: Database, embedding_dim: int, patch_dim: int, generation: int) -> list[str]:
    """Failed invariants of memory.db itself."""
    failed = []
    result = [row[0] for row in db.execute("PRAGMA quick_check").fetchall()]
    if result != ["ok"]:
        failed.append(f"database: quick_check found {'; '.join(map(str, result[:5]))}")
    bad = db.execute(
        "SELECT COUNT(*) FROM keyframes WHERE length(embedding) != ?"
        " OR length(patches) != CASE tier WHEN 0 THEN grid_h * grid_w * ? ELSE 0 END",
        (4 * embedding_dim, 2 * patch_dim),
    ).fetchone()[0]
    if bad:
        failed.append(f"database: {bad} keyframe rows have blobs of the wrong size for D={embedding_dim}, "
                      f"Dp={patch_dim}")
    damaged = checksums.damaged_keyframes(db, limit=1000)
    if damaged:
        shown = ", ".join(f"{i} ({what})" for i, what in damaged[:5])
        failed.append(f"rows: {len(damaged)}{'+' if len(damaged) == 1000 else ''} keyframes changed after they "
                      f"were written (checksums), e.g. {shown}; they are left out of answers")
    if names := checksums.damaged_items(db):
        failed.append(f"rows: items {', '.join(map(repr, names))} changed after they were written (checksum); "
                      "they are left out: enroll them again")
    failed += thumbnails.problems(db)
    failed += alerts.problems(db)
    stored = schema.read_meta(db).get(schema.META_GENERATION)
    if stored != str(generation):
        failed.append(f"generation: memory.db has {stored!r}, the open store {generation}")
    return failed


def expected_ids(db: Database) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(recent keyframe ids, patch ids, long-term keyframe ids) the rows of memory.db call for,
    each sorted int64."""
    rows = db.execute("SELECT id, grid_h * grid_w, tier FROM keyframes ORDER BY id").fetchall()
    recent = [(i, n) for i, n, tier in rows if tier == 0]
    longterm = np.array([i for i, _, tier in rows if tier != 0], np.int64)
    keyframe_ids = np.array([i for i, _ in recent], np.int64)
    if not recent:
        return keyframe_ids, np.empty(0, np.int64), longterm
    return keyframe_ids, np.concatenate([patch_ids(int(i), int(n)) for i, n in recent]), longterm


def check_index(index: MemoryIndex, expected: tuple[np.ndarray, np.ndarray, np.ndarray], where: str) -> list[str]:
    """Failed 'index ids == row ids' invariants of `index` (in RAM or loaded from `where`)."""
    failed = []
    for name, got, want in zip(("recent keyframe", "patch", "long-term keyframe"), index.ids(), expected):
        if got.shape != want.shape or not np.array_equal(got, want):
            extra = np.setdiff1d(got, want)
            missing = np.setdiff1d(want, got)
            failed.append(
                f"index ids == row ids ({where}, {name}s): {len(extra)} ids without a row "
                f"{extra[:5].tolist()}, {len(missing)} rows not indexed {missing[:5].tolist()}"
            )
    return failed


VECTOR_SAMPLE = 200  # keyframes whose index vectors verify compares with their rows (all with --full)


def check_vectors(ctx: StoreContext, recent_ids: np.ndarray, full: bool) -> list[str]:
    """Recent keyframes whose embedding or patches in the in-RAM index differ from their row's."""
    ids = recent_ids if full or len(recent_ids) <= VECTOR_SAMPLE else \
        np.random.default_rng(0).choice(recent_ids, VECTOR_SAMPLE, replace=False)
    db, layout, index = ctx.live(), ctx.layout, ctx.index
    differ = []
    for i in ids.tolist():
        row = db.execute("SELECT grid_h, grid_w, embedding, patches FROM keyframes WHERE id = ?", (i,)).fetchone()
        if row is None:
            continue  # check_index names it
        try:
            with ctx.index_lock:
                emb = index.keyframes.reconstruct(i)
                pat = index.patches.reconstruct_batch(patch_ids(i, row[0] * row[1]))
        except RuntimeError:
            continue  # not indexed: check_index names it
        if not (np.array_equal(emb, layout.embedding(i, row[2]))
                and np.array_equal(pat, layout.patches(i, row[0], row[1], row[3]))):
            differ.append(i)
    if not differ:
        return []
    which = "all" if len(ids) == len(recent_ids) else "a sample of"
    return [f"index vectors == rows ({which} {len(ids)} keyframes): {len(differ)} differ, "
            f"e.g. {differ[:5]}; `ami memory rebuild` rebuilds the index from the rows"]


def check_leftovers(folder: Path) -> list[str]:
    """Files an interrupted save left behind (a killed replay's temp files, older index files)."""
    left = indexfiles.unreferenced(folder)
    if not left:
        return []
    size = sum(p.stat().st_size for p in left if p.is_file())
    return [f"leftover files: {len(left)} ({size} bytes) from an interrupted index save, e.g. {left[0].name}; "
            f"the next write or `ami memory rebuild --memory {folder}` removes them"]


def check_saved(folder: Path, state: IndexState, expected: tuple[np.ndarray, np.ndarray, np.ndarray]) -> list[str]:
    """Failed invariants of the saved index files against the database state."""
    loaded, why = MemoryIndex.load(folder, state)
    if loaded is None:
        return [f"saved index: {why}; run `ami memory rebuild --memory {folder}`"]
    return check_index(loaded, expected, "saved files")

