"""Score the answerers on held-out MiniWorld seeds and measure replay speed, in one run.

Records each seed's session (cached under --work), replays it once per answerer (the retrieval
baseline, then the default world model) on 1 thread, scores both with `ami eval`'s code, and
rewrites the "baseline" section of docs/BENCHMARKS.md with the figures, the command and the date.

Seeds: 0-99 are development seeds (the demo is seed 7). 1000-1019 are held out: never used
while developing (1010-1019 joined for issue 6; each is recorded once into --work and reused).
The lead runs the held-out figure once, on the final code:

    .venv/bin/python benchmarks/baseline.py --seeds 1000-1019 --encoders pte,frozen

`--encoders` adds a pair of columns per encoder runtime: the shipped `.pte` (the default: the
backbone plus the learned instance head of issue 8) and the frozen trunk without the head
(`--encoder frozen`, eager), so the head's downstream effect is measured on the same sessions in
the same run.

To check that the script works, run it on development seeds without writing the section:

    .venv/bin/python benchmarks/baseline.py --seeds 0-1 --work /tmp/bench-check --no-write
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

from report import ROOT, fmt, metric_rows, parse_seeds, write_section

HELD_OUT = "1000-1019"
ANSWERERS = ("baseline", "world-model")


ENCODERS = {"pte": "instance head .pte", "frozen": "frozen trunk"}  # the default, and the perception it replaced
ANSWERER_NAMES = {"baseline": "baseline (last confident sighting)", "world-model": "world model (default)"}


def render_section(m: dict[str, dict[str, Any]], speed: dict[str, dict[str, float]], seeds: str,
                   command: str) -> str:
    """m and speed are keyed "<encoder>/<answerer>", in column order."""
    cols = list(m)
    first = speed[cols[0]]
    kind = "held-out" if min(parse_seeds(seeds)) >= 1000 else "development"
    encoders = list(dict.fromkeys(c.split("/")[0] for c in cols))

    def name(c: str) -> str:
        enc, ans = c.split("/")
        return f"{ans} ({ENCODERS[enc]})" if len(encoders) > 1 else ANSWERER_NAMES[ans]

    head = "| metric | " + " | ".join(name(c) for c in cols) + " |"
    rule = "|---" * (len(cols) + 1) + "|"
    return "\n".join([
        f"Measured {dt.date.today().isoformat()} with `{command}` ({kind} seeds {seeds}, "
        f"{int(first['sessions'])} sessions, 128x128 frames, encoder on 1 thread, each session replayed "
        "once per column).",
        "",
        head, rule,
        *metric_rows([m[c] for c in cols]),
        "",
        "Replay speed (`ami replay`: decode, keyframe gate, encode, store, answer), same run:",
        "",
        head.replace("| metric |", "| figure |"), rule,
        "| frames replayed | " + " | ".join(str(int(speed[c]["frames"])) for c in cols) + " |",
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
    ap.add_argument("--encoders", default="pte", help=f"comma-separated encoder runtimes, each a set of columns "
                    f"(default: pte; choices: {', '.join(ENCODERS)})")
    ap.add_argument("--no-write", action="store_true", help="print only; leave docs/BENCHMARKS.md alone")
    ap.add_argument("--belief", action="append", default=[], metavar="FIELD=VALUE",
                    help="an ablation: the world model with this worldmodel.belief.BeliefConfig field changed, e.g. "
                         "margin_scale=0.05 (repeatable; implies --no-write)")
    args = ap.parse_args()
    belief = {}
    for item in args.belief:
        name, _, value = item.partition("=")
        try:
            belief[name] = int(value) if value.lstrip("-").isdigit() else float(value)
        except ValueError:
            ap.error(f"--belief {item!r}: expected FIELD=NUMBER, e.g. margin_scale=0.05")
    encoders = args.encoders.split(",")
    if unknown := [e for e in encoders if e not in ENCODERS]:
        ap.error(f"--encoders: unknown {unknown}; choose from {list(ENCODERS)}")
    cols = [f"{e}/{a}" for e in encoders for a in ANSWERERS]

    import torch

    torch.set_num_threads(1)
    from device.answering.assistant import AssistantConfig
    from device.answering.wm_config import WorldModelConfig
    from worldmodel.belief import BeliefConfig

    known = [f.name for f in dataclasses.fields(BeliefConfig)]
    if unknown_fields := sorted(set(belief) - set(known)):
        ap.error(f"--belief: BeliefConfig has no field {', '.join(unknown_fields)}; its fields: {', '.join(known)}")
    try:
        world_model = WorldModelConfig(belief=BeliefConfig(**belief),  # type: ignore[arg-type]
                                       margin_scale_from_encoder="margin_scale" not in belief)
    except ValueError as e:
        ap.error(f"--belief: {e}")
    from device.perception.encoder import EncoderConfig
    from device.evaluation.evaluate import score_alerts, score_queries, summarize
    from device.app.replay import ReplayConfig, replay
    from device.session import read_session
    from device.sim.record import RecordConfig, recorded

    queries: dict[str, list[Any]] = {c: [] for c in cols}
    alerts: dict[str, list[Any]] = {c: [] for c in cols}
    speed = {c: {"sessions": 0.0, "frames": 0.0, "keyframes": 0.0, "wall_s": 0.0, "session_s": 0.0}
             for c in cols}
    for seed in parse_seeds(args.seeds):
        session = read_session(recorded(args.work / "sessions" / f"seed-{seed}", RecordConfig(seed=seed)))
        for c in cols:
            enc, a = c.split("/")
            config = ReplayConfig(assistant=AssistantConfig(answerer=a, world_model=world_model),
                                  encoder=EncoderConfig(runtime=enc), progress=False)
            result = replay(session, args.work / f"responses-{enc}-{a}-{seed}.jsonl", config=config)
            queries[c] += score_queries(session, result.responses)
            alerts[c].append(score_alerts(session, result.responses))
            s = speed[c]
            s["sessions"] += 1
            s["frames"] += result.frames
            s["keyframes"] += result.keyframes
            s["wall_s"] += result.wall_s  # the replay loop only: model loading is not counted
            s["session_s"] += session.duration_s
            print(f"seed {seed} {c}: {result.frames} frames in {result.wall_s:.1f} s", file=sys.stderr)
    metrics = {c: summarize(queries[c], alerts[c]) for c in cols}
    (args.work / "baseline.json").write_text(json.dumps({"metrics": metrics, "speed": speed}, indent=2))
    command = f".venv/bin/python benchmarks/baseline.py --seeds {args.seeds}" + (
        f" --encoders {args.encoders}" if args.encoders != "pte" else "") + "".join(f" --belief {b}" for b in
                                                                                  args.belief)
    section = render_section(metrics, speed, args.seeds, command)
    print(section)
    if not args.no_write and not belief:
        write_section("baseline", section, "## Replay end to end on held-out houses (issue 2)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
