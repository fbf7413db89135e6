"""Cold start, whole process: `ami replay demo/session` and `ami ask --audio` (a 2 s question),
today's code beside an earlier revision's, in one run on this machine.

The earlier revision is checked out into a temporary git worktree and run with this virtual
environment's Python from there (so its own code and artifacts load). Each command runs
--repeats times per revision, alternating, and the median wall time is reported with the ratio.

    python benchmarks/cold_start.py --before HEAD~1 [--repeats 3] [--no-write]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/report.py

from report import write_section  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
QUESTION = "where are my keys"


def _run(cwd: Path, *argv: str) -> float:
    """Wall seconds of `python -m device ARGV` run in `cwd` on 1 thread; raise on failure."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "device", *argv], cwd=cwd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"`ami {' '.join(argv)}` in {cwd} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return wall


def measure(checkouts: dict[str, Path], repeats: int, work: Path, wav: Path) -> dict[str, dict[str, list[float]]]:
    times: dict[str, dict[str, list[float]]] = {name: {"replay": [], "ask": []} for name in checkouts}
    for k in range(repeats):
        for name, cwd in checkouts.items():
            mem = work / f"{name}-mem-{k}"  # each revision's own memory (its own schema)
            times[name]["replay"].append(_run(cwd, "replay", "demo/session", "--out", str(work / f"{name}-{k}.jsonl"),
                                              "--memory", str(mem), "--quiet"))
            times[name]["ask"].append(_run(cwd, "ask", "--audio", str(wav), "--memory", str(mem), "--no-speak"))
            print(f"round {k + 1}/{repeats} {name}: replay {times[name]['replay'][-1]:.1f} s, "
                  f"ask {times[name]['ask'][-1]:.1f} s", flush=True)
    return times


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--before", default="HEAD~1", help="the earlier revision to compare with (default: HEAD~1)")
    p.add_argument("--repeats", type=int, default=3, help="runs per command and revision (default: 3)")
    p.add_argument("--no-write", action="store_true", help="print only; leave docs/BENCHMARKS.md alone")
    args = p.parse_args(argv)
    from device.speech.tts import Speaker, SpeakerConfig

    rev = subprocess.run(["git", "rev-parse", "--short", args.before], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="ami-cold-") as tmp:
        work = Path(tmp)
        before = work / "before"
        subprocess.run(["git", "worktree", "add", "--detach", str(before), rev], cwd=ROOT, check=True,
                       capture_output=True)
        try:
            wav = work / "q.wav"
            Speaker(SpeakerConfig()).to_wav(QUESTION, str(wav))
            times = measure({"before": before, "today": ROOT}, args.repeats, work, wav)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(before)], cwd=ROOT, check=True)
    med = {name: {cmd: statistics.median(v) for cmd, v in t.items()} for name, t in times.items()}
    rows = [f"| `ami {cmd}` | {med['before'][cmd]:.1f} | {med['today'][cmd]:.1f} | "
            f"{med['before'][cmd] / med['today'][cmd]:.2f}x |" for cmd in ("replay", "ask")]
    body = "\n".join([
        f"Measured {dt.date.today().isoformat()} with `.venv/bin/python benchmarks/cold_start.py --before {rev} "
        f"--repeats {args.repeats}`: whole processes, one thread, median of {args.repeats} runs each, alternating "
        f"revisions in one run. `ami replay demo/session --memory M` (the bundled demo, into a new memory), then "
        f"`ami ask --audio` with \"{QUESTION}\" (espeak-ng's 22.05 kHz wav, resampled to 16 kHz on load) on "
        "that memory.",
        "",
        f"| command | before ({rev}), s | today, s | speed-up |",
        "|---|---|---|---|",
        *rows,
    ])
    print(body)
    if not args.no_write:
        write_section("cold-start", body, "## Cold start, whole process (issue 25)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
