"""Rewrite the README's file tree from the files git tracks: one line per file, described by its
module docstring's first sentence. The tree sits between the README's tree start/end markers.

    .venv/bin/python scripts/readme_tree.py          # rewrite README.md
    .venv/bin/python scripts/readme_tree.py --check  # exit 1 if the README is out of date
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
MAX_DESCRIPTION = 100
# Folders shown as one line: their files are data, not code.
COLLAPSED = {"demo/session": "the bundled demo session (ami record-sim --seed 7), format ami-session/1"}
DESCRIPTIONS = {
    ".ci/run": "CI entry point: runs `make test`",
    ".gitignore": "ignored: .venv, out/, caches",
    "Makefile": "`make demo`, `make test`, `make test-fast`, `make bench`",
    "README.md": "this file",
    "docs/companion-openapi.json": "the companion's OpenAPI document (written by scripts/companion_openapi.py)",
    "export/artifacts/encoder-fp32.pte":
        "the shipped encoder as an XNNPACK fp32 ExecuTorch program (`--precision fp32`; written by `ami export`)",
    "export/artifacts/encoder-int8.pte":
        "the shipped encoder's default program: XNNPACK int8, its first blocks fp32 (written by `ami export`)",
    "export/artifacts/manifest.json": "the shipped encoder's manifest: shapes, normalisation, sha256s, versions",
    "pyproject.toml": "package metadata, the `ami` console script, pytest markers",
    "requirements.txt": "pinned dependencies, installed after torch==2.13.0",
    "scripts/setup.sh": "idempotent setup: apt packages, .venv, torch first, pinned deps",
    "worldmodel/artifacts/instance_head.pt":
        "the shipped instance head (issue 8; written by `ami train perception`, seeds 0-9)",
    "docs/instance_head_loss.png": "the shipped instance head's training loss (`ami train perception`)",
    "worldmodel/artifacts/jepa-v1.pt":
        "the shipped JEPA latent predictor (written by `ami train jepa`, seeds 0-9, 12-21)",
    "worldmodel/artifacts/jepa-v1.json": "the shipped JEPA predictor's card: sha256, config, seeds, metrics, history",
    "worldmodel/artifacts/jepa-v1-loss.png": "the shipped JEPA predictor's training loss, std and effective rank",
}


def describe(path: str) -> str:
    if path in DESCRIPTIONS:
        return DESCRIPTIONS[path]
    p = ROOT / path
    if p.suffix == ".py":
        doc = ast.get_docstring(ast.parse(p.read_text(encoding="utf-8")))
        if not doc:
            return ""
        paragraph = " ".join(doc.strip().split("\n\n")[0].split())
        first = re.split(r"(?<=\.)\s", paragraph, maxsplit=1)[0].rstrip(".")
        return first if len(first) <= MAX_DESCRIPTION else first[:MAX_DESCRIPTION].rsplit(" ", 1)[0] + " ..."
    if p.suffix == ".md":
        for line in p.read_text(encoding="utf-8").splitlines():
            if line.startswith("# "):
                return line[2:].strip()
    if p.name == "py.typed":
        return "marks the package as typed"
    return ""


def tracked_files() -> list[str]:
    # tracked files, and new ones git does not ignore (so a tree written before `git add` is current)
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    return sorted(set(out.split()) | {"README.md"})


def render() -> str:
    lines: list[str] = []
    shown: set[str] = set()
    for path in tracked_files():
        collapsed = next((c for c in COLLAPSED if path.startswith(c + "/")), None)
        if collapsed:
            if collapsed not in shown:
                shown.add(collapsed)
                lines.append((collapsed + "/", COLLAPSED[collapsed]))
            continue
        lines.append((path, describe(path)))
    width = max(len(p) for p, _ in lines)
    body = "\n".join(f"{p:<{width}}  {d}".rstrip() for p, d in lines)
    return f"```\n{body}\n```"


def main() -> int:
    text = README.read_text(encoding="utf-8")
    pattern = re.compile(r"<!-- tree:start -->.*?<!-- tree:end -->", re.S)
    new = pattern.sub(lambda _: f"<!-- tree:start -->\n{render()}\n<!-- tree:end -->", text)
    if "--check" in sys.argv:
        if new != text:
            print("README.md's file tree is out of date: run .venv/bin/python scripts/readme_tree.py", file=sys.stderr)
            return 1
        return 0
    README.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
