"""`ami memory ...`: inspect, verify, rebuild, forget, compact, export and import a memory folder.

Each subcommand takes `--memory DIR` (default: the wearer's memory folder, core.paths.default_memory),
the folder that `ami replay --memory DIR` writes, opens it
with the dims it was created with, calls one library function and prints one summary. Domain
errors become a one-line message and exit 2 (device/cli/main.py); `verify` exits 1 when an invariant
fails.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

from typing import TYPE_CHECKING

from memory.errors import InvalidInputError

if TYPE_CHECKING:
    from memory.store import MemoryStore

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd]?)$")
_UNIT_S = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86_400.0}


def parse_duration_s(text: str) -> float:
    """'90', '90s', '10m', '2h', '7d' -> seconds."""
    match = _DURATION.match(text.strip())
    if match is None or float(match.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration; use e.g. 30s, 10m, 2h or 7d")
    return float(match.group(1)) * _UNIT_S[match.group(2)]


def _open(args: argparse.Namespace, *, repair: bool = True) -> MemoryStore:
    from memory.config import RetentionPolicy, StoreConfig
    from memory.store import MemoryStore

    config = StoreConfig()
    if getattr(args, "full_detail_days", None) is not None:
        config = StoreConfig(retention=RetentionPolicy(args.full_detail_days, args.keep_days))
    return MemoryStore.open_existing(args.memory, config=config, repair=repair)


def _cmd_stats(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    with _open(args) as store:
        stats = {**store.stats(), "embedding_dim": store.embedding_dim, "patch_dim": store.patch_dim,
                 "embedding_space": store.embedding_space, "item_names": sorted(i.name for i in store.items()),
                 "paused_since": store.pause.since}
    if args.json:
        print(json.dumps(stats, indent=2))
        return 0

    def size(n: float) -> str:
        return tqdm.format_sizeof(n, "B", 1000)

    per = stats["total_bytes"] / stats["keyframes"] if stats["keyframes"] else 0.0
    names = f" ({', '.join(stats['item_names'])})" if stats["item_names"] else ""
    print(f"{args.memory}: {stats['keyframes']} keyframes ({stats['longterm']} long-term), "
          f"{stats['patches']} patches, {stats['items']} items{names}, {stats['place_names']} place names")
    print(f"  dims: embedding {stats['embedding_dim']}, patch {stats['patch_dim']}; "
          f"encoder: {stats['embedding_space'] or 'not recorded'}")
    print(f"  on disk: database {size(stats['db_bytes'])}, index {size(stats['index_bytes'])}, "
          f"total {size(stats['total_bytes'])} ({size(per)} per keyframe)")
    if stats["bytes_per_wear_hour"] is not None:
        print(f"  per hour of wear: {size(stats['bytes_per_wear_hour'])} ({stats['wear_s'] / 3600:.2f} h of wear "
              "stored, time off the glasses not counted)")
    print(f"  thumbnails: {stats['thumbnails']} ({size(stats['thumbnail_bytes'])}, in the database), "
          f"{stats['faces_blurred']} faces blurred in them; {stats['alerts']} left-behind alerts")
    from datetime import datetime

    def clock(unix: float) -> str:
        return datetime.fromtimestamp(unix).astimezone().strftime("%Y-%m-%d %H:%M %Z")

    if stats["first_seen"] is not None:
        print(f"  seen: from {clock(stats['first_seen'])} to {clock(stats['last_seen'])}")
    if stats["paused_since"] is not None:
        print(f"  PAUSED since {clock(stats['paused_since'])}: nothing seen is kept (`ami memory resume`)")
    return 0


def _cmd_pause(args: argparse.Namespace) -> int:
    on = args.memory_command == "pause"
    with _open(args) as store:
        was = store.pause.on
        store.pause.set(on)
    state = ("already paused" if was else "paused") if on else ("resumed" if was else "not paused")
    print(f"{args.memory}: {state}: " + ("nothing the glasses see is kept until `ami memory resume`" if on
                                         else "what the glasses see is kept"))
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    with _open(args, repair=False) as store:
        failed = store.verify(full=args.full)
        count = store.count()
    for line in failed:
        print(f"FAIL {line}")
    if failed:
        print(f"{args.memory}: {len(failed)} invariant(s) failed")
        return 1
    print(f"{args.memory}: OK, {count} keyframes; index ids match rows, generations and checksums agree")
    return 0


def _cmd_rebuild(args: argparse.Namespace) -> int:
    with _open(args) as store:
        store.rebuild_index()
        stats = store.stats()
    print(f"Rebuilt the index of {args.memory}: {stats['keyframes']} keyframes, {stats['patches']} patches")
    return 0


def _cmd_forget(args: argparse.Namespace) -> int:
    if args.all and not args.yes and not args.dry_run:
        raise InvalidInputError("--all forgets everything in the memory; add --yes to confirm")
    if (args.near is None) != (args.radius is None):
        raise InvalidInputError("--near X Z and --radius M go together; give both")
    if args.session is not None and args.between is None:
        raise InvalidInputError("--session only narrows --between T0 T1 (a session's own clock); "
                                "leave it out, or use --between")
    dry = args.dry_run
    with _open(args) as store:
        if args.last is not None:
            result = store.forget_recorded_since(time.time() - args.last, dry_run=dry)
        elif args.between is not None:
            result = store.forget_between(args.between[0], args.between[1], session=args.session, dry_run=dry)
        elif args.item is not None:
            result = store.forget_item(args.item, dry_run=dry)
        elif args.near is not None:
            result = store.forget_near(args.near[0], args.near[1], args.radius, dry_run=dry)
        else:
            result = store.forget_all(dry_run=dry)
    items = f", items {', '.join(result.items)}" if result.items else ""
    what = f"{result.keyframes} keyframes{items} and {result.place_names} place names"
    print(f"Would forget {what} from {args.memory} (--dry-run: nothing erased)" if dry
          else f"Forgot {what} from {args.memory}")
    return 0


def _cmd_compact(args: argparse.Namespace) -> int:
    with _open(args) as store:
        result = store.compact()
    note = f" ({result.skipped})" if result.skipped else ""
    print(f"Compacted {args.memory}: {result.compressed} keyframes to the long-term tier{note}, "
          f"{result.dropped} dropped by retention")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from memory.archive import export_archive

    with _open(args) as store:
        manifest = export_archive(store, args.out)
    print(f"Exported {manifest['keyframes']} keyframes and {manifest['items']} items to {args.out}")
    return 0


def _cmd_import(args: argparse.Namespace) -> int:
    from memory.archive import import_archive

    manifest = import_archive(args.archive, args.memory)
    print(f"Imported {manifest['keyframes']} keyframes and {manifest['items']} items into {args.memory}")
    return 0


def _memory_flag(sp: argparse.ArgumentParser) -> None:
    from core.paths import default_memory

    sp.add_argument("--memory", type=Path, default=default_memory(), metavar="DIR",
                    help="memory folder (default: the wearer's, the one `ami ask` and `ami listen` use; "
                         "$AMI_MEMORY overrides it: %(default)s)")


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Add the `memory` command and its subcommands to the `ami` parser."""
    p = sub.add_parser("memory", help="inspect, verify, rebuild, forget, pause, export or import a memory folder",
                       description="Manage the episodic memory folder written by `ami replay --memory DIR`.")
    msub = p.add_subparsers(dest="memory_command", required=True, metavar="SUBCOMMAND")

    sp = msub.add_parser("stats", help="counts, dims and bytes per keyframe",
                         description="Print the keyframe, patch and item counts and the bytes on disk.")
    _memory_flag(sp)
    sp.add_argument("--json", action="store_true", help="print the figures as JSON")
    sp.set_defaults(func=_cmd_stats)

    sp = msub.add_parser("verify", help="check every invariant; exit 1 naming each that fails",
                         description="Check the database, index ids against row ids, generations and "
                                     "checksums, and the index's vectors against their rows (a sample of 200 "
                                     "keyframes, or all with --full); change nothing. Exit 1 if any fails.")
    _memory_flag(sp)
    sp.add_argument("--full", action="store_true", help="compare every indexed vector with its row, not a sample")
    sp.set_defaults(func=_cmd_verify)

    sp = msub.add_parser("rebuild", help="rebuild the search index from memory.db",
                         description="Rebuild the FAISS index files from memory.db (the truth) and save them.")
    _memory_flag(sp)
    sp.set_defaults(func=_cmd_rebuild)

    sp = msub.add_parser("forget", help="forget by time, item or place, or everything",
                         description="Erase keyframes (rows, index entries and their bytes on disk). "
                                     "Give exactly one of --last, --between, --item, --near or --all.")
    _memory_flag(sp)
    which = sp.add_mutually_exclusive_group(required=True)
    which.add_argument("--last", type=parse_duration_s, metavar="DURATION",
                       help="what was recorded in the last DURATION of wall-clock time (30s, 10m, 2h, 7d)")
    which.add_argument("--between", type=float, nargs=2, metavar=("T0", "T1"),
                       help="keyframes with T0 <= t <= T1 on the session clock (seconds), and items "
                            "enrolled then")
    which.add_argument("--item", metavar="NAME",
                       help="the item NAME and every keyframe where it was seen")
    which.add_argument("--near", type=float, nargs=2, metavar=("X", "Z"),
                       help="keyframes taken within --radius metres of (X, Z); needs --radius")
    which.add_argument("--all", action="store_true", help="everything (needs --yes)")
    sp.add_argument("--radius", type=float, default=None, metavar="M", help="radius in metres for --near")
    sp.add_argument("--session", default=None,
                    help="with --between: only this session's keyframes (default: every session)")
    sp.add_argument("--yes", action="store_true", help="confirm --all")
    sp.add_argument("--dry-run", action="store_true", help="say what would be forgotten; erase nothing")
    sp.set_defaults(func=_cmd_forget)

    for name, what in (("pause", "keep nothing the glasses see until `ami memory resume` (as saying \"pause\")"),
                       ("resume", "keep what the glasses see again (as saying \"resume\")")):
        sp = msub.add_parser(name, help=what, description=f"{what[0].upper()}{what[1:]}; every program that opens "
                                                          "the memory honours it (the viewer has the same button).")
        _memory_flag(sp)
        sp.set_defaults(func=_cmd_pause)

    sp = msub.add_parser("compact", help="apply the retention policy now",
                         description="Move keyframes older than --full-detail-days to the compressed "
                                     "long-term tier and forget those older than --keep-days.")
    _memory_flag(sp)
    sp.add_argument("--full-detail-days", type=float, default=7.0,
                    help="keep full detail (patches, exact search) this long (default: 7)")
    sp.add_argument("--keep-days", type=float, default=365.0,
                    help="forget keyframes older than this (default: 365)")
    sp.set_defaults(func=_cmd_compact)

    sp = msub.add_parser("export", help="write a portable archive (.tar.gz, owner-only)",
                         description="Write a compact snapshot of the memory to a .tar.gz, atomically, "
                                     "with mode 0600. The index is rebuilt on import.")
    _memory_flag(sp)
    sp.add_argument("--out", type=Path, required=True, help="archive to write, e.g. memory.tar.gz")
    sp.set_defaults(func=_cmd_export)

    sp = msub.add_parser("import", help="read an archive back into a new memory folder",
                         description="Unpack an archive written by `ami memory export` into a new or "
                                     "empty --memory folder, rebuild its index and verify it.")
    sp.add_argument("archive", type=Path, help="archive written by `ami memory export`")
    _memory_flag(sp)
    sp.set_defaults(func=_cmd_import)
