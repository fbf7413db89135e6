"""What the assistant keeps in memory, on a stub camera: an enrollment's threshold sits above what
memory held before it by the wall clock (a memory of several sessions, each counting t from its
own start, gives its background from every earlier session); which keyframes keep a picture; and the
alerts kept with their evidence keyframes."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from device.answering.assistant import Assistant, AssistantConfig
from device.perception.encoder import Encoding
from device.responses import Evidence, Response
from device.session import FrameRecord, Pose, SessionInfo, Utterance
from memory.store import MemoryStore

DIM, GRID = 8, (4, 4)
KEYS = np.eye(DIM, dtype=np.float32)[1]
WALL = np.eye(DIM, dtype=np.float32)[0]
LOOK_ALIKE = (0.9 * KEYS + np.sqrt(1 - 0.81) * np.eye(DIM, dtype=np.float32)[2]).astype(np.float32)  # cosine 0.9


def view(thing: np.ndarray) -> np.ndarray:
    """(16, DIM) patches: a wall all round and `thing` in one centre cell."""
    patches = np.tile(WALL, (GRID[0] * GRID[1], 1))
    patches[5] = thing
    return patches


class Camera:
    """Each frame's first pixel says what is in view: the keys (1) or nothing (0)."""

    dim, space = DIM, "test: one cell per thing"

    def encode(self, rgb: np.ndarray) -> Encoding:
        patches = view(KEYS if rgb[0, 0, 0] else WALL)
        return Encoding(patches, GRID, patches.mean(axis=0) / np.linalg.norm(patches.mean(axis=0)))


def test_the_threshold_rises_above_a_look_alike_seen_yesterday_at_a_later_session_time(tmp_path: Path) -> None:
    today = time.time() - 60.0
    yesterday = today - 86_400.0
    with MemoryStore.open(tmp_path / "mem", embedding_dim=DIM, patch_dim=DIM) as store:
        for k, t in enumerate(np.arange(50.0, 60.0, 0.5)):  # yesterday, late in its session: a red box like the keys
            store.add_keyframe(float(t), k, "yesterday", (float(k), 1.5, 0.0, 0.0, -20.0), WALL, view(LOOK_ALIKE),
                               GRID, recorded_at=yesterday + float(t))
        assistant = Assistant(store, Camera(), SessionInfo(fps=10, width=64, height=64), "today",  # type: ignore[arg-type]
                              AssistantConfig(thumbnails=None), clock_origin_unix=today)
        for i in range(20):  # today, early in its own session: the keys shown at t = 1.5
            rgb = np.full((64, 64, 3), i % 2 * 40, np.uint8)
            rgb[0, 0, 0] = 1 if i >= 10 else 0
            assistant.on_frame(FrameRecord(i, i / 10, Pose(i * 0.6, 1.5, 0.0, 0.0, -20.0)), rgb)
        ack = assistant.on_utterance(Utterance(1.95, "this is my keys"))
        assert ack.kind == "ack" and not ack.abstain, ack.text
        (keys,) = store.items()
    # yesterday's look-alike (cosine 0.9) is background: the keys' threshold clears it. Counting only
    # keyframes with t < 1.95 - 3 s, as the session clock would, left the threshold at the 0.72 floor.
    assert keys.threshold > 0.9, keys.threshold


def test_keyframes_keep_pictures_of_what_is_evidence_and_the_rest_every_two_seconds(tmp_path: Path) -> None:
    """The face blur is a replay's dearest step: a keyframe keeps a picture when it saw an enrolled
    item, and the enrollment's view gets one when it is shown; the others one every 2 s."""
    with MemoryStore.open(tmp_path / "mem", embedding_dim=DIM, patch_dim=DIM) as store:
        assistant = Assistant(store, Camera(), SessionInfo(fps=10, width=64, height=64), "s",  # type: ignore[arg-type]
                              AssistantConfig(), clock_origin_unix=time.time())
        for i in range(40):  # the keys in view from frame 10; shown at t = 1.95 (frame 19 the last seen)
            rgb = np.full((64, 64, 3), i % 2 * 40, np.uint8)
            rgb[0, 0, 0] = 1 if i >= 10 else 0
            assistant.on_frame(FrameRecord(i, i / 10, Pose(i * 0.6, 1.5, 0.0, 0.0, -20.0)), rgb)
            if i == 19:
                assert assistant.on_utterance(Utterance(1.95, "this is my keys")).evidence.frame == 19
        assistant.keep_thumbnails(wait=True)  # the end of the frames: the pictures still being made
        with store.reader() as reader:
            kept = {k.frame: has for k, has in reader.timeline()}
    assert len(kept) == 40, "every frame was a keyframe (the wearer walked)"
    assert [f for f in range(19) if kept[f]] == [0], "before the keys were known: one every 2 s (t = 0, then 2)"
    assert kept[19], "the view the keys were shown in is their first evidence"
    assert all(kept[f] for f in range(20, 40)), "every keyframe that saw the keys"


def test_a_forget_erases_the_pictures_still_being_made(tmp_path: Path) -> None:
    """Pictures are made off the frame loop: a forget right after the views it covers waits for
    them, then erases them with their keyframes (none comes back afterwards)."""
    with MemoryStore.open(tmp_path / "mem", embedding_dim=DIM, patch_dim=DIM) as store:
        assistant = Assistant(store, Camera(), SessionInfo(fps=10, width=64, height=64), "s",  # type: ignore[arg-type]
                              AssistantConfig(), clock_origin_unix=time.time())
        for i in range(30):
            assistant.on_frame(FrameRecord(i, i / 10, Pose(i * 0.6, 1.5, 0.0, 0.0, -20.0)),
                               np.full((64, 64, 3), i % 2 * 40, np.uint8))
        done = assistant.on_utterance(Utterance(3.0, "forget the last ten seconds"))
        assert done.text == "Done: I forgot the last 10 s (30 views).", done.text
        assistant.keep_thumbnails(wait=True)
        assert (store.count(), store.stats()["thumbnails"]) == (0, 0)


def _alert(t: float, frame: int, item: str = "keys") -> Response:
    return Response(t=t, kind="alert", utterance_t=None, item=item, text=f"You left your {item} behind.",
                    abstain=False, confidence=0.9, evidence=Evidence(t - 5.0, frame), position=(1.0, 2.0))


def test_an_alert_is_kept_with_its_evidence_keyframe_unless_that_was_forgotten(tmp_path: Path) -> None:
    from device.answering.evidence import EvidenceKeeper

    with MemoryStore.open(tmp_path / "mem", embedding_dim=DIM, patch_dim=DIM) as store:
        keeper = EvidenceKeeper(store, None)
        ids = [store.add_keyframe(float(t), t, "s", None, WALL, view(KEYS), GRID, recorded_at=1000.0 + t)
               for t in range(3)]
        for t, keyframe_id in enumerate(ids):
            keeper.keyframe(keyframe_id, float(t), t, np.zeros((4, 4, 3), np.uint8), evidence=t > 0)
        store.forget_between(1.5, 2.5)  # the keyframe of frame 2
        responses = [_alert(9.0, 1), _alert(9.5, 2, "wallet"), _alert(9.7, 0, "phone")]
        assert keeper.keep_alerts(responses, 1009.0) == responses, "the responses pass on unchanged"
        with store.reader() as reader:
            kept = reader.alerts()
    # frame 1's alert is kept with its keyframe; frame 2's keyframe was forgotten, so its alert is not
    # kept either; frame 0 never was evidence (an alert rests on a sighting)
    assert [(a.item, a.keyframe_id, a.recorded_at) for a in kept] == [("keys", ids[1], 1009.0)]


@pytest.mark.slow
def test_a_replay_keeps_every_alert_it_raised(tmp_path: Path) -> None:
    """The demo session raises a left-behind alert; the memory keeps each one with its evidence keyframe."""
    from device.cli.main import main
    from device.responses import read_responses

    demo = Path(__file__).resolve().parents[2] / "demo" / "session"
    assert main(["replay", str(demo), "--out", str(tmp_path / "r.jsonl"), "--memory", str(tmp_path / "m"),
                 "--quiet"]) == 0
    raised = [r for r in read_responses(tmp_path / "r.jsonl") if r.kind == "alert"]
    with MemoryStore.open(tmp_path / "m") as store, store.reader() as reader:
        kept = reader.alerts()
        frames = [reader.keyframe(a.keyframe_id).frame for a in kept]
    assert raised and [(a.item, a.text) for a in kept] == [(r.item, r.text) for r in raised]
    assert frames == [r.evidence.frame for r in raised if r.evidence is not None]
