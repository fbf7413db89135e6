"""The world-model answerer: "where is my X?" and left-item alerts from the energy-based belief.

Same interface as `LastSightingAnswerer` (`on_enroll`, `on_sighting`, `alerts`, `locate`,
`forget`). Every sighting joins the online place map and the item's observation chain, and so
does every look at the believed place that did not see the item (a miss);
`worldmodel.chain.ItemChain` minimizes the chain's energy exactly, one step at a time: a
frame's sightings extend each item's chain, and a query only adds the query-time terms.

- locate: the argmin place's position (where the final stay's sightings agree; see
  `worldmodel.belief`), or, when the item was last seen in hand, where it was last seen; the
  latest supporting sighting as evidence, the confidence from the energy margin; it abstains when
  the belief does (no sightings, or the best energy is still high). The words place it among the
  wearer's place names (`device.place_names`); the response carries the answer's energy, and
  `hypotheses` / `asked_evidence` give `ami explain` what it rested on.
- alerts: a carryable item whose best hypothesis is a place it was put down at (not where it was
  enrolled), beating "carried" and every other place by `alert_margin`, once the wearer is a walk
  of `leave_distance_m` away (`walk_back`: over the ground walked, not through walls): one alert
  per put-down. A stay within `min_move_m` of where the item was shown, or of where an alert left
  it, is the same rest (positions drift between views). And the wearer carried it there: seen in hand
  `min_in_hand` times since its last alert, in the `in_hand_window_s` before the rest began, while the
  wearer went `min_carry_m`; or unseen on the way, but gone with the wearer (`moves.wearer_moved_it`).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from typing import Callable, Mapping

import numpy as np

from device.answering.baseline import distance_from_viewer, pronouns
from device.answering.when import SaidWhen, ago_text, session_age
from device.navigation.guidance import where_from_here
from device.perception.perception import Sighting, project_point
from device.answering.place_names import PlaceNames
from device.responses import Evidence, Response
from device.session import Pose
from device.answering.moves import IN_HAND_FOLLOWS, in_hand, let_go_at, unconfirmed_move, wearer_moved_it
from device.answering.walk_back import away_m
from device.answering.wm_config import WorldModelConfig
from worldmodel.belief import CARRIED, Belief, Observation, PlaceMap
from worldmodel.carry import CarryEvidence, View
from worldmodel.chain import Hypothesis, ItemChain, WearerPath, places_apart

log = logging.getLogger(__name__)

PATH_STEP_M = 0.25  # the wearer's path keeps a point each time the wearer has moved this far, or has stood
PATH_DWELL_S = 1.0  # this long: an item put down in front of a still wearer was near them in every step's window
ALERT_CHECK_S = 0.5  # an item's left-behind test runs at most this often
ITEM_HEIGHT_M = 0.45  # where an item's centre is assumed to be, for "in view" (as perception's plane)
VIEW_EDGE = 0.1  # a place in this outer fraction of the frame (each side) is not "in view"


class WorldModelAnswerer:
    def __init__(self, config: WorldModelConfig = WorldModelConfig(), place_names: PlaceNames | None = None,
                 camera: tuple[float, float] = (60.0, 1.0), when: SaidWhen = session_age) -> None:
        """camera: the session's (hfov_deg, height / width), for "looked at a place"; when: how an
        answer says when the item was seen (device.answering.when)."""
        self.config = config
        self.when = when
        self.hfov_deg, self.aspect_hw = camera
        self.place_names = place_names or PlaceNames()  # the wearer's names for places, for the answers
        self.places = PlaceMap(config.belief.place_radius_m, config.belief.place_freeze_count)
        self._seen: dict[str, list[tuple[Observation, Sighting]]] = {}  # per item, in time order
        self._wearer: dict[float, tuple[float, float]] = {}  # sighting time -> wearer (x, z)
        self._pending: list[str] = []  # items sighted in the current frame, waiting for its pose
        self._belief: dict[str, Belief] = {}  # per item, as of its last sighting
        self._alerted_t: dict[str, float] = {}  # per item, when its last alert was given
        self._alerted_at: dict[str, list[tuple[float, float]]] = {}  # per item, where its alerts placed it
        self._checked_t: dict[str, float] = {}  # per item, when its left-behind test last ran
        self._missed_t: dict[str, float] = {}  # per item, when its last miss was recorded
        self._last_seen_t: dict[str, float] = {}  # per item, its latest sighting
        self._chains: dict[str, ItemChain] = {}  # per item, over its live observations (`_seen`)
        self._asked: dict[str, ItemChain] = {}  # per item, over the evidence of its last question
        self._answered: dict[str, int] = {}  # per item, the state (place id or CARRIED) its last answer gave
        self._placed: set[tuple[float, float]] = set()  # positions the place map has taken in
        self._path = WearerPath(config.belief.reach_m)  # where the wearer went, indexed by place
        self._pose: Pose | None = None  # the wearer's latest pose
        self._places_version = self.places.version  # the place map the live chains were last brought up to
        self._held: dict[str, list[tuple[float, tuple[float, float]]]] = {}  # per item: (t, wearer) seen in hand
        self._carry = CarryEvidence(config.belief.sigma_m, config.belief.range_sigma_per_m)  # live sightings

    def _walked(self, t: float, pose: Pose) -> None:
        """Keep a path point each time the wearer has moved PATH_STEP_M or stood PATH_DWELL_S."""
        self._pose = pose
        p = self._path
        if not p.n or math.dist(p.points[-1], (pose.x, pose.z)) >= PATH_STEP_M or t - p.times[-1] >= PATH_DWELL_S:
            p.add(t, (pose.x, pose.z))

    def _live(self, item: str, t: float, places_only: bool = False) -> Belief:
        """The belief in `item` at t from everything seen live, by extending its chain."""
        seen = self._seen[item]
        chain = self._chains.get(item)
        if chain is None or len(chain.obs) > len(seen):
            chain = self._chains[item] = ItemChain(self.config.belief)
        chain.extend([o for o, _ in seen[len(chain.obs):]], self.places, self._path)
        return chain.query(t, places_only)

    def _asked_chain(self, item: str, obs: list[Observation]) -> ItemChain:
        """The chain over a question's evidence: the last question's chain, extended, when that
        evidence is a prefix of this one (the usual case: memory only grows); else a new one."""
        chain = self._asked.get(item)
        n = 0 if chain is None else len(chain.obs)
        if chain is None or len(obs) < n or obs[:n] != chain.obs:
            chain, n = ItemChain(self.config.belief), 0
            self._asked[item] = chain
        return chain.extend(obs[n:], self.places, self._path)

    # -- inputs ----------------------------------------------------------------------------
    def _add(self, s: Sighting, enroll: bool) -> None:
        if s.position is not None:
            self.places.assign(s.position)
            self._placed.add(s.position)
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
        kept = {k: [(o, s) for o, s in v if not gone(s)] for k, v in self._seen.items()}
        # an alert rested on sightings: where it placed an item goes with any of them
        self._alerted_at = {k: p for k, p in self._alerted_at.items() if len(kept.get(k, ())) == len(self._seen[k])}
        self._seen = kept
        times = {k: {o.t for o, _ in v} for k, v in kept.items()}
        self._held = {k: [h for h in v if h[0] in times.get(k, ())] for k, v in self._held.items()}
        self._belief = {k: b for k, b in self._belief.items() if self._seen.get(k)}
        self._chains.clear()
        self._asked.clear()

    def _settle(self, t: float, pose: Pose | None) -> None:
        """The frame's pose arrived: attach the wearer's position to its sightings, update beliefs."""
        wearer = None if pose is None else (pose.x, pose.z)
        for item in dict.fromkeys(self._pending):
            seen = self._seen[item]
            if pose is not None and wearer is not None:
                self._wearer[round(t, 3)] = wearer
                for k in range(len(seen) - 1, -1, -1):
                    o, s = seen[k]
                    if o.t != t or o.wearer is not None:
                        break
                    seen[k] = (Observation(o.t, o.position, o.margin, wearer, o.enroll,
                                           follows=self._follows(item, o, pose)), s)
            b = self._live(item, t)
            if b.state == CARRIED and not b.support and not b.abstain:
                # Looked for where it was and not seen since: keep looking there (a miss each time),
                # so that "gone" does not fade back into "it is there" as time passes.
                b = self._live(item, t, places_only=True)
            self._belief[item] = b
        self._pending.clear()
        if self.places.version != self._places_version:
            # A place appeared or moved: restart the chains it touches now, in the frame loop, so that
            # a question does not pay for it. Their beliefs are unchanged until their next sighting.
            for chain in self._chains.values():
                chain.extend([], self.places, self._path)
            self._places_version = self.places.version

    def _follows(self, item: str, o: Observation, pose: Pose) -> float | None:
        """Whether this sighting moved with the wearer since the item's previous one (carry.follows)."""
        if o.position is None or o.miss:
            return None
        told = self._carry.follows(item, View(o.t, o.position, (pose.x, pose.z), pose.yaw_deg))
        if told is None or o.enroll:
            return None
        if told.value >= IN_HAND_FOLLOWS:  # both sightings of the pair were in hand
            held = self._held.setdefault(item, [])
            held += [(v.t, v.wearer) for v in (told.anchor, View(o.t, o.position, (pose.x, pose.z), pose.yaw_deg))
                     if not held or v.t > held[-1][0]]
        return told.value

    def _look(self, t: float, pose: Pose) -> None:
        """Negative evidence: the believed place is in view and near, and the item went unseen."""
        c = self.config
        for item, b in self._belief.items():
            seen = self._seen[item]
            if b.state == CARRIED or b.position is None or t - self._last_seen_t[item] < c.miss_every_s:
                continue
            if t - self._missed_t.get(item, -math.inf) < c.miss_every_s:
                continue
            if not 0.5 <= math.hypot(b.position[0] - pose.x, b.position[1] - pose.z) <= c.look_range_m:
                continue
            uv = project_point(pose, self.hfov_deg, self.aspect_hw, (b.position[0], ITEM_HEIGHT_M, b.position[1]))
            if uv is None or not all(VIEW_EDGE <= q <= 1.0 - VIEW_EDGE for q in uv):
                continue
            self._missed_t[item] = t
            seen.append((Observation(t, b.position, 0.0, (pose.x, pose.z), miss=True), seen[-1][1]))
            self._pending.append(item)

    # -- alerts ----------------------------------------------------------------------------
    def alerts(self, t: float, pose: Pose | None) -> list[Response]:
        c = self.config
        if pose is not None:
            self._walked(t, pose)
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
            # Cheap test first: the wearer must be beyond look range of where the item was last seen,
            # then a walk of leave_distance_m away from it (through a door, not through the wall)
            last_pos = cached.position if cached.position is not None else seen[-1][0].position
            if last_pos is None or math.dist((pose.x, pose.z), last_pos) < c.look_range_m:
                continue
            self._checked_t[item] = t
            if self._away(item, last_pos, pose) < c.leave_distance_m:
                continue
            b = self._live(item, t)  # "carried" pays for the time since it was seen
            let_go = self._let_go(item, t, b)
            if let_go is not None:  # carried, and gone from the hand: put down where last seen
                b = let_go
            elif (b.state == CARRIED or not b.moved or b.abstain or b.position is None or not b.support
                    or b.segment_start_t is None or min(b.carried_margin, b.margin) < c.alert_margin
                    or b.segment_start_t <= self._alerted_t.get(item, -math.inf)):
                continue
            assert b.position is not None and b.segment_start_t is not None
            away = self._away(item, b.position, pose)
            carry_from = max(self._alerted_t.get(item, -math.inf), b.segment_start_t - c.in_hand_window_s)
            carried = (in_hand(self._held.get(item, []), carry_from, b.segment_start_t, c.min_carry_m) >= c.min_in_hand
                       or c.carry_unseen and wearer_moved_it([o for o, _ in seen], b.support, b.position, self._path,
                                                             c.min_move_m))
            if away < c.leave_distance_m or self._same_rest(item, b.position) or not carried:
                continue
            last = seen[b.support[-1]][1]
            self._alerted_t[item] = t
            self._alerted_at.setdefault(item, []).append(b.position)
            place, (they, them) = self.place_names.describe(b.position, b.surface, self._others(item)), pronouns(item)
            out.append(Response(
                t=t, kind="alert", utterance_t=None, item=item,
                text=f"You left your {item} behind: {they} stayed {place + ', ' if place else ''}where you put "
                     f"{them} {ago_text(t - b.segment_start_t)}, about {away:.0f} m back.",
                abstain=False, confidence=b.confidence, evidence=Evidence(last.t, last.frame),
                position=b.position, energy=b.energy))
        return out

    def _away(self, item: str, position: tuple[float, float], pose: Pose) -> float:
        """How far the wearer is from `position` (walk_back.away_m), over the path since the item was last seen."""
        return away_m(self._path.times, self._path.points, self._last_seen_t[item], position, (pose.x, pose.z),
                      self.config.leave_distance_m, self.config.look_range_m)

    def _let_go(self, item: str, t: float, b: Belief) -> Belief | None:
        """The belief that the item rests where it was last seen in hand, when the belief says
        carried but the hand has long stopped showing it (`moves.let_go_at`); else None."""
        if b.state != CARRIED or b.abstain:
            return None
        at = let_go_at(self._held.get(item, []), self._alerted_t.get(item, -math.inf), self._last_seen_t[item], t)
        seen = self._seen[item]
        k = next((k for k in range(len(seen) - 1, -1, -1) if seen[k][0].t == at), None)
        if at is None or k is None or seen[k][0].position is None:
            return None
        return dataclasses.replace(b, position=seen[k][0].position, support=(k,), segment_start_t=at,
                                   surface=None, confidence=min(b.confidence, 0.5))

    def _same_rest(self, item: str, position: tuple[float, float]) -> bool:
        """Whether `position` is within min_move_m of where the item was enrolled or alerted."""
        rests = [o.position for o, _ in self._seen[item] if o.enroll] + self._alerted_at.get(item, [])
        return any(r is not None and math.dist(position, r) < self.config.min_move_m for r in rests)

    # -- locate ----------------------------------------------------------------------------
    def locate(self, item: str, t: float, sightings: list[Sighting],
               poses: Mapping[tuple[float, int], Pose | None] | None) -> Response:
        """Answer "where is my <item>?" at time t from the sightings in memory before t.

        poses: the camera pose of each sighting, by its (t, frame), to say how far the item was from the wearer.
        """
        enrolled = [(o, s) for o, s in self._seen.get(item, []) if (o.enroll or o.miss) and o.t <= t]
        pairs = list(enrolled)
        known = {s.frame for o, s in enrolled if o.enroll}
        carry = CarryEvidence(self.config.belief.sigma_m, self.config.belief.range_sigma_per_m)  # over memory's
        for s in sorted(sightings, key=lambda s: s.t):
            if s.frame in known or s.t > t:
                continue
            if (s.position is not None and s.position not in self._placed
                    and self.places.nearest(s.position)[1] > self.places.radius_m):
                self.places.assign(s.position)
                self._placed.add(s.position)
            pose = None if poses is None else poses.get((s.t, s.frame))
            told = None if pose is None or s.position is None else carry.follows(
                item, View(s.t, s.position, (pose.x, pose.z), pose.yaw_deg))
            fol = None if told is None else told.value
            pairs.append((Observation(s.t, s.position, max(0.0, s.score - s.threshold),
                                      self._wearer.get(round(s.t, 3)), follows=fol), s))
        pairs.sort(key=lambda p: p[0].t)
        obs = [o for o, _ in pairs]
        chain = self._asked_chain(item, obs)
        b = chain.query(t)
        carried_best = b.state == CARRIED and not b.abstain and bool(b.support)
        gone = b.state == CARRIED and not b.abstain and not b.support
        if carried_best:  # last seen in hand: it was put down where it was last seen
            last = pairs[b.support[-1]][1]
            b = dataclasses.replace(b, position=last.position, confidence=min(b.confidence, 0.5))
        elif gone:  # looked at where it was and not seen since: the best place, with the doubt said
            b = chain.query(t, places_only=True)
            if not b.support and b.position is not None:  # the evidence: when it was last seen there
                b = dataclasses.replace(b, support=self._last_seen_at(obs, b.position))
        before = (None if carried_best or gone or b.abstain
                  else unconfirmed_move(obs, b.position, b.support, self.places.radius_m))
        if before is not None:  # seen at a new place, never seen carried there nor gone from the old one
            b = dataclasses.replace(b, confidence=min(b.confidence, 0.5))
        self._answered[item] = b.state
        if b.abstain or b.position is None or not b.support:
            return Response(t=t, kind="answer", utterance_t=t, item=item,
                            text=f"I haven't seen your {item} clearly since you showed {pronouns(item)[1]} to me.",
                            abstain=True, confidence=0.0, evidence=None, position=None)
        last = pairs[b.support[-1]][1]
        where = distance_from_viewer(b.position, last, poses)
        they, them = pronouns(item)
        doubt = (f" {they.capitalize()} {'were' if they == 'they' else 'was'} in your hand then: {they} should be "
                 f"where you put {them} down." if carried_best else
                 f" But I looked there since and did not see {them}." if gone else
                 f" I never saw {them} moved from where I saw {them} {self.when(before.t, None, t)}: if this is "
                 f"another one like {them}, yours may still be there." if before is not None else "")
        place = self.place_names.describe(b.position, None if carried_best else b.surface, self._others(item))
        return Response(t=t, kind="answer", utterance_t=t, item=item,
                        text=f"Your {item} should be {place + ', ' if place else ''}where I saw {them} "
                             f"{self.when(last.t, last.frame, t)}{where} "
                             f"(frame {last.frame}, confidence {b.confidence:.2f}).{doubt}"
                             f"{self._alternative(item, t, b.position, b.confidence)}",
                        abstain=False, confidence=b.confidence, evidence=Evidence(last.t, last.frame),
                        position=b.position, energy=b.energy)

    # -- place names -----------------------------------------------------------------------
    def _others(self, item: str) -> dict[str, tuple[tuple[float, float], float]]:
        """Landmarks: where each other item was shown to the glasses -> (position, 1.0). Fixed
        points, unlike the other items' beliefs, which change as they are seen (the words would
        then flip between two replays a few frames apart)."""
        out = {}
        for k, seen in self._seen.items():
            first = next((o for o, _ in seen if o.enroll and o.position is not None), None)
            if k != item and first is not None and first.position is not None:
                out[k] = (first.position, 1.0)
        return out

    def place_name(self, place: int) -> str | None:
        """The wearer's name for a place of the map (by its centre), if any."""
        c = self.places.centres()
        return None if not 0 <= place < len(c) else self.place_names.room_of((float(c[place, 0]), float(c[place, 1])))

    # -- explanations ----------------------------------------------------------------------
    def hypotheses(self, item: str, t: float) -> list[Hypothesis]:
        """The competing hypotheses behind the last answer about `item` (`locate`), at t, lowest
        energy first; empty when it was never asked about."""
        chain = self._asked.get(item)
        return [] if chain is None else chain.hypotheses(t)

    def elsewhere(self, item: str, t: float, answer: tuple[float, float], count: int = 2,
                  apart_m: float = 2.0, max_gap: float = math.inf) -> list[tuple[float, float]]:
        """Where else to look when `item` is not at `answer` (the last `locate` answer about it):
        the centres of the next lowest-energy places, each at least apart_m from the answer and
        from each other, and at most max_gap above the lowest energy, at most `count` of them."""
        return places_apart(self.hypotheses(item, t), answer, count, apart_m, max_gap)

    def _alternative(self, item: str, t: float, answer: tuple[float, float], confidence: float) -> str:
        """" If it isn't there, try <the next place>." for an unsure answer whose next place comes
        close in energy (`alternative_*` in the config); "" otherwise."""
        c = self.config
        if confidence >= c.alternative_below_confidence:
            return ""
        nxt = self.elsewhere(item, t, answer, count=1, apart_m=c.min_move_m, max_gap=c.alternative_max_gap)
        if not nxt:
            return ""
        name = self.place_names.describe(nxt[0], None, self._others(item))
        if not name and self._pose is not None:
            name = where_from_here(self._pose.x, self._pose.z, self._pose.yaw_deg, *nxt[0])
        they = pronouns(item)[0]
        return f" If {they} {'aren' if they == 'they' else 'isn'}'t there, try {name}." if name else ""

    def answered_state(self, item: str) -> int | None:
        """The state (a place id, or CARRIED) the last answer about `item` gave; None if never asked."""
        return self._answered.get(item)

    def asked_evidence(self, item: str) -> list[Observation]:
        """The observations the last answer about `item` rested on, in time order."""
        chain = self._asked.get(item)
        return [] if chain is None else list(chain.obs)

    def path(self) -> np.ndarray:
        """(M, 2) the wearer's path so far, (x, z) metres."""
        return self._path.points.copy()

    def _last_seen_at(self, obs: list[Observation], position: tuple[float, float]) -> tuple[int, ...]:
        """The latest sighting (not a miss) within a place radius of `position`, as a support."""
        for n in range(len(obs) - 1, -1, -1):
            o = obs[n]
            if not o.miss and o.position is not None and math.dist(o.position, position) <= self.places.radius_m:
                return (n,)
        return ()
