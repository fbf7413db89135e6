"""The shift matrix (`ami bench shift`): fresh held-out houses per domain-shift axis, each recorded
(`ami record-sim --shift ...`), replayed through the default assistant, scored by `ami eval`'s code
and pooled per axis and over all.

The houses come from seeds never used in development (SHIFT_SEEDS_FROM and up; each axis its own
block of seeds, so no house is scored twice). Replays fan out over Ray: a local instance by
default, or an existing cluster (`address`). `workers=1` without an address runs them one after
another in this process, with no Ray at all; the scores are the same either way (tested).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from core.paths import OUT
from device.evaluation.evaluate import AlertResult, QueryResult, score_alerts, score_queries, summarize
from device.evaluation.truth import load_truth

if TYPE_CHECKING:
    from device.responses import Response
    from device.session import Session

log = logging.getLogger(__name__)

SHIFT_SEEDS_FROM = 3000  # the shift matrix's houses: 3000 + 100 * (axis index) + k, never used in development
# every house starts at this wall-clock time, so a house records to the same bytes (and the same session
# id) on any day: another revision's replays of it can be scored (benchmarks/shift_rescore.py)
START_TIME = "2026-06-01T09:00:00+00:00"
AXES = ("none", "looks", "carry=ahead", "carry=low", "carry=hidden", "random", "camera")  # new axes go last


@dataclass(frozen=True)
class ShiftBenchConfig:
    axes: tuple[str, ...] = AXES
    houses: int = 10  # per axis
    random_houses: int = 40  # under `random`
    size_px: int = 128
    short: bool = False  # short sessions (tests)
    work: Path = OUT / "shift"  # sessions are recorded here once and reused

    def __post_init__(self) -> None:
        bad = [a for a in self.axes if a not in AXES]
        if bad or not self.axes:
            raise ValueError(f"ShiftBenchConfig.axes: {bad or 'none given'}; use some of {', '.join(AXES)}")
        if self.houses < 1 or self.random_houses < 1:
            raise ValueError(f"ShiftBenchConfig.houses must be >= 1, got {self.houses}, {self.random_houses}")


@dataclass(frozen=True)
class Job:
    axis: str
    seed: int


@dataclass(frozen=True)
class JobResult:
    job: Job
    queries: tuple[QueryResult, ...]
    alerts: AlertResult


def jobs(config: ShiftBenchConfig) -> list[Job]:
    """Every (axis, house) of the matrix, in a fixed order."""
    out = []
    for axis in config.axes:
        n = config.random_houses if axis == "random" else config.houses
        out += [Job(axis, SHIFT_SEEDS_FROM + 100 * AXES.index(axis) + k) for k in range(n)]
    return out


def run_job(job: Job, config: ShiftBenchConfig) -> JobResult:
    """Record (once) and replay one house, and score the replay."""
    import torch

    from device.app.replay import ReplayConfig, replay
    from device.session import read_session
    from device.sim.record import RecordConfig, recorded

    torch.set_num_threads(1)
    shift = () if job.axis == "none" else (job.axis,)
    folder = config.work / "sessions" / job.axis.replace("=", "-") / f"seed-{job.seed}"
    session = read_session(recorded(folder, RecordConfig(seed=job.seed, width=config.size_px, height=config.size_px,
                                                         short=config.short, shift=shift, start_time=START_TIME)))
    return scored(job, session, replay(session, None, config=ReplayConfig(progress=False)).responses)


def scored(job: Job, session: Session, responses: list[Response]) -> JobResult:
    """One house's responses scored against its truth/."""
    truth = load_truth(session)
    return JobResult(job, tuple(score_queries(session, responses, truth)), score_alerts(session, responses, truth))


def run_matrix(config: ShiftBenchConfig, workers: int = 2, address: str | None = None,
               on_done: Callable[[JobResult], None] | None = None) -> list[JobResult]:
    """Every job's result, in `jobs` order. workers=1 and no address: in this process, no Ray."""
    todo = jobs(config)
    if workers == 1 and address is None:
        out = []
        for job in todo:
            out.append(run_job(job, config))
            if on_done is not None:
                on_done(out[-1])
        return out
    import ray

    ray.init(address=address, num_cpus=None if address else workers, include_dashboard=False,
             log_to_driver=False, ignore_reinit_error=True)
    try:
        remote = ray.remote(num_cpus=1)(run_job)
        pending = {remote.remote(job, config): k for k, job in enumerate(todo)}
        done: dict[int, JobResult] = {}
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            result = ray.get(ready[0])
            done[pending.pop(ready[0])] = result
            if on_done is not None:
                on_done(result)
        return [done[k] for k in range(len(todo))]
    finally:
        ray.shutdown()


def pool(results: list[JobResult]) -> dict[str, dict[str, Any]]:
    """Metrics per axis (in the order first seen) and "pooled" over every house."""
    axes = list(dict.fromkeys(r.job.axis for r in results))
    out = {}
    for name, part in [(a, [r for r in results if r.job.axis == a]) for a in axes] + [("pooled", results)]:
        m = summarize([q for r in part for q in r.queries], [r.alerts for r in part])
        m.pop("queries")
        out[name] = {"houses": len(part), **m}
    return out


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{100 * v:.0f}%"


def table(metrics: dict[str, dict[str, Any]]) -> str:
    """One markdown table: a row per axis and the pooled row."""
    head = ("| axis | houses | room accuracy | within 1 m | never-seen abstained | left-item P / R / F1 "
            "| alert delay (s) |\n|---|---|---|---|---|---|---|")
    rows = []
    for axis, m in metrics.items():
        loc, al = m["locate"], m["alerts"]
        delay = al["median_delay_s"]
        rows.append(f"| {axis} | {m['houses']} | {_pct(loc['room_accuracy'])} ({loc['queries_seen_items']}) | "
                    f"{_pct(loc['within_1m'])} | {_pct(loc['abstention_on_never_seen'])} | "
                    f"{_pct(al['precision'])} / {_pct(al['recall'])} / {_pct(al['f1'])} ({al['true_events']} events) | "
                    f"{'n/a' if delay is None else f'{delay:.1f}'} |")
    return "\n".join([head, *rows])


def plot(metrics: dict[str, dict[str, Any]], path: Path) -> None:
    """Grouped bars per axis: room accuracy, within 1 m, left-item F1."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    axes = list(metrics)
    series = {"room accuracy": [metrics[a]["locate"]["room_accuracy"] for a in axes],
              "within 1 m": [metrics[a]["locate"]["within_1m"] for a in axes],
              "left-item F1": [metrics[a]["alerts"]["f1"] for a in axes]}
    fig, ax = plt.subplots(figsize=(1.6 * len(axes) + 2, 3.6))
    x = np.arange(len(axes))
    for k, (name, vals) in enumerate(series.items()):
        ax.bar(x + (k - 1) * 0.27, [0.0 if v is None else v for v in vals], 0.27, label=name)
    ax.axhline(0.9, color="grey", lw=0.8, ls="--")
    ax.set_xticks(x, axes)
    ax.set_ylim(0, 1)
    ax.set_ylabel("fraction")
    ax.set_title("the shift matrix: each axis on its own held-out houses")
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_outputs(results: list[JobResult], out: Path) -> dict[str, dict[str, Any]]:
    """metrics.json, table.md and shift.png in `out`; returns the pooled metrics."""
    from core.files import write_json_atomic, write_text_atomic

    out.mkdir(parents=True, exist_ok=True)
    metrics = pool(results)
    per_house = [{"axis": r.job.axis, "seed": r.job.seed, "queries": [asdict(q) for q in r.queries],
                  "alerts": asdict(r.alerts)} for r in results]
    write_json_atomic(out / "metrics.json", {"axes": metrics, "houses": per_house})
    write_text_atomic(out / "table.md", table(metrics) + "\n")
    plot(metrics, out / "shift.png")
    return metrics
