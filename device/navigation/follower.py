"""Follow a route to an item: where to head next, and the receding-horizon step that picks the next actions.

A route starts as the place graph's path over memory's keyframe poses to where the assistant says
the item is. On the way, every view the wearer sees is matched against the item's enrolled
prototypes, the same test that makes the assistant's sightings: on the glasses, the wearer asks
again as they go, and a sighting on the way is fresher evidence than the answer they started
from. Once the item is in view, the target is where the last HOMING_KEEP sightings and the
answer together put it (`Follower._where`: a sighting's bearing is good, its range is not); it
is reached by a new place-graph path when it moves by more than REROUTE_M. A step that runs into
something (`Follower.blocked`) gets a new path from there, and the next steps follow it. At the end of the
route, with the item not in view, the wearer turns on the spot (SCAN_DEG at a time, one full
turn at most) to look for it; when that finds nothing, it goes on to the places where the world
model would look next (`WorldModelAnswerer.elsewhere`), one at a time.

    follow = Follower(PlaceGraph(places), pose, answer_xz, store.item("keys"), hfov_deg, aspect_hw)
    follow.observe(encoding, pose)          # each new view
    target = follow.target(pose)            # (x, z, radius_m): head there, stop within radius_m

`RecedingHorizon` is the loop around it: from each new view, the glasses' own end turns, else a
plan towards the next target (the companion's, with that target as its waypoint) of which the
wearer carries out the first actions before planning again, else the place graph's own step.
After a step that ran into something it re-routes, and its own steps take over for a while.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from typing import Any, Callable

import numpy as np

from core.geometry import wrap_deg
from core.types import Pose
from device.navigation.guidance import egocentric, item_bearing
from device.navigation.route import STOP_M
from device.perception.perception import PerceptionConfig, best_match, sighting_position

HOMING_KEEP = 5  # the target is placed from this many latest sightings on the way ...
ACROSS_SIGMA_M = 0.2  # ... each sure of its bearing (a 14-cell row spans 4.3 degrees) ...
RANGE_SIGMA = 0.5  # ... less of its range: this fraction of where its ray meets the 0.45 m plane ...
ANSWER_SIGMA_M = 1.0  # ... with the assistant's answer as a prior this sure
REACHED_M = 0.35  # a route waypoint this close is passed
# The route ends STOP_M (route.py) from where the assistant's answer puts the item ...
# ... and HOMING_STOP_M from where sightings on the way put it. Until they are seen from several
# distances, a sighting of an item on the floor is placed short of it (its ray meets a plane 0.45 m
# up: 0.7x the distance from eye height 1.5 m), and the item leaves the view, pitched 10 degrees
# down, about 1.8 m before the wearer reaches it.
HOMING_STOP_M = 0.3
SCAN_DEG = 45.0
FACING_DEG = 20.0  # the wearer counts as facing the target within this many degrees
REROUTE_M = 0.5  # a homed target that moves this far gets a new place-graph path
BLOCKED_FRACTION = 0.5  # a step that covers less than this share of its forward command ran into something ...
RECOVER_STEPS = 2  # ... and the next this many steps follow the place-graph path found afresh from there


def bearing_error_deg(pose: Pose, x: float, z: float) -> float:
    """Signed degrees to turn (left positive) to face (x, z) from pose."""
    return wrap_deg(item_bearing(pose.x, pose.z, x, z) - pose.yaw_deg)


class Follower:
    """Route targets, homing on fresh sightings, and the scan at the end."""

    def __init__(self, graph: Any, pose: Pose, goal: tuple[float, float], item: Any, hfov_deg: float,
                 aspect_hw: float, perception: PerceptionConfig = PerceptionConfig(),
                 elsewhere: Sequence[tuple[float, float]] = ()) -> None:
        self.graph = graph  # device.navigation.place_graph.PlaceGraph over memory's keyframe poses
        self.answer = self.goal = goal
        self.elsewhere = list(elsewhere)  # where to look next, in order, when a scan finds nothing
        self.targets = self._route(pose, goal)
        self.item = item  # memory.types.ItemRecord, or None when the item is not enrolled
        self.hfov_deg, self.aspect_hw, self.perception = hfov_deg, aspect_hw, perception
        self.seen: deque[tuple[Pose, tuple[int, int], int]] = deque(maxlen=HOMING_KEEP)
        self.in_view = False
        self.scans = 0
        self.recover = 0  # steps left that the glasses take themselves, after running into something

    @property
    def homing(self) -> bool:
        return bool(self.seen)

    def observe(self, enc: Any, pose: Pose) -> None:
        """Match the view (a device.perception.encoder.Encoding) against the item; a hit retargets the route."""
        self.in_view = False
        if self.item is None:
            return
        cell, score = best_match(enc, self.item.prototypes)
        if score < self.item.threshold:
            return
        self.in_view = True
        self.seen.append((pose, enc.grid, cell))
        goal = self._where()
        if math.dist(goal, self.goal) > REROUTE_M:
            self.targets = self._route(pose, goal)
        self.goal = goal
        self.targets[-1] = goal
        self.scans = 0

    def _where(self) -> tuple[float, float]:
        """Where the kept sightings and the answer put the item: the least-squares point of
        Gaussians, one per sighting, narrow across its ray and long along it (its ray met a plane
        0.45 m up, short of an item on the floor and beyond one on furniture), and one round the
        answer. One sighting moves the target onto its bearing at about the answer's range; rays
        from several places cross where the item is. (On development houses 22-29, 6 starts each,
        the range scale on which the rays agree, without the answer, reached 36 of 48; this, 39.)"""
        pos = np.array([sighting_position(p, self.hfov_deg, self.aspect_hw, g, c, self.perception)
                        for p, g, c in self.seen])
        wearer = np.array([(p.x, p.z) for p, _, _ in self.seen])
        A = np.eye(2) / ANSWER_SIGMA_M ** 2
        b = np.asarray(self.answer, dtype=float) / ANSWER_SIGMA_M ** 2
        for q, w in zip(pos, wearer):
            r = max(math.dist(q, w), 1e-3)
            along = np.outer(q - w, q - w) / r ** 2
            M = (np.eye(2) - along) / ACROSS_SIGMA_M ** 2 + along / (RANGE_SIGMA * r) ** 2
            A += M
            b += M @ q
        x, z = np.linalg.solve(A, b)
        return round(float(x), 3), round(float(z), 3)

    def blocked(self, before: Pose, after: Pose, action: np.ndarray) -> bool:
        """After each executed action (forward_m, right_m, turn_deg): whether it ran into something
        (a wall, a door frame). Then the route is found afresh from here, and the next
        RECOVER_STEPS steps are the place graph's: a plan that cuts a corner keeps walking into it."""
        forward = float(action[0])
        if forward <= 0.05 or math.hypot(after.x - before.x, after.z - before.z) >= BLOCKED_FRACTION * forward:
            return False
        self.targets = self._route(after, self.goal)
        self.recover = RECOVER_STEPS
        return True

    def _route(self, pose: Pose, goal: tuple[float, float]) -> list[tuple[float, float]]:
        """The place graph's path from the wearer to goal (the wearer's own point left out)."""
        return [*self.graph.route((pose.x, pose.z), goal).waypoints[1:], goal]

    def target(self, pose: Pose) -> tuple[float, float, float]:
        """(x, z, radius_m) to head for next; the last target is where the item is believed to be."""
        while len(self.targets) > 1 and math.dist(self.targets[0], (pose.x, pose.z)) < REACHED_M:
            self.targets.pop(0)
        x, z = self.targets[0]
        return x, z, self.stop_m if len(self.targets) == 1 else 0.0

    @property
    def stop_m(self) -> float:
        return HOMING_STOP_M if self.homing else STOP_M

    def arrived(self, pose: Pose) -> bool:
        """At the route's end: within stop_m (plus a little) of the last target."""
        return self._at_end(pose, self.target(pose))

    def _at_end(self, pose: Pose, t: tuple[float, float, float]) -> bool:
        return t[2] > 0 and math.hypot(t[0] - pose.x, t[1] - pose.z) <= self.stop_m + 0.15

    def end_action(self, pose: Pose, max_turn_deg: float) -> np.ndarray | None:
        """At the route's end, the glasses' own last move: face the item, or, not seeing it, scan
        (after a whole turn that found nothing: route on to the next place to look, else stay).
        None while the route goes on."""
        t = self.target(pose)
        if not self._at_end(pose, t):
            return None
        turn = bearing_error_deg(pose, t[0], t[1])
        if self.homing or abs(turn) > FACING_DEG and self.scans == 0:
            return np.array([[0.0, 0.0, float(np.clip(turn, -max_turn_deg, max_turn_deg))]], np.float32)
        if self.scans * SCAN_DEG >= 360.0:
            if not self.elsewhere:
                return np.zeros((1, 3), np.float32)
            self.answer = self.goal = self.elsewhere.pop(0)  # not here: on to the next place to look
            self.targets, self.scans = self._route(pose, self.goal), 0
            return None
        self.scans += 1
        return np.array([[0.0, 0.0, SCAN_DEG]], np.float32)


# A plan towards a waypoint: (view, (forward_m, right_m, radius_m) of the waypoint seen from the
# wearer) -> (K, 3) actions (forward_m, right_m, turn_deg), of which the caller carries out all.
Planner = Callable[[Any, tuple[float, float, float]], np.ndarray]


def graph_action(pose: Pose, tx: float, tz: float, stop_m: float, max_forward_m: float, max_turn_deg: float
                 ) -> np.ndarray:
    """(1, 3): turn towards (tx, tz) by at most max_turn_deg; step forward when nearly facing it."""
    turn = bearing_error_deg(pose, tx, tz)
    fwd = min(max_forward_m, max(math.hypot(tx - pose.x, tz - pose.z) - stop_m, 0.0)) if abs(turn) <= 30.0 else 0.0
    return np.array([[fwd, 0.0, float(np.clip(turn, -max_turn_deg, max_turn_deg))]], np.float32)


class RecedingHorizon:
    """The glasses' navigation loop around a `Follower`: call `next_actions` with each new view,
    carry out the actions it returns one at a time, and after each call `executed`; when that says
    the step ran into something, drop the rest and ask again. plan: the companion's planner (or
    None: the place graph's own steps only)."""

    def __init__(self, follow: Follower, plan: Planner | None, max_forward_m: float, max_turn_deg: float) -> None:
        self.follow, self.plan = follow, plan
        self.max_forward_m, self.max_turn_deg = max_forward_m, max_turn_deg

    def next_actions(self, pose: Pose, enc: Any) -> np.ndarray:
        """(K, 3) actions from `pose`, seeing `enc` (a device.perception.encoder.Encoding)."""
        follow = self.follow
        follow.observe(enc, pose)
        end = follow.end_action(pose, self.max_turn_deg)
        if end is not None:
            return end
        t = follow.target(pose)
        if self.plan is None or follow.recover:  # after running into something, the glasses' own steps
            follow.recover = max(0, follow.recover - 1)
            return graph_action(pose, t[0], t[1], t[2], self.max_forward_m, self.max_turn_deg)
        return self.plan(enc, (*egocentric(pose.x, pose.z, pose.yaw_deg, t[0], t[1]), t[2]))

    def executed(self, before: Pose, after: Pose, action: np.ndarray) -> bool:
        """After each action: True when it ran into something (the rest of the plan is void)."""
        return self.follow.blocked(before, after, action)
