"""Place names: the wearer's words name where they stand; answers place items among the names."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from device.perception.perception import Sighting
from device.session import Utterance
from device.answering.place_names import PlaceNames, PlaceNamesConfig
from device.answering.wm_answerer import WorldModelAnswerer
from memory.types import PlaceName

KITCHEN = (0.0, 0.0)
HALL = (8.0, 0.0)


def named(*places: tuple[str, tuple[float, float], float], config: PlaceNamesConfig = PlaceNamesConfig()) -> PlaceNames:
    names = PlaceNames(config)
    names.load([PlaceName(*p) for p in places])
    return names


def test_the_nearest_anchor_names_a_position_within_the_radius() -> None:
    names = named(("kitchen", KITCHEN, 1.0), ("hall", HALL, 2.0), config=PlaceNamesConfig(name_radius_m=4.0))
    assert names.room_of((1.0, 1.0)) == "kitchen"
    assert names.room_of((5.0, 0.0)) == "hall"
    assert names.room_of((4.0, 9.0)) is None  # too far from both


@pytest.mark.parametrize("surface, others, expected", [
    ("floor", {}, "on the floor in the kitchen"),
    ("furniture", {}, "up on a table or shelf in the kitchen"),
    (None, {}, "in the kitchen"),
])
def test_describe_with_a_name(surface: str | None, others: dict, expected: str) -> None:
    names = named(("kitchen", KITCHEN, 0.0))
    assert names.describe((1.0, 0.5), surface, others) == expected


def test_describe_by_what_was_seen_there_without_a_name() -> None:
    names = PlaceNames(PlaceNamesConfig(near_item_min_confidence=0.5))
    others = {"mug": ((20.8, 0.0), 0.9), "duck": ((20.5, 0.0), 0.2), "phone": ((30.0, 0.0), 0.9)}
    # the duck is unsure; by default the nearest is named
    assert names.describe((20.0, 0.0), "floor", others) == "on the floor near where I first saw your mug"
    assert PlaceNames().describe((20.0, 0.0), None, others) == "near where I first saw your duck"
    assert names.describe((25.0, 0.0), None, others) == ""


def test_answers_use_the_place_name() -> None:
    names = named(("kitchen", (9.0, 1.0), 0.5))
    answerer = WorldModelAnswerer(place_names=names)
    answerer.on_enroll(Sighting("keys", 0.0, 0, 0, 1.0, 0.8, HALL))
    seen = [Sighting("keys", t, int(t * 10), 0, 0.9, 0.8, HALL) for t in (1.0, 2.0)]
    r = answerer.locate("keys", 60.0, seen, None)
    assert not r.abstain and "in the kitchen" in r.text, r.text
    assert answerer.place_name(answerer.places.assign(HALL)) == "kitchen"


DEMO = Path(__file__).resolve().parents[2] / "demo" / "session"


def walk_session(folder: Path, views: list[int], utterances: list[tuple[float, str]], start_time: str) -> Path:
    """3 s of the demo's frames `views` (in turn) while the wearer walks along x, with the utterances."""
    from device.session import Pose, SessionInfo, SessionWriter, read_session

    demo = read_session(DEMO)
    info = SessionInfo(fps=10, width=demo.info.width, height=demo.info.height, source="test", start_time=start_time)
    with SessionWriter(folder, info) as w:
        for i in range(30):
            w.add_frame(i / 10, demo.load_frame(views[i % len(views)]), Pose(0.05 * i, 1.5, 0.0, 90.0, -30.0),
                        ext=".png")
        for t, text in utterances:
            w.add_utterance(Utterance(t, text))
        w.write_truth("rooms.json", {"rooms": []})
    return folder


@pytest.mark.slow
def test_this_is_the_kitchen_names_the_place_under_the_wearer(tmp_path: Path) -> None:
    """A real replay: "this is the kitchen" is acknowledged at the wearer's position, a later
    answer about an item enrolled there says "in the kitchen"; the name outlives the session."""
    from device.app.replay import ReplayConfig, replay
    from device.session import read_session
    from memory.store import MemoryStore

    memory = tmp_path / "memory"
    first = walk_session(tmp_path / "s", [744, 745], [(0.5, "this is the kitchen"), (1.0, "this is my keys"),
                                             (2.5, "where are my keys?")], "2026-12-07T08:00:00+01:00")
    result = replay(read_session(first), None, memory, config=ReplayConfig(progress=False))
    ack, _, answer = [r for r in result.responses if r.utterance_t is not None]
    assert ack.kind == "ack" and ack.text == "Got it: this is the kitchen." and ack.position is not None
    assert math.dist(ack.position, (0.2, 0.0)) < 0.1  # where the wearer stood at 0.5 s
    assert answer.kind == "answer" and "in the kitchen" in answer.text, answer.text
    # The name is kept in the memory folder: a later session on it says "kitchen" unprompted ...
    later = walk_session(tmp_path / "s2", [665, 666, 667, 668],  # the demo's wallet in view
                         [(1.0, "this is my wallet"), (2.5, "where is my wallet?"),
                          (2.8, "forget the last ten minutes")],
                         "2026-12-07T09:00:00+01:00")
    result = replay(read_session(later), None, memory, config=ReplayConfig(progress=False))
    answer = [r for r in result.responses if r.utterance_t == 2.5][0]
    assert "in the kitchen" in answer.text, answer.text
    # ... named an hour before, "the last ten minutes" did not cover it; forgetting everything does.
    with MemoryStore.open(memory) as store:
        assert [p.name for p in store.place_names()] == ["kitchen"]
        assert store.forget_all().place_names == 1 and store.place_names() == []
