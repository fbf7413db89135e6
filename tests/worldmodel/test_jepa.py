"""The JEPA latent predictor's API on real frames: shapes, rollouts, pose deltas, checkpoints."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from device.errors import ModelError
from device.session import Pose, read_session
from worldmodel.jepa import (CHECKPOINT_VERSION, JepaConfig, LatentPredictor, action_between,
                             apply_action, checkpoint_bytes, load_predictor, surprise)

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "demo" / "session"


@pytest.fixture(scope="module")
def demo_patches() -> torch.Tensor:
    """(8, 196, 64) patch features of 8 demo frames, 20 frames apart, from the device's encoder."""
    from device.perception.encoder import EncoderConfig, make_encoder

    torch.set_num_threads(1)
    session = read_session(DEMO)
    encoder = make_encoder(EncoderConfig(threads=1))
    return torch.from_numpy(np.stack([encoder.encode(session.load_frame(i)).patches for i in range(0, 160, 20)]))


@pytest.fixture()
def model() -> LatentPredictor:
    torch.manual_seed(0)
    return LatentPredictor(JepaConfig()).eval()


def test_shapes_on_real_frames(model: LatentPredictor, demo_patches: torch.Tensor) -> None:
    s = model.encode(demo_patches)
    assert s.shape == (8, model.config.latent_dim)
    a = torch.tensor([[0.3, 0.0, 10.0]]).repeat(8, 1)
    assert model.predict(s, a).shape == s.shape
    assert model.rollout(s, a[:, None].repeat(1, 5, 1)).shape == (8, 5, model.config.latent_dim)
    assert surprise(model, s, a, s).shape == (8,)
    assert not torch.allclose(s[0], s[4]), "different views must not share a latent"


def test_encode_rejects_a_wrong_grid(model: LatentPredictor) -> None:
    with pytest.raises(ModelError, match=r"\(B, 196, 64\)"):
        model.encode(torch.zeros(2, 49, 64))


def test_rollout_equals_repeated_predict_and_is_differentiable(model: LatentPredictor,
                                                               demo_patches: torch.Tensor) -> None:
    with torch.no_grad():
        s0 = model.encode(demo_patches[:3])
    actions = torch.tensor([[0.4, 0.0, 0.0], [0.0, 0.1, 30.0], [0.2, -0.1, -45.0], [0.0, 0.0, 0.0]])
    actions = actions[None].repeat(3, 1, 1).requires_grad_(True)  # (3, 4, 3)
    rolled = model.rollout(s0, actions)
    s = s0
    for h in range(actions.shape[1]):
        s = model.predict(s, actions[:, h])
        torch.testing.assert_close(rolled[:, h], s)
    rolled[:, -1].pow(2).sum().backward()
    assert actions.grad is not None and actions.grad[:, 0].abs().sum() > 0, "plans need gradients to the actions"


def test_surprise_is_zero_for_the_prediction_and_grows_away_from_it(model: LatentPredictor,
                                                                     demo_patches: torch.Tensor) -> None:
    with torch.no_grad():
        s = model.encode(demo_patches[:2])
        a = torch.tensor([[0.2, 0.0, 5.0], [0.0, 0.0, -20.0]])
        pred = model.predict(s, a)
        assert torch.allclose(surprise(model, s, a, pred), torch.zeros(2), atol=1e-10)
        far = surprise(model, s, a, pred + 1.0)
        torch.testing.assert_close(far, torch.ones(2))


@pytest.mark.parametrize("yaw, step, want", [
    (0.0, (1.0, 0.0), (1.0, 0.0)),  # yaw 0 faces +x
    (0.0, (0.0, 1.0), (0.0, 1.0)),  # +z is on the right when facing +x
    (90.0, (0.0, -1.0), (1.0, 0.0)),  # yaw 90 faces -z
    (90.0, (1.0, 0.0), (0.0, 1.0)),
])
def test_action_between_follows_the_session_format(yaw: float, step: tuple[float, float],
                                                   want: tuple[float, float]) -> None:
    p0 = Pose(x=2.0, y=1.5, z=-1.0, yaw_deg=yaw, pitch_deg=0.0)
    p1 = Pose(x=2.0 + step[0], y=1.5, z=-1.0 + step[1], yaw_deg=yaw + 30.0, pitch_deg=0.0)
    a = action_between(p0, p1)
    assert a.dtype == np.float32 and a.shape == (3,)
    np.testing.assert_allclose(a, [*want, 30.0], atol=1e-5)


@pytest.mark.parametrize("yaw0, yaw1, turn", [(170.0, -170.0, 20.0), (-170.0, 170.0, -20.0), (0.0, 180.0, 180.0),
                                              (10.0, -170.0, 180.0), (-90.0, 270.0, 0.0)])
def test_turn_wraps_to_half_open_interval(yaw0: float, yaw1: float, turn: float) -> None:
    p0, p1 = Pose(0, 0, 0, yaw0, 0), Pose(0, 0, 0, yaw1, 0)
    assert action_between(p0, p1)[2] == pytest.approx(turn)


def test_apply_action_inverts_action_between_on_a_recorded_walk() -> None:
    """On the demo's recorded poses, 10 frames apart: the inverse holds, and the wearer walks
    forward (the recorder's heading and the action's forward axis agree)."""
    poses = [f.pose for f in read_session(DEMO).frames if f.pose is not None]
    forwards = []
    for p0, p1 in zip(poses[:-10:7], poses[10::7]):
        a = action_between(p0, p1)
        back = apply_action(p0, a)
        assert (back.x, back.z) == pytest.approx((p1.x, p1.z), abs=1e-4)
        assert math.cos(math.radians(back.yaw_deg - p1.yaw_deg)) == pytest.approx(1.0, abs=1e-6)
        assert back.pitch_deg == p0.pitch_deg and back.y == p0.y
        forwards.append(a[0])
    assert np.mean(forwards) > 0.05, "a scripted walk moves forward on average"


def test_apply_then_between_is_identity() -> None:
    rng = np.random.default_rng(0)
    for _ in range(50):
        p0 = Pose(*rng.uniform(-5, 5, 3), yaw_deg=rng.uniform(-180, 180), pitch_deg=-10.0)
        a = np.array([rng.uniform(-0.5, 0.5), rng.uniform(-0.5, 0.5), rng.uniform(-179, 179)], dtype=np.float32)
        np.testing.assert_allclose(action_between(p0, apply_action(p0, a)), a, atol=1e-4)


def test_checkpoint_round_trip(tmp_path: Path, model: LatentPredictor, demo_patches: torch.Tensor) -> None:
    path = tmp_path / "jepa.pt"
    path.write_bytes(checkpoint_bytes(model, {"train_seeds": [0, 1]}))
    loaded = load_predictor(path)
    assert loaded.version.startswith(f"jepa-v{CHECKPOINT_VERSION}+") and loaded.meta["train_seeds"] == [0, 1]
    with torch.no_grad():
        torch.testing.assert_close(loaded.encode(demo_patches), model.encode(demo_patches))


def _corrupt(good: bytes) -> dict[str, bytes]:
    import io

    def saved(obj: object) -> bytes:
        buf = io.BytesIO()
        torch.save(obj, buf)
        return buf.getvalue()

    ckpt = torch.load(io.BytesIO(good), weights_only=True)
    return {
        "truncated": good[: len(good) // 2],
        "garbage": b"not a checkpoint",
        "empty": b"",
        "wrong-format": saved({**ckpt, "format": "something-else/1"}),
        "wrong-version": saved({**ckpt, "version": CHECKPOINT_VERSION + 1}),
        "wrong-shape": saved({**ckpt, "config": {**ckpt["config"], "latent_dim": 64}}),
    }


@pytest.mark.parametrize("kind", ["truncated", "garbage", "empty", "wrong-format", "wrong-version", "wrong-shape",
                                  "missing"])
def test_bad_checkpoint_raises_model_error_naming_the_file(tmp_path: Path, model: LatentPredictor, kind: str) -> None:
    path = tmp_path / f"{kind}.pt"
    if kind != "missing":
        path.write_bytes(_corrupt(checkpoint_bytes(model, {}))[kind])
    with pytest.raises(ModelError, match=str(path)):
        load_predictor(path)


def test_the_shipped_predictor_was_trained_on_the_shipped_encoder() -> None:
    """The glasses feed the JEPA their encoder's cells: a predictor trained on another head's cells
    would plan on noise. Retrain it (`ami train jepa --out worldmodel/artifacts`) after `ami export`
    ships a new head."""
    import json

    from core.paths import EXPORT_ARTIFACTS, WORLDMODEL_ARTIFACTS

    card = json.loads((WORLDMODEL_ARTIFACTS / "jepa-v1.json").read_text())
    manifest = json.loads((EXPORT_ARTIFACTS / "manifest.json").read_text())
    assert card["encoder"]["model"] == manifest["model"], (card["encoder"]["model"], manifest["model"])
