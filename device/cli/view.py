"""`ami view`: the local web viewer of a memory (device/app/viewer.py)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from device.errors import AmiError


def _cmd_view(args: argparse.Namespace) -> int:
    from core.paths import default_memory
    from device.app.viewer import ViewConfig, serve

    try:
        config = ViewConfig(args.memory or default_memory(), args.host, args.port, args.allow_remote)
    except ValueError as e:
        raise AmiError(str(e)) from e
    if not (config.memory / "memory.db").is_file():
        raise AmiError(f"{config.memory}: no memory here; write one with `ami replay SESSION --memory DIR`")
    serve(config)
    return 0


def register(sub: Any) -> None:
    sp = sub.add_parser("view", help="browse the memory in a web browser (local, token-protected)",
                        description="Serve a local web viewer of the memory: items and where they are, the "
                                    "timeline of kept views, a map, questions and forgets. It prints the address "
                                    "with a one-time token; open it in a browser. Ctrl-C stops it.")
    sp.add_argument("--memory", type=Path, default=None,
                    help="memory folder (default: the wearer's memory, the one `ami ask` uses)")
    sp.add_argument("--port", type=int, default=8766, help="port (default: 8766; 0 picks a free one)")
    sp.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, loopback only)")
    sp.add_argument("--allow-remote", action="store_true",
                    help="allow a --host other than loopback (the viewer shows your memory: think twice)")
    sp.set_defaults(func=_cmd_view)
