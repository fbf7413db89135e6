"""What evidence thumbnails cost a replay: frames/s with thumbnails and face blur on against off, in
one run, alternating, on the same sessions; and what they weigh (JPEG bytes per keyframe) and
find (faces blurred, thumbnails skipped because the blur could not vouch for them).

    .venv/bin/python benchmarks/thumbnails.py [SESSION ...] [--repeats 2] [--no-write]

Default session: demo/session (128 px). Torch runs on 1 thread; OpenCV on 1 thread.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import datetime as dt
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/report.py

from report import write_section  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def replay_once(session_dir: Path, thumbnails: bool) -> dict[str, float]:
    from device.answering.assistant import AssistantConfig
    from device.app.replay import ReplayConfig, replay
    from device.session import read_session
    from memory.store import MemoryStore

    session = read_session(session_dir)
    assistant = AssistantConfig() if thumbnails else dataclasses.replace(AssistantConfig(), thumbnails=None)
    with tempfile.TemporaryDirectory(prefix="ami-thumbs-") as tmp:
        result = replay(session, None, Path(tmp) / "memory", ReplayConfig(assistant=assistant, progress=False))
        with MemoryStore.open_existing(Path(tmp) / "memory") as store:
            stats = store.stats()
    return {"fps": result.frames / result.wall_s, "keyframes": result.keyframes,
            "thumbnails": stats["thumbnails"], "bytes": stats["thumbnail_bytes"], "faces": stats["faces_blurred"]}


def main() -> int:
    import cv2
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sessions", nargs="*", type=Path, default=[ROOT / "demo" / "session"])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/BENCHMARKS.md alone")
    args = parser.parse_args()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    rows = []
    for session in args.sessions:
        runs: dict[bool, list[dict[str, float]]] = {True: [], False: []}
        for _ in range(args.repeats):
            for on in (False, True):  # alternating, so drift in the machine hits both alike
                runs[on].append(replay_once(session, on))
                print(session.name, "on" if on else "off", runs[on][-1], flush=True)
        off, on = (statistics.median(r["fps"] for r in runs[k]) for k in (False, True))
        last = runs[True][-1]
        width = json.loads((session / "session.json").read_text())["width"]
        name = session.resolve().relative_to(ROOT) if session.resolve().is_relative_to(ROOT) else session.name
        frames = len((session / "frames.jsonl").read_text().splitlines())
        per_keyframe_ms = 1000 * (frames / on - frames / off) / max(last["keyframes"], 1)
        rows.append(f"| {name} ({width} px) | {off:.1f} | {on:.1f} | {on / off:.2f} | {per_keyframe_ms:.0f} | "
                    f"{last['thumbnails']} of {last['keyframes']} | "
                    f"{last['bytes'] / max(last['thumbnails'], 1):,.0f} | {last['faces']} |")
    body = "\n".join([
        f"`.venv/bin/python benchmarks/thumbnails.py {' '.join(str(s) for s in args.sessions)}` "
        f"({dt.date.today()}, this machine, torch and OpenCV on 1 thread, median of {args.repeats} alternating "
        "whole replays each). Goal: on/off 0.8 or more.",
        "",
        "| session | frames/s, thumbnails off | on (face blur + JPEG) | on / off | ms per keyframe | "
        "keyframes with one | JPEG bytes per thumbnail | faces blurred |",
        "|---|---|---|---|---|---|---|---|",
        *rows,
    ])
    print(body)
    if not args.no_write:
        write_section("thumbnails", body, "## Evidence thumbnails: what they cost a replay (issue 24)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
