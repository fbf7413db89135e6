"""Fixtures for the companion tests (the helpers themselves are in companion_fixtures.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
import torch
from companion_fixtures import LiveServer, PoseToy, live


@pytest.fixture(autouse=True)
def one_thread() -> None:
    torch.set_num_threads(1)


@pytest.fixture
def toy() -> PoseToy:
    return PoseToy()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    with live(tmp_path) as s:
        yield s
