"""Every test runs with its own default memory folder ($AMI_MEMORY in a temporary folder), so no
test reads or writes the wearer's real memory."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # shared helpers: `from live_server import LiveServer`


@pytest.fixture(autouse=True)
def _private_default_memory(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path_factory.mktemp("default-home") / "memory"
    monkeypatch.setenv("AMI_MEMORY", str(folder))
    return folder


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """The intents' head cache of the whole run in one temporary folder (trained once per run)."""
    monkeypatch.setenv("AMI_CACHE", str(tmp_path_factory.getbasetemp() / "ami-cache"))
