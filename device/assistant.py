"""The assistant loop: frames and utterances in, responses out, memory written as it goes.

Frames pass the keyframe gate, get encoded and stored. Enrolled items are looked for in each
keyframe (sightings), which drive left-item alerts. Utterances are parsed into intents; "where
are my X?" is answered by the `baseline` answerer: the last confident sighting in memory.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np

from device.encoder import Encoding, EncoderRuntime
from device.intents import parse_intent
from device.keyframes import KeyframeConfig, KeyframeGate
from device.baseline import BaselineConfig, LastSightingAnswerer
from device.perception import (PerceptionConfig, Sighting, best_match, calibrate_threshold,
                               enrollment_prototypes, sighting_position)
from device.responses import Evidence, Response
from device.session import FrameRecord, Pose, SessionInfo, Utterance
from memory.store import MemoryStore
from memory.types import KeyframeRecord, PatchHit

log = logging.getLogger(__name__)

ENROLL_BACKGROUND_GAP_S = 3.0  # background statistics skip the keyframes just before enrollment


@dataclass(frozen=True)
class AssistantConfig:
    keyframes: KeyframeConfig = field(default_factory=KeyframeConfig)
    perception: PerceptionConfig = field(default_factory=PerceptionConfig)
    baseline: BaselineConfig = field(default_factory=BaselineConfig)


class Assistant:
    def __init__(self, store: MemoryStore, encoder: EncoderRuntime, info: SessionInfo, session_id: str,
                 config: AssistantConfig = AssistantConfig()) -> None:
        self.store = store
        self.encoder = encoder
        self.info = info
        self.session_id = session_id
        self.config = config
        self._gate = KeyframeGate(config.keyframes)
        self._last: tuple[FrameRecord, np.ndarray, Encoding | None] | None = None
        self.answerer = LastSightingAnswerer(config.baseline)
        self.keyframes = 0

    # -- frames ----------------------------------------------------------------------------
    def on_frame(self, fr: FrameRecord, rgb: np.ndarray) -> list[Response]:
        enc = None
        if self._gate.admit(fr.t, rgb, fr.pose):
            enc = self._store_keyframe(fr, rgb)
            self._look_for_items(fr, enc)
        self._last = (fr, rgb, enc)
        return self.answerer.alerts(fr.t, fr.pose)

    def _store_keyframe(self, fr: FrameRecord, rgb: np.ndarray) -> Encoding:
        enc = self.encoder.encode(rgb)
        pose = None if fr.pose is None else (fr.pose.x, fr.pose.y, fr.pose.z, fr.pose.yaw_deg, fr.pose.pitch_deg)
        self.store.add_keyframe(fr.t, fr.i, self.session_id, pose, enc.embedding, enc.patches, enc.grid)
        self.keyframes += 1
        return enc

    def _position(self, pose: Pose | None, grid: tuple[int, int], cell: int) -> tuple[float, float] | None:
        if pose is None:
            return None
        return sighting_position(pose, self.info.hfov_deg, self.info.height / self.info.width, grid, cell,
                                 self.config.perception)

    def _look_for_items(self, fr: FrameRecord, enc: Encoding) -> None:
        for item in self.store.items():
            cell, score = best_match(enc, item.prototypes)
            if score >= item.threshold:
                self.answerer.on_sighting(Sighting(item.name, fr.t, fr.i, cell, score, item.threshold,
                                                   self._position(fr.pose, enc.grid, cell)))

    # -- utterances ------------------------------------------------------------------------
    def on_utterance(self, utt: Utterance) -> Response:
        started = time.perf_counter()
        intent = parse_intent(utt.text)
        if intent.kind == "enroll" and intent.item:
            r = self._enroll(utt, intent.item)
        elif intent.kind == "locate" and intent.item:
            r = self._locate(utt, intent.item)
        else:
            r = Response(t=utt.t, kind="ack", utterance_t=utt.t, item=None,
                         text="Sorry, I didn't catch that.", abstain=True, confidence=0.0,
                         evidence=None, position=None)
        # The answer is ready after the assistant's own compute time (wall clock, this machine).
        elapsed = time.perf_counter() - started
        return Response(**{**r.__dict__, "t": utt.t + elapsed})

    def _enroll(self, utt: Utterance, item: str) -> Response:
        if self._last is None:
            return Response(t=utt.t, kind="ack", utterance_t=utt.t, item=item,
                            text=f"I can't see anything yet, so I can't learn your {item}.",
                            abstain=True, confidence=0.0, evidence=None, position=None)
        fr, rgb, enc = self._last
        if enc is None:  # the frame the wearer looks at must be in memory as evidence
            enc = self._store_keyframe(fr, rgb)
        p = self.config.perception
        protos = enrollment_prototypes(enc, p)
        before = utt.t - ENROLL_BACKGROUND_GAP_S
        hits = self.store.search_patches(protos, min_score=p.threshold_floor, t_before=before)
        n_bg = self.store.count_before(before) * enc.grid[0] * enc.grid[1]
        threshold = calibrate_threshold(np.array([h.score for h in hits], dtype=np.float32), n_bg, p)
        self.store.enroll_item(item, utt.t, protos, threshold)
        cell, _ = best_match(enc, protos)
        pos = self._position(fr.pose, enc.grid, cell)
        self.answerer.on_enroll(Sighting(item, fr.t, fr.i, cell, 1.0, threshold, pos))
        log.info("enrolled %r at t=%.1f with threshold %.3f", item, utt.t, threshold)
        return Response(t=utt.t, kind="ack", utterance_t=utt.t, item=item,
                        text=f"Got it, I'll remember your {item}.", abstain=False, confidence=1.0,
                        evidence=Evidence(fr.t, fr.i), position=pos)

    @staticmethod
    def _pose_of(kf: KeyframeRecord) -> Pose | None:
        return None if kf.x is None else Pose(kf.x, kf.y, kf.z, kf.yaw_deg, kf.pitch_deg)

    def _locate(self, utt: Utterance, item: str) -> Response:
        rec = self.store.item(item)
        if rec is None:
            return Response(t=utt.t, kind="answer", utterance_t=utt.t, item=item,
                            text=f"I haven't seen your {item}. Say \"this is my {item}\" while looking at it.",
                            abstain=True, confidence=0.0, evidence=None, position=None)
        best: dict[int, PatchHit] = {}
        for h in self.store.search_patches(rec.prototypes, min_score=rec.threshold, t_before=utt.t):
            if h.keyframe_id not in best or h.score > best[h.keyframe_id].score:
                best[h.keyframe_id] = h
        sightings, poses = [], {}
        for h in best.values():
            kf = self.store.keyframe(h.keyframe_id)
            poses[h.frame] = self._pose_of(kf)
            sightings.append(Sighting(item, h.t, h.frame, h.cell, h.score, rec.threshold,
                                      self._position(poses[h.frame], self.store.grid(h.keyframe_id), h.cell)))
        r = self.answerer.locate(item, utt.t, sightings, None)
        if r.evidence is not None:  # say how far it was from where the wearer stood
            r = self.answerer.locate(item, utt.t, sightings, poses.get(r.evidence.frame))
        return r
