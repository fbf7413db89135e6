"""Spoken route guidance: a companion plan or fallback waypoints become a few spoken steps.

Both kinds of route become a path of points on the floor and a starting heading. The path is cut
into legs; each leg is "turn (left|right) about N degrees, walk about M metres". Turns under
MIN_TURN_DEG are not said, legs shorter than MIN_LEG_M merge into the next one, and legs that
keep the same direction merge, so a 5-step plan of half-metre moves is one or two spoken steps.
Angles round to 15 degrees, distances to half a metre (to a metre beyond 3 m): the wearer cannot
use more precision than that. Yaw follows session format v1: forward = (cos yaw, 0, -sin yaw), so
a positive turn is to the left.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from core.geometry import step_pose, wrap_deg

MIN_TURN_DEG = 20.0  # smaller changes of heading are "keep going"
MIN_LEG_M = 0.25  # shorter legs merge into the next one
TURN_STEP_DEG = 15.0
MERGE_TURN_DEG = 20.0  # consecutive legs whose directions differ by less than this are one leg


@dataclass(frozen=True)
class Step:
    turn_deg: float  # > 0: left, wrapped to (-180, 180]
    walk_m: float


def heading_deg(dx: float, dz: float) -> float:
    """The yaw that faces the floor direction (dx, dz)."""
    return math.degrees(math.atan2(-dz, dx))


def plan_path(actions: np.ndarray, x: float = 0.0, z: float = 0.0, yaw_deg: float = 0.0
              ) -> tuple[list[tuple[float, float]], float]:
    """Integrate pose-delta actions (H, 3) of (forward_m, right_m, turn_deg), each egocentric in the
    pose before it, from (x, z, yaw_deg): the points visited and the final yaw."""
    points = [(x, z)]
    yaw = yaw_deg
    for fwd, right, turn in np.asarray(actions, dtype=np.float64).reshape(-1, 3):
        x, z, yaw = step_pose(x, z, yaw, float(fwd), float(right), float(turn))
        points.append((x, z))
    return points, yaw


def path_steps(points: list[tuple[float, float]], yaw_deg: float, end_yaw_deg: float | None = None) -> list[Step]:
    """Steps that walk `points` from heading `yaw_deg`, then turn to `end_yaw_deg` if given."""
    legs: list[tuple[float, float]] = []  # (heading_deg, length_m)
    pending = np.zeros(2)
    for p, q in zip(points, points[1:]):
        pending = pending + np.subtract(q, p)
        length = float(np.linalg.norm(pending))
        if length < MIN_LEG_M:
            continue
        h = heading_deg(*pending)
        if legs and abs(wrap_deg(h - legs[-1][0])) < MERGE_TURN_DEG:
            h0, l0 = legs[-1]
            v = l0 * np.array([math.cos(math.radians(h0)), -math.sin(math.radians(h0))]) + pending
            legs[-1] = (heading_deg(*v), float(np.linalg.norm(v)))
        else:
            legs.append((h, length))
        pending = np.zeros(2)
    steps, heading = [], yaw_deg
    for h, length in legs:
        steps.append(Step(wrap_deg(h - heading), length))
        heading = h
    if end_yaw_deg is not None and abs(wrap_deg(end_yaw_deg - heading)) >= MIN_TURN_DEG:
        steps.append(Step(wrap_deg(end_yaw_deg - heading), 0.0))
    return steps


def turn_text(turn_deg: float) -> str:
    a = abs(turn_deg)
    if a < MIN_TURN_DEG:
        return ""
    if a >= 165.0:
        return "turn around"
    side = "left" if turn_deg > 0 else "right"
    return f"turn {side} about {int(round(a / TURN_STEP_DEG) * TURN_STEP_DEG)} degrees"


def distance_text(m: float) -> str:
    if m < 0.75:
        return "about half a metre"
    v = round(m * 2) / 2 if m < 3.0 else float(round(m))
    n = f"{v:g}"
    return f"about {n} metre" if v == 1 else f"about {n} metres"


def spoken(steps: list[Step]) -> str:
    """'turn left about 90 degrees, walk about 3 metres; then ...'; '' when there is nothing to do."""
    parts = []
    for s in steps:
        bits = [b for b in (turn_text(s.turn_deg), f"walk {distance_text(s.walk_m)}" if s.walk_m >= MIN_LEG_M else "")
                if b]
        if bits:
            parts.append(", ".join(bits))
    if not parts:
        return ""
    return "; then ".join(parts)


def item_bearing(x: float, z: float, item_x: float, item_z: float) -> float:
    """The yaw from (x, z) that faces the item."""
    return heading_deg(item_x - x, item_z - z)


def where_from_here(x: float, z: float, yaw_deg: float, px: float, pz: float) -> str:
    """Where the floor point (px, pz) is for a wearer at (x, z) facing yaw_deg, in words: "about 4
    metres behind you", "about 2 metres to your left", or "right around where you are now"."""
    fwd, right = egocentric(x, z, yaw_deg, px, pz)
    m = math.hypot(fwd, right)
    if m < 1.5:
        return "right around where you are now"
    angle = math.degrees(math.atan2(right, fwd))  # 0 ahead, > 0 to the right
    side = ("ahead of you" if abs(angle) <= 30 else "behind you" if abs(angle) >= 150
            else "to your right" if angle > 0 else "to your left")
    return f"{distance_text(m)} {side}"


def egocentric(x: float, z: float, yaw_deg: float, px: float, pz: float) -> tuple[float, float]:
    """(forward_m, right_m) of the floor point (px, pz) seen from (x, z) facing yaw_deg: the inverse
    of one action in plan_path."""
    yaw, dx, dz = math.radians(yaw_deg), px - x, pz - z
    return dx * math.cos(yaw) - dz * math.sin(yaw), dx * math.sin(yaw) + dz * math.cos(yaw)
