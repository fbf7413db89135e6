"""Plain value types shared by the glasses, the memory, the world model and the companion."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Pose:
    """Camera pose: metres, y up; forward = (cos yaw, 0, -sin yaw); pitch < 0 looks down."""

    x: float
    y: float
    z: float
    yaw_deg: float
    pitch_deg: float
