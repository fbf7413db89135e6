"""Carried or resting from the session's own evidence: a sighting that moved with the wearer."""

from __future__ import annotations

import math

import pytest

from worldmodel.belief import CARRIED, BeliefConfig, Observation, PlaceMap
from worldmodel.chain import infer
from worldmodel.carry import CarryEvidence, View


def walk(t: float) -> tuple[float, float]:
    return 1.0 * t, 0.0  # along +x at 1 m/s


def evidence() -> CarryEvidence:
    c = BeliefConfig()
    return CarryEvidence(c.sigma_m, c.range_sigma_per_m)


@pytest.mark.parametrize("ahead_m, right_m", [(1.3, 0.0), (2.3, -0.4), (0.5, 0.3)])
def test_an_item_held_anywhere_in_view_moves_with_the_wearer(ahead_m: float, right_m: float) -> None:
    """Whatever the range and place in the view the hand holds it at, a walk tells it is carried."""
    ev, told = evidence(), []
    for k in range(8):
        t = 0.4 * k
        x, z = walk(t)
        yaw = 20.0 * math.sin(t)  # the head turns a little as the wearer walks
        f, r = (math.cos(math.radians(yaw)), -math.sin(math.radians(yaw))), (math.sin(math.radians(yaw)),
                                                                           math.cos(math.radians(yaw)))
        pos = (x + ahead_m * f[0] + right_m * r[0], z + ahead_m * f[1] + right_m * r[1])
        told.append(ev.follows("keys", View(t, pos, (x, z), yaw)))
    assert told[0] is None  # the first sighting has nothing to compare with
    values = [v.value for v in told if v is not None]
    assert len(values) >= 2 and min(values) > 0.8, values  # far ahead, a straight walk is along the unsure range


def test_a_resting_item_keeps_its_place_in_the_world() -> None:
    ev = evidence()
    values = []
    for k in range(8):
        t = 0.4 * k
        x, z = walk(t)
        told = ev.follows("keys", View(t, (6.0, 1.0), (x, z), 10.0 * k))
        if told is not None:
            values.append(told.value)
    assert len(values) >= 4 and max(values) < -0.8, values


def test_a_still_wearer_tells_nothing() -> None:
    ev = evidence()
    told = [ev.follows("keys", View(0.3 * k, (1.3, 0.0), (0.0, 0.0), 0.0)) for k in range(6)]
    assert told == [None] * 6


def test_a_carry_at_an_unfamiliar_range_is_inferred_as_carried() -> None:
    """Seen 2.3 m ahead while walking (not the 1.3 m prior) and told in hand by the walk: the belief
    ends carried; the same sightings told nothing (follows None) end at a place on the way."""
    ev, told, blind = evidence(), [], []
    start = Observation(0.0, (0.0, 0.0), 0.3, None, enroll=True)
    for k in range(1, 12):
        t = 0.4 * k
        x, z = walk(t)
        pos = (x + 2.3, z)
        v = ev.follows("keys", View(t, pos, (x, z), 0.0))
        told.append(Observation(t, pos, 0.1, (x, z), follows=None if v is None else v.value))
        blind.append(Observation(t, pos, 0.1, (x, z)))
    c = BeliefConfig()

    def belief(obs: list[Observation]) -> int:
        places = PlaceMap(c.place_radius_m, c.place_freeze_count)
        for o in obs:
            assert o.position is not None
            places.assign(o.position)
        return infer(obs, places, 4.6, c).state

    assert belief([start] + told) == CARRIED
    assert belief([start] + blind) != CARRIED, "else this test shows nothing"
