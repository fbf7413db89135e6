"""Where the checkout's files live, in one place: shipped artifacts, the demo session, out/ for caches.

Modules name their files from these, never from their own `__file__`, so moving a module between
sub-packages cannot move its files.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # the checkout (or the install's site folder)
OUT = ROOT / "out"  # caches and training outputs; git ignores it
DEMO_SESSION = ROOT / "demo" / "session"
EXPORT_ARTIFACTS = ROOT / "export" / "artifacts"
WORLDMODEL_ARTIFACTS = ROOT / "worldmodel" / "artifacts"
