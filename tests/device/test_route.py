"""'Take me to my X' through the real assistant and memory: the place-graph route offline, the
companion's plan when it is paired and up, and the fallback when it is killed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from device.assistant import Assistant
from device.companion_client import CompanionClient, CompanionConfig, pair
from device.replay import ReplayConfig, replay
from device.route import AWAY, LOCAL, PLANNED
from device.session import Pose, SessionInfo, SessionWriter, Utterance, read_session
from device.speech import NoCamera
from test_companion_client import CODE, Companion


def _walk_session(root: Path) -> Path:
    """Ten frames walking 9 m along +x (facing +x, looking down 30 degrees): the first two show
    a red and white checkerboard, the rest dim noise; "this is my keys" after the second, "take me
    to my keys" at the end."""
    out = root / "walk"
    rng = np.random.default_rng(1)
    board = np.zeros((32, 32, 3), np.uint8)
    board[..., 0] = 230
    board[((np.arange(32)[:, None] // 4 + np.arange(32)[None] // 4) % 2 == 0)] = 255
    with SessionWriter(out, SessionInfo(fps=10, width=32, height=32, source="test")) as w:
        for i in range(10):
            frame = board if i < 2 else rng.integers(0, 60, (32, 32, 3), dtype=np.uint8)
            w.add_frame(i / 10, frame, Pose(float(i), 1.5, 0.0, 0.0, -30.0), ext=".png")
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
    # The wearer is at x=9 facing +x; the keys were seen about 1 m ahead of x=1: turn around and
    # walk back to the place nearest them (x=2).
    assert route.position is not None and 1.5 < route.position[0] < 2.5 and abs(route.position[1]) < 0.5
    assert route.text.startswith(f"{LOCAL}: turn around, walk about 7 metres. Your keys")


def _ask_route(mem: Path, companion: CompanionClient | None) -> str:
    from memory.store import MemoryStore
    from worldmodel.jepa import JepaConfig, LatentPredictor

    with MemoryStore.open_existing(mem) as store:
        a = Assistant(store, NoCamera(), SessionInfo(fps=10, width=32, height=32), "ask", companion=companion)
        a.router._predictor = LatentPredictor(JepaConfig()).eval()  # the shipped checkpoint is not needed here
        return a.on_utterance(Utterance(2.0, "take me to my keys")).text


def test_companion_plans_then_falls_back_when_killed(walked: tuple[Path, list], tmp_path: Path) -> None:
    mem, _ = walked
    companion = Companion(tmp_path)
    companion.start()
    try:
        pairing = pair(companion.url, CODE, tmp_path / "state")
        with CompanionClient(pairing, CompanionConfig(timeout_s=1.5, horizon=5)) as client:
            text = _ask_route(mem, client)
            # The stand-in companion plans 5 half-metre steps straight ahead.
            assert text.startswith(f"{PLANNED}: walk about 2.5 metres.") and "keys" in text
            companion.kill()
            text = _ask_route(mem, client)
            assert text.startswith(f"{AWAY}: turn around, walk about 7 metres. Your keys")
    finally:
        if companion.proc is not None and companion.proc.poll() is None:
            companion.kill()
