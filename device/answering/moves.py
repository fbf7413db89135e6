"""Did the item move, and is it still in the hand? The evidence of the wearer's hands.

- An answer at a place new to the item is doubtful when nothing showed the move: no sighting of it
  in hand on the way, no look at its old place without it. Someone else may have moved it, or the
  sightings are of a look-alike (tests/device/test_hard_scripts.py).
- An item seen in hand again and again, then not at all for far longer than the gaps between those
  sightings, is no longer in the hand: it was put down where it was last seen, even when it is not
  recognised where it rests (a small thing seen side-on on a shelf).
"""

from __future__ import annotations

import bisect
import math

import numpy as np

from worldmodel.belief import Observation
from worldmodel.chain import WearerPath

IN_HAND_FOLLOWS = 0.5  # a sighting that moved with the wearer at least this clearly (carry.follows) was in hand
# Sightings in hand come at the carry's own rate r (per second, measured on that carry); if it were
# still in hand, a gap of g seconds without one has a chance of exp(-r g). Under 1%: it is not.
NOT_HELD_LOG_ODDS = math.log(100.0)
Held = list[tuple[float, tuple[float, float]]]  # (t, the wearer's (x, z)) of each sighting in hand, in time order


def in_hand(held: Held, after_t: float, until_t: float, min_carry_m: float) -> int:
    """How many sightings in hand in (after_t, until_t]: none unless the wearer's positions at them
    span min_carry_m (a carry goes somewhere; look-alikes in front of a still wearer do not)."""
    run = [w for _, w in held[bisect.bisect_right(held, after_t, key=lambda p: p[0]):
                             bisect.bisect_right(held, until_t, key=lambda p: p[0])]]
    span = float(np.hypot(*np.ptp(np.array(run), axis=0))) if run else 0.0  # the wearer's box diagonal
    return len(run) if span >= min_carry_m else 0


def let_go_at(held: Held, after_t: float, last_seen_t: float, t: float) -> float | None:
    """When the item was last seen in hand, if it was last seen in hand (after after_t) and has gone
    unseen since for so long that it cannot still be there (NOT_HELD_LOG_ODDS); else None."""
    run = [h for h, _ in held if h > after_t]
    if len(run) < 2 or run[-1] < last_seen_t or run[-1] <= run[0]:
        return None
    rate = (len(run) - 1) / (run[-1] - run[0])
    return run[-1] if rate * (t - run[-1]) >= NOT_HELD_LOG_ODDS else None


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


def wearer_moved_it(obs: list[Observation], support: tuple[int, ...], position: tuple[float, float],
                    path: WearerPath, min_move_m: float) -> bool:
    """Whether the wearer carried the item to its new rest even though no sighting showed it in hand
    (a pocket, a bag, a hand held low): it rested elsewhere, the wearer came within reach of that
    spot after it was last seen there, and was within reach of the new rest when it first showed there.

    obs: the item's observations in time order; support: the new rest's (indices into obs), at `position`;
    "within reach" is the path's reach_m (the belief's: where an item can be picked up or put down).
    Someone else's move seldom fits the wearer's own path at both ends; a look-alike first seen beside
    the wearer, after the wearer passed the item's rest, does (docs/BENCHMARKS.md counts what it costs).
    """
    reach_m = path.reach_m
    if not support:
        return False
    first = obs[support[0]]
    elsewhere = [o for o in obs[:support[0]] if not o.miss and o.position is not None
                 and math.dist(o.position, position) >= min_move_m]
    if not elsewhere or first.wearer is None or math.dist(first.wearer, position) > reach_m:
        return False
    last = elsewhere[-1]  # its last sighting away from the new rest
    assert last.position is not None
    lo, hi = np.searchsorted(path.times, last.t, side="left"), np.searchsorted(path.times, first.t, side="right")
    between = path.points[lo:hi]
    return bool(len(between)) and float(np.hypot(*(between - np.array(last.position)).T).min()) <= reach_m
