"""Tiers, compaction and retention: old keyframes move from the recent tier to the long-term tier.

- Recent tier (younger than RetentionPolicy.full_detail_days by `recorded_at`): exact search,
  `IndexIDMap2(IndexFlatIP)` over embeddings and patches, patches kept in memory.db.
- Long-term tier: `IndexIVFPQ` over embeddings (StoreConfig.pq_bytes of code + an 8-byte id per
  keyframe), candidates reranked exactly from memory.db's float32 embedding; patches dropped.
- Older than RetentionPolicy.keep_days: forgotten (as forget does: rows, index entries, bytes).

The trained long-term codec (an empty IVF-PQ index) lives in memory.db's `codecs` table, so the
index stays rebuildable from the database alone. The codec is trained on the first batch due
(at least StoreConfig.min_longterm_train keyframes; until then old keyframes stay in the recent
tier) and retrained from every long-term embedding when the tier outgrows 16x its training set.

`compact()` does the heavy part (reading embeddings on its own connection, training, encoding)
holding no lock; only the final commit and the index swap hold the write lock, and queries wait
at most for that swap (one pointer swap and a removal from the recent tier).
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

import faiss
import numpy as np
from sqlite_utils import Database

from memory import keyframes as keyframe_table
from memory import schema
from memory.config import StoreConfig
from memory.errors import CorruptDatabaseError
from memory.forget import cells_of, ids_recorded_before
from memory.index import longterm_ids, new_longterm, patch_ids

if TYPE_CHECKING:
    from memory.context import StoreContext
    from memory.forget import Forgetting

logger = logging.getLogger(__name__)

CODEC = "longterm"
_RETRAIN_GROWTH = 16  # retrain the codec when the tier holds this many times its training set
_TRAIN_SAMPLE = 65_536  # vectors used to train the codec at most
_BATCH = 8192


@dataclass(frozen=True)
class CompactResult:
    """What one compaction did: keyframes dropped by retention and moved to the long-term tier."""

    dropped: int
    compressed: int
    retrained: bool
    skipped: str  # why nothing was compressed, or ""


def read_codec(db: Database | sqlite3.Connection) -> tuple[faiss.IndexIVFPQ | None, int]:
    """(the trained, empty long-term codec, how many vectors it was trained on), or (None, 0)."""
    row = db.execute("SELECT data, trained_on FROM codecs WHERE name = ?", (CODEC,)).fetchone()
    if row is None:
        return None, 0
    return faiss.deserialize_index(np.frombuffer(row[0], np.uint8)), int(row[1])


def build_longterm(db: Database, layout: keyframe_table.Layout, config: StoreConfig) -> faiss.IndexIVFPQ | None:
    """The long-term index of every long-term row, from the stored codec (None when untrained)."""
    codec, _ = read_codec(db)
    n_long = keyframe_table.counts(db)[2]
    if codec is None:
        if n_long:
            raise CorruptDatabaseError(layout.db_path, f"{n_long} long-term keyframes but no codec")
        return None
    for ids, embeddings, _, _ in keyframe_table.batches(db, layout, _BATCH, tier=1):
        codec.add_with_ids(embeddings, ids)
    return codec


class Compaction:
    """The tiers and retention of one store; runs on the caller's thread or on its own background
    thread (`in_background`), which `stop()` joins."""

    def __init__(self, context: StoreContext, forgetting: Forgetting) -> None:
        self._ctx = context
        self._forgetting = forgetting
        self._executor: ThreadPoolExecutor | None = None

    def in_background(self, now: float | None = None) -> Future[CompactResult]:
        """Run `run(now)` on the background thread; returns its future."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ami-compact")
        return self._executor.submit(self.run, now)

    def run(self, now: float | None = None) -> CompactResult:
        """Apply the retention policy as of `now` (Unix s, default: the wall clock)."""
        ctx = self._ctx
        now = time.time() if now is None else float(now)
        policy = ctx.config.retention
        dropped = 0
        if policy.keep_s is not None:
            with ctx.write_lock:
                old = ids_recorded_before(ctx.live(), now - policy.keep_s)
            if len(old):
                dropped = self._forgetting.erase(old, []).keyframes
        reader = schema.connect_reader(ctx.db_path)
        try:
            return self._compress(reader, now - policy.full_detail_s, dropped)
        finally:
            reader.close()

    def stop(self) -> None:
        """Wait for a background compaction to finish and end its thread."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    def _compress(self, reader: sqlite3.Connection, before_unix: float, dropped: int) -> CompactResult:
        ctx = self._ctx
        due = [r[0] for r in reader.execute(
            "SELECT id FROM keyframes WHERE tier = 0 AND recorded_at < ? ORDER BY id", (before_unix,))]
        if not due:
            return CompactResult(dropped, 0, False, "nothing is due")
        due, embeddings = _embeddings(reader, ctx.layout, due)  # N ids, (N, D)
        codec, trained_on = read_codec(reader)
        n_long = keyframe_table.counts(reader)[2]
        retrain = codec is None or n_long + len(due) > _RETRAIN_GROWTH * trained_on
        if retrain:
            if codec is None and len(due) < ctx.config.min_longterm_train:
                why = f"{len(due)} keyframes due, the codec trains on >= {ctx.config.min_longterm_train}"
                return CompactResult(dropped, 0, False, why)
            all_old = [r[0] for r in reader.execute("SELECT id FROM keyframes WHERE tier = 1 ORDER BY id")]
            old_ids, old = _embeddings(reader, ctx.layout, all_old)
            train = np.concatenate([old, embeddings])
            sample = np.random.default_rng(0).permutation(len(train))[:_TRAIN_SAMPLE]
            codec = new_longterm(train[sample], ctx.config.pq_bytes)
            trained_on = len(sample)
            blob = faiss.serialize_index(codec).tobytes()
            new = faiss.clone_index(codec)
            if old_ids:
                new.add_with_ids(train[: len(old_ids)], np.array(old_ids, np.int64))
        else:
            blob = None
            with ctx.index_lock:
                assert ctx.index.longterm is not None, "a stored codec means a long-term index"
                new = ctx.index.longterm_copy()
        new.add_with_ids(embeddings, np.array(due, np.int64))  # the heavy encoding: no lock held
        moved = self._swap(due, new, blob, trained_on)
        logger.info("compacted %s: %d keyframes to the long-term tier%s, %d dropped", ctx.folder,
                    moved, " (codec retrained)" if retrain else "", dropped)
        return CompactResult(dropped, moved, retrain, "")

    def _swap(self, due: list[int], new: faiss.IndexIVFPQ, blob: bytes | None, trained_on: int) -> int:
        """Commit the move of `due` to the long-term tier and swap in `new`; returns how many moved."""
        ctx = self._ctx
        with ctx.write_lock:
            ids, cells = cells_of(ctx.live(), np.array(due, np.int64))  # those a forget has not taken since
            with ctx.change("the compaction") as db:
                if blob is not None:
                    db.execute("INSERT OR REPLACE INTO codecs (name, data, trained_on) VALUES (?, ?, ?)",
                               (CODEC, blob, trained_on))
                db.execute("UPDATE keyframes SET tier = 1, patches = X'', patches_crc = 0 WHERE tier = 0 AND id IN "
                           "(SELECT value FROM json_each(?))", (json.dumps(ids.tolist()),))
            present = np.array([r[0] for r in db.execute("SELECT id FROM keyframes WHERE tier = 1")], np.int64)
            gone = np.setdiff1d(longterm_ids(new), present)  # forgotten while we encoded
            if len(gone):
                new.remove_ids(gone)
            pids = np.concatenate([patch_ids(int(i), n) for i, n in zip(ids, cells)]) if len(ids) else ids
            with ctx.index_lock:
                index = ctx.index
                index.keyframes.remove_ids(ids)
                index.patches.remove_ids(pids)
                # remove_ids keeps the vectors' buffers at their old capacity: a compact copy
                # gives the memory of the moved vectors back.
                index.keyframes = faiss.clone_index(index.keyframes)
                index.patches = faiss.clone_index(index.patches)
                index.longterm = new
            ctx.save()
            ctx.scrub_wal(strict=False)  # the dropped patches leave no copy in the WAL
        return len(ids)


def _embeddings(conn: sqlite3.Connection, layout: keyframe_table.Layout,
                ids: list[int]) -> tuple[list[int], np.ndarray]:
    """(those of `ids` that still have a row, their (N, D) float32 embeddings), in id order."""
    kept: list[int] = []
    parts = [np.empty((0, layout.embedding_dim), np.float32)]
    for start in range(0, len(ids), _BATCH):
        found = keyframe_table.embeddings(conn, layout, ids[start : start + _BATCH])
        chunk = sorted(found)
        kept += chunk
        if chunk:
            parts.append(np.stack([found[i] for i in chunk]))
    return kept, np.concatenate(parts)
