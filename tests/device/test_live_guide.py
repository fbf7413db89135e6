"""'Take me to my X' on glasses that go on seeing: step-by-step guidance through the real assistant,
encoder and memory, over a replayed walk (device/navigation/live_guide.py)."""

from __future__ import annotations

import re

from pathlib import Path

import pytest

from device.app.replay import ReplayConfig, replay
from device.responses import Response
from device.session import Pose, SessionInfo, SessionWriter, Utterance, read_session

pytestmark = pytest.mark.slow  # whole replays

DEMO = Path(__file__).resolve().parents[2] / "demo" / "session"
KEYS = [744, 745]  # demo frames with the keys in view (truth/frames.jsonl)
EMPTY = list(range(13, 37, 3))  # demo frames of an empty room


def _walk_back(root: Path, interrupt_t: float | None = None) -> list[Response]:
    """The wearer walks 9 m along +x, having shown the keys at the start; at x = 9 asks "take me to
    my keys" (t = 0.95), then turns round and walks back (x = 9 -> 2.7 facing -x, an empty room in
    view), and at x = 1 faces +x with the keys in view again. interrupt_t: the wearer says
    something else then."""
    demo = read_session(DEMO)
    views = [(i, k, Pose(float(i), 1.5, 0.0, 0.0, -30.0)) for i, k in enumerate(KEYS + EMPTY)]
    t = 1.0
    for x, yaw in [(9.0, 0.0), (9.0, 0.0), (9.0, 180.0), (8.0, 180.0), (7.0, 180.0), (6.0, 180.0), (5.0, 180.0),
                   (4.0, 180.0), (3.0, 180.0), (2.7, 180.0), (2.7, 180.0), (1.0, 0.0), (1.0, 0.0)]:
        views.append((round(t * 10), KEYS[0] if yaw == 0.0 and x < 2 else EMPTY[len(views) % len(EMPTY)],
                      Pose(x, 1.5, 0.0, yaw, -30.0)))
        t += 0.5
    out = root / "walk"
    with SessionWriter(out, SessionInfo(fps=10, width=demo.info.width, height=demo.info.height, source="test")) as w:
        for i, k, pose in views:
            w.add_frame(i / 10, demo.load_frame(k), pose, ext=".png")
        w.add_utterance(Utterance(0.1, "this is my keys"))
        w.add_utterance(Utterance(0.95, "take me to my keys"))
        if interrupt_t is not None:
            w.add_utterance(Utterance(interrupt_t, "where are my keys"))
    result = replay(read_session(out), root / "r.jsonl", memory_dir=root / "mem", config=ReplayConfig(progress=False))
    return result.responses


@pytest.fixture(scope="module")
def walked(tmp_path_factory: pytest.TempPathFactory) -> list[Response]:
    return _walk_back(tmp_path_factory.mktemp("guide"))


def test_the_route_goes_on_step_by_step_until_the_item_is_in_view(walked: list[Response]) -> None:
    route = next(r for r in walked if r.kind == "answer")
    # about 6-7 m back (the encoder's cell decides which side of 6.5 m the place falls)
    assert re.match(r"Here is a route from memory: turn around, walk about [67] metres", route.text), route.text
    guided = [r for r in walked if r.kind == "guide"]
    texts = [g.text for g in guided]
    assert re.fullmatch(r"Walk about [67] metres\.", texts[0]), texts  # the wearer turned round, as the route said
    metres = [int(m.group(1)) for t in texts if (m := re.fullmatch(r"Walk about (\d+) metres?\.", t))]
    assert len(metres) >= 2 and metres[1] < metres[0], texts  # and is told again on the way, nearer
    assert texts[-1].startswith("There: your keys should be") and "ahead of you" in texts[-1], texts
    assert all(g.utterance_t == pytest.approx(0.95) and g.item == "keys" for g in guided)
    assert [g.t for g in guided] == sorted(g.t for g in guided) and guided[-1].t > 6.0, "said as the wearer walks"
    assert len(texts) == len(set(texts)), "nothing said twice"


def test_saying_anything_else_ends_the_guidance(tmp_path: Path) -> None:
    responses = _walk_back(tmp_path, interrupt_t=3.0)
    guides = [r for r in responses if r.kind == "guide"]
    assert guides and all(g.t < 3.2 for g in guides), [(g.t, g.text) for g in guides]
    assert any(r.kind == "answer" and r.utterance_t == pytest.approx(3.0) for r in responses)


def test_not_found_it_looks_around_tries_the_next_place_then_says_so() -> None:
    """At the route's end with the item nowhere in view: look around (a whole turn), then the next
    place the world model would look, then, not there either, say it cannot be found; then silence."""
    from test_follower import ITEM, corridor, view, walk

    from device.navigation.live_guide import LiveGuide
    from device.responses import Evidence

    located = Response(t=0.0, kind="answer", utterance_t=0.0, item="keys", text="", abstain=False, confidence=0.4,
                       evidence=Evidence(0.0, 0), position=(3.0, 0.0))
    guide = LiveGuide(located, corridor(), Pose(3.0, 1.5, 0.0, 0.0, -10.0), ITEM, 60.0, 1.0, elsewhere=[(6.0, 4.0)])
    said, t, pose = [], 0.0, Pose(3.0, 1.5, 0.0, 0.0, -10.0)
    for _ in range(40):  # turning on the spot where it should be, seeing nothing
        t += 1.0
        g = guide.step(t, pose, view(None))
        said += [g.text] if g is not None else []
        pose = Pose(pose.x, 1.5, pose.z, pose.yaw_deg + 45.0, -10.0)
        if said and said[-1].startswith("Not there"):
            pose = walk(guide.follow, Pose(6.0, 1.5, 4.0, 90.0, -10.0))  # goes to the next place, looks round
    assert said[0] == "Look around you slowly, to your left.", said
    assert any(s.startswith("Not there. Let's try") for s in said), said
    assert said[-1] == "I can't find your keys here, nor where I would look next." and guide.done, said
    assert guide.step(t + 1.0, pose, view(None)) is None
