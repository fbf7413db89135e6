"""Score the answerers on held-out MiniWorld seeds and measure replay speed, in one run.

Records each seed's session (cached under --work), replays it once per answerer (the retrieval
baseline, then the default world model) on 1 thread, scores both with `ami eval`'s code, and
rewrites the "baseline" section of docs/BENCHMARKS.md with the figures, the command and the date.

Seeds: 0-99 are development seeds (the demo is seed 7). 1000-1019 are held out: never used
while developing (1010-1019 joined for issue 6; each is recorded once into --work and reused).
The lead runs the held-out figure once, on the final code:

    .venv/bin/python benchmarks/baseline.py --seeds 1000-1019

To check that the script works, run it on development seeds without writing the section:

    .venv/bin/python benchmarks/baseline.py --seeds 0-1 --work /tmp/bench-check --no-write
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

from report import ROOT, fmt, metric_rows, parse_seeds, write_section

HELD_OUT = "1000-1019"
ANSWERERS = ("baseline", "world-model")


def render_section(m: dict[str, dict[str, Any]], speed: dict[str, dict[str, float]], seeds: str,
                   command: str) -> str:
    b, w = m["baseline"], m["world-model"]
    sb = speed["baseline"]
    kind = "held-out" if min(parse_seeds(seeds)) >= 1000 else "development"
    return "\n".join([
        f"Measured {dt.date.today().isoformat()} with `{command}` ({kind} seeds {seeds}, "
        f"{int(sb['sessions'])} sessions, 128x128 frames, encoder on 1 thread, each session replayed "
        "once per answerer).",
        "",
        "| metric | baseline (last confident sighting) | world model (default) |",
        "|---|---|---|",
        *metric_rows([b, w]),
        "",
        "Replay speed (`ami replay` with its defaults: decode, keyframe gate, encode with the shipped "
        "XNNPACK fp32 `.pte`, store, answer), same run:",
        "",
        "| figure | baseline | world model |",
        "|---|---|---|",
        f"| frames replayed | {int(sb['frames'])} | {int(speed['world-model']['frames'])} |",
        "| keyframes stored (fraction of frames) | " + " | ".join(
            f"{int(s['keyframes'])} ({fmt(s['keyframes'] / s['frames'], True)})" for s in speed.values()) + " |",
        "| frames per second | " + " | ".join(f"{s['frames'] / s['wall_s']:.1f}" for s in speed.values()) + " |",
        "| speed relative to real time (session seconds per wall second) | " + " | ".join(
            f"{s['session_s'] / s['wall_s']:.1f}x" for s in speed.values()) + " |",
    ])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default=HELD_OUT, help=f"seeds, e.g. 1000-1009 or 0,3,5 (default: {HELD_OUT})")
    ap.add_argument("--work", type=Path, default=ROOT / "out" / "bench", help="cache of recorded sessions")
    ap.add_argument("--no-write", action="store_true", help="print only; leave docs/BENCHMARKS.md alone")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(1)
    from device.assistant import AssistantConfig
    from device.evaluate import score_alerts, score_queries, summarize
    from device.replay import ReplayConfig, replay
    from device.session import read_session
    from device.sim.record import RecordConfig, record_session

    queries: dict[str, list[Any]] = {a: [] for a in ANSWERERS}
    alerts: dict[str, list[Any]] = {a: [] for a in ANSWERERS}
    speed = {a: {"sessions": 0.0, "frames": 0.0, "keyframes": 0.0, "wall_s": 0.0, "session_s": 0.0}
             for a in ANSWERERS}
    for seed in parse_seeds(args.seeds):
        folder = args.work / "sessions" / f"seed-{seed}"
        if not folder.exists():
            record_session(folder, RecordConfig(seed=seed), progress=False)
        session = read_session(folder)
        for a in ANSWERERS:
            config = ReplayConfig(assistant=AssistantConfig(answerer=a), progress=False)
            result = replay(session, args.work / f"responses-{a}-{seed}.jsonl", config=config)
            queries[a] += score_queries(session, result.responses)
            alerts[a].append(score_alerts(session, result.responses))
            s = speed[a]
            s["sessions"] += 1
            s["frames"] += result.frames
            s["keyframes"] += result.keyframes
            s["wall_s"] += result.wall_s  # the replay loop only: model loading is not counted
            s["session_s"] += session.duration_s
            print(f"seed {seed} {a}: {result.frames} frames in {result.wall_s:.1f} s", file=sys.stderr)
    metrics = {a: summarize(queries[a], alerts[a]) for a in ANSWERERS}
    (args.work / "baseline.json").write_text(json.dumps({"metrics": metrics, "speed": speed}, indent=2))
    command = f".venv/bin/python benchmarks/baseline.py --seeds {args.seeds}"
    section = render_section(metrics, speed, args.seeds, command)
    print(section)
    if not args.no_write:
        write_section("baseline", section, "## Replay end to end on held-out houses (issue 2)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
