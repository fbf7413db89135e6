"""`ami memory ...` end to end on a real memory folder: each subcommand, its exit code and output."""

from __future__ import annotations

import json
from datetime import datetime
import stat
from pathlib import Path

import numpy as np
import pytest

from device.cli.main import main
from memory import MemoryStore

D, DP, GRID = 8, 4, (2, 2)


@pytest.fixture
def memory(tmp_path: Path) -> Path:
    """20 keyframes at t = 0..19 s, x = 0..19 m, recorded an hour ago; one item."""
    folder = tmp_path / "memory"
    rng = np.random.default_rng(0)
    with MemoryStore.open(folder, embedding_dim=D, patch_dim=DP) as store:
        for i in range(20):
            store.add_keyframe(float(i), i, "s", (float(i), 1.6, 0.0, 0.0, 0.0), rng.standard_normal(D),
                               rng.standard_normal((4, DP)) / 4, GRID, recorded_at=1e9 + i)
        store.enroll_item("keys", 3.0, rng.standard_normal((1, DP)), 0.99, recorded_at=1e9)
    return folder


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["memory", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def count(folder: Path) -> int:
    with MemoryStore.open_existing(folder) as store:
        return store.count()


def test_stats_reads_dims_from_the_database(memory, capsys) -> None:
    code, out, _ = run(capsys, "stats", "--memory", str(memory), "--json")
    stats = json.loads(out)
    assert code == 0 and (stats["keyframes"], stats["items"], stats["embedding_dim"]) == (20, 1, D)
    assert stats["item_names"] == ["keys"] and (stats["first_seen"], stats["last_seen"]) == (1e9, 1e9 + 19)
    code, out, _ = run(capsys, "stats", "--memory", str(memory))
    assert code == 0 and "1 items (keys)" in out and "kB per keyframe" in out, out  # names and human units
    first = datetime.fromtimestamp(1e9).astimezone().strftime("%Y-%m-%d %H:%M")
    assert f"seen: from {first}" in out, out  # when, on the wearer's clock


def test_stats_give_bytes_per_hour_of_wear_time_off_not_counted(memory, capsys) -> None:
    with MemoryStore.open_existing(memory) as store:  # the glasses off for two hours, then 5 s more
        for i in range(6):
            store.add_keyframe(float(i), 100 + i, "later", None, np.ones(D), np.ones((4, DP)), GRID,
                               recorded_at=1e9 + 7200 + i)
    code, out, _ = run(capsys, "stats", "--memory", str(memory), "--json")
    stats = json.loads(out)
    assert code == 0 and stats["wear_s"] == 19 + 5
    assert stats["bytes_per_wear_hour"] == pytest.approx(stats["total_bytes"] * 3600 / 24)
    code, out, _ = run(capsys, "stats", "--memory", str(memory))
    assert "per hour of wear:" in out and "(0.01 h of wear stored" in out, out


def test_verbose_goes_before_or_after_the_subcommand(memory, capsys) -> None:
    for argv in (["-v", "memory", "stats"], ["memory", "stats", "-v"], ["memory", "-v", "stats"]):
        assert main([*argv, "--memory", str(memory)]) == 0, argv
        assert "20 keyframes" in capsys.readouterr().out


def test_verify_passes_then_names_the_failed_invariant(memory, capsys) -> None:
    assert run(capsys, "verify", "--memory", str(memory))[0] == 0
    sidecar = json.loads((memory / "index.json").read_text())
    (memory / sidecar["files"]["patches"]["file"]).write_bytes(b"garbage")
    code, out, _ = run(capsys, "verify", "--memory", str(memory))
    assert code == 1 and "FAIL saved index" in out and "checksum" in out and "ami memory rebuild" in out
    assert run(capsys, "rebuild", "--memory", str(memory))[0] == 0
    assert run(capsys, "verify", "--memory", str(memory))[0] == 0


@pytest.mark.parametrize(
    ("flags", "left"),
    [
        (["--between", "0", "4.5"], 15),
        (["--near", "10", "0", "--radius", "2"], 15),
        (["--last", "10m"], 20),  # everything was recorded in 2001
        (["--all", "--yes"], 0),
    ],
)
def test_forget(memory, capsys, flags, left) -> None:
    code, out, _ = run(capsys, "forget", "--memory", str(memory), *flags)
    assert code == 0 and f"Forgot {20 - left} keyframes" in out
    assert count(memory) == left


def test_forget_all_needs_yes_and_near_needs_radius(memory, capsys) -> None:
    code, _, err = run(capsys, "forget", "--memory", str(memory), "--all")
    assert code == 2 and "--yes" in err
    code, _, err = run(capsys, "forget", "--memory", str(memory), "--near", "1", "2")
    assert code == 2 and "--radius" in err
    code, _, err = run(capsys, "forget", "--memory", str(memory), "--item", "wallet")
    assert code == 2 and "'keys'" in err
    assert count(memory) == 20


def test_export_import_round_trip(memory, tmp_path, capsys, caplog) -> None:
    archive = tmp_path / "out" / "memory.tar.gz"
    archive.parent.mkdir()
    assert run(capsys, "export", "--memory", str(memory), "--out", str(archive))[0] == 0
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    copy = tmp_path / "copy"
    caplog.clear()
    code, out, _ = run(capsys, "import", str(archive), "--memory", str(copy))
    assert code == 0 and out.startswith("Imported 20 keyframes")
    assert not [r for r in caplog.records if r.levelno >= 30], caplog.text  # no warning for the expected rebuild
    with MemoryStore.open_existing(memory) as a, MemoryStore.open_existing(copy) as b:
        assert [a.keyframe(i) for i in range(1, 21)] == [b.keyframe(i) for i in range(1, 21)]
        np.testing.assert_array_equal(a.item("keys").prototypes, b.item("keys").prototypes)
        assert b.verify() == []
    code, _, err = run(capsys, "import", str(archive), "--memory", str(copy))
    assert code == 2 and "not empty" in err


def test_import_refuses_a_damaged_archive(tmp_path, capsys) -> None:
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(b"\x1f\x8b not really gzip")
    code, _, err = run(capsys, "import", str(bad), "--memory", str(tmp_path / "m"))
    assert code == 2 and "cannot read" in err


def test_missing_memory_is_a_clear_error(tmp_path, capsys) -> None:
    code, _, err = run(capsys, "stats", "--memory", str(tmp_path / "nope"))
    assert code == 2 and "holds no memory" in err and "Traceback" not in err


def test_compact_applies_retention(memory, capsys) -> None:
    code, out, _ = run(capsys, "compact", "--memory", str(memory), "--keep-days", "365")
    assert code == 0 and "20 dropped by retention" in out  # recorded in 2001
    assert count(memory) == 0


@pytest.mark.parametrize("flags, n", [(["--between", "0", "4.5"], 5), (["--all"], 20), (["--item", "keys"], None)])
def test_forget_dry_run_says_what_would_go_and_erases_nothing(memory, capsys, flags, n) -> None:
    before = (memory / "memory.db").read_bytes()
    code, out, _ = run(capsys, "forget", "--memory", str(memory), "--dry-run", *flags)
    assert code == 0 and out.startswith("Would forget") and "nothing erased" in out, out
    if n is not None:
        assert f"Would forget {n} keyframes" in out
    assert count(memory) == 20 and (memory / "memory.db").read_bytes() == before


def test_session_without_between_is_an_error(memory, capsys) -> None:
    code, _, err = run(capsys, "forget", "--memory", str(memory), "--last", "10m", "--session", "s")
    assert code == 2 and "--session only narrows --between" in err
    assert count(memory) == 20


def test_verify_reports_what_a_killed_save_left_and_the_next_open_removes_it(memory, capsys) -> None:
    """A SIGKILL mid-save leaves a temp file: verify names it (it used to be removed unseen by the
    open), and a writing open clears it."""
    leftover = memory / ".patches-g7-0123abcd.faiss.4f2a.tmp"
    leftover.write_bytes(b"\0" * 4096)
    code, out, _ = run(capsys, "verify", "--memory", str(memory))
    assert code == 1 and "leftover files: 1 (4096 bytes)" in out and leftover.exists(), out
    assert run(capsys, "stats", "--memory", str(memory))[0] == 0 and not leftover.exists()
    assert run(capsys, "verify", "--memory", str(memory))[0] == 0


def test_a_zero_byte_database_is_damage_not_a_new_memory(tmp_path, capsys) -> None:
    """An empty memory.db (a lost write) is reported as damage; nothing is written over it."""
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "memory.db").write_bytes(b"")
    code, _, err = run(capsys, "stats", "--memory", str(folder))
    assert code == 2 and "is damaged (it is empty: 0 bytes)" in err, err
    assert [p.name for p in folder.iterdir()] == ["memory.db"] and (folder / "memory.db").stat().st_size == 0
    with pytest.raises(Exception, match="empty: 0 bytes"):
        MemoryStore.open(folder, embedding_dim=D, patch_dim=DP)  # not even when asked to create one
