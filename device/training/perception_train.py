"""`ami train perception`: build training arrays from recorded sessions, train, calibrate, save.

Sessions come from training seeds only (out/train-sessions/seed-N, recorded when missing). Their
frozen-backbone features are cached (device/training/perception_cache.py) and labelled from truth/
(device/evaluation/item_truth.py). After training, the one threshold shared by all items is the cosine that
`fp_rate` (0.2%) of the training seeds' negative frames clear (device/training/perception_eval.py), stored
in the checkpoint with the seeds and settings it came from.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from core.paths import OUT
from device.evaluation.item_truth import item_tracks, uv_cell
from device.training.perception_cache import DEFAULT_CACHE, SessionFeatures, session_features
from device.training.perception_eval import head_embedder, score_session, threshold_at_fp
from device.session import Session, read_session

log = logging.getLogger(__name__)

HELD_OUT_MIN_SEED = 1000  # held-out seeds (1000-1019, 2000-2019) never train anything


@dataclass(frozen=True)
class PerceptionTrainConfig:
    seeds: tuple[int, ...] = tuple(range(10))
    # ... and these recorded with `--shift random` (device.sim.shift: other looks, colours shared between
    # items, other carries), so that the head learns to find an instance again, not the recorder's few looks
    shifted_seeds: tuple[int, ...] = tuple(range(30, 40))
    sessions: Path = OUT / "train-sessions"
    cache: Path = DEFAULT_CACHE
    out: Path = OUT / "perception"  # checkpoint and loss plot
    frame_step: int = 2  # every 2nd frame of 10 fps: neighbours are near duplicates
    fp_rate: float = 0.002  # on training seeds; 0.01 there gave 3.3% on dev seeds 10-11 (overfit), 0.002 gave 0.4%
    train: "TrainConfig" = field(default_factory=lambda: _train_config())  # noqa: F821 (lazy import)

    def __post_init__(self) -> None:
        bad = [s for s in self.seeds + self.shifted_seeds if s >= HELD_OUT_MIN_SEED or s < 0]
        if bad:
            raise ValueError(f"PerceptionTrainConfig.seeds must be development seeds 0-99, got {bad}")
        if not self.seeds:
            raise ValueError("PerceptionTrainConfig.seeds is empty")


def _train_config() -> "TrainConfig":  # noqa: F821
    from worldmodel.train_perception import TrainConfig

    return TrainConfig()


def load_sessions(config: PerceptionTrainConfig, progress: bool) -> list[tuple[Session, SessionFeatures]]:
    """Each training seed's session (recorded if missing) and its cached features."""
    from device.sim.record import RecordConfig, recorded

    plan = [(f"seed-{seed}", RecordConfig(seed=seed)) for seed in config.seeds]
    plan += [(f"seed-{seed}-random", RecordConfig(seed=seed, shift=("random",))) for seed in config.shifted_seeds]
    out = []
    for name, record in plan:
        s = read_session(recorded(config.sessions / name, record, progress))
        out.append((s, session_features(s, config.frame_step, cache=config.cache, progress=progress)))
    return out


def train_data(sessions: list[tuple[Session, SessionFeatures]]) -> "TrainData":  # noqa: F821
    """Stack features and label every (frame, item) pair; objects are keyed by mesh."""
    from worldmodel.train_perception import TrainData

    meshes: dict[str, int] = {}
    s8, s16, fsess, lf, lo, lv, lc, ld = [], [], [], [], [], [], [], []
    base = 0
    for k, (session, feats) in enumerate(sessions):
        s8.append(feats.s8)
        s16.append(feats.s16)
        fsess.append(np.full(len(feats.frames), k))
        for tr in item_tracks(session):
            obj = meshes.setdefault(tr.mesh, len(meshes))
            uv = np.nan_to_num(tr.uv[feats.frames], nan=-1.0)
            lf.append(base + np.arange(len(feats.frames)))
            lo.append(np.full(len(feats.frames), obj))
            lv.append(tr.visible[feats.frames])
            lc.append(uv_cell(uv, feats.grid))
            ld.append(tr.distance_m[feats.frames])
        base += len(feats.frames)
    return TrainData(np.concatenate(s8), np.concatenate(s16), np.concatenate(fsess), np.concatenate(lf),
                     np.concatenate(lo), np.concatenate(lv), np.concatenate(lc), np.concatenate(ld))


def run_training(config: PerceptionTrainConfig, progress: bool = True) -> Path:
    """Train, calibrate and write `<out>/instance_head-v1-<date>.pt` and its loss plot; return the path."""
    from worldmodel.instance_head import save_checkpoint
    from worldmodel.train_perception import plot_losses, train

    sessions = load_sessions(config, progress)
    data = train_data(sessions)
    log.info("training on %d frames, %d labels (%d visible)", len(data.s8), len(data.label_frame),
             int(data.label_visible.sum()))
    result = train(data, config.train, progress=progress)
    embed = head_embedder(result.head)
    # calibrated on the plain seeds only: a shifted house may hold two items of one look (twins), whose
    # matches to each other are no false positives
    scores = [sc for s, f in sessions[:len(config.seeds)] for sc in score_session(s, f, embed)]
    threshold = threshold_at_fp(scores, config.fp_rate)
    stamp = dt.date.today().isoformat()
    path = config.out / f"instance_head-v1-{stamp}.pt"
    meta = {"seeds": list(config.seeds), "shifted_seeds": list(config.shifted_seeds),
            "frame_step": config.frame_step, "fp_rate": config.fp_rate,
            "train": {k: v for k, v in asdict(config.train).items() if k != "head"},
            "final_loss": float(np.mean(result.losses[-50:])), "wall_s": round(result.wall_s, 1), "date": stamp}
    space = save_checkpoint(path, result.head, threshold, meta)
    plot_losses(result.losses, path.with_suffix(".loss.png"))
    log.info("wrote %s (space %s, threshold %.3f at %.0f%% FP on training seeds)", path, space, threshold,
             100 * config.fp_rate)
    return path
