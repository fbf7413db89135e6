"""`ami explain` on the bundled demo session (real MiniWorld frames): the hypotheses behind an answer."""

from __future__ import annotations

from pathlib import Path

import pytest

from device.cli.main import main
from device.app.demo import DEMO_SESSION

pytestmark = pytest.mark.slow


def test_explain_shows_the_hypotheses_as_text_and_picture(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from PIL import Image

    out = tmp_path / "why.png"
    assert main(["explain", str(DEMO_SESSION), "--t", "150", "--item", "wallet", "--out", str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "where is my wallet?" in text and "carried" in text and "energy" in text
    rows = [line for line in text.splitlines() if line.startswith(("> ", "  place", "  carried"))]
    assert len(rows) >= 3 and sum(line.startswith("> ") for line in rows) == 1, text
    energies = [float(line.split()[-3]) for line in rows]
    assert energies == sorted(energies), "hypotheses are listed lowest energy first"
    im = Image.open(out)
    assert im.size[0] > 600 and (out.stat().st_mode & 0o777) == 0o600


def test_explain_refuses_a_time_outside_the_session(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", str(DEMO_SESSION), "--t", "99999", "--item", "keys", "--quiet"]) != 0
    assert "outside the session" in capsys.readouterr().err
