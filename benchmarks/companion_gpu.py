"""Time one plan request at the contract's defaults on the GPU (when torch sees one) and on the
CPU, with CEM and with the gradient planner, and print both with the GPU's name.

Same request everywhere: a start and a goal latent of the predictor's size, horizon 5, 300
samples, 30 iterations, seed 0. Each figure is the median of --repeats plans after one warm-up
plan. The CPU runs on --threads threads (1 by default: the development machines have 2 shared
cores). Run:

    .venv/bin/python benchmarks/companion_gpu.py
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from report import ROOT, write_section

NO_BUDGET_S = 3600.0  # the whole search, whatever it takes: this measures compute, not the serving budget


def timing_predictor() -> tuple[Any, str, Path | None]:
    """The shipped JEPA checkpoint if it is there, else an untrained predictor of the same
    architecture (plan time depends on the architecture, not on the weights). Returns the
    predictor, a label saying which one, and the checkpoint path (None when untrained)."""
    import torch

    from worldmodel.jepa import DEFAULT_CHECKPOINT, LatentPredictor, load_predictor

    if DEFAULT_CHECKPOINT.exists():
        p = load_predictor(DEFAULT_CHECKPOINT)
        return p, f"the shipped JEPA checkpoint ({p.version})", DEFAULT_CHECKPOINT
    torch.manual_seed(0)
    p = LatentPredictor()
    params = sum(t.numel() for t in p.parameters())
    return p, (f"an untrained JEPA LatentPredictor with the default JepaConfig ({params:,} parameters; "
               f"{DEFAULT_CHECKPOINT.relative_to(ROOT)} had not landed)"), None


def time_plans(predictor: Any, device: str, planner: str, repeats: int) -> float:
    """Median seconds per plan of the default request on `device`."""
    import torch

    from companion_app.planner import Bounds, Planner, PlanJob, PlannerConfig

    torch.manual_seed(0)
    d = predictor.config.latent_dim
    start, goal = torch.randn(d), torch.randn(d)
    box = Bounds((0.0, 0.0, -45.0), (0.5, 0.0, 45.0))
    runner = Planner(predictor, torch.device(device), PlannerConfig(budget_s=NO_BUDGET_S))
    job = PlanJob(start, goal, box, horizon=5, planner=planner, samples=300, iterations=30, seed=0)
    runner.plan(job)  # warm-up: allocations, CUDA context, kernels
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        runner.plan(job)  # plan_batch synchronises CUDA before it returns
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def batch_ratio(predictor: Any, device: str, n: int) -> float:
    """Seconds for `n` default CEM requests planned one by one, over the same `n` in one batch."""
    import torch

    from companion_app.planner import Bounds, Planner, PlanJob, PlannerConfig

    d = predictor.config.latent_dim
    box = Bounds((0.0, 0.0, -45.0), (0.5, 0.0, 45.0))
    jobs = [PlanJob(torch.randn(d), torch.randn(d), box, seed=i) for i in range(n)]
    runner = Planner(predictor, torch.device(device), PlannerConfig(budget_s=NO_BUDGET_S))
    runner.plan(jobs[0])  # warm-up
    t0 = time.perf_counter()
    for job in jobs:
        runner.plan(job)
    t1 = time.perf_counter()
    runner.plan_batch(jobs)
    return (t1 - t0) / (time.perf_counter() - t1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3, help="timed plans per setting (default: 3)")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (default: 1)")
    ap.add_argument("--batch", type=int, default=8, help="requests in the batching comparison (default: 8)")
    ap.add_argument("--no-write", action="store_true", help="print only; leave docs/BENCHMARKS.md alone")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    load = os.getloadavg()[0]
    predictor, which, _ = timing_predictor()
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    print(f"predictor: {which}")
    print(f"GPU: {gpu}" if gpu else "GPU: none (torch sees no CUDA device here); timing the CPU only")
    rows = []
    for planner in ("cem", "gradient"):
        cpu_s = time_plans(predictor, "cpu", planner, args.repeats)
        gpu_s = time_plans(predictor, "cuda", planner, args.repeats) if gpu else None
        print(f"{planner}: CPU ({args.threads} thread) {cpu_s:.3f} s per plan"
              + (f"; GPU {gpu_s:.4f} s per plan ({cpu_s / gpu_s:.0f}x faster)" if gpu_s else ""))
        rows.append(f"| {planner} | {cpu_s:.2f} s | " + (f"{gpu_s:.3f} s ({cpu_s / gpu_s:.0f}x) |" if gpu_s
                                                           else "no GPU here |"))
    ratios = {dev: batch_ratio(predictor, dev, args.batch) for dev in (["cpu", "cuda"] if gpu else ["cpu"])}
    for dev, r in ratios.items():
        print(f"{dev}: {args.batch} CEM requests one by one take {r:.2f}x the time of one batch of them")
    command = (f".venv/bin/python benchmarks/companion_gpu.py --repeats {args.repeats} --threads {args.threads} "
               f"--batch {args.batch}")
    body = "\n".join([
        f"Measured {dt.date.today().isoformat()} with `{command}`: one plan request at the contract's defaults "
        "(horizon 5, 300 samples, 30 iterations; the gradient planner runs 300 parallel restarts for 30 Adam "
        f"steps), median of {args.repeats} after a warm-up, through {which}. Load average at the start: "
        f"{load:.1f} on {os.cpu_count()} cores shared with other work, so the absolute times are noisy; the "
        "batching ratio below is measured within this run.",
        "",
        f"GPU: {gpu}." if gpu else "GPU: none on this machine (torch sees no CUDA device), so only the CPU was "
        "timed; the GPU column is to be filled by running the same command on a GPU host.",
        "",
        f"| planner | CPU, {args.threads} thread, per plan | GPU per plan (speed-up) |",
        "|---|---|---|",
        *rows,
        "",
        f"Batching, same run: {args.batch} default CEM requests planned one by one take "
        + "; ".join(f"{r:.2f}x the time of the same requests in one batch on the {dev.upper()}"
                    for dev, r in ratios.items())
        + " (1x: batching saves nothing there).",
        "",
        "Goals (issue 7): 3 s or less per re-plan on this CPU; 0.5 s or less on a GPU.",
    ])
    if not args.no_write:
        write_section("companion-plan-time", body, "## Companion: time per plan, CPU and GPU (issue 7)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
