"""The docs match the code: the README's file tree lists every tracked file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_file_tree_is_current() -> None:
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "readme_tree.py"), "--check"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
