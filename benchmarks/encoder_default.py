"""The shipped encoder programs side by side, in one run on this machine, 1 thread: per keyframe at
128 and 256 px (eager fp32, the `.pte` fp32, the `.pte` int8; all at the network's 224 px input),
their sizes, and whole replays of the demo session through the old default (fp32) and the new
(int8), alternating.

    .venv/bin/python benchmarks/encoder_default.py [--frames 80] [--repeats 2] [--no-write]

Keyframes: the demo session's (128 px) and the first foreign session's (256 px, ../shared/foreign/8001,
only timed: no answer is looked at).
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/report.py

from report import ROOT, write_section  # noqa: E402

if TYPE_CHECKING:
    from device.perception.encoder import EncoderRuntime

SESSIONS = {128: ROOT / "demo" / "session", 256: ROOT.parent / "shared" / "foreign" / "8001"}


def keyframes(session_dir: Path, n: int) -> list[np.ndarray]:
    from device.session import read_session
    from export.frames import session_keyframes

    s = read_session(session_dir)
    kf = session_keyframes(session_dir)
    return [s.load_frame(kf[int(k * len(kf) / n)]) for k in range(min(n, len(kf)))]


def per_keyframe_ms(encoders: dict[str, EncoderRuntime], frames: list[np.ndarray]) -> dict[str, float]:
    """Median ms of a whole encode (resize, network, L2) per keyframe; runtimes rotate per frame."""
    names = list(encoders)
    times: dict[str, list[float]] = {n: [] for n in names}
    for f in frames[:3]:
        for enc in encoders.values():
            enc.encode(f)
    for k, f in enumerate(frames):
        for name in names[k % len(names):] + names[:k % len(names)]:
            t0 = time.perf_counter()
            encoders[name].encode(f)
            times[name].append((time.perf_counter() - t0) * 1e3)
    return {n: statistics.median(v) for n, v in times.items()}


def replay_fps(precision: str) -> float:
    from device.app.replay import ReplayConfig, replay
    from device.perception.encoder import EncoderConfig
    from device.session import read_session

    r = replay(read_session(SESSIONS[128]), None, config=ReplayConfig(encoder=EncoderConfig(variant=precision),
                                                                      progress=False))
    return r.frames_per_s


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=80, help="keyframes timed per size (default: 80)")
    ap.add_argument("--repeats", type=int, default=2, help="demo replays per program, alternating (default: 2)")
    ap.add_argument("--no-write", action="store_true", help="print only; leave docs/BENCHMARKS.md alone")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    from device.perception.encoder import EncoderConfig
    from device.perception.encoder_manifest import read_manifest
    from device.perception.encoder_pte import DEFAULT_MANIFEST, PteEncoder
    from device.perception.instance_encoder import InstanceEncoder

    manifest = read_manifest(DEFAULT_MANIFEST)
    encoders: dict[str, EncoderRuntime] = {"eager fp32": InstanceEncoder(EncoderConfig(runtime="eager")),
                "`.pte` fp32 (the old default)": PteEncoder(EncoderConfig(variant="fp32")),
                "`.pte` int8 (the new default)": PteEncoder(EncoderConfig(variant="int8"))}
    ms = {px: per_keyframe_ms(encoders, keyframes(d, args.frames)) for px, d in SESSIONS.items()}
    fps: dict[str, list[float]] = {"fp32": [], "int8": []}
    for _ in range(args.repeats):
        for precision in fps:
            fps[precision].append(replay_fps(precision))
    sizes = {"eager fp32": "-",
             "`.pte` fp32 (the old default)": f"{manifest.programs['fp32'].bytes / 2**20:.2f} MiB",
             "`.pte` int8 (the new default)": f"{manifest.programs['int8'].bytes / 2**20:.2f} MiB"}
    base = {px: ms[px]["`.pte` fp32 (the old default)"] for px in ms}
    rows = [f"| {name} | {ms[128][name]:.1f} ({base[128] / ms[128][name]:.2f}x) | "
            f"{ms[256][name]:.1f} ({base[256] / ms[256][name]:.2f}x) | "
            f"{sizes[name]} |" for name in encoders]
    f32, i8 = statistics.median(fps["fp32"]), statistics.median(fps["int8"])
    body = "\n".join([
        f"`.venv/bin/python benchmarks/encoder_default.py` ({dt.date.today().isoformat()}, this machine, 1 thread, "
        f"{args.frames} keyframes per size, each runtime in turn per frame; medians). The network's input is "
        "224 px for all three (issue 22's per-resolution programs are not built).",
        "",
        "| runtime | ms per keyframe, 128 px frames (vs `.pte` fp32) | 256 px frames | program |",
        "|---|---|---|---|",
        *rows,
        "",
        f"Whole replay of demo/session (`ami replay`, no memory kept, {args.repeats} alternating runs each, median): "
        f"fp32 {f32:.1f} frames/s, int8 {i8:.1f} frames/s ({i8 / f32:.2f}x).",
    ])
    print(body)
    if not args.no_write:
        write_section("encoder-default", body, "## The encoder the glasses run: int8 by default (issue 22)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
