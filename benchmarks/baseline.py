"""Benchmark the answerer on held-out MiniWorld seeds and measure replay speed.

Records each seed's session (cached under --work), replays it on 1 thread, scores it, pools the
metrics, and rewrites the "baseline" section of docs/BENCHMARKS.md with the figures, the command
and the date.

Seeds: 0-99 are development seeds (the demo is seed 7; tuning used seeds 0-4). 1000-1009 are
held out: never used while developing. Run:

    .venv/bin/python benchmarks/baseline.py --seeds 1000-1009
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

from report import ROOT, fmt, parse_seeds, write_section

HELD_OUT = "1000-1009"


def render_section(m: dict, speed: dict, seeds: str, command: str) -> str:
    loc, al = m["locate"], m["alerts"]
    return "\n".join([
        f"Measured {dt.date.today().isoformat()} with `{command}` "
        f"(seeds {seeds}, {speed['sessions']} sessions, 128x128 frames, encoder on 1 thread).",
        "",
        "| metric | baseline (last confident sighting) |",
        "|---|---|",
        f"| room accuracy ({loc['queries_seen_items']} queries about seen items) | {fmt(loc['room_accuracy'], True)} |",
        f"| false abstention on seen items | {fmt(loc['false_abstention_rate'], True)} |",
        f"| median position error (m) | {fmt(loc['median_position_error_m'])} |",
        f"| abstention on never-seen items ({loc['queries_never_seen']} queries) | {fmt(loc['abstention_on_never_seen'], True)} |",
        f"| left-item alerts: true events / alerts / matched | {al['true_events']} / {al['alerts']} / {al['matched']} |",
        f"| left-item precision / recall / F1 | {fmt(al['precision'], True)} / {fmt(al['recall'], True)} / {fmt(al['f1'], True)} |",
        f"| left-item median delay after leaving the room (s) | {fmt(al['median_delay_s'])} |",
        f"| answer latency median / p90 (s, wall clock) | {fmt(m['latency']['median_s'])} / {fmt(m['latency']['p90_s'])} |",
        "",
        "Replay speed (`ami replay`: decode, keyframe gate, encode, store, answer), same run:",
        "",
        "| figure | value |",
        "|---|---|",
        f"| frames replayed | {speed['frames']} |",
        f"| keyframes stored (fraction of frames) | {speed['keyframes']} ({fmt(speed['keyframes'] / speed['frames'], True)}) |",
        f"| frames per second | {speed['frames'] / speed['wall_s']:.1f} |",
        f"| speed relative to real time (session seconds per wall second) | {speed['session_s'] / speed['wall_s']:.1f}x |",
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

    queries, alerts = [], []
    speed = {"sessions": 0, "frames": 0, "keyframes": 0, "wall_s": 0.0, "session_s": 0.0}
    for seed in parse_seeds(args.seeds):
        folder = args.work / "sessions" / f"seed-{seed}"
        if not folder.exists():
            record_session(folder, RecordConfig(seed=seed), progress=False)
        session = read_session(folder)
        result = replay(session, args.work / f"responses-{seed}.jsonl", config=ReplayConfig(assistant=AssistantConfig(answerer="baseline"), progress=False))
        wall = result.wall_s  # the replay loop only: model loading is not counted
        queries += score_queries(session, result.responses)
        alerts.append(score_alerts(session, result.responses))
        speed["sessions"] += 1
        speed["frames"] += result.frames
        speed["keyframes"] += result.keyframes
        speed["wall_s"] += wall
        speed["session_s"] += session.duration_s
        print(f"seed {seed}: {result.frames} frames in {wall:.1f} s", file=sys.stderr)
    metrics = summarize(queries, alerts)
    (args.work / "baseline.json").write_text(json.dumps({"metrics": metrics, "speed": speed}, indent=2))
    command = f".venv/bin/python benchmarks/baseline.py --seeds {args.seeds}"
    section = render_section(metrics, speed, args.seeds, command)
    print(section)
    if not args.no_write:
        write_section("baseline", section, "## Answering v0: the baseline (issue 2)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
