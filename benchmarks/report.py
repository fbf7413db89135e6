"""Shared by the benchmark scripts: seed lists, number formatting, and rewriting one marked
section of docs/BENCHMARKS.md without touching the others."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

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


def share(x: list[bool]) -> str:
    """"87.0% (174/200)": the fraction of x that is true, and the count."""
    return f"{100 * sum(x) / len(x):.1f}% ({sum(x)}/{len(x)})" if x else "n/a"


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


def metric_rows(columns: list[dict[str, Any]]) -> list[str]:
    """Markdown table rows of `ami eval` metrics, one column per answerer (same queries in each)."""
    first = columns[0]

    def row(name: str, get: Any) -> str:
        return f"| {name} | " + " | ".join(get(c) for c in columns) + " |"

    return [
        row(f"room accuracy ({first['locate']['queries_seen_items']} queries about seen items)",
            lambda x: fmt(x["locate"]["room_accuracy"], True)),
        row("false abstention on seen items", lambda x: fmt(x["locate"]["false_abstention_rate"], True)),
        row("median position error (m)", lambda x: fmt(x["locate"]["median_position_error_m"])),
        row("answers within 1 m of the item", lambda x: fmt(x["locate"].get("within_1m"), True)),
        row(f"abstention on never-seen items ({first['locate']['queries_never_seen']} queries)",
            lambda x: fmt(x["locate"]["abstention_on_never_seen"], True)),
        row("left-item alerts: true events / alerts / matched",
            lambda x: f"{x['alerts']['true_events']} / {x['alerts']['alerts']} / {x['alerts']['matched']}"),
        row("left-item precision / recall / F1", lambda x: " / ".join(
            fmt(x["alerts"][k], True) for k in ("precision", "recall", "f1"))),
        row("left-item median delay after leaving the room (s)", lambda x: fmt(x["alerts"]["median_delay_s"])),
        row("answer latency from speech onset, median / p90 (s: the utterance itself plus compute)",
            lambda x: f"{fmt(x['latency']['median_s'])} / {fmt(x['latency']['p90_s'])}"),
    ]
