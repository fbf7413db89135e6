"""Place names, so that answers read naturally: "on the floor in the kitchen, where I saw it".

A place gets its name from the wearer's words: "this is the kitchen" names where the wearer
stands (an anchor), and a position takes the name of the nearest anchor within `name_radius_m`
(about a room: the glasses know no walls). Otherwise a position is described by what was seen
there: the spot where another of the wearer's things was shown to the glasses ("near where I
first saw your mug"). The names are kept in the memory folder (memory/places.py), so a later
session, `ami ask` and `ami listen` on that memory use them, and a forget removes them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from memory.types import PlaceName


@dataclass(frozen=True)
class PlaceNamesConfig:
    name_radius_m: float = 4.0  # an anchor names positions this close (a room is about 5 m across)
    near_item_m: float = 1.5  # another item's spot this close to the answer describes it
    # ... when its own belief is at least this sure. 0: any belief that does not abstain (a threshold
    # made the words flip between two replays of the demo whose timings differ by a few frames).
    near_item_min_confidence: float = 0.0

    def __post_init__(self) -> None:
        for name in ("name_radius_m", "near_item_m"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"PlaceNamesConfig.{name} must be a number > 0, got {v!r}")
        if not 0.0 <= self.near_item_min_confidence <= 1.0:
            raise ValueError("PlaceNamesConfig.near_item_min_confidence must be in [0, 1], "
                             f"got {self.near_item_min_confidence!r}")


class PlaceNames:
    """The wearer's names for places, and the phrase that places a position among them."""

    def __init__(self, config: PlaceNamesConfig = PlaceNamesConfig()) -> None:
        self.config = config
        self.anchors: list[PlaceName] = []  # where the wearer stood when naming each place

    @property
    def replace_radius_m(self) -> float:
        """Naming a spot again replaces the names this close to it."""
        return self.config.name_radius_m / 4

    def load(self, names: list[PlaceName]) -> None:
        """The names as memory keeps them (`MemoryStore.place_names()`), oldest first."""
        self.anchors = list(names)

    def room_of(self, position: tuple[float, float]) -> str | None:
        """The name of the nearest anchor within name_radius_m of `position`, if any."""
        near = [(math.dist(a.position, position), -a.t, a.name) for a in self.anchors]
        near = [x for x in near if x[0] <= self.config.name_radius_m]
        return min(near)[2] if near else None

    def describe(self, position: tuple[float, float], surface: str | None,
                 others: dict[str, tuple[tuple[float, float], float]]) -> str:
        """"on the floor in the kitchen", "up on a table or shelf near where I first saw your mug", or
        "" when nothing is known.

        surface: "floor", "furniture" or None; others: other items -> (landmark position, confidence).
        """
        parts = {"floor": ["on the floor"], "furniture": ["up on a table or shelf"]}.get(surface or "", [])
        room = self.room_of(position)
        if room is not None:
            parts.append(f"in the {room}")
        else:
            c = self.config
            close = sorted((math.dist(p, position), name) for name, (p, conf) in others.items()
                           if conf >= c.near_item_min_confidence and math.dist(p, position) <= c.near_item_m)
            if close:
                parts.append(f"near where I first saw your {close[0][1]}")
        return " ".join(parts)
