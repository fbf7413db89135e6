"""The world-model belief on hand-made sighting sequences whose answer is known."""

from __future__ import annotations

import math

import numpy as np
import pytest

from worldmodel.belief import CARRIED, BeliefConfig, Observation, PlaceMap, infer

CONFIG = BeliefConfig()
A = (0.0, 0.0)
B = (10.0, 0.0)


def seen_at(t: float, where: tuple[float, float], margin: float = 0.1, wearer_d: float = 2.0) -> Observation:
    """A resting item seen from wearer_d metres away (farther than a held item)."""
    return Observation(t, where, margin, (where[0] - wearer_d, where[1]))


def carried_at(t: float, wearer: tuple[float, float]) -> Observation:
    """The item in hand: seen low in view, carried_range_m ahead of the wearer."""
    return Observation(t, (wearer[0] + CONFIG.carried_range_m, wearer[1]), 0.05, wearer)


def belief(obs: list[Observation], t_query: float, config: BeliefConfig = CONFIG):
    places = PlaceMap(config.place_radius_m)
    for o in obs:
        if o.position is not None:
            places.assign(o.position)
    return infer(obs, places, t_query, config)


def enrolled(t: float = 0.0) -> list[Observation]:
    return [Observation(t, A, 0.3, None, enroll=True)] + [seen_at(t + k, A) for k in (1, 2, 3)]


def test_put_in_a_then_carried_to_b_is_at_b() -> None:
    carry = [carried_at(10.0 + k, (1.0 + k, 0.0)) for k in range(7)]
    b = belief(enrolled() + carry + [seen_at(t, B) for t in (25.0, 26.0, 27.0)], 30.0)
    assert b.state != CARRIED and b.moved and not b.abstain
    assert math.dist(b.position, B) < 0.5
    assert b.confidence > 0.3


def test_while_carried_the_belief_is_carried() -> None:
    b = belief(enrolled() + [carried_at(10.0 + k, (1.0 + 2 * k, 0.0)) for k in range(6)], 15.5)
    assert b.state == CARRIED


@pytest.mark.parametrize("margin", [0.001, 0.05, 0.2])
def test_one_far_false_sighting_does_not_flip_the_belief(margin: float) -> None:
    b = belief(enrolled() + [seen_at(20.0, B, margin=margin)], 25.0)
    assert math.dist(b.position, A) < 0.5


def test_moved_while_not_looking_lowers_the_confidence() -> None:
    stayed = belief(enrolled() + [seen_at(t, A) for t in (10.0, 11.0)], 30.0)
    jumped = belief(enrolled() + [seen_at(t, B) for t in (10.0, 11.0, 12.0)], 30.0)
    assert math.dist(jumped.position, B) < 0.5, "three good sightings at B outweigh the jump"
    assert jumped.confidence < stayed.confidence


def test_never_seen_abstains() -> None:
    b = belief([], 10.0)
    assert b.abstain and b.position is None and b.confidence == 0.0


def test_confidence_decays_with_age() -> None:
    obs = enrolled()
    assert belief(obs, 3600.0).confidence < belief(obs, 10.0).confidence


@pytest.mark.parametrize("field,value", [("sigma_m", 0.0), ("place_radius_m", -1.0), ("min_weight", 2.0),
                                         ("pickup_energy", float("nan"))])
def test_config_names_the_bad_field(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        BeliefConfig(**{field: value})


def test_place_map_joins_within_the_radius() -> None:
    places = PlaceMap(1.0)
    assert places.assign((0.0, 0.0)) == places.assign((0.5, 0.0)) == 0
    assert places.assign((3.0, 0.0)) == 1
    assert places.centres().shape == (2, 2)


def test_things_move_only_where_the_wearer_went() -> None:
    """Many look-alike sightings at B, but the wearer never came near A or B: it stays at A."""
    obs = enrolled() + [seen_at(20.0 + 0.5 * k, B, margin=0.05, wearer_d=3.0) for k in range(6)]
    places = PlaceMap(CONFIG.place_radius_m)
    for o in obs:
        places.assign(o.position)
    far_path = (np.array([0.0, 10.0, 30.0]), np.array([[-2.0, 0.0], [-2.0, 5.0], [7.0, 5.0]]))
    near_path = (np.array([0.0, 10.0, 15.0]), np.array([[-2.0, 0.0], [0.0, 0.5], [8.0, 0.0]]))
    assert math.dist(infer(obs, places, 25.0, CONFIG, path=far_path).position, A) < 0.5
    assert math.dist(infer(obs, places, 25.0, CONFIG, path=near_path).position, B) < 1.0


def test_looking_at_the_place_and_not_seeing_it_lowers_the_confidence() -> None:
    """Negative evidence: the wearer looked at A three times since and did not see the item."""
    looks = [Observation(t, A, 0.0, (-2.0, 0.0), miss=True) for t in (10.0, 12.0, 14.0)]
    before = belief(enrolled(), 15.0)
    after = belief(enrolled() + looks, 15.0)
    obs = enrolled() + looks
    assert after.confidence < before.confidence
    assert not any(obs[n].miss for n in after.support), "a miss never supports a place"


def test_carried_through_several_rooms_then_put_down() -> None:
    """Seen in hand along a 20 m walk through several rooms, then seen resting at the end."""
    walk = [carried_at(10.0 + k, (2.0 * k, 3.0)) for k in range(10)]
    end = (20.0, 3.0)
    b = belief(enrolled() + walk + [seen_at(t, end) for t in (22.0, 23.0)], 25.0)
    assert b.state != CARRIED and b.moved and math.dist(b.position, end) < 1.5


def test_a_place_revisited_after_a_long_time() -> None:
    """Not seen for an hour, then seen again where it was: the belief is there and sure again."""
    stale = belief(enrolled(), 3600.0)
    revisited = belief(enrolled() + [seen_at(3600.0 + k, A) for k in (0, 1)], 3602.0)
    assert math.dist(revisited.position, A) < 0.5 and not revisited.moved
    assert revisited.confidence > stale.confidence
