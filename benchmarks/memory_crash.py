"""Crash test of the memory: SIGKILL an ingesting process at random moments, then check the store.

A worker process opens the memory, adds keyframes (printing `ACK <t> <id>` after each
add_keyframe returns: that is "acknowledged"), saves the index now and then, and forgets a small
old time window now and then (`BEGIN-FORGET t0 t1`, then `ACK-FORGET t0 t1`). The parent kills it
with SIGKILL at a random moment (also during open, rebuild, save or forget), then reopens the
memory and checks, against a reference model built from the acknowledgements:
- the store opens and verify() is clean (index ids == row ids, generations and checksums agree);
- every acknowledged, not forgotten keyframe is there with its exact embedding and its thumbnail
  (written in the keyframe's transaction), and search finds it; verify finds no orphan thumbnail;
- no keyframe of an acknowledged forget is there; nothing is there that was never written, except
  the one add (or forget) in flight at the kill.

    .venv/bin/python benchmarks/memory_crash.py --kills 200          # prints the figures as JSON
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
D, DP, GRID = 96, 96, (3, 3)
FORGET_EVERY = 40  # keyframes between forgets in the worker


def vectors(t: int) -> tuple[np.ndarray, np.ndarray]:
    """The embedding (D,) and patches (9, DP) of the keyframe at time t: deterministic."""
    rng = np.random.default_rng(t)
    e = rng.standard_normal(D).astype(np.float32)
    p = rng.standard_normal((GRID[0] * GRID[1], DP)).astype(np.float32)
    return e / np.linalg.norm(e), p / np.linalg.norm(p, axis=1, keepdims=True)


def thumbnail(t: int) -> bytes:
    """The keyframe's evidence JPEG at time t (deterministic), stored in its transaction."""
    out = io.BytesIO()
    Image.fromarray(np.random.default_rng(t).integers(0, 255, (8, 8, 3), np.uint8)).save(out, "JPEG")
    return out.getvalue()


def worker(folder: Path, seed: int) -> None:
    """Ingest until killed; print each acknowledgement as one flushed line."""
    from memory import MemoryStore

    rng = random.Random(seed)
    with MemoryStore.open(folder, embedding_dim=D, patch_dim=DP) as store:
        last = store.last_keyframe()
        t = 1 if last is None else int(last.t) + 1
        print("READY", flush=True)
        while True:
            e, p = vectors(t)
            kf = store.add_keyframe(float(t), t, "crash", (float(t % 10), 1.6, 0.0, 0.0, 0.0), e, p, GRID,
                                    thumbnail=(thumbnail(t), 0))
            print(f"ACK {t} {kf}", flush=True)
            if rng.random() < 0.05:
                store.save()
            if t % FORGET_EVERY == 0:
                t0 = rng.randint(max(1, t - 200), t - 5)
                print(f"BEGIN-FORGET {t0} {t0 + 2}", flush=True)
                store.forget_between(float(t0), float(t0 + 2))
                print(f"ACK-FORGET {t0} {t0 + 2}", flush=True)
            t += 1


@dataclass
class Reference:
    """What the acknowledgements say the memory holds."""

    acked: dict[int, int] = field(default_factory=dict)  # t -> id
    forgotten: set[int] = field(default_factory=set)  # t of acknowledged forgets
    maybe_forgotten: set[int] = field(default_factory=set)  # t of the forget in flight at a kill

    def apply(self, lines: list[str]) -> tuple[int | None, tuple[int, int] | None]:
        """Fold a worker's complete output lines in; returns (last acked t, forget in flight)."""
        last_t, in_flight = None, None
        for line in lines:
            kind, *args = line.split()
            if kind == "ACK":
                self.acked[int(args[0])] = int(args[1])
                last_t = int(args[0])
            elif kind == "BEGIN-FORGET":
                in_flight = (int(args[0]), int(args[1]))
            elif kind == "ACK-FORGET":
                t0, t1 = int(args[0]), int(args[1])
                self.forgotten |= {t for t in self.acked if t0 <= t <= t1}
                in_flight = None
        return last_t, in_flight


@dataclass
class Figures:
    restarts: int = 0
    clean_restarts: int = 0
    acknowledged: int = 0
    lost_after_ack: int = 0
    mismatched_ids: int = 0
    resurrected: int = 0
    missing_thumbnails: int = 0  # a keyframe stored without the thumbnail written in its transaction
    verify_failures: list[str] = field(default_factory=list)
    seconds: float = 0.0


def check(folder: Path, ref: Reference, in_flight: tuple[int, int] | None, figures: Figures,
          fresh: set[int], rng: random.Random) -> bool:
    """Reopen the memory and compare it with the reference; count problems into `figures`.

    Every acknowledged keyframe must have its row with its id; the content and a search are
    checked for those acknowledged since the last check (`fresh`) and 50 sampled older ones,
    which keeps each check short as the memory grows.
    """
    from memory import MemoryStore

    if in_flight is not None:  # it may or may not have happened: both are right
        ref.maybe_forgotten |= {t for t in ref.acked if in_flight[0] <= t <= in_flight[1]}
    ok = True
    # With the dims: a kill during the worker's start-up can leave no memory, or one without meta.
    with MemoryStore.open(folder, embedding_dim=D, patch_dim=DP) as store:
        failed = store.verify()
        if failed:
            figures.verify_failures += failed
            ok = False
        rows = {int(r[0]): int(r[1]) for r in store._live().execute("SELECT t, id FROM keyframes")}
        older = sorted(set(ref.acked) - fresh)
        sample = fresh | set(rng.sample(older, min(50, len(older))))
        for t, kf in ref.acked.items():
            if t in ref.forgotten:
                if t in rows:
                    figures.resurrected += 1
                    ok = False
                continue
            if t not in rows:
                if t not in ref.maybe_forgotten:
                    figures.lost_after_ack += 1
                    ok = False
                continue
            if rows[t] != kf:
                figures.mismatched_ids += 1
                ok = False
                continue
            if t not in sample:
                continue
            e, _ = vectors(t)
            hit = store.search_keyframes(e, 1)
            if not np.array_equal(store.embedding(kf), e) or hit[0].keyframe_id != kf:
                figures.mismatched_ids += 1
                ok = False
            with store.reader() as reader:
                if reader.thumbnail(kf) != thumbnail(t):
                    figures.missing_thumbnails += 1
                    ok = False
        unknown = [t for t in rows if t not in ref.acked]
        if len(unknown) > 1:  # at most the one add in flight
            figures.mismatched_ids += len(unknown) - 1
            ok = False
        for t in unknown:  # the add in flight did commit: it is now part of the reference
            ref.acked[t] = rows[t]
    ref.forgotten |= {t for t in ref.maybe_forgotten if t not in rows}
    ref.maybe_forgotten = set()
    return ok


def run(kills: int, seed: int, folder: Path, max_delay_s: float) -> Figures:
    rng = random.Random(seed)
    ref, figures = Reference(), Figures()
    started = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for trial in range(kills):
        proc = subprocess.Popen(
            [sys.executable, __file__, "--worker", "--memory", str(folder), "--seed", str(seed * 100_000 + trial)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
        )
        time.sleep(rng.uniform(0.05, max_delay_s))
        proc.send_signal(signal.SIGKILL)
        out, _ = proc.communicate()
        lines = out.split("\n")[:-1]  # a line cut by the kill has no newline: not acknowledged
        before = set(ref.acked)
        _, in_flight = ref.apply(lines)
        figures.restarts += 1
        figures.clean_restarts += check(folder, ref, in_flight, figures, set(ref.acked) - before, rng)
    figures.acknowledged = len(ref.acked)
    figures.seconds = round(time.perf_counter() - started, 1)
    return figures


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--kills", type=int, default=200, help="number of SIGKILLs (default: 200)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the kill moments (default: 0)")
    p.add_argument("--max-delay-s", type=float, default=1.5,
                   help="each kill comes 0.05 s to this long after the worker starts (default: 1.5)")
    p.add_argument("--memory", type=Path, default=None, help="memory folder (default: a temporary one)")
    p.add_argument("--worker", action="store_true", help="internal: run as the ingesting worker")
    args = p.parse_args()
    if args.worker:
        worker(args.memory, args.seed)
        return
    logging.basicConfig(level=logging.ERROR)  # each restart rebuilds a stale index, by design
    with tempfile.TemporaryDirectory(prefix="ami-crash-") as tmp:
        figures = run(args.kills, args.seed, args.memory or Path(tmp) / "memory", args.max_delay_s)
    print(json.dumps(asdict(figures), indent=2))
    sys.exit(0 if figures.clean_restarts == figures.restarts else 1)


if __name__ == "__main__":
    main()
