"""Perception truth and training on a real recorded MiniWorld session (slow: renders frames).

- The truth projection (device/evaluation/item_truth.py) lands on the item: at the projected pixel the
  frame changes when the simulator renders the same view without that item.
- A short training run of the instance head on the session's real features lowers the loss.
- The per-frame scorer runs on it and the frozen baseline gives sane figures.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from device.evaluation.item_truth import item_tracks
from device.session import read_session

pytestmark = pytest.mark.slow


def test_projection_lands_on_the_item_in_a_real_frame(sim_short_session: Path, sim_short_config) -> None:
    from device.sim.house import make_house_env
    from device.sim.layout import HouseConfig, generate_house
    from device.sim.record import HIDDEN_Y_M
    from device.sim.wearer import WearerConfig, plan_session

    session = read_session(sim_short_session)
    tracks = item_tracks(session)
    assert tracks and all(tr.visible.any() for tr in tracks)
    cfg = sim_short_config
    layout = generate_house(HouseConfig(seed=cfg.seed, n_rooms=3, n_items=3))
    plan = plan_session(layout, WearerConfig(fps=cfg.fps, short=True), cfg.seed)
    names = [it.name for it in layout.items]
    env = make_house_env(layout, cfg.width, cfg.height)
    checked, total = 0, 0
    try:
        for tr in tracks:
            vis = np.flatnonzero(tr.visible)
            for i in vis[np.linspace(0, len(vis) - 1, 8).astype(int)]:
                f, pose = plan.frames[i], session.frames[i].pose
                env.agent.pos = np.array([f.x, 0.0, f.z])
                env.agent.dir = math.radians(pose.yaw_deg)
                env.agent.cam_pitch = pose.pitch_deg
                for nm, p in zip(names, f.items):
                    env.items[nm].pos = np.array([p.x, p.y, p.z])
                    env.items[nm].dir = p.dir
                with_item = env.render_obs().astype(int)
                p = f.items[names.index(tr.name)]
                env.items[tr.name].pos = np.array([p.x, HIDDEN_Y_M, p.z])
                without = env.render_obs().astype(int)
                col = min(int(tr.uv[i, 0] * cfg.width), cfg.width - 1)
                row = min(int(tr.uv[i, 1] * cfg.height), cfg.height - 1)
                win = np.s_[max(row - 1, 0):row + 2, max(col - 1, 0):col + 2]
                assert np.abs(with_item[win] - without[win]).max() > 0, (
                    f"{tr.name} frame {i}: nothing of the item at its projected pixel ({row}, {col})")
                # control: far from the projection the item changes nothing
                far = np.s_[(row + cfg.height // 2) % cfg.height, (col + cfg.width // 2) % cfg.width]
                total += 1
                checked += int(np.abs(with_item[far] - without[far]).max() == 0)
    finally:
        env.close()
    # near items fill much of the frame, so the control holds only for most views
    assert total >= 8 and checked >= total // 2, f"removing an item changed far pixels in {total - checked}/{total}"


@pytest.fixture(scope="module")
def short_features(sim_short_session: Path, tmp_path_factory: pytest.TempPathFactory):
    from device.training.perception_cache import session_features

    session, cache = read_session(sim_short_session), tmp_path_factory.mktemp("cache")
    return session, session_features(session, step=3, cache=cache, progress=False), cache


def test_short_training_run_lowers_the_loss(short_features) -> None:
    import torch

    from device.training.perception_train import train_data
    from worldmodel.train_perception import TrainConfig, train

    torch.set_num_threads(1)
    data = train_data([short_features[:2]])
    result = train(data, TrainConfig(steps=60, batch=16, anchor_max_distance_m=5.0), progress=False)
    first, last = np.mean(result.losses[:10]), np.mean(result.losses[-10:])
    assert last < 0.8 * first, f"loss went from {first:.3f} to {last:.3f}"


def test_cache_is_reused_and_scores_are_sane(short_features) -> None:
    from device.training.perception_cache import session_features
    from device.training.perception_eval import frozen_embedder, score_session, summarize, threshold_at_fp

    session, feats, cache = short_features
    assert len(list(cache.glob("*.npz"))) == 1 and not list(cache.glob("*.tmp*"))
    again = session_features(session, step=3, cache=cache, progress=False, extractor=_NoExtractor())
    assert np.array_equal(again.s16, feats.s16) and np.array_equal(again.frames, feats.frames)
    scores = score_session(session, feats, frozen_embedder)
    assert {s.item for s in scores} <= {tr.name for tr in item_tracks(session)} and scores
    s = summarize(scores, threshold_at_fp(scores))
    assert s.fp_rate <= 0.05 and sum(s.n_visible.values()) > 0



class _NoExtractor:
    """Fails if called: a cached session must not be encoded again."""

    def __call__(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise AssertionError("the cache was not used")
