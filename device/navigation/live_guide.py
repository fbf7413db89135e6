"""Step by step to the item: "take me to my keys" on glasses that see, as the wearer walks.

The route answer gives the first steps at once (device/navigation/route.py). When the glasses go on
seeing (a live session or a replay: frames with poses), a `LiveGuide` then follows the wearer with
the navigation loop's `Follower`: the place graph's path over memory's keyframe poses, homing on
the item once a view shows it, at the route's end a look around, and then the places the world
model would look next (`WorldModelAnswerer.elsewhere`). Each frame gives the next instruction in
the route answer's own words (`guidance.path_steps`); it is said when it changes, at most every
SAY_EVERY_S unless the kind of step changes (turn, walk), so the wearer is not talked at.

It ends when the item is in view ahead ("There: your keys should be about 2 metres ahead of
you."), when the last place to look showed nothing, when the wearer says anything else, or after
MAX_S. A camera-less assistant (`ami ask`, `ami listen`) has no poses to follow: there the route
answer is the whole guidance.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from core.types import Pose
from device.navigation.follower import FACING_DEG, Follower, bearing_error_deg
from device.navigation.guidance import path_steps, spoken, turn_text, where_from_here
from device.navigation.place_graph import PlaceGraph
from device.responses import Response

SAY_EVERY_S = 2.0  # a new distance is said at most this often (about two strides)
MAX_S = 120.0  # guidance stops after this long: a walk across a home takes well under that


class LiveGuide:
    """Guidance to one item, frame by frame; `step` gives a "guide" response when there is something to say."""

    def __init__(self, located: Response, graph: PlaceGraph, pose: Pose, item: Any, hfov_deg: float,
                 aspect_hw: float, elsewhere: Sequence[tuple[float, float]] = ()) -> None:
        """located: the route question's answer (its position is where to go); item: memory's
        ItemRecord of the item (its prototypes find it on the way), or None."""
        assert located.position is not None and located.item is not None, "a route needs a place and an item"
        self.located = located
        self.follow = Follower(graph, pose, located.position, item, hfov_deg, aspect_hw, elsewhere=elsewhere)
        self.started_t = located.t
        self.done = False
        # (kind of step, words) last said, and when: the route answer has just said the first step from here
        self._said: tuple[str, str] | None = self._path_step(pose)
        self._said_t = located.t

    def step(self, t: float, pose: Pose, enc: Any | None) -> Response | None:
        """The wearer is at `pose` at time t, seeing `enc` (an Encoding, or None for a frame that
        was not encoded): the next instruction when it is worth saying, else None."""
        if self.done:
            return None
        if t - self.started_t > MAX_S:
            self.done = True
            return None
        follow = self.follow
        if enc is not None:
            follow.observe(enc, pose)
        goal = follow.goal
        if follow.in_view and abs(bearing_error_deg(pose, *goal)) <= FACING_DEG:
            self.done = True
            return self._say(t, "found", f"There: your {self._name} should be "
                                         f"{where_from_here(pose.x, pose.z, pose.yaw_deg, *goal)}.", goal)
        before = follow.goal
        end = follow.end_action(pose, 180.0)
        if end is not None:
            turn = float(end[0, 2])
            if turn == 0.0:  # a whole turn found nothing, and nowhere else is left to look
                self.done = True
                return self._say(t, "gone", f"I can't find your {self._name} here, nor where I would look next.",
                                 goal)
            if follow.scans:
                return self._say(t, "scan", "Look around you slowly, to your left.", goal)
            words = turn_text(turn)  # "" for a turn too small to say
            return self._say(t, "turn", f"{words.capitalize()}: it should be in front of you." if words
                             else "It should be right in front of you.", goal)
        if follow.goal != before:  # not there: on to the next place the world model would look
            place = where_from_here(pose.x, pose.z, pose.yaw_deg, *follow.goal)
            return self._say(t, "next", f"Not there. Let's try {place}.", follow.goal)
        step = self._path_step(pose)
        return None if step is None else self._say(t, *step, goal)

    def _path_step(self, pose: Pose) -> tuple[str, str] | None:
        """(kind, words) of the next step along the route from `pose`, as the route answer says it."""
        steps = path_steps([(pose.x, pose.z), *self.follow.targets], pose.yaw_deg)
        words = spoken(steps[:1])
        if not words:
            return None
        return "walk" if abs(steps[0].turn_deg) < FACING_DEG else "turn", words[0].upper() + words[1:] + "."

    @property
    def _name(self) -> str:
        assert self.located.item is not None
        return self.located.item

    def _say(self, t: float, kind: str, text: str, where: tuple[float, float]) -> Response | None:
        """The response, unless it repeats the last one or only updates a distance too soon."""
        last = self._said
        if last is not None and (last[1] == text or (last[0] == kind and t - self._said_t < SAY_EVERY_S)):
            return None
        self._said, self._said_t = (kind, text), t
        r = self.located
        return Response(t=t, kind="guide", utterance_t=r.utterance_t, item=r.item, text=text, abstain=False,
                        confidence=r.confidence, evidence=r.evidence, position=where, session=r.session)
