"""Keyframe gate: skip near-duplicate frames before they cost an encoder call.

A frame becomes a keyframe when its small grey thumbnail differs enough from the last
keyframe's, when the head moved or turned enough, or when too long has passed. The gate runs on
pixels and pose only, so on the glasses it saves the encoder's energy as well as memory.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from device.session import Pose


@dataclass(frozen=True)
class KeyframeConfig:
    thumb_px: int = 24  # side of the grey thumbnail compared between frames
    min_pixel_change: float = 0.035  # mean absolute thumbnail difference, in [0, 1]
    min_move_m: float = 0.5
    min_turn_deg: float = 12.0
    max_gap_s: float = 2.0  # a keyframe at least this often, even when nothing changes

    def __post_init__(self) -> None:
        if self.thumb_px < 4:
            raise ValueError(f"KeyframeConfig.thumb_px must be >= 4, got {self.thumb_px}")
        if not 0.0 <= self.min_pixel_change <= 1.0:
            raise ValueError(f"KeyframeConfig.min_pixel_change must be in [0, 1], got {self.min_pixel_change}")
        if self.max_gap_s <= 0:
            raise ValueError(f"KeyframeConfig.max_gap_s must be > 0, got {self.max_gap_s}")


def thumbnail(rgb: np.ndarray, px: int) -> np.ndarray:
    """(H, W, 3) uint8 -> (px, px) float32 grey in [0, 1], by block averaging."""
    grey = rgb.astype(np.float32).mean(axis=2) / 255.0
    h, w = grey.shape
    ys = np.linspace(0, h, px + 1).astype(int)
    xs = np.linspace(0, w, px + 1).astype(int)
    return np.add.reduceat(np.add.reduceat(grey, ys[:-1], axis=0), xs[:-1], axis=1) / np.outer(
        np.diff(ys), np.diff(xs))


class KeyframeGate:
    def __init__(self, config: KeyframeConfig = KeyframeConfig()) -> None:
        self.config = config
        self._last_thumb: np.ndarray | None = None
        self._last_pose: Pose | None = None
        self._last_t = -math.inf

    def admit(self, t: float, rgb: np.ndarray, pose: Pose | None, force: bool = False) -> bool:
        """True if this frame should be encoded and stored; updates the reference when it is."""
        c = self.config
        thumb = thumbnail(rgb, c.thumb_px)
        keep = force or self._last_thumb is None or t - self._last_t >= c.max_gap_s
        if not keep:
            assert self._last_thumb is not None, "reference thumbnail set with the first keyframe"
            keep = float(np.abs(thumb - self._last_thumb).mean()) >= c.min_pixel_change
        if not keep and pose is not None and self._last_pose is not None:
            moved = math.hypot(pose.x - self._last_pose.x, pose.z - self._last_pose.z)
            turned = abs((pose.yaw_deg - self._last_pose.yaw_deg + 180.0) % 360.0 - 180.0)
            tilted = abs(pose.pitch_deg - self._last_pose.pitch_deg)
            keep = moved >= c.min_move_m or max(turned, tilted) >= c.min_turn_deg
        if keep:
            self._last_thumb, self._last_pose, self._last_t = thumb, pose, t
        return keep
