"""The wearer's one default memory folder: $AMI_MEMORY, else the user data folder; `ami memory`
and `ami companion pair` use it when --memory is left out."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs
import pytest

from core.paths import default_memory


def test_the_environment_overrides_the_user_data_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AMI_MEMORY", str(tmp_path / "mine"))
    assert default_memory() == tmp_path / "mine"
    monkeypatch.delenv("AMI_MEMORY")
    home = platformdirs.user_data_path("ami-glasses", appauthor=False)
    assert default_memory() == home / "memory"


def test_memory_commands_use_the_default_folder(capsys: pytest.CaptureFixture[str]) -> None:
    from device.cli.main import main
    from memory.store import MemoryStore

    folder = default_memory()  # a temporary folder for each test (tests/conftest.py)
    assert main(["memory", "stats"]) == 2  # nothing there yet: a clear error, nothing created
    assert str(folder) in capsys.readouterr().err and not (folder / "memory.db").exists()
    MemoryStore.open(folder, embedding_dim=8, patch_dim=8).close()
    assert os.stat(folder).st_mode & 0o777 == 0o700
    assert main(["memory", "stats"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{folder}: 0 keyframes"), out
