"""Fixtures for the device tests: one short MiniWorld session, recorded once per test run."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

# The real companion as its own process (benchmarks/companion_process.py), shared with the closed-loop benchmark.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

if TYPE_CHECKING:
    from device.sim.record import RecordConfig


@pytest.fixture(scope="session")
def sim_short_config() -> RecordConfig:
    """A short session's config; not square on purpose, to exercise the vertical-to-horizontal fov."""
    from device.sim.record import RecordConfig

    return RecordConfig(seed=3, width=96, height=64, short=True, start_time="2026-12-07T09:00:00+01:00")


@pytest.fixture(scope="session")
def sim_short_session(tmp_path_factory: pytest.TempPathFactory, sim_short_config: RecordConfig) -> Path:
    """Path of a short recorded session (format ami-session/1 with truth/); slow tests only."""
    from device.sim.record import record_session

    return record_session(tmp_path_factory.mktemp("sim") / "short", sim_short_config, progress=False)
