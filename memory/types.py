"""Records that the episodic store returns: keyframes, enrolled items and search hits.

All are frozen dataclasses. Times `t` are seconds on the session clock (frames.jsonl's `t`);
`frame` is the frame index in its session. Scores are inner products of the stored vectors with
the query (cosine similarity when both are L2-normalised, which is the caller's job).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class KeyframeRecord:
    """One stored keyframe. The pose fields are all None when the frame had no pose.

    Pose follows session format v1: position in metres (y up), yaw 0 faces +x, pitch < 0 looks down.
    """

    id: int
    t: float
    frame: int
    session: str
    x: float | None
    y: float | None
    z: float | None
    yaw_deg: float | None
    pitch_deg: float | None
    recorded_at: float | None = None  # the wearer's wall clock (Unix s); None in memories from before schema v2


@dataclass(frozen=True, eq=False)
class ItemRecord:
    """An enrolled item: the wearer said "this is my <name>" while looking at it.

    `prototypes` is (K, Dp) float32 and read-only; re-enrolling appends rows. A patch is a
    sighting of the item when its score against any prototype is >= `threshold`. Equality is
    identity (numpy arrays have no single truth value); compare fields explicitly.
    """

    name: str
    enrolled_t: float
    prototypes: np.ndarray  # (K, Dp) float32
    threshold: float

    @property
    def k(self) -> int:
        """Number of prototypes."""
        return int(self.prototypes.shape[0])


@dataclass(frozen=True)
class PatchHit:
    """A stored patch that matched a query: cell `cell` (row-major in the keyframe's grid)."""

    keyframe_id: int
    cell: int
    score: float
    t: float
    frame: int
    recorded_at: float | None = None  # the keyframe's wall clock (Unix s); None in memories from before schema v2


@dataclass(frozen=True)
class KeyframeHit:
    """A stored keyframe whose embedding matched a query."""

    keyframe_id: int
    score: float
    t: float
    frame: int


@dataclass(frozen=True)
class ForgetResult:
    """What one forget erased: how many keyframes, which items (by name), how many place names."""

    keyframes: int
    items: tuple[str, ...]
    place_names: int = 0


@dataclass(frozen=True)
class PlaceName:
    """The wearer's name for where they stood: (x, z) metres on the floor plane, at session time t."""

    name: str
    position: tuple[float, float]
    t: float
