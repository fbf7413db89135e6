"""Reliability at random points (issue 27): SIGKILL during a forget and during a replay, a full disk
at a random point, and random byte changes in memory.db, each many times, with what the memory
looked like afterwards.

    .venv/bin/python benchmarks/reliability.py [--forget-kills 200] [--replay-kills 200]
        [--full-disks 50] [--byte-changes 100] [--seed 0] [--no-write]

- forget kills: a 600-keyframe memory; `forget --all` in its own process, killed after a random
  delay within the forget's own duration; the next open must hold all 600 or none, verify clean.
- replay kills: `ami replay` of a short recorded session into a memory, killed after a random
  delay within the replay's duration; the next open must hold none of it or all of it (a replay is
  all or nothing), verify clean, and replaying it again must leave it in the memory exactly once.
- full disks (a tmpfs of 4.6 to 12 MB, root only: the memory's 4 MB reserve fits, as on any real
  disk): keyframes are added until the disk is full;
  the error must be StorageError, the memory must open, verify clean (but for index files it could
  not save on the full disk), read and forget, and take writes again once the disk grows.
- byte changes: one random byte of a replayed memory.db changed (a copy each time); counted: the
  changes `verify` names (or that stop the memory opening, with a clear error), and the changes
  that alter an answer to "where is my X?" for an enrolled item. Goal: every change that alters an
  answer is found.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/report.py

from report import write_section  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
D, GRID, N = 64, (14, 14), 600
FORGET = ("import sys\nfrom memory import MemoryStore\nwith MemoryStore.open_existing(sys.argv[1]) as store:\n"
          "    store.forget_all()\n")


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def synthetic_memory(folder: Path, n: int = N, seed: int = 0) -> None:
    from memory import MemoryStore

    rng = np.random.default_rng(seed)
    with MemoryStore.open(folder, embedding_dim=D, patch_dim=D) as store:
        for i in range(n):
            store.add_keyframe(float(i), i, "s", None, unit(rng.standard_normal(D)),
                               unit(rng.standard_normal((GRID[0] * GRID[1], D))), GRID)


def keyframes_in(folder: Path) -> tuple[int, list[str]]:
    from memory import MemoryStore

    with MemoryStore.open_existing(folder) as store:
        return store.count(), store.verify()


def forget_kills(trials: int, rng: random.Random, work: Path) -> dict[str, int]:
    base = work / "forget-base"
    synthetic_memory(base)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", FORGET, str(shutil.copytree(base, work / "timing"))], check=True, cwd=ROOT)
    whole_s = time.perf_counter() - started
    out = {"trials": trials, "all_or_nothing": 0, "verify_clean": 0, "forgot_all": 0}
    for k in range(trials):
        folder = shutil.copytree(base, work / f"forget-{k}")
        proc = subprocess.Popen([sys.executable, "-c", FORGET, str(folder)], cwd=ROOT)
        time.sleep(rng.uniform(0.0, whole_s))
        proc.kill()
        proc.wait()
        count, failed = keyframes_in(folder)
        out["all_or_nothing"] += count in (0, N)
        out["verify_clean"] += not failed
        out["forgot_all"] += count == 0
        shutil.rmtree(folder)
    return out


def replay_kills(trials: int, rng: random.Random, work: Path) -> dict[str, int]:
    from device.sim.record import RecordConfig, record_session

    session = record_session(work / "short", RecordConfig(seed=3, width=64, height=64, short=True,
                                                          start_time="2026-12-07T09:00:00+00:00"), progress=False)

    def cmd(mem: Path) -> list[str]:
        return [sys.executable, "-m", "device", "replay", str(session), "--out", str(work / "r.jsonl"),
                "--memory", str(mem), "--quiet"]

    started = time.perf_counter()
    subprocess.run(cmd(work / "timing-replay"), check=True, cwd=ROOT, capture_output=True)
    whole_s = time.perf_counter() - started
    whole = keyframes_in(work / "timing-replay")[0]
    out = {"trials": trials, "none_or_all": 0, "verify_clean": 0, "whole_once_after": 0}
    for k in range(trials):
        mem = work / f"replay-{k}"
        proc = subprocess.Popen(cmd(mem), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.0, whole_s))
        proc.kill()
        proc.wait()
        if (mem / "memory.db").is_file():
            count, failed = keyframes_in(mem)
        else:  # killed before the memory existed
            count, failed = 0, []
        out["none_or_all"] += count in (0, whole)  # all: the kill came after the replay was noted
        out["verify_clean"] += not failed
        again = subprocess.run(cmd(mem), cwd=ROOT, capture_output=True, text=True)  # stored now, or already
        ok = again.returncode == 0 or (again.returncode == 2 and "already" in again.stderr)
        out["whole_once_after"] += ok and keyframes_in(mem) == (whole, [])
        shutil.rmtree(mem)
    return out


def full_disks(trials: int, rng: random.Random, work: Path) -> dict[str, int]:
    import os

    from memory import MemoryStore, StorageError

    out = {"trials": trials, "clean_error": 0, "usable_after": 0, "writes_resume": 0}
    if os.geteuid() != 0 or shutil.which("mount") is None:  # a tmpfs needs root
        print("full disks: skipped, mounting a tmpfs needs root", file=sys.stderr)
        return {**out, "trials": 0}
    for k in range(trials):
        target = work / f"disk-{k}"
        target.mkdir()
        # the disk fills at a different keyframe each time; it has room for the memory's 4 MB reserve
        # (StoreConfig.reserve_bytes), which a forget on a full disk gives up to run
        size_kb = rng.randint(4600, 12_000)
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k,mode=0700", "tmpfs", str(target)], check=True)
        try:
            folder, data = target / "m", np.random.default_rng(k)
            error = None
            with MemoryStore.open(folder, embedding_dim=D, patch_dim=D) as store:
                try:
                    for i in range(10_000):
                        store.add_keyframe(float(i), i, "s", (0.1 * i, 1.6, 0.0, 0.0, 0.0),
                                           unit(data.standard_normal(D)), unit(data.standard_normal((196, D))), GRID)
                except StorageError as e:
                    error = e
                except Exception as e:  # noqa: BLE001 (counted: anything but StorageError is a failure)
                    error = None
                    print(f"full disk {k}: {type(e).__name__}: {e}", file=sys.stderr)
            out["clean_error"] += error is not None
            with MemoryStore.open_existing(folder) as store:
                n = store.count()
                failed = [f for f in store.verify() if not f.startswith("saved index")]  # unsaved on a full disk
                ok = not failed and len(store.search_keyframes(unit(np.ones(D)), 3)) == 3
                ok = ok and store.forget_between(0.0, 5.0).keyframes == min(n, 6)
                if not ok:
                    print(f"full disk {k}: {n} keyframes, verify: {failed}", file=sys.stderr)
            out["usable_after"] += ok
            subprocess.run(["mount", "-o", f"remount,size={size_kb + 20_000}k", str(target)], check=True)  # room
            with MemoryStore.open_existing(folder) as store:
                store.add_keyframe(1e6, 0, "s", None, unit(np.ones(D)), unit(np.ones((196, D))), GRID)
                out["writes_resume"] += store.verify() == []
        finally:
            subprocess.run(["umount", str(target)], check=True)
    return out


def byte_changes(trials: int, rng: random.Random, work: Path) -> dict[str, int]:
    from device.answering.baseline import where_is
    from device.answering.no_camera import memory_assistant
    from device.app.replay import replay
    from device.session import Utterance, read_session
    from memory import MemoryStore, MemoryStoreError

    base = work / "replayed"
    replay(read_session(ROOT / "demo" / "session"), None, base)

    def answers(folder: Path) -> list[str]:
        with MemoryStore.open_existing(folder) as store:
            assistant, t = memory_assistant(store)
            # the answers' words up to the evidence: when it is said ("5 s ago") moves with the clock
            return [assistant.on_utterance(Utterance(t, where_is(i.name)), t).text.split(" ago")[-1]
                    for i in store.items()]

    truth = answers(base)
    size = (base / "memory.db").stat().st_size
    out = {"trials": trials, "found": 0, "changed_an_answer": 0, "changed_an_answer_and_found": 0}
    for k in range(trials):
        folder = shutil.copytree(base, work / f"bytes-{k}")
        with open(folder / "memory.db", "r+b") as f:
            f.seek(offset := rng.randrange(size))
            old = f.read(1)
            f.seek(offset)
            f.write(bytes([old[0] ^ rng.randrange(1, 256)]))
        try:
            with MemoryStore.open_existing(folder, repair=False) as store:
                found = bool(store.verify())
            changed = answers(folder) != truth
        except (MemoryStoreError, sqlite3.DatabaseError):
            found, changed = True, True  # refused with a clear error: nothing answers from it
        out["found"] += found
        out["changed_an_answer"] += changed
        out["changed_an_answer_and_found"] += changed and found
        shutil.rmtree(folder)
    return out


def main() -> int:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--forget-kills", type=int, default=200)
    parser.add_argument("--replay-kills", type=int, default=200)
    parser.add_argument("--full-disks", type=int, default=50)
    parser.add_argument("--byte-changes", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/BENCHMARKS.md alone")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rng = random.Random(args.seed)
    started = time.perf_counter()
    figures = {}
    with tempfile.TemporaryDirectory(prefix="ami-reliability-") as tmp:
        for name, run, n in (("forget kills", forget_kills, args.forget_kills),
                             ("replay kills", replay_kills, args.replay_kills),
                             ("full disks", full_disks, args.full_disks),
                             ("byte changes", byte_changes, args.byte_changes)):
            if n > 0:
                (Path(tmp) / name.replace(" ", "-")).mkdir()
                figures[name] = run(n, rng, Path(tmp) / name.replace(" ", "-"))
                print(name, figures[name], flush=True)
    rows = [f"| {name} | {f['trials']} | " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in f.items()
                                                       if k != "trials") + " |" for name, f in figures.items()]
    body = "\n".join([
        f"`.venv/bin/python benchmarks/reliability.py --forget-kills {args.forget_kills} --replay-kills "
        f"{args.replay_kills} --full-disks {args.full_disks} --byte-changes {args.byte_changes} --seed {args.seed}` "
        f"({dt.date.today()}, {(time.perf_counter() - started) / 60:.0f} min on this machine, torch on 1 thread).",
        "", "| fault, at random points | trials | outcomes (each out of the trials) |", "|---|---|---|", *rows])
    print(body)
    if not args.no_write:
        write_section("reliability", body, "## Reliability at random points (issue 27)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
