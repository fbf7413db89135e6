"""Perception v0: enrollment prototypes, calibrated sightings, and where a sighting is.

- Enrollment: when the wearer says "this is my X", the most distinctive centre patch of the
  current keyframe and its distinctive neighbours (the item's other cells) become X's prototypes.
- Calibration: X's threshold sits above the similarity of its prototypes to the patches already in
  memory (background statistics), never below a floor.
- Sightings: a patch whose cosine to a prototype clears the threshold. Its position comes from the
  pose and the patch's bearing, intersected with a plane near the floor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from core.geometry import camera_axes
from device.perception.encoder import Encoding
from device.session import Pose


@dataclass(frozen=True)
class PerceptionConfig:
    prototypes_per_item: int = 3  # per enrollment frame
    max_prototypes: int = 8  # per enrollment, over all frames of the glance
    prototype_dedup_cos: float = 0.95  # a prototype this close to a kept one adds nothing
    centre_fraction: float = 0.4  # enrollment looks in the central 40% x 40% of the grid
    threshold_floor: float = 0.72  # cosine; no item threshold goes below this
    background_quantile: float = 0.998  # of prototype-vs-memory similarities, before enrollment
    threshold_margin: float = 0.02
    item_centre_height_m: float = 0.45  # between floor (0) and table tops (~0.8): chosen on dev seeds 0-5
    # Few items are found beyond 4 m at 128 px (RECIPES.md). A ray that does not meet the plane (level,
    # or looking up) cannot see an item resting below eye level: it is put this far too, where the world
    # model counts it as far (worldmodel.belief far_range_m). At 2.5 m, look-alikes seen up there passed
    # for near sightings (development seeds 0-49 and 1040-1059: room 159 -> 161 of 167; docs/BENCHMARKS.md, Seeds).
    max_range_m: float = 4.0

    def __post_init__(self) -> None:
        if self.prototypes_per_item < 1:
            raise ValueError(f"PerceptionConfig.prototypes_per_item must be >= 1, got {self.prototypes_per_item}")
        if not 0.0 < self.centre_fraction <= 1.0:
            raise ValueError(f"PerceptionConfig.centre_fraction must be in (0, 1], got {self.centre_fraction}")
        if not -1.0 < self.threshold_floor < 1.0:
            raise ValueError(f"PerceptionConfig.threshold_floor must be a cosine in (-1, 1), "
                             f"got {self.threshold_floor}")
        if not 0.5 <= self.background_quantile < 1.0:
            raise ValueError(f"PerceptionConfig.background_quantile must be in [0.5, 1), "
                             f"got {self.background_quantile}")


@dataclass(frozen=True)
class Sighting:
    item: str
    t: float
    frame: int
    cell: int
    score: float
    threshold: float
    position: tuple[float, float] | None  # (x, z) metres, None without a pose


def centre_cells(grid: tuple[int, int], fraction: float) -> np.ndarray:
    gh, gw = grid
    rows = np.arange(gh)
    cols = np.arange(gw)
    rsel = rows[np.abs((rows + 0.5) / gh - 0.5) <= fraction / 2]
    csel = cols[np.abs((cols + 0.5) / gw - 0.5) <= fraction / 2]
    return (rsel[:, None] * gw + csel[None, :]).ravel()


def border_cells(grid: tuple[int, int]) -> np.ndarray:
    gh, gw = grid
    r, c = np.divmod(np.arange(gh * gw), gw)
    return np.flatnonzero((r == 0) | (c == 0) | (r == gh - 1) | (c == gw - 1))


def enrollment_prototypes(enc: Encoding, config: PerceptionConfig) -> np.ndarray:
    """(K, D) prototypes of the item the wearer looks at: the centre patch least like the frame's
    border (the background), and its most distinctive 8-neighbours. An item is one thing, so its
    cells touch; a distinctive cell elsewhere in the view is something else, and as a prototype it
    would match that thing all day. A neighbour must also stand out more than the median centre
    cell does (the frame's own statistic), or it is the floor or wall beside a small item."""
    gh, gw = enc.grid
    centre = centre_cells(enc.grid, config.centre_fraction)
    border = border_cells(enc.grid)
    inner = np.setdiff1d(np.arange(gh * gw), border)
    distinct = 1.0 - (enc.patches[inner] @ enc.patches[border].T).max(axis=1)  # (I,)
    in_centre = np.isin(inner, centre)
    seed = int(np.flatnonzero(in_centre)[np.argmax(distinct[in_centre])])
    (sr, sc), (r, c) = divmod(int(inner[seed]), gw), np.divmod(inner, gw)
    near = np.flatnonzero((np.maximum(np.abs(r - sr), np.abs(c - sc)) == 1)
                          & (distinct > np.median(distinct[in_centre])))
    order = near[np.argsort(-distinct[near], kind="stable")][: config.prototypes_per_item - 1]
    return enc.patches[inner[np.concatenate([[seed], order])]].copy()


def glance_prototypes(encodings: list[Encoding], config: PerceptionConfig) -> np.ndarray:
    """(K, D) prototypes from the frames of a glance at an item, near-duplicates dropped."""
    kept: list[np.ndarray] = []
    for enc in encodings:
        for proto in enrollment_prototypes(enc, config):
            if len(kept) < config.max_prototypes and (
                    not kept or float(np.max(np.stack(kept) @ proto)) < config.prototype_dedup_cos):
                kept.append(proto)
    return np.stack(kept)


def calibrate_threshold(background_scores: np.ndarray, n_background: int, config: PerceptionConfig) -> float:
    """Threshold above the `background_quantile` of prototype-vs-background similarities.

    background_scores holds only the top similarities (those above the floor); the rest of the
    n_background patches are known to lie below the floor.
    """
    allowed = int((1.0 - config.background_quantile) * n_background)
    top = np.sort(background_scores)[::-1]
    if len(top) <= allowed:
        return config.threshold_floor
    return float(max(config.threshold_floor, top[allowed] + config.threshold_margin))


def best_match(enc: Encoding, prototypes: np.ndarray) -> tuple[int, float]:
    """(cell, cosine) of the patch most similar to any prototype."""
    sims = (enc.patches @ prototypes.T).max(axis=1)  # (N,)
    cell = int(np.argmax(sims))
    return cell, float(sims[cell])


def claimed_cells(margins: np.ndarray) -> list[tuple[int, float] | None]:
    """Per item, its best cell among those it claims, with the margin there; None when it claims none.

    margins: (items, cells) of cosine minus the item's threshold. A patch shows at most one enrolled
    item: it is claimed by the item it clears by the most, so a weak match of the phone on the keys
    in hand is explained away by the keys, whatever the renderer or the items' looks.
    """
    owner = margins.argmax(axis=0)
    out: list[tuple[int, float] | None] = []
    for j in range(margins.shape[0]):
        mine = np.where((owner == j) & (margins[j] >= 0.0), margins[j], -np.inf)
        cell = int(np.argmax(mine))
        out.append((cell, float(margins[j, cell])) if np.isfinite(mine[cell]) else None)
    return out


def project_point(pose: Pose, hfov_deg: float, aspect_hw: float, point: tuple[float, float, float]
                  ) -> tuple[float, float] | None:
    """Image position (u, v) in [0, 1]^2 (v down) of a world point, or None if it is behind the camera."""
    fwd, right, up = camera_axes(pose)
    v = np.asarray(point, dtype=float) - np.array([pose.x, pose.y, pose.z])
    depth = float(v @ fwd)
    if depth <= 1e-6:
        return None
    tan_h = math.tan(math.radians(hfov_deg) / 2)
    return (((v @ right) / depth / tan_h + 1) / 2, (1 - (v @ up) / depth / (tan_h * aspect_hw)) / 2)


def cell_ray(pose: Pose, hfov_deg: float, aspect_hw: float, grid: tuple[int, int], cell: int) -> np.ndarray:
    """Unit world-space direction (3,) through the centre of a grid cell.

    aspect_hw is the frame's height / width; forward = (cos yaw, 0, -sin yaw), +z right at yaw 0.
    """
    gh, gw = grid
    r, c = divmod(cell, gw)
    tan_h = math.tan(math.radians(hfov_deg) / 2)
    xn = ((c + 0.5) / gw * 2 - 1) * tan_h
    yn = ((r + 0.5) / gh * 2 - 1) * tan_h * aspect_hw  # positive is down in the image
    fwd, right, up = camera_axes(pose)
    d = fwd + xn * right - yn * up
    return d / np.linalg.norm(d)


def sighting_position(pose: Pose, hfov_deg: float, aspect_hw: float, grid: tuple[int, int], cell: int,
                      config: PerceptionConfig) -> tuple[float, float]:
    """(x, z) where the cell's ray meets the plane y = item_centre_height_m, at most max_range_m away
    (and that far along the ray when it does not meet the plane)."""
    d = cell_ray(pose, hfov_deg, aspect_hw, grid, cell)
    drop = config.item_centre_height_m - pose.y
    if d[1] < -1e-3:
        s = drop / d[1]
        horiz = s * math.hypot(d[0], d[2])
        if horiz > config.max_range_m:
            s *= config.max_range_m / horiz
    else:
        s = config.max_range_m / max(math.hypot(d[0], d[2]), 1e-6)
    return (round(float(pose.x + s * d[0]), 3), round(float(pose.z + s * d[2]), 3))
