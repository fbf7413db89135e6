"""`ami bench shift`: the shift matrix, held-out houses per domain-shift axis, fanned out over Ray."""

from __future__ import annotations

import argparse
from pathlib import Path

from device.errors import AmiError


def _cmd_bench_shift(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from device.app.shift_bench import ShiftBenchConfig, jobs, run_matrix, table, write_outputs

    try:
        config = ShiftBenchConfig(axes=tuple(args.axes), houses=args.houses, random_houses=args.random_houses,
                                  size_px=args.size, short=args.short, work=args.out / "work")
    except ValueError as e:
        raise AmiError(str(e)) from e
    if args.workers < 1:
        raise AmiError(f"--workers must be >= 1, got {args.workers}")
    with tqdm(total=len(jobs(config)), desc="shift matrix", unit="house", disable=args.quiet) as bar:
        results = run_matrix(config, workers=args.workers, address=args.address, on_done=lambda r: bar.update())
    metrics = write_outputs(results, args.out)
    print(table(metrics))
    print(f"Wrote {args.out / 'metrics.json'}, {args.out / 'table.md'} and {args.out / 'shift.png'}")
    return 0


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Add `bench` and its subcommands."""
    from device.app.shift_bench import AXES

    p = sub.add_parser("bench", help="benchmarks of the assistant: `ami bench shift`",
                       description="Benchmarks that record fresh held-out houses, replay and score them.")
    bsub = p.add_subparsers(dest="bench_command", required=True, metavar="BENCH")
    sp = bsub.add_parser("shift", help="the shift matrix: held-out houses per domain-shift axis, scored, on Ray",
                         description="For each axis (and `random`), record fresh held-out houses (seeds 3000 and "
                                     "up, never used in development), replay them through the default assistant, "
                                     "score them and print one table; writes metrics.json, table.md and a plot. "
                                     "Replays fan out over a local Ray instance (or --address).")
    sp.add_argument("--axes", nargs="+", default=list(AXES), choices=AXES, help="axes to run (default: all)")
    sp.add_argument("--houses", type=int, default=10, help="houses per axis (default: 10)")
    sp.add_argument("--random-houses", type=int, default=40, help="houses under `random` (default: 40)")
    sp.add_argument("--size", type=int, default=128, help="frame size in pixels (default: 128)")
    sp.add_argument("--short", action="store_true", help="short sessions (a quick check)")
    sp.add_argument("--workers", type=int, default=2,
                    help="parallel replays on a local Ray instance; 1 runs them here without Ray (default: 2)")
    sp.add_argument("--address", default=None, help="an existing Ray cluster's address (default: start a local one)")
    sp.add_argument("--out", type=Path, default=Path("out/shift"), help="output folder (default: out/shift)")
    sp.add_argument("--quiet", action="store_true", help="no progress bar")
    sp.set_defaults(func=_cmd_bench_shift)
