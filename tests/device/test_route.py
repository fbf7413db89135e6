"""'Take me to my X' through the real assistant and memory: the place-graph route offline, the
companion's plan when it is paired and up, and the fallback when it is killed."""

from __future__ import annotations

import re

import dataclasses
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from device.answering.assistant import Assistant
from device.navigation.companion_client import CompanionClient, CompanionConfig, pair
from device.navigation.guidance import path_steps, plan_path, spoken, wrap_deg
from device.app.replay import ReplayConfig, replay
from device.navigation.route import AWAY, LOCAL, OTHER_ENCODER, PLANNED, RouteGuide
from device.session import Pose, SessionInfo, SessionWriter, Utterance, read_session
from device.answering.no_camera import NoCamera
from companion_process import SLOW_COMPANION, CompanionProcess, untrained_checkpoint

pytestmark = pytest.mark.slow  # a whole replay, and two companion processes


DEMO = Path(__file__).resolve().parents[2] / "demo" / "session"


def _walk_session(root: Path) -> Path:
    """Ten frames walking 9 m along +x (facing +x, looking down 30 degrees): the first two are the
    demo's views of its keys, the rest demo views of an empty room; "this is my keys" after the
    second, "take me to my keys" at the end."""
    out = root / "walk"
    demo = read_session(DEMO)
    views = [744, 745] + list(range(13, 37, 3))  # truth/frames.jsonl: the keys in view, then nothing
    with SessionWriter(out, SessionInfo(fps=10, width=demo.info.width, height=demo.info.height, source="test")) as w:
        for i, k in enumerate(views):
            w.add_frame(i / 10, demo.load_frame(k), Pose(float(i), 1.5, 0.0, 0.0, -30.0), ext=".png")
        w.add_utterance(Utterance(0.1, "this is my keys"))
        w.add_utterance(Utterance(0.95, "take me to my keys"))
    return out


@pytest.fixture(scope="module")
def walked(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list]:
    root = tmp_path_factory.mktemp("route")
    result = replay(read_session(_walk_session(root)), root / "r.jsonl", memory_dir=root / "mem",
                    config=ReplayConfig(progress=False))
    return root / "mem", result.responses


def test_replay_routes_from_the_place_graph_offline(walked: tuple[Path, list]) -> None:
    _, (enroll, route) = walked
    assert enroll.kind == "ack" and route.kind == "answer" and not route.abstain
    # The wearer is at x=9 facing +x; the keys were seen 1-2 m ahead of x=0 and x=1: turn around and
    # walk back about 6-7 m to the place nearest them (the encoder's cell decides which side of 6.5 m).
    assert route.position is not None and 1.5 < route.position[0] < 3.0 and abs(route.position[1]) < 0.5
    # (a last small turn when the place sits off the line walked)
    assert re.match(rf"{LOCAL}: turn around, walk about [67] metres(; then turn (left|right) about \d+ degrees)?\. "
                    "Your keys", route.text), route.text


def _ask_route(mem: Path, companion: CompanionClient | None, checkpoint: Path) -> tuple[str, Any]:
    from memory.store import MemoryStore
    from worldmodel.jepa import load_predictor

    with MemoryStore.open_existing(mem) as store:
        last = store.last_keyframe()
        assert last is not None and last.recorded_at is not None
        # "now" (t = 2) a fixed 3 s after the last keyframe, whenever asked: the two asks compare equal
        a = Assistant(store, NoCamera(), SessionInfo(fps=10, width=32, height=32), "ask", companion=companion,
                      clock_origin_unix=last.recorded_at - 1.0)
        a.router._predictor = load_predictor(checkpoint)  # the companion's own weights, not the shipped ones
        response = a.on_utterance(Utterance(2.0, "take me to my keys"))
        return response.text, a.router.last


def test_companion_plans_then_falls_back_when_killed(walked: tuple[Path, list], tmp_path: Path) -> None:
    mem, _ = walked
    companion = CompanionProcess(tmp_path, untrained_checkpoint(tmp_path / "jepa.pt"), SLOW_COMPANION)
    companion.start()
    try:
        pairing = pair(companion.url, companion.code, tmp_path / "state")
        config = CompanionConfig(timeout_s=1.5, horizon=5, samples=64, iterations=5)
        with CompanionClient(pairing, config) as client:
            text, result = _ask_route(mem, client, companion.checkpoint)
            assert result.source == "companion" and result.plan.actions.shape == (5, 3)
            # The spoken steps are the plan's, from the wearer's last pose (x=9, facing +x).
            points, end_yaw = plan_path(result.plan.actions, 9.0, 0.0, 0.0)
            steps = spoken(path_steps(points, 0.0, end_yaw)) or "stay where you are and look around"
            assert text.startswith(f"{PLANNED}: {steps}. Your keys")
            # The request carried the route's next point, the keys about 7 m behind the wearer: its
            # term (100 per squared metre beyond 0.7 m) is in the energies, and it falls as the plan
            # turns around and walks back.
            e = result.plan.energies
            assert e[0] > 100.0 * 5.0 ** 2 and e[-1] < e[0], e
            assert abs(wrap_deg(end_yaw)) > 135.0, result.plan.actions
            # Killed in the middle of a (long) plan: the wearer still gets an answer, in bounded time.
            client.config = dataclasses.replace(config, horizon=16, samples=2000, iterations=200)
            killer = threading.Timer(0.5, companion.kill)
            killer.start()
            t0 = time.perf_counter()
            text, result = _ask_route(mem, client, companion.checkpoint)
            killer.join()
            assert result.source == "place-graph" and time.perf_counter() - t0 < config.timeout_s + 5.0
            offline, _ = _ask_route(mem, None, companion.checkpoint)  # the place graph's own route
            assert offline.startswith(f"{LOCAL}: turn around") and text == offline.replace(LOCAL, AWAY, 1), text
    finally:
        companion.stop()


def test_patches_from_another_encoder_never_reach_the_companion(walked: tuple[Path, list]) -> None:
    """`--encoder frozen` patches (96-d) are not the JEPA's input (64-d): place graph, and say so."""
    from memory.store import MemoryStore

    class MustNotPlan:
        def plan(self, *args: Any) -> Any:
            raise AssertionError("the companion was asked to plan on another encoder's patches")

    mem, (_, located) = walked
    with MemoryStore.open_existing(mem) as store:
        guide = RouteGuide(store, companion=MustNotPlan())  # type: ignore[arg-type]
        result = guide.route(located, Pose(9.0, 1.5, 0.0, 0.0, -30.0), np.zeros((196, 96), np.float32))
    assert result.source == "place-graph" and result.text.startswith(f"{OTHER_ENCODER}: turn around")
