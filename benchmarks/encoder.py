"""Benchmark the encoder runtimes on the same real keyframes: eager fp32, XNNPACK fp32, XNNPACK int8.

One run, 1 thread. Per keyframe: latency (median, p90) of the whole encode (resize, network,
L2) and of the network alone, `.pte` size, and parity against eager on held-out keyframes
(export/verify.py: cosine, enrollment, sightings, top-1 search). A reference row shows how far
eager moves from itself when each pixel gets +-1 grey level of noise: the model's own noise
floor. Then `ami replay` of the demo session through each runtime: same answers, and frames/s.

The shipped fp32 program (backbone + instance head) is measured as shipped; the int8 program is
rebuilt here exactly as `ami export` builds it (its search for the blocks kept in fp32 included; the
shipped one is timed by benchmarks/encoder_default.py); `--model frozen` builds both programs of the
frozen trunk alone. Sessions are
development seeds, recorded once into --work: calibration 10-12, held-out 20-21. Run:

    .venv/bin/python benchmarks/encoder.py [--model frozen]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from report import BENCH_MD, ROOT, write_section

if TYPE_CHECKING:
    from export.verify import VerifyReport

sys.path.insert(0, str(ROOT))
HEADING = "## Encoder, the frozen trunk alone: `ami export --model frozen` (issue 4)"
INSTANCE_HEADING = "## Encoder, the shipped network (trunk + instance head): `ami export` (issues 4 and 8)"


def instance_notes(parity: dict[str, VerifyReport]) -> str:
    """What the figures of `--model instance` mean, from this run's parity."""
    i8 = parity["XNNPACK int8"]
    return (
        "What this means: these are the figures for the network the glasses run (MobileNetV2 stride-8 and "
        "stride-16 features plus the learned instance head, 64-d per cell), against the eager instance encoder. "
        f"The int8 program, its most sensitive blocks kept in fp32, reaches a cosine of {i8.cosine_mean:.4f} "
        f"(eager's own under +-1 grey level: {i8.floor_cosine_mean:.4f}) and its sightings, the decision the "
        f"answers rest on, agree on {i8.sighting_agreement:.1%} of (frame, item) pairs (eager's own: "
        f"{i8.floor_sighting_agreement:.1%}); `ami export` lets it through when that is 99% or eager's own, and "
        "when whole replays give eager's answers (docs/export.md). The two rank decisions, the enrollment cells "
        f"and the top-1 keyframe, move under one grey level in eager itself ({i8.floor_enroll_agreement:.1%} / "
        f"{i8.floor_search_agreement:.1%} kept), so they are reported, not gated.")


RUNTIMES = ("eager fp32", "XNNPACK fp32", "XNNPACK int8")
NOTES = """What this means (the frozen trunk alone, `--model frozen`: the device's network before the instance
head; the shipped network is in the section below):
- **XNNPACK fp32** agrees with eager on every decision measured (cosine 1.0000 to 4 places), and it
  gives the demo's answers at about twice eager's frames/s.
- **int8 of the whole trunk is fast and small, and far from eager.** Static per-channel
  PT2E int8 moves the stride-16 patch features far from eager on these renders. Decisions that hang
  on exact ranks then flip: the three enrollment cells, and the top-1 keyframe. The demo's answers
  change too. The row "eager on the frame +-1 grey level" is the noise floor: one grey level of pixel
  noise already costs eager half of its own enrollment choices. So no int8 scheme can reach 99%
  agreement on these decisions as they are defined. int8 is also well below that floor (cosine 0.88
  against 0.98). Weight-only int8 already costs 0.967 cosine, mostly in the depthwise convolutions.
  Keeping those in fp32 raised the cosine only to about 0.95 in a simulation.
- Speed: on this CPU (AVX2, no VNNI) int8 is still faster than XNNPACK fp32 for this network. The
  ratios move with the load on the shared cores, so compare them within one run."""


def sessions_for(seeds: list[int], folder: Path) -> list[Path]:
    from device.sim.record import RecordConfig, record_session

    out = []
    for s in seeds:
        path = folder / f"seed{s}"
        if not (path / "session.json").is_file():
            record_session(path, RecordConfig(seed=s, short=True), progress=False)
        out.append(path)
    return out


def build_programs(work: Path, calib: list[Path], verify: list[Path], model: str) -> tuple[Path, Any]:
    """fp32 + int8 of `model` built as `ami export` does (instance, the shipped model: the shipped
    fp32 and a new int8), staged with a manifest; its path and the eager reference."""
    from device.perception.encoder_manifest import read_manifest
    from device.perception.encoder_pte import DEFAULT_MANIFEST
    from export.run import ExportConfig, lower_all, reference_encoder, stage_programs

    config = ExportConfig(calib_sessions=tuple(calib), verify_sessions=tuple(verify), model=model,
                          variants=("int8",) if model == "instance" else ("fp32", "int8"))
    reference = reference_encoder(config)
    programs, calibration = lower_all(config, config.calib_sessions, reference)
    if model == "instance":
        shipped = read_manifest(DEFAULT_MANIFEST).programs["fp32"]
        programs["fp32"] = (DEFAULT_MANIFEST.parent / shipped.file).read_bytes()
    folder = work / f"programs-{model}"
    folder.mkdir(parents=True, exist_ok=True)
    stage_programs(folder, programs, config, reference, calibration)
    return folder / "manifest.json", reference


def latency(encoders: dict[str, Any], frames: list[np.ndarray]) -> dict[str, dict[str, float]]:
    """Median and p90 ms per keyframe, whole encode and network only; runtimes interleaved per frame."""
    from device.perception.encoder import to_input

    inputs = [to_input(f, 224) for f in frames]
    for name, enc in encoders.items():  # warm-up
        for f in frames[:5]:
            enc.encode(f)
    whole: dict[str, list[float]] = {n: [] for n in encoders}
    net: dict[str, list[float]] = {n: [] for n in encoders}
    names = list(encoders)
    for k, (f, x) in enumerate(zip(frames, inputs)):
        for name in names[k % len(names):] + names[:k % len(names)]:  # rotate who goes first
            enc = encoders[name]
            t0 = time.perf_counter()
            enc.encode(f)
            t1 = time.perf_counter()
            enc.features(x)
            t2 = time.perf_counter()
            whole[name].append((t1 - t0) * 1e3)
            net[name].append((t2 - t1) * 1e3)
    return {n: {"median": float(np.median(whole[n])), "p90": float(np.percentile(whole[n], 90)),
                "net_median": float(np.median(net[n])), "net_p90": float(np.percentile(net[n], 90))}
            for n in encoders}


def replay_compare(encoders: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Replay the demo session through each runtime: frames/s and answers equal to eager's."""
    from device.app.demo import DEMO_SESSION
    from device.app.replay import ReplayConfig, replay
    from device.session import read_session

    session = read_session(DEMO_SESSION)
    out: dict[str, dict[str, float]] = {}
    answers: dict[str, list[tuple[Any, ...]]] = {}
    for name, enc in encoders.items():
        r = replay(session, None, config=ReplayConfig(progress=False), encoder=enc)
        answers[name] = [(x.kind, x.item, x.text, x.abstain, None if x.evidence is None else x.evidence.frame)
                         for x in r.responses]
        out[name] = {"fps": r.frames_per_s, "responses": len(r.responses), "keyframes": r.keyframes}
    ref = answers["eager fp32"]
    for name in encoders:
        out[name]["same"] = float(sum(a == b for a, b in zip(answers[name], ref)) / max(1, len(ref)))
    return out


def markdown(lat: dict[str, dict[str, float]], parity: dict[str, VerifyReport], sizes: dict[str, str],
             replays: dict[str, dict[str, float]], n_frames: int, command: str, load: str, notes: str) -> str:
    def pct(v: float) -> str:
        return f"{100 * v:.1f}%"

    eager = lat["eager fp32"]["median"]
    rows = ["| runtime | ms per keyframe, median (p90) | network only, median (p90) | speed-up vs eager | .pte size |"
            " cosine mean (p01) | decisions agree (enrollment / sightings / top-1 search) |",
            "|---|---|---|---|---|---|---|"]
    for name in RUNTIMES:
        lt, p = lat[name], parity.get(name)
        par = "reference | reference" if p is None else (
            f"{p.cosine_mean:.4f} ({p.cosine_p01:.4f}) | {pct(p.frame_agreement)} ({pct(p.enroll_agreement)} / "
            f"{pct(p.sighting_agreement)} / {pct(p.search_agreement)})")
        rows.append(f"| {name} | {lt['median']:.1f} ({lt['p90']:.1f}) | {lt['net_median']:.1f} ({lt['net_p90']:.1f}) | "
                    f"{eager / lt['median']:.2f}x | {sizes.get(name, '-')} | {par} |")
    noise = parity["eager, +-1 grey level"]
    rows.append(f"| eager on the frame +-1 grey level (noise floor) | - | - | - | - | {noise.cosine_mean:.4f} "
                f"({noise.cosine_p01:.4f}) | {pct(noise.frame_agreement)} ({pct(noise.enroll_agreement)} / "
                f"{pct(noise.sighting_agreement)} / {pct(noise.search_agreement)}) |")
    rep = ["| runtime | frames/s | vs eager | responses identical to eager |", "|---|---|---|---|"]
    for name in RUNTIMES:
        r = replays[name]
        rep.append(f"| {name} | {r['fps']:.1f} | {r['fps'] / replays['eager fp32']['fps']:.2f}x | "
                   f"{pct(r['same'])} of {int(r['responses'])} |")
    i8, p8 = lat["XNNPACK int8"]["median"], parity["XNNPACK int8"]
    goals = [
        f"- int8 >= 4x faster than eager fp32: **{eager / i8:.1f}x** per keyframe "
        f"({'met' if eager / i8 >= 4 else 'not met'}); XNNPACK fp32 is {eager / lat['XNNPACK fp32']['median']:.1f}x.",
        f"- cosine >= 0.99: int8 **{p8.cosine_mean:.4f}** ({'met' if p8.cosine_mean >= 0.99 else 'not met'}); "
        f"fp32 {parity['XNNPACK fp32'].cosine_mean:.4f}.",
        f"- sightings agree on 99% of (frame, item) pairs, or on eager's own {pct(p8.floor_sighting_agreement)}: "
        f"int8 **{pct(p8.sighting_agreement)}** ({'met' if p8.passed else 'not met'}); "
        f"fp32 {pct(parity['XNNPACK fp32'].sighting_agreement)}.",
        f"- int8 .pte <= 4 MB: **{sizes['XNNPACK int8']}** "
        f"({'met' if float(sizes['XNNPACK int8'].split()[0]) * 2**20 <= 4e6 else 'not met'}).",
    ]
    return "\n".join([
        f"Measured {dt.date.today().isoformat()} with `{command}`: 1 thread; latency over {n_frames} keyframes "
        f"spread over the held-out sessions, parity over all {p8.frames} keyframes of {', '.join(p8.sessions)} "
        "(short sessions of development seeds; int8 calibrated on seeds 10-12). The 2 cores were shared: "
        f"1-minute load average {load}, so absolute times are noisy; the runtimes are interleaved frame by "
        "frame, so the ratios are fairer.", "", *rows, "",
        "`ami replay demo/session` through each runtime (temporary memory):", "", *rep, "", "Goals:", *goals, "",
        notes])


def main() -> int:
    from export.run import MODELS

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=ROOT / "out" / "bench-encoder", help="sessions and programs cache")
    ap.add_argument("--calib-seeds", type=int, nargs="+", default=[10, 11, 12], help="calibration seeds (int8)")
    ap.add_argument("--verify-seeds", type=int, nargs="+", default=[20, 21], help="held-out seeds for parity")
    ap.add_argument("--frames", type=int, default=120, help="keyframes timed per runtime (default: 120)")
    ap.add_argument("--no-replay", action="store_true", help="skip the demo replays")
    ap.add_argument("--model", choices=MODELS, default="instance",
                    help="instance: the shipped trunk + instance head (section 'encoder-instance'); frozen: the "
                         "trunk alone (section 'encoder')")
    ap.add_argument("--no-write", action="store_true", help="print only; leave docs/BENCHMARKS.md alone")
    args = ap.parse_args()

    import torch

    load0 = os.getloadavg()[0]
    torch.set_num_threads(1)
    from device.perception.encoder import EncoderConfig
    from device.perception.encoder_pte import PteEncoder
    from device.session import read_session
    from export.frames import session_keyframes
    from device.perception.encoder import NoisyFrames
    from export.verify import verify_encoder

    calib = sessions_for(args.calib_seeds, args.work / "sessions")
    verify = sessions_for(args.verify_seeds, args.work / "sessions")
    manifest, eager = build_programs(args.work, calib, verify, args.model)
    encoders = {"eager fp32": eager,
                "XNNPACK fp32": PteEncoder(EncoderConfig(variant="fp32", manifest=manifest)),
                "XNNPACK int8": PteEncoder(EncoderConfig(variant="int8", manifest=manifest))}
    sizes = {n: f"{e.entry.bytes / 2**20:.2f} MiB" for n, e in encoders.items() if isinstance(e, PteEncoder)}
    frames = []
    for d in verify:
        s = read_session(d)
        frames += [s.load_frame(i) for i in session_keyframes(d)]
    frames = [frames[int(k * len(frames) / args.frames)] for k in range(min(args.frames, len(frames)))]
    lat = latency(encoders, frames)
    parity = {n: verify_encoder(e, eager, verify) for n, e in encoders.items() if n != "eager fp32"}
    parity["eager, +-1 grey level"] = verify_encoder(NoisyFrames(eager), eager, verify)
    replays = {n: {"fps": float("nan"), "same": float("nan"), "responses": 0} for n in encoders}
    if not args.no_replay:
        replays = replay_compare(encoders)
    command = ("python benchmarks/encoder.py" + (" --no-replay" if args.no_replay else "")
               + ("" if args.model == "instance" else f" --model {args.model}"))
    load = f"{load0:.1f} at the start, {os.getloadavg()[0]:.1f} at the end"
    frozen = args.model == "frozen"
    notes = NOTES if frozen else instance_notes(parity)
    section = markdown(lat, parity, sizes, replays, len(frames), command, load, notes)
    print(section)
    if not args.no_write:
        write_section("encoder" if frozen else "encoder-instance", section, HEADING if frozen else INSTANCE_HEADING)
        print(f"updated {BENCH_MD}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
