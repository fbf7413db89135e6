"""Where the checkout's files live, in one place: shipped artifacts, the demo session, out/ for caches.

Modules name their files from these, never from their own `__file__`, so moving a module between
sub-packages cannot move its files.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

ROOT = Path(__file__).resolve().parent.parent  # the checkout (or the install's site folder)
# Caches, recordings and training outputs: out/ in a checkout (git ignores it); for an installed
# package, the user cache folder (never inside site-packages).
OUT = ROOT / "out" if (ROOT / ".git").exists() else platformdirs.user_cache_path("ami-glasses", appauthor=False)
DEMO_SESSION = ROOT / "demo" / "session"
EXPORT_ARTIFACTS = ROOT / "export" / "artifacts"
WORLDMODEL_ARTIFACTS = ROOT / "worldmodel" / "artifacts"

MEMORY_ENV = "AMI_MEMORY"  # overrides the default memory folder


def default_memory() -> Path:
    """The wearer's memory folder when no --memory is given: $AMI_MEMORY, else the user data folder
    (on Linux ~/.local/share/ami-glasses/memory)."""
    chosen = os.environ.get(MEMORY_ENV, "").strip()
    if chosen:
        return Path(chosen).expanduser()
    return platformdirs.user_data_path("ami-glasses", appauthor=False) / "memory"


def cache_dir() -> Path:
    """Rebuildable caches (the intents' trained head): $AMI_CACHE, else the user cache folder
    (on Linux ~/.cache/ami-glasses). Created on first use."""
    chosen = os.environ.get("AMI_CACHE", "").strip()
    folder = Path(chosen).expanduser() if chosen else platformdirs.user_cache_path("ami-glasses", appauthor=False)
    folder.mkdir(parents=True, exist_ok=True)
    return folder
