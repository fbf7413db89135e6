"""Score another revision's replays of the shift matrix's houses: the "before" column.

`ami bench shift --out OUT` records its houses once under OUT/work/sessions/AXIS/seed-N. Replay
each with any revision of the code (`ami replay SESSION --out RESPONSES/AXIS/seed-N.jsonl`, run in that
revision's checkout), then this script scores them with today's scorer and prints the same table:

    python benchmarks/shift_rescore.py --work out/shift/work --responses out/shift-before [--plot PNG]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from device.app.shift_bench import AXES, Job, JobResult, plot, pool, scored, table
from device.responses import check_same_session, read_responses
from device.session import read_session


def rescore(work: Path, responses: Path) -> list[JobResult]:
    """A JobResult per recorded house that has responses, axes in `AXES` order."""
    out = []
    for axis in AXES:
        for folder in sorted((work / "sessions" / axis.replace("=", "-")).glob("seed-*")):
            replies = responses / axis.replace("=", "-") / f"{folder.name}.jsonl"
            if not replies.exists():
                raise SystemExit(f"{replies}: missing; replay {folder} into it first (see this script's docstring)")
            session, said = read_session(folder), read_responses(replies)
            check_same_session(said, session.content_id, replies)
            out.append(scored(Job(axis, int(folder.name.removeprefix("seed-"))), session, said))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--work", type=Path, default=Path("out/shift/work"),
                   help="the bench's work folder: OUT/work of `ami bench shift --out OUT` (default: out/shift/work)")
    p.add_argument("--responses", type=Path, required=True, help="RESPONSES/AXIS/seed-N.jsonl per house")
    p.add_argument("--plot", type=Path, default=None, help="also draw the per-axis bars to this PNG")
    args = p.parse_args(argv)
    results = rescore(args.work, args.responses)
    if not results:
        print(f"{args.work / 'sessions'}: no recorded houses; run `ami bench shift --out {args.work.parent}` first",
              file=sys.stderr)
        return 2
    metrics = pool(results)
    print(table(metrics))
    if args.plot is not None:
        plot(metrics, args.plot)
        print(f"Wrote {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
