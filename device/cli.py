"""`ami`: the one command line. Each subcommand parses flags, builds a config, calls one library
function, and turns domain errors into a one-line message and a non-zero exit."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from device.errors import AmiError
from memory.errors import MemoryStoreError

log = logging.getLogger("ami")


def _cmd_record_sim(args: argparse.Namespace) -> int:
    from device.sim.record import RecordConfig, record_session

    config = RecordConfig(seed=args.seed, width=args.size, height=args.size, fps=args.fps, short=args.short)
    out = record_session(args.out, config, progress=not args.quiet)
    print(f"Recorded {out}")
    return 0


def _replay_config(args: argparse.Namespace) -> "ReplayConfig":  # noqa: F821 (lazy import)
    from device.encoder import EncoderConfig
    from device.replay import ReplayConfig

    return ReplayConfig(encoder=EncoderConfig(threads=args.threads), progress=not args.quiet)


def _cmd_replay(args: argparse.Namespace) -> int:
    from device.replay import replay
    from device.session import read_session

    session = read_session(args.session)
    result = replay(session, args.out, memory_dir=args.memory, config=_replay_config(args))
    print(f"Wrote {len(result.responses)} responses to {args.out} "
          f"({result.frames} frames, {result.keyframes} keyframes, {result.frames_per_s:.1f} frames/s)")
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    from device.evaluate import evaluate, format_table, write_metrics
    from device.responses import read_responses
    from device.session import read_session

    session = read_session(args.session)
    metrics = evaluate(session, read_responses(args.responses))
    out = args.metrics or args.responses.with_suffix(".metrics.json")
    write_metrics(out, metrics)
    print(format_table(metrics))
    print(f"\nWrote {out}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from device.demo import run_demo

    run_demo(args.out, config=_replay_config(args))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ami", description="ami-glasses: an offline memory assistant for smart glasses.")
    p.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def common(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--threads", type=int, default=1, help="torch threads for the encoder (default: 1)")
        sp.add_argument("--quiet", action="store_true", help="no progress bar")

    sp = sub.add_parser("demo", help="replay the bundled demo session, print answers, write a contact sheet",
                        description="Replay demo/session, print each question, answer and evidence, score "
                                    "it, and write responses.jsonl, metrics.json and contact_sheet.png.")
    sp.add_argument("--out", type=Path, default=Path("out/demo"), help="output folder (default: out/demo)")
    common(sp)
    sp.set_defaults(func=_cmd_demo)

    sp = sub.add_parser("record-sim", help="record a session in a MiniWorld house, headless",
                        description="Record an egocentric session (format ami-session/1) with a scripted "
                                    "wearer in a MiniWorld house, with speech and truth/.")
    sp.add_argument("--out", type=Path, required=True, help="session folder to create (must not exist)")
    sp.add_argument("--seed", type=int, default=0, help="house, items and script seed (default: 0)")
    sp.add_argument("--size", type=int, default=128, help="frame width and height in pixels (default: 128)")
    sp.add_argument("--fps", type=float, default=10.0, help="frames per second (default: 10)")
    sp.add_argument("--short", action="store_true", help="a quick 3-room session of under a minute")
    sp.add_argument("--quiet", action="store_true", help="no progress bar")
    sp.set_defaults(func=_cmd_record_sim)

    sp = sub.add_parser("replay", help="replay a session through the assistant, write responses.jsonl",
                        description="Replay SESSION causally and write one response per line to --out.")
    sp.add_argument("session", type=Path, help="session folder (format ami-session/1)")
    sp.add_argument("--out", type=Path, required=True, help="responses.jsonl to write (atomically)")
    sp.add_argument("--memory", type=Path, default=None,
                    help="memory folder: created if new, continued if it exists (default: a temporary one)")
    common(sp)
    sp.set_defaults(func=_cmd_replay)

    sp = sub.add_parser("eval", help="score responses.jsonl against the session's truth/",
                        description="Print a metrics table and write the metrics as JSON.")
    sp.add_argument("session", type=Path, help="session folder with truth/")
    sp.add_argument("responses", type=Path, help="responses.jsonl written by `ami replay`")
    sp.add_argument("--metrics", type=Path, default=None,
                    help="JSON metrics to write (default: RESPONSES with .metrics.json)")
    sp.set_defaults(func=_cmd_eval)

    from device.cli_memory import register as register_memory

    register_memory(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except (AmiError, MemoryStoreError) as e:
        print(f"ami {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"ami {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
