"""Scale of the memory: ingest synthetic keyframe embeddings at 10k, 100k and 1M and measure.

Embeddings are 96-d unit vectors from a Gaussian mixture (2,000 components: clustered like real
keyframes of a few hundred places, not uniform noise). Each size runs in its own process (so its
peak RSS is its own), on 1 FAISS thread, through the real MemoryStore (synchronous=FULL, one
1x1 patch per keyframe: the figures are about keyframe embeddings, the patch grid of the recent
tier is measured by the replays). For each size it reports:
- ingest: keyframes/s through add_keyframe (each one durable when it returns);
- recent tier (exact, IndexFlatIP under an id map), before compaction: p50/p99 of one query;
- compaction of everything into the long-term tier (IVF-PQ, exact rerank from SQLite): seconds;
- long-term tier: p50/p99 of one query, recall@10 against exact IndexFlatIP on the same vectors;
- bytes per keyframe: long-term index file, memory.db, both;
- memory while serving, measured the way the glasses serve after a restart: a fresh process
  imports everything, then opens the store (everything long-term) and runs the queries; it reports
  its resident memory before opening, after opening, and after the queries, split into anonymous
  memory (heap: what the store really holds) and file-backed pages (shared libraries, mapped files;
  the kernel can drop these). The ingesting process's peak RSS (its own vectors and the exact
  reference index included) is reported too.

    .venv/bin/python benchmarks/memory_scale.py --sizes 10000,100000,1000000 --work /tmp/bench
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
D = 96  # the frozen trunk's dims, as measured; the shipped instance head's 64-d rows are smaller
N_QUERIES = 300
DAY_S = 86_400.0


def mixture(rng: np.random.Generator, n: int, centres: np.ndarray) -> np.ndarray:
    """(n, D) unit vectors around random mixture centres."""
    out = np.empty((n, D), np.float32)
    for start in range(0, n, 100_000):
        m = min(100_000, n - start)
        x = centres[rng.integers(0, len(centres), m)] + 0.5 * rng.standard_normal((m, D)).astype(np.float32)
        out[start : start + m] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def latencies_ms(search, queries: np.ndarray) -> tuple[float, float, list[list[int]]]:  # noqa: ANN001
    times, results = [], []
    for q in queries:
        t0 = time.perf_counter()
        hits = search(q)
        times.append((time.perf_counter() - t0) * 1e3)
        results.append([h.keyframe_id for h in hits])
    return float(np.percentile(times, 50)), float(np.percentile(times, 99)), results


def one_size(n: int, folder: Path) -> dict[str, float]:
    import faiss

    sys.path.insert(0, str(ROOT))
    from memory import MemoryStore, StoreConfig

    faiss.omp_set_num_threads(1)
    rng = np.random.default_rng(0)
    centres = np.random.default_rng(1).standard_normal((2000, D)).astype(np.float32)
    vectors = mixture(rng, n, centres)
    queries = mixture(np.random.default_rng(2), N_QUERIES, centres)
    exact = faiss.IndexFlatIP(D)
    exact.add(vectors)
    _, truth = exact.search(queries, 10)  # (Q, 10) row numbers; keyframe id = row + 1
    del exact
    out: dict[str, float] = {"n": n}
    now = time.time()
    config = StoreConfig(min_longterm_train=min(10_000, n))
    with MemoryStore.open(folder, embedding_dim=D, patch_dim=D, config=config) as store:
        t0 = time.perf_counter()
        for i in range(n):
            store.add_keyframe(float(i), i, "scale", None, vectors[i], vectors[i][None, :], (1, 1),
                               recorded_at=now - 30 * DAY_S)
        out["ingest_per_s"] = n / (time.perf_counter() - t0)
        del vectors  # what stays in RAM from here on is the store's
        store.save()
        out["recent_p50_ms"], out["recent_p99_ms"], _ = latencies_ms(lambda q: store.search_keyframes(q, 10),
                                                                     queries[:100])
        t0 = time.perf_counter()
        result = store.compact(now=now)
        out["compact_s"] = time.perf_counter() - t0
        assert result.compressed == n, result
        p50, p99, found = latencies_ms(lambda q: store.search_keyframes(q, 10), queries)
        out["longterm_p50_ms"], out["longterm_p99_ms"] = p50, p99
        out["recall_at_10"] = float(np.mean([len(set(f) & set((t + 1).tolist())) / 10 for f, t in zip(found, truth)]))
        stats = store.stats()
        assert store.verify() == [], "the scaled memory must verify"
    sidecar = json.loads((folder / "index.json").read_text())
    longterm_bytes = sidecar["files"]["longterm"]["bytes"]
    out["index_bytes_per_kf"] = longterm_bytes / n
    out["db_bytes_per_kf"] = stats["db_bytes"] / n
    out["total_bytes_per_kf"] = stats["total_bytes"] / n
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def _rss_mb() -> dict[str, float]:
    """This process's resident memory in MiB: anonymous (heap) and file-backed, from /proc."""
    fields = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("RssAnon", "RssFile", "RssShmem"):
                fields[key] = int(value.split()[0]) / 1024  # kB -> MiB
    return {"anon": fields["RssAnon"], "file": fields["RssFile"] + fields["RssShmem"]}


def serve(folder: Path) -> dict[str, float]:
    """Open an existing memory in this fresh process and query it; resident memory at each stage."""
    import faiss

    sys.path.insert(0, str(ROOT))
    from memory import MemoryStore

    faiss.omp_set_num_threads(1)
    centres = np.random.default_rng(1).standard_normal((2000, D)).astype(np.float32)
    queries = mixture(np.random.default_rng(2), N_QUERIES, centres)
    out = {f"imported_{k}_mb": v for k, v in _rss_mb().items()}
    with MemoryStore.open_existing(folder) as store:
        out.update({f"opened_{k}_mb": v for k, v in _rss_mb().items()})
        latencies_ms(lambda q: store.search_keyframes(q, 10), queries)
        out.update({f"serving_{k}_mb": v for k, v in _rss_mb().items()})
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", default="10000,100000,1000000", help="comma-separated keyframe counts")
    p.add_argument("--one", type=int, default=None, help="internal: ingest and measure one size in this process")
    p.add_argument("--serve", action="store_true", help="internal: open --folder and serve queries")
    p.add_argument("--folder", type=Path, default=None, help="internal: the memory folder")
    p.add_argument("--work", type=Path, default=None, help="folder for the memories (default: temporary)")
    args = p.parse_args()
    if args.one is not None or args.serve:
        result = one_size(args.one, args.folder) if args.one is not None else serve(args.folder)
        print(json.dumps(result), flush=True)
        return
    if args.work is not None:
        args.work.mkdir(parents=True, exist_ok=True)
    for n in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory(prefix="ami-scale-", dir=args.work) as tmp:
            folder = Path(tmp) / "memory"
            row: dict[str, object] = {}
            for stage in (["--one", str(n)], ["--serve"]):
                r = subprocess.run([sys.executable, __file__, *stage, "--folder", str(folder)],
                                   capture_output=True, text=True)
                if r.returncode != 0:
                    row = {"n": n, "error": r.stderr.strip().splitlines()[-1:]}
                    break
                row.update(json.loads(r.stdout.strip().splitlines()[-1]))
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
