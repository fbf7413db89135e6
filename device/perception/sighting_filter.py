"""Sightings that hold up: consistency across nearby frames, and a position from several views.

- Consistency: a frame's sighting score is the smaller of its own score and the best score of the
  item in a nearby frame (within `support_s`), so one stray match in one frame cannot clear the
  threshold on its own, while an item in view for a moment still does.
- Position: the floor-plane guess (device/perception/perception.py) is wrong for items on furniture and at
  shallow angles. As the wearer moves, the sightings' rays from nearby frames cross at the item:
  their least-squares intersection gives the depth. It is used when the rays span enough angle
  and meet closely; otherwise the floor-plane position stands.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FilterConfig:
    support_s: float = 0.4  # a sighting needs support from a frame this close in time
    window_s: float = 2.0  # rays from this far back and ahead are intersected
    min_spread_deg: float = 12.0  # about 3 cells: narrower rays give a depth worse than the floor plane's
    max_residual_m: float = 0.5  # mean distance from the point to the rays (this block: dev seeds 10-11)
    score_slack: float = 0.1  # rays of frames whose score is within this of the sighting's
    y_range_m: tuple[float, float] = (-0.2, 1.6)  # items rest on the floor or on furniture
    max_range_m: float = 3.5  # farther points: the floor plane is better (dev seeds 10-11)

    def __post_init__(self) -> None:
        if self.support_s <= 0 or self.window_s <= 0:
            raise ValueError(f"FilterConfig: support_s and window_s must be > 0, got {self.support_s}, {self.window_s}")


def supported_scores(t: np.ndarray, score: np.ndarray, support_s: float) -> np.ndarray:
    """(M,) scores -> min(own, best other score within support_s); frames sorted by time."""
    out = np.full_like(score, -1.0)
    lo = np.searchsorted(t, t - support_s - 1e-6, side="left")  # 1 us: times are rounded to 1 ms
    hi = np.searchsorted(t, t + support_s + 1e-6, side="right")
    for k in range(len(t)):
        others = np.concatenate([score[lo[k]:k], score[k + 1:hi[k]]])
        if len(others):
            out[k] = min(score[k], float(others.max()))
    return out


def triangulate(origins: np.ndarray, dirs: np.ndarray) -> tuple[np.ndarray, float, float] | None:
    """Least-squares point nearest to rays (origins (K, 3), unit dirs (K, 3)).

    Returns (point (3,), mean distance to the rays, largest angle between rays in degrees), or None
    when the rays are (nearly) parallel or the point lies behind a camera.
    """
    if len(origins) < 2:
        return None
    eye = np.eye(3)
    proj = eye[None] - dirs[:, :, None] * dirs[:, None, :]  # (K, 3, 3)
    a, b = proj.sum(0), np.einsum("kij,kj->i", proj, origins)
    if np.linalg.cond(a) > 1e6:
        return None
    p = np.linalg.solve(a, b)
    if np.any((p - origins) @ dirs.T < 0):  # behind a camera: wrong correspondence
        return None
    resid = float(np.mean(np.linalg.norm(np.einsum("kij,kj->ki", proj, p - origins), axis=1)))
    cos = np.clip(dirs @ dirs.T, -1.0, 1.0)
    return p, resid, math.degrees(math.acos(float(cos.min())))


def multiview_position(origins: np.ndarray, dirs: np.ndarray, config: FilterConfig) -> tuple[float, float] | None:
    """(x, z) of the rays' intersection when it is well conditioned and plausible, else None."""
    r = triangulate(origins, dirs)
    if r is None:
        return None
    p, resid, spread = r
    far = float(np.linalg.norm(p - origins.mean(axis=0)))
    if spread < config.min_spread_deg or resid > config.max_residual_m or far > config.max_range_m or not (
            config.y_range_m[0] <= p[1] <= config.y_range_m[1]):
        return None
    return float(p[0]), float(p[2])
