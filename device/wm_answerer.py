"""The world-model answerer: "where is my X?" and left-item alerts from the energy-based belief.

Same interface as `LastSightingAnswerer` (`on_enroll`, `on_sighting`, `alerts`, `locate`,
`forget`). Every sighting joins the online place map and the item's observation chain, and so
does every look at the believed place that did not see the item (a miss);
`worldmodel.belief.infer` minimizes the chain's energy exactly.

- locate: the argmin place's position (where the final stay's sightings agree; see
  `worldmodel.belief`), or, when the item was last seen in hand, where it was last seen; the
  latest supporting sighting as evidence, the confidence from the energy margin; it abstains when
  the belief does (no sightings, or the best energy is still high).
- alerts: a carryable item whose best hypothesis is a place it was put down at (not where it was
  enrolled), where "it stays there" beats "it is carried" and every other place by `alert_margin`,
  and the wearer has gone `leave_distance_m` away: one alert per put-down, no repeats.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass, field
from typing import Callable, Mapping

import numpy as np

from device.baseline import CARRYABLE_ITEMS, age_text, distance_from_viewer, pronouns
from device.perception import Sighting
from device.responses import Evidence, Response
from device.session import Pose
from worldmodel.belief import CARRIED, Belief, BeliefConfig, Observation, PlaceMap, infer

log = logging.getLogger(__name__)

PATH_STEP_M = 0.25  # the wearer's path keeps a point each time the wearer has moved this far
ALERT_CHECK_S = 0.5  # an item's left-behind test runs at most this often
ITEM_HEIGHT_M = 0.45  # where an item's centre is assumed to be, for "in view" (as perception's plane)


@dataclass(frozen=True)
class WorldModelConfig:
    belief: BeliefConfig = field(default_factory=BeliefConfig)
    carryable: tuple[str, ...] = CARRYABLE_ITEMS
    alert_margin: float = 1.0  # energy by which "it stays there" must beat "it is carried"
    leave_distance_m: float = 4.0  # the wearer is this far from where the item rests ...
    min_away_s: float = 3.0  # ... and the item has not been seen for this long
    fov_deg: float = 60.0  # the camera's field of view (square frames), for "looked at a place"
    look_range_m: float = 3.0  # a place this close and in view, with the item unseen for ...
    miss_every_s: float = 2.0  # ... this long, is a miss (negative evidence); at most one per this long

    def __post_init__(self) -> None:
        for name in ("alert_margin", "leave_distance_m", "min_away_s"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ValueError(f"WorldModelConfig.{name} must be a finite number >= 0, got {value!r}")


def _stayed(item: str) -> str:
    return "they stayed" if pronouns(item)[0] == "they" else "it stayed"


class WorldModelAnswerer:
    def __init__(self, config: WorldModelConfig = WorldModelConfig()) -> None:
        self.config = config
        self.places = PlaceMap(config.belief.place_radius_m)
        self._seen: dict[str, list[tuple[Observation, Sighting]]] = {}  # per item, in time order
        self._wearer: dict[float, tuple[float, float]] = {}  # sighting time -> wearer (x, z)
        self._pending: list[str] = []  # items sighted in the current frame, waiting for its pose
        self._belief: dict[str, Belief] = {}  # per item, as of its last sighting
        self._alerted_t: dict[str, float] = {}  # per item, when its last alert was given
        self._checked_t: dict[str, float] = {}  # per item, when its left-behind test last ran
        self._missed_t: dict[str, float] = {}  # per item, when its last miss was recorded
        self._last_seen_t: dict[str, float] = {}  # per item, its latest sighting
        self._path_t: list[float] = []  # the wearer's path: times (s) ...
        self._path_xy: list[tuple[float, float]] = []  # ... and (x, z) metres

    def _path(self) -> tuple[np.ndarray, np.ndarray]:
        return np.array(self._path_t), np.array(self._path_xy).reshape(-1, 2)  # (M,), (M, 2)

    def _infer(self, obs: list[Observation], t: float, places_only: bool = False) -> Belief:
        return infer(obs, self.places, t, self.config.belief, places_only=places_only, path=self._path())

    # -- inputs ----------------------------------------------------------------------------
    def _add(self, s: Sighting, enroll: bool) -> None:
        if s.position is not None:
            self.places.assign(s.position)
        o = Observation(s.t, s.position, max(0.0, s.score - s.threshold), None, enroll)
        self._seen.setdefault(s.item, []).append((o, s))
        self._last_seen_t[s.item] = s.t
        self._pending.append(s.item)

    def on_enroll(self, s: Sighting) -> None:
        self._add(s, enroll=True)

    def on_sighting(self, s: Sighting) -> None:
        self._add(s, enroll=False)

    def forget(self, gone: Callable[[Sighting], bool]) -> None:
        """Drop the sightings that `gone` selects (the wearer asked to forget them)."""
        self._seen = {k: [(o, s) for o, s in v if not gone(s)] for k, v in self._seen.items()}
        self._belief = {k: b for k, b in self._belief.items() if self._seen.get(k)}

    def _settle(self, t: float, pose: Pose | None) -> None:
        """The frame's pose arrived: attach the wearer's position to its sightings, update beliefs."""
        wearer = None if pose is None else (pose.x, pose.z)
        for item in dict.fromkeys(self._pending):
            seen = self._seen[item]
            if wearer is not None:
                self._wearer[round(t, 3)] = wearer
                for k in range(len(seen) - 1, -1, -1):
                    o, s = seen[k]
                    if o.t != t or o.wearer is not None:
                        break
                    seen[k] = (Observation(o.t, o.position, o.margin, wearer, o.enroll), s)
            self._belief[item] = self._infer([o for o, _ in seen], t)
        self._pending.clear()

    def _look(self, t: float, pose: Pose) -> None:
        """Negative evidence: the believed place is in view and near, and the item went unseen."""
        c = self.config
        half = math.radians(c.fov_deg) / 2 - math.radians(5.0)
        for item, b in self._belief.items():
            seen = self._seen[item]
            if b.state == CARRIED or b.position is None or t - self._last_seen_t[item] < c.miss_every_s:
                continue
            if t - self._missed_t.get(item, -math.inf) < c.miss_every_s:
                continue
            dx, dz = b.position[0] - pose.x, b.position[1] - pose.z
            d = math.hypot(dx, dz)
            if not 0.5 <= d <= c.look_range_m:
                continue
            bearing = math.atan2(-dz, dx) - math.radians(pose.yaw_deg)  # forward = (cos yaw, -sin yaw)
            bearing = (bearing + math.pi) % (2 * math.pi) - math.pi
            depression = math.atan2(pose.y - ITEM_HEIGHT_M, d)
            if abs(bearing) > half or abs(-depression - math.radians(pose.pitch_deg)) > half:
                continue
            self._missed_t[item] = t
            seen.append((Observation(t, b.position, 0.0, (pose.x, pose.z), miss=True), seen[-1][1]))
            self._pending.append(item)

    # -- alerts ----------------------------------------------------------------------------
    def alerts(self, t: float, pose: Pose | None) -> list[Response]:
        c = self.config
        if pose is not None and (not self._path_xy or math.dist(self._path_xy[-1], (pose.x, pose.z)) >= PATH_STEP_M):
            self._path_t.append(t)
            self._path_xy.append((pose.x, pose.z))
        if pose is not None:
            self._look(t, pose)
        if self._pending:
            self._settle(t, pose)
        out: list[Response] = []
        if pose is None:
            return out
        for item, cached in self._belief.items():
            seen = self._seen[item]
            if (item not in c.carryable or not seen or t - self._last_seen_t[item] < c.min_away_s
                    or t - self._checked_t.get(item, -math.inf) < ALERT_CHECK_S):
                continue
            # Cheap test first: the wearer must be far from where the item was last seen.
            last_pos = cached.position if cached.position is not None else seen[-1][0].position
            if last_pos is None or math.dist((pose.x, pose.z), last_pos) < c.leave_distance_m:
                continue
            self._checked_t[item] = t
            b = self._infer([o for o, _ in seen], t)  # "carried" pays for the time since it was seen
            if (b.state == CARRIED or not b.moved or b.abstain or b.position is None or not b.support
                    or b.segment_start_t is None or min(b.carried_margin, b.margin) < c.alert_margin
                    or b.segment_start_t <= self._alerted_t.get(item, -math.inf)):
                continue
            away = math.dist((pose.x, pose.z), b.position)
            if away < c.leave_distance_m:
                continue
            last = seen[b.support[-1]][1]
            self._alerted_t[item] = t
            out.append(Response(
                t=t, kind="alert", utterance_t=None, item=item,
                text=f"You left your {item} behind: {_stayed(item)} where you put {pronouns(item)[1]} "
                     f"{age_text(t - b.segment_start_t)}, about {away:.0f} m back.",
                abstain=False, confidence=b.confidence, evidence=Evidence(last.t, last.frame),
                position=b.position))
        return out

    # -- locate ----------------------------------------------------------------------------
    def locate(self, item: str, t: float, sightings: list[Sighting],
               poses: Mapping[int, Pose | None] | None) -> Response:
        """Answer "where is my <item>?" at time t from the sightings in memory before t.

        poses: the camera pose of each sighting's frame, to say how far the item was from the wearer.
        """
        enrolled = [(o, s) for o, s in self._seen.get(item, []) if (o.enroll or o.miss) and o.t <= t]
        pairs = list(enrolled)
        known = {s.frame for o, s in enrolled if o.enroll}
        for s in sorted(sightings, key=lambda s: s.t):
            if s.frame in known or s.t > t:
                continue
            if s.position is not None and not self._near_place(s.position):
                self.places.assign(s.position)
            pairs.append((Observation(s.t, s.position, max(0.0, s.score - s.threshold),
                                      self._wearer.get(round(s.t, 3))), s))
        pairs.sort(key=lambda p: p[0].t)
        obs = [o for o, _ in pairs]
        b = self._infer(obs, t)
        carried_best = b.state == CARRIED and not b.abstain and bool(b.support)
        gone = b.state == CARRIED and not b.abstain and not b.support
        if carried_best:  # last seen in hand: it was put down where it was last seen
            last = pairs[b.support[-1]][1]
            b = dataclasses.replace(b, position=last.position, confidence=min(b.confidence, 0.5))
        elif gone:  # looked at where it was and not seen since: the best place, with the doubt said
            b = self._infer(obs, t, places_only=True)
        if b.abstain or b.position is None or not b.support:
            return Response(t=t, kind="answer", utterance_t=t, item=item,
                            text=f"I haven't seen your {item} clearly since you showed {pronouns(item)[1]} to me.",
                            abstain=True, confidence=0.0, evidence=None, position=None)
        last = pairs[b.support[-1]][1]
        where = distance_from_viewer(b.position, last.frame, poses)
        they, them = pronouns(item)
        doubt = (f" {they.capitalize()} {'were' if they == 'they' else 'was'} in your hand then: {they} should be "
                 f"where you put {them} down." if carried_best else
                 f" But I looked there since and did not see {them}." if gone else "")
        return Response(t=t, kind="answer", utterance_t=t, item=item,
                        text=f"Your {item} should be where I saw {them} {age_text(t - last.t)}{where} "
                             f"(frame {last.frame}, confidence {b.confidence:.2f}).{doubt}",
                        abstain=False, confidence=b.confidence, evidence=Evidence(last.t, last.frame),
                        position=b.position)

    def _near_place(self, position: tuple[float, float]) -> bool:
        c = self.places.centres()
        return bool(len(c)) and min(math.dist(position, (float(x), float(z))) for x, z in c) <= self.places.radius_m
