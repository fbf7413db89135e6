"""Did the item move? An answer at a place new to the item is doubtful when nothing showed the
move: no sighting of it in hand on the way, no look at its old place without it. Someone else
may have moved it, or the sightings are of a look-alike (tests/device/test_hard_scripts.py)."""

from __future__ import annotations

import math

from worldmodel.belief import Observation

IN_HAND_FOLLOWS = 0.5  # a sighting that moved with the wearer at least this clearly (carry.follows) was in hand


def unconfirmed_move(obs: list[Observation], position: tuple[float, float] | None, support: tuple[int, ...],
                     radius_m: float) -> Observation | None:
    """The last sighting at the item's previous place, when the answer's place (`position`, resting
    on `support`, indices into `obs`) is new to the item and nothing says it moved; else None."""
    if position is None or not support:
        return None
    first_here = obs[support[0]].t
    elsewhere = [o for o in obs[:support[0]] if not o.miss and o.position is not None
                 and math.dist(o.position, position) > radius_m]
    if not elsewhere or any(o.t <= elsewhere[-1].t and not o.miss and o.position is not None
                            and math.dist(o.position, position) <= radius_m for o in obs[:support[0]]):
        return None  # always here, or back at a place it rested before
    before = elsewhere[-1]
    assert before.position is not None
    for o in obs:
        carried = before.t < o.t <= first_here and o.follows is not None and o.follows >= IN_HAND_FOLLOWS
        left = (before.t < o.t and o.miss and o.position is not None
                and math.dist(o.position, before.position) <= radius_m)
        if carried or left:
            return None  # seen carried there, or seen gone from the old place
    return before
