"""The docs match the code: the README's file tree lists every tracked file; test files have unique names."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_file_tree_is_current() -> None:
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "readme_tree.py"), "--check"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_test_files_have_unique_names() -> None:
    """The test folders are not packages, so pytest imports each test file by its bare name: two
    files of one name in different folders fail the whole run at collection."""
    names: dict[str, list[str]] = {}
    for path in sorted((ROOT / "tests").rglob("*.py")):
        names.setdefault(path.name, []).append(str(path.relative_to(ROOT)))
    clashes = {n: p for n, p in names.items() if len(p) > 1 and n != "conftest.py"}
    assert not clashes, f"rename one of each: {clashes}"


def test_architecture_names_only_modules_that_exist() -> None:
    """docs/architecture.md's diagram and walks name real files and folders."""
    import re

    text = (ROOT / "docs" / "architecture.md").read_text()
    named = set(re.findall(r"\b((?:core|device|memory|worldmodel|export|companion_app)/[\w/]*(?:\.py)?)", text))
    assert len(named) > 20, named
    missing = sorted(n for n in named if not (ROOT / n).exists())
    assert not missing, f"docs/architecture.md names what is not there: {missing}"
