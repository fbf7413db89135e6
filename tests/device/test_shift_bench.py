"""`ami bench shift`: the same houses scored on a local Ray instance and one by one agree."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from device.app.shift_bench import AXES, SHIFT_SEEDS_FROM, ShiftBenchConfig, jobs, pool, run_matrix, write_outputs


def test_each_axis_has_its_own_held_out_houses() -> None:
    seeds = [j.seed for j in jobs(ShiftBenchConfig(houses=3, random_houses=5))]
    assert len(seeds) == len(set(seeds)) == (len(AXES) - 1) * 3 + 5 and min(seeds) >= SHIFT_SEEDS_FROM


def test_a_bad_axis_is_named() -> None:
    with pytest.raises(ValueError, match="colour"):
        ShiftBenchConfig(axes=("colour",))


@pytest.mark.slow
def test_ray_and_one_worker_give_the_same_scores(tmp_path: Path) -> None:
    config = ShiftBenchConfig(axes=("carry=hidden", "looks"), houses=1, random_houses=1, size_px=64, short=True,
                              work=tmp_path / "work")
    alone = run_matrix(config, workers=1)
    fanned = run_matrix(config, workers=2)

    def scores(results: list) -> list:  # latency is wall clock: it differs run to run
        return [(r.job, [replace(q, latency_s=None) for q in r.queries], r.alerts) for r in results]

    assert scores(alone) == scores(fanned)
    metrics = write_outputs(fanned, tmp_path / "out")
    assert set(metrics) == {"carry=hidden", "looks", "pooled"} and metrics["pooled"]["houses"] == 2
    assert (tmp_path / "out" / "shift.png").stat().st_size > 0 and pool(alone).keys() == metrics.keys()
