"""Place names: the wearer's words name where they stand; answers place items among the names."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from device.perception import Sighting
from device.place_names import PlaceNames, PlaceNamesConfig
from device.wm_answerer import WorldModelAnswerer

KITCHEN = (0.0, 0.0)
HALL = (8.0, 0.0)


def test_the_nearest_anchor_names_a_position_within_the_radius() -> None:
    names = PlaceNames(PlaceNamesConfig(name_radius_m=4.0))
    names.name("Kitchen", KITCHEN, 1.0)
    names.name("hall", HALL, 2.0)
    assert names.room_of((1.0, 1.0)) == "kitchen"
    assert names.room_of((5.0, 0.0)) == "hall"
    assert names.room_of((4.0, 9.0)) is None  # too far from both
    names.name("dining room", (0.3, 0.0), 3.0)  # renaming the same spot
    assert names.room_of((1.0, 1.0)) == "dining room" and len(names.anchors) == 2


@pytest.mark.parametrize("surface, others, expected", [
    ("floor", {}, "on the floor in the kitchen"),
    ("furniture", {}, "up on a table or shelf in the kitchen"),
    (None, {}, "in the kitchen"),
])
def test_describe_with_a_name(surface: str | None, others: dict, expected: str) -> None:
    names = PlaceNames()
    names.name("kitchen", KITCHEN, 0.0)
    assert names.describe((1.0, 0.5), surface, others) == expected


def test_describe_by_what_was_seen_there_without_a_name() -> None:
    names = PlaceNames(PlaceNamesConfig(near_item_min_confidence=0.5))
    others = {"mug": ((20.8, 0.0), 0.9), "duck": ((20.5, 0.0), 0.2), "phone": ((30.0, 0.0), 0.9)}
    assert names.describe((20.0, 0.0), "floor", others) == "on the floor near where I first saw your mug"  # the duck is unsure
    assert PlaceNames().describe((20.0, 0.0), None, others) == "near where I first saw your duck"  # the nearest, by default
    assert names.describe((25.0, 0.0), None, others) == ""


def test_answers_use_the_place_name() -> None:
    names = PlaceNames()
    names.name("kitchen", (9.0, 1.0), 0.5)
    answerer = WorldModelAnswerer(place_names=names)
    answerer.on_enroll(Sighting("keys", 0.0, 0, 0, 1.0, 0.8, HALL))
    seen = [Sighting("keys", t, int(t * 10), 0, 0.9, 0.8, HALL) for t in (1.0, 2.0)]
    r = answerer.locate("keys", 60.0, seen, None)
    assert not r.abstain and "in the kitchen" in r.text, r.text
    assert answerer.place_name(answerer.places.assign(HALL)) == "kitchen"


@pytest.mark.slow
def test_this_is_the_kitchen_names_the_place_under_the_wearer(tmp_path: Path) -> None:
    """A real replay: "this is the kitchen" is acknowledged at the wearer's position, a later
    answer about an item enrolled there says "in the kitchen"."""
    from device.replay import ReplayConfig, replay
    from device.session import Pose, SessionInfo, SessionWriter, Utterance, read_session

    rng = np.random.default_rng(0)
    with SessionWriter(tmp_path / "s", SessionInfo(fps=10, width=32, height=32, source="test")) as w:
        for i in range(30):
            w.add_frame(i / 10, rng.integers(0, 255, (32, 32, 3), dtype=np.uint8),
                        Pose(0.05 * i, 1.5, 0.0, 90.0, -30.0), ext=".png")
        w.add_utterance(Utterance(0.5, "this is the kitchen"))
        w.add_utterance(Utterance(1.0, "this is my keys"))
        w.add_utterance(Utterance(2.5, "where are my keys?"))
        w.write_truth("rooms.json", {"rooms": []})
    result = replay(read_session(tmp_path / "s"), None, config=ReplayConfig(progress=False))
    ack, _, answer = [r for r in result.responses if r.utterance_t is not None]
    assert ack.kind == "ack" and ack.text == "Got it: this is the kitchen." and ack.position is not None
    assert math.dist(ack.position, (0.2, 0.0)) < 0.1  # where the wearer stood at 0.5 s
    assert answer.kind == "answer" and "in the kitchen" in answer.text, answer.text
