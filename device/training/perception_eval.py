"""Score perception per frame against the recorder's truth: is the item found, and where.

For each enrolled item of a session: prototypes come from the enrollment glance (the frames from
ENROLL_LEAD_S before "this is my X" to GLANCE_AFTER_S after), as the assistant makes them
(`glance_prototypes`); every other scored frame gets the best cosine over its cells and the
prototypes, the best cell, and that cell's floor-plane position. The same code scores the frozen
stride-16 patches (the baseline) and the learned instance head's embeddings.

Negatives are frames where the item is not visible and its centre projects at least
EDGE_MARGIN outside the image (an item whose centre is just outside may still show its edge).
One threshold is shared by all items: `threshold_at_fp` picks it from negatives.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from device.perception.encoder import Encoding
from device.evaluation.item_truth import ItemTrack, cell_distance, item_tracks, uv_cell
from device.perception.perception import PerceptionConfig, cell_ray, glance_prototypes, sighting_position
from device.training.perception_cache import SessionFeatures
from device.session import Session
from device.perception.sighting_filter import FilterConfig, multiview_position, supported_scores

ENROLL_LEAD_S = 0.5  # as the assistant: the glance starts 0.5 s before "this is my X"
GLANCE_AFTER_S = 1.5  # ... and the assistant enrolls once the phrase (about 1.1 s) is heard
EXCLUDE_AFTER_S = 2.5  # the enrollment view itself is not scored
EDGE_MARGIN = 0.1  # of the image size
DISTANCE_BINS_M = (0.0, 1.5, 3.0, 5.0, float("inf"))
BIN_NAMES = ("<1.5 m", "1.5-3 m", "3-5 m", ">5 m")

# frame features (N, 32, 2h, 2w), (N, 96, h, w) float16 -> cell embeddings (N, h*w, D), L2-normalised
Embedder = Callable[[np.ndarray, np.ndarray], np.ndarray]


def frozen_embedder(s8: np.ndarray, s16: np.ndarray) -> np.ndarray:
    """The baseline: the frozen stride-16 patches, as device/perception/encoder.py normalises them."""
    n, d, gh, gw = s16.shape
    x = s16.astype(np.float32).reshape(n, d, gh * gw).transpose(0, 2, 1)
    return x / np.maximum(np.linalg.norm(x, axis=2, keepdims=True), 1e-8)


def head_embedder(head: "torch.nn.Module", chunk: int = 64) -> Embedder:  # noqa: F821 (lazy import)
    import torch

    def embed(s8: np.ndarray, s16: np.ndarray) -> np.ndarray:
        out = []
        with torch.inference_mode():
            for k in range(0, len(s8), chunk):
                e = head(torch.from_numpy(s8[k:k + chunk].astype(np.float32)),
                         torch.from_numpy(s16[k:k + chunk].astype(np.float32)))  # (B, D, h, w)
                out.append(e.flatten(2).transpose(1, 2).numpy())
        return np.concatenate(out)
    return embed


@dataclass(frozen=True)
class ItemScores:
    """One enrolled item of one session, over its scored frames (M)."""

    session: str
    item: str
    frames: np.ndarray  # (M,) frame indices
    score: np.ndarray  # (M,) best cosine over cells and prototypes
    visible: np.ndarray  # (M,) bool
    negative: np.ndarray  # (M,) bool: not visible and centre well outside the image
    distance_m: np.ndarray  # (M,)
    hit: np.ndarray  # (M,) bool: best cell within one cell of the item's centre
    position_error_m: np.ndarray  # (M,) floor-plane sighting position vs the true (x, z)


def score_session(session: Session, feats: SessionFeatures, embed: Embedder,
                  config: PerceptionConfig = PerceptionConfig(), filt: FilterConfig | None = None) -> list[ItemScores]:
    """Per-frame scores of each enrolled item; with `filt`, sightings need support from a nearby
    frame and positions come from the rays of nearby sightings (device/perception/sighting_filter.py)."""
    emb = embed(feats.s8, feats.s16)  # (N, C, D)
    grid = feats.grid
    t = np.array([session.frames[i].t for i in feats.frames])
    aspect = session.info.height / session.info.width
    out = []
    for tr in item_tracks(session):
        if tr.enroll_t is None:
            continue
        glance = np.flatnonzero((t >= tr.enroll_t - ENROLL_LEAD_S) & (t <= tr.enroll_t + GLANCE_AFTER_S))
        protos = glance_prototypes([Encoding(emb[k], grid, emb[k].mean(0)) for k in glance], config)
        keep = np.flatnonzero((t < tr.enroll_t - ENROLL_LEAD_S) | (t > tr.enroll_t + EXCLUDE_AFTER_S))
        sims = (emb[keep] @ protos.T).max(axis=2)  # (M, C)
        cell = sims.argmax(axis=1)
        fi = feats.frames[keep]
        uv = tr.uv[fi]
        score = sims.max(axis=1)
        poses = [session.frames[f].pose for f in fi]
        pos = np.array([sighting_position(p, session.info.hfov_deg, aspect, grid, int(c), config)
                        for p, c in zip(poses, cell)])  # (M, 2)
        if filt is not None:
            pos, score = _filtered(t[keep], score, poses, cell, pos, session, grid, filt), \
                supported_scores(t[keep], score, filt.support_s)
        out.append(ItemScores(
            session=session.path.name, item=tr.name, frames=fi, score=score,
            visible=tr.visible[fi], negative=_negative(tr, fi), distance_m=tr.distance_m[fi],
            hit=cell_distance(cell, uv_cell(np.nan_to_num(uv, nan=-1.0), grid), grid) <= 1,
            position_error_m=np.hypot(*(pos - tr.centre[fi][:, [0, 2]]).T)))
    return out


def _filtered(t: np.ndarray, score: np.ndarray, poses: list, cell: np.ndarray, pos: np.ndarray, session: Session,
              grid: tuple[int, int], filt: FilterConfig) -> np.ndarray:
    """(M, 2) positions: the intersection of nearby sightings' rays where it holds, else `pos`."""
    aspect = session.info.height / session.info.width
    origins = np.array([(p.x, p.y, p.z) for p in poses])
    dirs = np.array([cell_ray(p, session.info.hfov_deg, aspect, grid, int(c)) for p, c in zip(poses, cell)])
    out = pos.copy()
    lo = np.searchsorted(t, t - filt.window_s, side="left")
    hi = np.searchsorted(t, t + filt.window_s, side="right")
    for k in range(len(t)):
        near = np.arange(lo[k], hi[k])
        near = near[score[near] >= score[k] - filt.score_slack]
        xz = multiview_position(origins[near], dirs[near], filt)
        if xz is not None:
            out[k] = xz
    return out


def _negative(tr: ItemTrack, fi: np.ndarray) -> np.ndarray:
    uv = tr.uv[fi]
    near = np.all((uv > -EDGE_MARGIN) & (uv < 1 + EDGE_MARGIN), axis=1)  # nan (behind) compares False
    return ~tr.visible[fi] & ~near


def threshold_at_fp(scores: list[ItemScores], fp_rate: float = 0.01) -> float:
    """The one threshold (shared by all items) that `fp_rate` of negative frames clear."""
    neg = np.concatenate([s.score[s.negative] for s in scores])
    return float(np.quantile(neg, 1.0 - fp_rate))


@dataclass(frozen=True)
class Summary:
    threshold: float
    fp_rate: float  # of negatives at this threshold
    recall: dict[str, float | None]  # distance bin -> recall of visible frames
    n_visible: dict[str, int]
    hit_rate: float | None  # of true-positive sightings
    median_error_m: float | None  # of true-positive sightings


def summarize(scores: list[ItemScores], threshold: float, item: str | None = None) -> Summary:
    """Figures at `threshold` over all scores, or only over `item`'s."""
    sel = [s for s in scores if item is None or s.item == item]

    def cat(f: Callable[[ItemScores], np.ndarray]) -> np.ndarray:
        return np.concatenate([f(s) for s in sel]) if sel else np.zeros(0)

    vis, neg, score, dist = cat(lambda s: s.visible), cat(lambda s: s.negative), cat(lambda s: s.score), cat(
        lambda s: s.distance_m)
    vis, neg = vis.astype(bool), neg.astype(bool)
    fired = score >= threshold
    recall, n = {}, {}
    for name, lo, hi in zip(BIN_NAMES, DISTANCE_BINS_M[:-1], DISTANCE_BINS_M[1:]):
        m = vis & (dist >= lo) & (dist < hi)
        n[name] = int(m.sum())
        recall[name] = float(fired[m].mean()) if m.any() else None
    tp = vis & fired
    hit, err = cat(lambda s: s.hit).astype(bool), cat(lambda s: s.position_error_m)
    return Summary(threshold, float(fired[neg].mean()) if neg.any() else 0.0, recall, n,
                   float(hit[tp].mean()) if tp.any() else None, float(np.median(err[tp])) if tp.any() else None)

