"""Score perception per frame against the recorder's truth: the frozen baseline beside the instance head.

For every enrolled item of every session: prototypes from the enrollment glance, then every
second frame (5 fps) outside the glance is scored (device/training/perception_eval.py). Figures:
- recall of frames where the item is truly visible, at the one threshold (shared by all items)
  that 1% of the negative frames clear, split by distance;
- the same at the threshold chosen on the training seeds (the operating point), with the false
  positive rate it actually gives here;
- localisation hit rate (the best cell within one cell of the item's centre) and median position
  error (floor-plane estimate vs the true x, z) of true-positive sightings;
- cost per keyframe: backbone and head on 1 thread, eager and `.pte`, as ratios within this run.

Held-out seeds 1000-1009 at 128 px (out/bench/sessions) and 256 px (out/bench/sessions-256);
sessions missing there are recorded. Run:

    .venv/bin/python benchmarks/perception.py --seeds 1000-1009
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

import numpy as np

from report import ROOT, fmt, parse_seeds, write_section

HELD_OUT = "1000-1009"
FILTERED = "head + consistency + multi-view position"
TRAIN_SEEDS = "0-9"


def _scores(folders: list[Path], size: int, variants: dict, progress: bool) -> dict[str, list]:
    """variant name -> (embedder, FilterConfig or None) => variant name -> ItemScores of all folders."""
    from device.training.perception_cache import session_features
    from device.training.perception_eval import score_session
    from device.session import read_session
    from device.sim.record import RecordConfig, recorded

    out: dict[str, list] = {name: [] for name in variants}
    for folder in folders:
        seed = int(folder.name.removeprefix("seed-"))
        session = read_session(recorded(folder, RecordConfig(seed=seed, width=size, height=size)))
        feats = session_features(session, progress=progress)
        for name, (embed, filt) in variants.items():
            out[name] += score_session(session, feats, embed, filt=filt)
        print(f"scored {folder}", file=sys.stderr)
    return out


def _cost(frames: list[np.ndarray], head: "torch.nn.Module", repeats: int = 2) -> dict[str, float]:  # noqa: F821
    """Median ms per keyframe on 1 thread: the frozen encoder and backbone + head, eager and as XNNPACK
    fp32 `.pte` programs lowered here (export/lower.py), and the largest |pte - eager| of the head's output."""
    import torch
    from executorch.extension.pybindings import portable_lib
    from executorch.runtime import Runtime

    from device.perception.encoder import to_input
    from export.lower import lower_to_pte
    from worldmodel.backbone import Stride16Features, load_mobilenet_v2
    from worldmodel.instance_head import InstanceNet, MultiScaleFeatures

    portable_lib._unsafe_reset_threadpool(1)
    nets = {"frozen": Stride16Features(load_mobilenet_v2()).eval(),
            "head": InstanceNet(MultiScaleFeatures(load_mobilenet_v2()).eval(), head).eval()}
    xs = [to_input(rgb, 224) for rgb in frames]
    methods = {}
    for name, net in nets.items():
        program = Runtime.get().load_program(lower_to_pte(net, xs[0]))
        methods[name] = (program, program.load_method("forward"))  # the program must outlive its method
    times: dict[str, list[float]] = {f"{n}_{k}_ms": [] for n in nets for k in ("eager", "pte")}
    out: dict[str, float] = {"pte_max_abs_diff": 0.0}
    with torch.inference_mode():
        for _ in range(repeats):
            for x in xs:  # the networks take turns on each frame, so load on the shared CPU hits both alike
                for name, net in nets.items():
                    t0 = time.perf_counter()
                    ref = net(x)
                    t1 = time.perf_counter()
                    got = methods[name][1].execute((x,))[0]
                    times[f"{name}_pte_ms"].append(time.perf_counter() - t1)
                    times[f"{name}_eager_ms"].append(t1 - t0)
                    if name == "head":
                        out["pte_max_abs_diff"] = max(out["pte_max_abs_diff"], float((got - ref).abs().max()))
    out.update({k: 1000 * float(np.median(v)) for k, v in times.items()})
    return out


def _row(label: str, s: "Summary", with_fp: bool = False) -> str:  # noqa: F821
    cells = [fmt(v, True) for v in s.recall.values()]
    fp = [f"{100 * s.fp_rate:.1f}%"] if with_fp else []
    return (f"| {label} | " + " | ".join(cells + fp) + f" | {fmt(s.hit_rate, True)} | "
            f"{fmt(s.median_error_m)} |")


def render(results: dict, cost: dict[str, float], train_thr: dict[str, float], train_fp: float, seeds: str,
           command: str) -> str:
    from device.training.perception_eval import BIN_NAMES, summarize, threshold_at_fp

    first = next(iter(results.values()))["frozen"]
    n = summarize(first, 1.0).n_visible
    head = " | ".join(f"{b} ({n[b]})" for b in BIN_NAMES)
    lines = [f"Measured {dt.date.today().isoformat()} with `{command}` (seeds {seeds}; every 2nd frame "
             "outside the enrollment glance; eager fp32 on 1 thread). Visible frames per distance bin at 128 px "
             "in brackets. Frozen: the MobileNetV2 stride-16 patches (the device's encoder before the head; "
             "`--encoder frozen`); head: the learned instance head (worldmodel/artifacts/instance_head.pt, "
             "trained on seeds 0-9, the device's encoder); "
             f"{FILTERED}: a sighting also needs the item found within 0.4 s, and its position is the "
             "intersection of nearby sightings' rays when they meet (device/perception/sighting_filter.py), else the "
             "floor-plane estimate.", "",
             "Recall of visible frames at 1% false positives (one threshold for all items, set on these frames' "
             "negatives), localisation hit rate and median position error of the true-positive sightings:", "",
             f"| frames, features | {head} | hit rate | median error (m) |",
             "|---|---|---|---|---|---|---|"]
    for size, by in results.items():
        for name in by:
            lines.append(_row(f"{size} px, {name}", summarize(by[name], threshold_at_fp(by[name]))))
    lines += ["", f"At the operating threshold chosen on training seeds 0-9 ({100 * train_fp:g}% false positives "
                  "there), with the false-positive rate it gives on these frames:", "",
              f"| frames, features | {head} | false positives | hit rate | median error (m) |",
              "|---|---|---|---|---|---|---|---|"]
    for size, by in results.items():
        for name in by:
            lines.append(_row(f"{size} px, {name} (threshold {train_thr[name]:.3f})",
                              summarize(by[name], train_thr[name]), with_fp=True))
    f, h = cost["frozen_eager_ms"], cost["head_eager_ms"]
    lines += ["", "Cost per keyframe on 1 thread (median over real frames, same run; `.pte`: XNNPACK fp32 lowered "
                  f"in this run, head output within {cost['pte_max_abs_diff']:.0e} of eager):", "",
              "| network | eager (ms) | `.pte` (ms) |", "|---|---|---|",
              f"| frozen encoder (features[:14]) | {f:.1f} | {cost['frozen_pte_ms']:.1f} |",
              f"| backbone + instance head | {h:.1f} ({h / f:.2f}x) | {cost['head_pte_ms']:.1f} "
              f"({cost['head_pte_ms'] / cost['frozen_pte_ms']:.2f}x) |"]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default=HELD_OUT, help=f"seeds to score (default: {HELD_OUT})")
    ap.add_argument("--sizes", default="128,256", help="frame sizes, each with its sessions folder (default: 128,256)")
    ap.add_argument("--work", type=Path, default=ROOT / "out" / "bench", help="sessions/ and sessions-256/ live here")
    ap.add_argument("--train-dir", type=Path, default=ROOT / "out" / "train-sessions",
                    help="training sessions (seed-N), for the baseline's operating threshold")
    ap.add_argument("--head", type=Path, default=ROOT / "worldmodel" / "artifacts" / "instance_head.pt",
                    help="instance-head checkpoint (default: the shipped one)")
    ap.add_argument("--no-write", action="store_true", help="print only; leave docs/BENCHMARKS.md alone")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(1)
    from device.perception.instance_encoder import load_instance_head
    from device.training.perception_eval import frozen_embedder, head_embedder, threshold_at_fp
    from device.session import read_session
    from device.perception.sighting_filter import FilterConfig

    ck = load_instance_head(args.head)
    head = head_embedder(ck.head)
    variants = {"frozen": (frozen_embedder, None), "head": (head, None), FILTERED: (head, FilterConfig())}
    seeds = parse_seeds(args.seeds)
    results = {}
    for size in (int(s) for s in args.sizes.split(",")):
        sub = "sessions" if size == 128 else f"sessions-{size}"
        results[size] = _scores([args.work / sub / f"seed-{s}" for s in seeds], size, variants, progress=False)
    train = _scores([args.train_dir / f"seed-{s}" for s in parse_seeds(TRAIN_SEEDS)], 128, variants, progress=False)
    train_fp = float(ck.meta["fp_rate"])
    train_thr = {name: threshold_at_fp(sc, train_fp) for name, sc in train.items()}
    assert abs(train_thr["head"] - ck.threshold) < 1e-4, "the checkpoint's threshold does not match its training seeds"
    session = read_session(args.work / "sessions" / f"seed-{seeds[0]}")
    frames = [session.load_frame(i) for i in range(0, len(session.frames), max(1, len(session.frames) // 30))]
    cost = _cost(frames, ck.head)
    command = f".venv/bin/python benchmarks/perception.py --seeds {args.seeds} --sizes {args.sizes}"
    section = render(results, cost, train_thr, train_fp, args.seeds, command)
    print(section)
    if not args.no_write:
        write_section("perception", section, "## Perception: finding enrolled items per frame (issue 8)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
