"""`ami companion pair`: pair the glasses with a companion, so route questions can use its planner.

The pairing (device id and secret) is written owner-only into the state folder: by default the
memory folder that `ami ask` and `ami listen` use, which then send route plans to the companion.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any



def _cmd_pair(args: argparse.Namespace) -> int:
    from device.navigation.companion_client import CompanionClient, CompanionConfig, pair, state_path

    from core.paths import default_memory

    folder = args.state or args.memory or default_memory()
    pairing = pair(args.url, args.code, folder, device_name=args.device_name)
    with CompanionClient(pairing, CompanionConfig()) as client:
        health = client.health()
    days = (pairing.expires_at - time.time()) / 86_400
    print(f"Paired with the companion at {pairing.url} as device {pairing.device_id} "
          f"(checkpoint {health.get('checkpoint', '?')}, {health.get('device', '?')}); "
          f"credentials in {state_path(folder)} (owner-only), valid for {days:.1f} days")
    return 0


def register(sub: Any) -> Any:
    """Add `ami companion` with its `pair` subcommand; returns the companion subparsers so the
    server's `serve` can join them."""
    sp = sub.add_parser("companion", help="the GPU companion: serve it, or pair the glasses with it",
                        description="Commands for the companion that plans routes for the glasses.")
    csub = sp.add_subparsers(dest="companion_command", required=True, metavar="SUBCOMMAND")
    p = csub.add_parser("pair", help="pair with a companion using the one-time code it printed",
                        description="Trade the one-time pairing code printed by `ami companion serve` for "
                                    "device credentials, stored owner-only in --state (default: --memory).")
    p.add_argument("--url", required=True, help="the companion's address, e.g. http://127.0.0.1:8765")
    p.add_argument("--code", required=True, help="the one-time pairing code `ami companion serve` printed")
    p.add_argument("--memory", type=Path, default=None,
                   help="memory folder whose assistant will use the companion (the pairing is kept there; "
                        "default: the wearer's memory, the one `ami ask` and `ami listen` use)")
    p.add_argument("--state", type=Path, default=None, help="folder to keep the pairing in (default: --memory)")
    p.add_argument("--device-name", default="ami-glasses", help="name the companion shows for this device "
                                                                "(default: ami-glasses)")
    p.set_defaults(func=_cmd_pair)
    return csub
