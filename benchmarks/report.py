"""Shared by the benchmark scripts: seed lists, number formatting, and rewriting one marked
section of docs/BENCHMARKS.md without touching the others."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_MD = ROOT / "docs" / "BENCHMARKS.md"


def parse_seeds(spec: str) -> list[int]:
    """"1000-1009" or "0,3,5-7" -> a list of seeds."""
    seeds: list[int] = []
    for part in spec.split(","):
        lo, _, hi = part.partition("-")
        seeds += list(range(int(lo), int(hi or lo) + 1))
    return seeds


def fmt(v: float | None, pct: bool = False) -> str:
    if v is None:
        return "n/a"
    return f"{100 * v:.0f}%" if pct else f"{v:.2f}"


def write_section(name: str, body: str, heading: str) -> None:
    """Replace the section between <!-- name:start --> and <!-- name:end -->, or append it with its
    heading. The file is re-read right before writing: other scripts own other sections."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    text = BENCH_MD.read_text(encoding="utf-8")
    block = f"{start}\n{body}\n{end}"
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text)
    else:
        text = text.rstrip("\n") + f"\n\n{heading}\n\n{block}\n"
    BENCH_MD.write_text(text, encoding="utf-8")
