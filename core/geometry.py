"""Angles, camera axes and pose-delta integration in session format v1's frame.

Positions are metres on the floor (x, z), y up; forward = (cos yaw, 0, -sin yaw), so yaw 0 faces
+x, +z is on the wearer's right at yaw 0 and a positive turn is to the left; pitch < 0 looks down.
"""

from __future__ import annotations

import math

import numpy as np

from core.types import Pose


def wrap_deg(a: float) -> float:
    """Degrees wrapped to (-180, 180]."""
    return -((-a + 180.0) % 360.0 - 180.0)


def camera_axes(pose: Pose) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(forward, right, up) unit vectors (3,) of the camera; see docs/session-format.md."""
    yaw, pitch = math.radians(pose.yaw_deg), math.radians(pose.pitch_deg)
    fwd = np.array([math.cos(pitch) * math.cos(yaw), math.sin(pitch), -math.cos(pitch) * math.sin(yaw)])
    right = np.array([math.sin(yaw), 0.0, math.cos(yaw)])
    up = np.array([-math.sin(pitch) * math.cos(yaw), math.cos(pitch), math.sin(pitch) * math.sin(yaw)])
    return fwd, right, up


def step_pose(x: float, z: float, yaw_deg: float, forward_m: float, right_m: float, turn_deg: float
              ) -> tuple[float, float, float]:
    """(x, z, yaw_deg) after one pose-delta action (forward_m, right_m, turn_deg), egocentric in the
    pose before it: move in that pose's heading frame, then turn (the yaw wrapped to (-180, 180])."""
    yaw = math.radians(yaw_deg)
    x = x + forward_m * math.cos(yaw) + right_m * math.sin(yaw)
    z = z - forward_m * math.sin(yaw) + right_m * math.cos(yaw)
    return x, z, wrap_deg(yaw_deg + turn_deg)
