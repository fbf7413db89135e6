"""The `ami` command line: every subcommand has help, is in the README, and bad input exits
non-zero with a message that names the problem."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from device.cli.main import build_parser, main

ROOT = Path(__file__).resolve().parents[2]


def subcommands() -> list[str]:
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return sorted(action.choices)


@pytest.mark.parametrize("name", subcommands())
def test_every_subcommand_has_help_and_is_in_readme(name: str, capsys) -> None:
    with pytest.raises(SystemExit) as e:
        main([name, "--help"])
    assert e.value.code == 0
    assert len(capsys.readouterr().out) > 100
    assert f"ami {name}" in (ROOT / "README.md").read_text()


def test_python_dash_m_runs_the_same_cli() -> None:
    r = subprocess.run([sys.executable, "-m", "device", "--help"], capture_output=True, text=True, check=True)
    assert "record-sim" in r.stdout


def test_replay_of_a_missing_session_fails_cleanly(tmp_path: Path, capsys) -> None:
    assert main(["replay", str(tmp_path / "nope"), "--out", str(tmp_path / "r.jsonl")]) == 2
    err = capsys.readouterr().err
    assert "not a session folder" in err and "Traceback" not in err
    assert not (tmp_path / "r.jsonl").exists()


def test_eval_of_malformed_responses_fails_cleanly(tmp_path: Path, capsys) -> None:
    from synthetic import make_session

    root = make_session(tmp_path)
    bad = tmp_path / "r.jsonl"
    bad.write_text("{oops\n")
    assert main(["eval", str(root), str(bad)]) == 2
    assert "r.jsonl:1: malformed JSON" in capsys.readouterr().err
