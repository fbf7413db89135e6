"""What a question pays for "a patch shows at most one enrolled item" (perception.claimed_cells) in recall.

Replays SESSION into a fresh memory folder (1 thread), then, in one run and alternating, times
`Recall.sightings` for each enrolled item alone and with the other items claiming their patches
(what `ami ask` now does), and prints the medians and their ratio. The question's other steps (the
chain, the words) come on top of both, so the ratio bounds what the whole answer slows by.

    .venv/bin/python benchmarks/recall_claims.py ../shared/foreign/8001
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import faiss  # noqa: E402
import torch  # noqa: E402

from device.answering.recall import Recall  # noqa: E402
from device.app.replay import ReplayConfig, replay  # noqa: E402
from device.session import read_session  # noqa: E402
from memory.store import MemoryStore  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("session", type=Path)
    ap.add_argument("--repeats", type=int, default=20, help="timed calls per item and variant (default: 20)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    faiss.omp_set_num_threads(1)
    session = read_session(args.session)
    with tempfile.TemporaryDirectory(prefix="ami-claims-") as tmp:
        replay(session, None, Path(tmp) / "memory", ReplayConfig(progress=False))
        with MemoryStore.open_existing(Path(tmp) / "memory") as store:
            items = store.items()
            recall = Recall(store, 0.0, lambda pose, grid, cell: None)
            alone, claimed = [], []
            for _ in range(args.repeats):
                for rec in items:
                    others = [i for i in items if i.name != rec.name]
                    for out, extra in ((alone, []), (claimed, others)):
                        started = time.perf_counter()
                        recall.sightings(rec, float("inf"), extra)
                        out.append(time.perf_counter() - started)
            n_patches = store.stats()["patches"]
    a, c = statistics.median(alone), statistics.median(claimed)
    print(f"{args.session}: {len(items)} items, {n_patches} patches in memory, {args.repeats} calls per item each")
    print(f"Recall.sightings median: alone {a * 1e3:.1f} ms, with the other items' claims {c * 1e3:.1f} ms "
          f"({c / a:.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
