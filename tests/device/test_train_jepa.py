"""`ami train jepa` end to end on real MiniWorld frames, and the shipped checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from device.cli.main import main
from device.session import Session, read_session
from worldmodel.jepa import DEFAULT_CHECKPOINT, LatentPredictor, load_predictor, surprise
from device.training.jepa_data import PairConfig, SessionCells, effective_rank, session_pairs
from device.training.train_jepa import vicreg_terms

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "demo" / "session"


def demo_poses() -> tuple[Session, SessionCells]:
    """The demo session and its posed frames (no encoder features: the cells are placeholders)."""
    session = read_session(DEMO)
    rows = [f for f in session.frames if f.pose is not None]
    return session, SessionCells("demo", np.array([f.i for f in rows]), np.array([f.t for f in rows]),
                                 [f.pose for f in rows], np.zeros((len(rows), 1, 1), np.float16))


@pytest.fixture(scope="module")
def short_session(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A short recorded session (development seed 3) to validate on."""
    from device.sim.record import RecordConfig, record_session

    return record_session(tmp_path_factory.mktemp("sim") / "short", RecordConfig(seed=3, short=True), progress=False)


@pytest.mark.slow
def test_train_cli_lowers_the_loss_and_writes_a_loadable_checkpoint(tmp_path: Path, short_session: Path) -> None:
    out = tmp_path / "jepa"
    rc = main(["train", "jepa", "--sessions", str(DEMO), "--val-sessions", str(short_session), "--epochs", "3",
               "--frame-step", "3", "--cache", str(tmp_path / "cache"), "--out", str(out), "--quiet"])
    assert rc == 0
    card = json.loads((out / "jepa-v1.json").read_text())
    history = card["history"]
    assert history[-1]["train_loss"] < history[1]["train_loss"], "training must lower the loss"
    assert history[-1]["val_effective_rank"] > 4, "latents collapsed"
    assert card["train_sessions"] == ["session"] and card["train_seeds"] == []
    assert len(card["encoder"]["source_weights_sha256"]) == 64 and len(card["sha256"]) == 64
    assert (out / "jepa-v1-loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    model = load_predictor(out / "jepa-v1.pt")
    assert model.version.startswith("jepa-v1+") and model.version[8:] == card["sha256"][:8]
    assert not list(out.glob(".*")), "no temporary files left behind"
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 2  # one per session: reruns skip encoding


@pytest.mark.parametrize("flags, message", [
    (["--seeds", "1000"], "held-out"),
    (["--seeds", "3", "--val-seeds", "3"], "both training and validation"),
    (["--epochs", "0", "--seeds", "3", "--val-seeds", "4"], "epochs"),
])
def test_train_cli_refuses_bad_flags(tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str],
                                     message: str) -> None:
    for seed in (3, 4):  # stand-in folders: the flags must be refused before any session is read
        (tmp_path / f"seed-{seed}").mkdir()
    rc = main(["train", "jepa", *flags, "--sessions-dir", str(tmp_path), "--out", str(tmp_path / "o"), "--quiet"])
    assert rc == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "o" / "jepa-v1.pt").exists()


def test_vicreg_terms_penalise_collapse() -> None:
    g = torch.Generator().manual_seed(0)
    spread = torch.randn(512, 32, generator=g)
    collapsed = torch.randn(512, 1, generator=g).repeat(1, 32) * 0.01
    var_ok, cov_ok = vicreg_terms(spread)
    var_bad, cov_bad = vicreg_terms(collapsed + 0.001 * torch.randn(512, 32, generator=g))
    assert var_ok < 0.1 < var_bad
    assert effective_rank(spread) > 25 > 2 > effective_rank(collapsed)


def test_pairs_respect_the_step_limits_on_a_recorded_session() -> None:
    _, data = demo_poses()
    rows = data.frames
    config = PairConfig()
    pairs = session_pairs(data, config)
    assert len(pairs.i) > len(rows), "more pairs than frames: k varies"
    assert np.abs(pairs.actions[:, :2]).max() <= config.max_step_m
    assert np.abs(pairs.actions[:, 2]).max() <= config.max_turn_deg
    assert np.abs(pairs.actions[:, 2]).max() > 30 and np.abs(pairs.actions[:, 0]).max() > 0.4, "big steps covered"
    gaps = data.t[pairs.j] - data.t[pairs.i]
    assert gaps.min() > 0 and gaps.max() <= config.max_gap_s + 1e-9



def test_the_shipped_checkpoint_loads_and_is_small() -> None:
    model = load_predictor()
    assert isinstance(model, LatentPredictor) and model.version.startswith("jepa-v1+")
    assert DEFAULT_CHECKPOINT.stat().st_size < 5 * 2 ** 20
    card = json.loads(DEFAULT_CHECKPOINT.with_suffix(".json").read_text())
    assert all(0 <= s <= 99 for s in card["train_seeds"] + card["val_seeds"]), "trained on development seeds only"
    assert card["metrics"]["val_effective_rank"] > 8, "the shipped latents must not be collapsed"


def test_the_shipped_predictor_uses_the_action_on_real_frames() -> None:
    """On the demo walk's turning pairs, the true action predicts the next view better, on average, than
    the same step with the turn reversed: the energy a planner minimises depends on where you turn."""
    from device.perception.encoder import EncoderConfig, make_encoder

    torch.set_num_threads(1)
    model = load_predictor()
    session, data = demo_poses()
    pairs = session_pairs(data, PairConfig())
    turning = np.flatnonzero(np.abs(pairs.actions[:, 2]) > 20)[::5][:80]
    assert len(turning) >= 20, "the demo walk turns"
    encoder = make_encoder(EncoderConfig(threads=1))
    frames = sorted({int(pairs.i[k]) for k in turning} | {int(pairs.j[k]) for k in turning})
    with torch.no_grad():
        z = {r: model.encode(torch.from_numpy(encoder.encode(session.load_frame(int(data.frames[r]))).patches)[None])[0]
             for r in frames}
        s = torch.stack([z[int(pairs.i[k])] for k in turning])
        s_next = torch.stack([z[int(pairs.j[k])] for k in turning])
        a = torch.from_numpy(pairs.actions[turning])
        true = surprise(model, s, a, s_next)
        reversed_turn = surprise(model, s, a * torch.tensor([1.0, 1.0, -1.0]), s_next)
    # On average only (measured: about 10% lower): the predictor's use of the action is weak; see BENCHMARKS.md.
    assert float(true.mean()) < float(reversed_turn.mean())
