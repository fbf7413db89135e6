"""Carried or resting, from the session's own evidence: did a sighting move with the wearer?

A resting item keeps its place in the world while the wearer walks and turns; an item in the
wearer's hand keeps its place in the wearer's view. Two sightings of an item a moment apart tell
the two apart whenever the wearer moved or turned between them, whatever the renderer, the camera,
the item's look or the way it is held (ahead of the body, low in the hand): no apparent range or
place in the image is assumed. An isolated sighting, or one taken while the wearer stood still,
says nothing either way (None).

`follows(prev, cur)` is in [-1, 1]: +1 when the item kept its place in the wearer's view and
moved in the world (carried), -1 when it kept its place in the world and moved in the view
(resting), 0 when the two explain the pair equally.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# Two sightings this close in time are taken to share one state (a pick-up or put-down between them
# is rare, and only that pair is misread): a couple of seconds of walking or turning.
PAIR_WINDOW_S = 2.0
# The two explanations must differ by this many position-noise units (the belief's own noise model:
# sigma across the view ray, more along it) for the pair to tell them apart.
MIN_PARALLAX_SIGMAS = 2.0


@dataclass(frozen=True)
class View:
    """One sighting with the wearer's pose: metres on the floor plane, yaw as in session format v1."""

    t: float  # seconds
    position: tuple[float, float]  # (x, z) of the sighting
    wearer: tuple[float, float]  # (x, z) of the camera
    yaw_deg: float  # forward = (cos yaw, -sin yaw) in (x, z)

    def in_view(self) -> tuple[float, float]:
        """The sighting in the wearer's frame: (ahead, right) metres."""
        dx, dz = self.position[0] - self.wearer[0], self.position[1] - self.wearer[1]
        yaw = math.radians(self.yaw_deg)
        fx, fz = math.cos(yaw), -math.sin(yaw)  # forward
        rx, rz = math.sin(yaw), math.cos(yaw)  # right: forward turned 90 degrees clockwise from above
        return dx * fx + dz * fz, dx * rx + dz * rz


@dataclass(frozen=True)
class Told:
    """What a pair of sightings told: `value` in [-1, 1] (+1 moved with the wearer), and the earlier
    sighting of the pair, which shares its state."""

    value: float
    anchor: View


def _norm(d: tuple[float, float], ray: tuple[float, float], sigma_m: float, sigma_along_m: float) -> float:
    """|d| in noise units: sigma_along_m along `ray` (a unit vector), sigma_m across it."""
    along = d[0] * ray[0] + d[1] * ray[1]
    across = d[0] * -ray[1] + d[1] * ray[0]
    return math.hypot(along / sigma_along_m, across / sigma_m)


class CarryEvidence:
    """Per item, its recent sightings; `follows` compares a new one with the recent one that best
    tells carried from resting. The noise model is the belief's: sigma_m across the view ray and
    sqrt(sigma_m^2 + (range_sigma_per_m * range)^2) along it."""

    def __init__(self, sigma_m: float, range_sigma_per_m: float) -> None:
        self.sigma_m = sigma_m
        self.range_sigma_per_m = range_sigma_per_m
        self._recent: dict[str, list[View]] = {}

    def follows(self, item: str, view: View, remember: bool = True) -> Told | None:
        """How far `view` moved with the wearer, against the recent sighting of `item` that tells best
        (module docstring), or None when none tells; `view` then joins the recent ones (unless
        remember is False)."""
        recent = [v for v in self._recent.get(item, []) if 0.0 < view.t - v.t <= PAIR_WINDOW_S]
        if remember:
            self._recent[item] = recent + [view]
        ahead, right = view.in_view()
        r = math.hypot(ahead, right)
        if r < 1e-6 or not recent:
            return None
        sigma_along = math.hypot(self.sigma_m, self.range_sigma_per_m * r)
        ray_world = ((view.position[0] - view.wearer[0]) / r, (view.position[1] - view.wearer[1]) / r)
        ray_view = (ahead / r, right / r)
        best: tuple[float, float, View] | None = None
        for v in recent:
            a, b = v.in_view()
            in_world = _norm((view.position[0] - v.position[0], view.position[1] - v.position[1]), ray_world,
                             self.sigma_m, sigma_along)
            in_view = _norm((ahead - a, right - b), ray_view, self.sigma_m, sigma_along)
            if best is None or in_world + in_view > best[0] + best[1]:
                best = (in_world, in_view, v)
        assert best is not None, "recent is not empty"
        in_world, in_view, anchor = best
        if in_world + in_view < MIN_PARALLAX_SIGMAS:
            return None
        return Told((in_world - in_view) / (in_world + in_view), anchor)
