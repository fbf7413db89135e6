"""The "last confident sighting" answerer: the retrieval baseline the world model must beat.

- locate: the most recent sighting in memory that clears the item's threshold and is confirmed by
  a second sighting nearby in time and space; it abstains when there is none.
- alerts: a carryable item seen (confirmed) resting at a new place, then the wearer far from that
  place for a while: one alert per rest place.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Mapping

from device.answering.when import SaidWhen, ago_text, session_age
from device.perception.perception import Sighting
from device.responses import Evidence, Response
from device.session import Pose

CARRYABLE_ITEMS = ("keys", "phone", "wallet")


@dataclass(frozen=True)
class BaselineConfig:
    confirm_window_s: float = 4.5  # a sighting needs another one this close in time (> 2 keyframe gaps) ...
    confirm_distance_m: float = 1.5  # ... and this close in estimated position
    carryable: tuple[str, ...] = CARRYABLE_ITEMS
    moved_m: float = 1.5  # a confirmed sighting this far from the last rest place: the item moved
    leave_distance_m: float = 4.0  # the wearer is this far from where the item rests ...
    min_away_s: float = 4.0  # ... and it has not been seen for this long

    def __post_init__(self) -> None:
        for name in ("confirm_window_s", "confirm_distance_m", "moved_m", "leave_distance_m", "min_away_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"BaselineConfig.{name} must be > 0, got {getattr(self, name)}")


def confidence(score: float, threshold: float) -> float:
    """Map the cosine margin over the threshold to (0, 1); 0.5 at the threshold."""
    return float(1.0 / (1.0 + math.exp(-(score - threshold) / 0.03)))


def span_text(seconds: float) -> str:
    """A length of time: "30 s", "10 min", "1 min 30 s"."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f} s"
    m, s = divmod(int(round(seconds)), 60)
    return f"{m} min {s} s" if s else f"{m} min"


def distance_from_viewer(position: tuple[float, float] | None, seen: Sighting,
                         poses: Mapping[tuple[float, int], Pose | None] | None) -> str:
    """", about 2.3 m from where you stood then": how far the answer is from the camera that saw it."""
    viewer = None if poses is None else poses.get((seen.t, seen.frame))
    if position is None or viewer is None:
        return ""
    return f", about {math.dist(position, (viewer.x, viewer.z)):.1f} m from where you stood then"


def pronouns(item: str) -> tuple[str, str]:
    """("they", "them") for plural-looking names ("keys", "glasses"), else ("it", "it")."""
    plural = item.endswith("s") and not item.endswith("ss")
    return ("they", "them") if plural else ("it", "it")


def this_is(item: str) -> str:
    """How the wearer names it: "this is my wallet", "these are my keys"."""
    return f"{'these are' if pronouns(item)[0] == 'they' else 'this is'} my {item}"


def where_is(item: str) -> str:
    """How the wearer asks for it: "where is my wallet", "where are my keys"."""
    return f"where {'are' if pronouns(item)[0] == 'they' else 'is'} my {item}"


def _close(a: Sighting, b: Sighting, config: BaselineConfig) -> bool:
    if a.frame == b.frame or abs(a.t - b.t) > config.confirm_window_s:
        return False
    if a.position is None or b.position is None:
        return a.position is None and b.position is None
    return math.dist(a.position, b.position) <= config.confirm_distance_m


def confirmed(sightings: list[Sighting], config: BaselineConfig) -> list[Sighting]:
    """The sightings (sorted by t) that another sighting of the same item backs up."""
    s = sorted(sightings, key=lambda x: x.t)
    out = []
    for i, a in enumerate(s):
        j = i - 1
        ok = False
        while j >= 0 and a.t - s[j].t <= config.confirm_window_s and not ok:
            ok = _close(a, s[j], config)
            j -= 1
        j = i + 1
        while j < len(s) and s[j].t - a.t <= config.confirm_window_s and not ok:
            ok = _close(a, s[j], config)
            j += 1
        if ok:
            out.append(a)
    return out


@dataclass
class _Rest:
    sighting: Sighting
    moved: bool = False
    alerted: bool = False


class LastSightingAnswerer:
    def __init__(self, config: BaselineConfig = BaselineConfig(), when: SaidWhen = session_age) -> None:
        """when: how an answer says when the item was seen (device.answering.when)."""
        self.config = config
        self.when = when
        self._recent: dict[str, list[Sighting]] = {}
        self._rest: dict[str, _Rest] = {}

    def on_enroll(self, s: Sighting) -> None:
        self._rest[s.item] = _Rest(s)
        self._recent[s.item] = [s]

    def on_sighting(self, s: Sighting) -> None:
        recent = [r for r in self._recent.get(s.item, []) if s.t - r.t <= self.config.confirm_window_s]
        recent.append(s)
        self._recent[s.item] = recent
        if not any(_close(s, r, self.config) for r in recent[:-1]):
            return
        rest = self._rest.get(s.item)
        if rest is None:
            self._rest[s.item] = _Rest(s)
        elif (s.position is not None and rest.sighting.position is not None
              and math.dist(s.position, rest.sighting.position) > self.config.moved_m):
            self._rest[s.item] = _Rest(s, moved=True)
        else:
            self._rest[s.item] = _Rest(s, moved=rest.moved, alerted=rest.alerted)

    def forget(self, gone: Callable[[Sighting], bool]) -> None:
        """Drop the sightings that `gone` selects (the wearer asked to forget them)."""
        self._rest = {k: v for k, v in self._rest.items() if not gone(v.sighting)}
        self._recent = {k: [s for s in v if not gone(s)] for k, v in self._recent.items()}

    def alerts(self, t: float, pose: Pose | None) -> list[Response]:
        c = self.config
        out: list[Response] = []
        if pose is None:
            return out
        for name, rest in self._rest.items():
            s = rest.sighting
            if (name not in c.carryable or not rest.moved or rest.alerted or s.position is None
                    or t - s.t < c.min_away_s):
                continue
            away = math.dist((pose.x, pose.z), s.position)
            if away < c.leave_distance_m:
                continue
            rest.alerted = True
            out.append(Response(
                t=t, kind="alert", utterance_t=None, item=name,
                text=f"You left your {name} behind: last seen {ago_text(t - s.t)}, about {away:.0f} m back.",
                abstain=False, confidence=confidence(s.score, s.threshold),
                evidence=Evidence(s.t, s.frame), position=s.position))
        return out

    def locate(self, item: str, t: float, sightings: list[Sighting],
               poses: Mapping[tuple[float, int], Pose | None] | None) -> Response:
        """Answer "where is my <item>?" at time t from all sightings in memory before t.

        poses: the camera pose of each sighting, by its (t, frame), to say how far the item was from the wearer.
        """
        good = confirmed(sightings, self.config)
        if not good:
            return Response(t=t, kind="answer", utterance_t=t, item=item,
                            text=f"I haven't seen your {item} clearly since you showed {pronouns(item)[1]} to me.",
                            abstain=True, confidence=0.0, evidence=None, position=None)
        last = good[-1]
        where = distance_from_viewer(last.position, last, poses)
        return Response(t=t, kind="answer", utterance_t=t, item=item,
                        text=f"I last saw your {item} {self.when(last.t, last.frame, t)}{where} (frame {last.frame}).",
                        abstain=False, confidence=confidence(last.score, last.threshold),
                        evidence=Evidence(last.t, last.frame), position=last.position)
