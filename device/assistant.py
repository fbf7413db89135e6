"""The assistant loop: frames and utterances in, responses out, memory written as it goes.

Frames pass the keyframe gate, get encoded and stored. Enrolled items are looked for in each
keyframe (sightings), which drive left-item alerts. Utterances are parsed into intents; "where
are my X?" is answered by the `baseline` answerer: the last confident sighting in memory.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field

import numpy as np

from device.encoder import Encoding, EncoderRuntime
from device.intents import parse_intent
from device.keyframes import KeyframeConfig, KeyframeGate
from device.perception import (PerceptionConfig, Sighting, best_match, calibrate_threshold,
                               enrollment_prototypes, sighting_position)
from device.responses import Evidence, Response
from device.session import FrameRecord, Pose, SessionInfo, Utterance
from memory.store import MemoryStore

log = logging.getLogger(__name__)

CARRYABLE_ITEMS = ("keys", "phone", "wallet")
ENROLL_BACKGROUND_GAP_S = 3.0  # background statistics skip the keyframes just before enrollment


@dataclass(frozen=True)
class AlertConfig:
    carryable: tuple[str, ...] = CARRYABLE_ITEMS
    moved_m: float = 1.5  # a sighting this far from the last rest place means the item moved
    leave_distance_m: float = 4.0  # the wearer is this far from where the item rests ...
    min_away_s: float = 4.0  # ... and it has not been seen for this long

    def __post_init__(self) -> None:
        for name in ("moved_m", "leave_distance_m", "min_away_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"AlertConfig.{name} must be > 0, got {getattr(self, name)}")


@dataclass(frozen=True)
class AssistantConfig:
    keyframes: KeyframeConfig = field(default_factory=KeyframeConfig)
    perception: PerceptionConfig = field(default_factory=PerceptionConfig)
    alerts: AlertConfig = field(default_factory=AlertConfig)


@dataclass
class _Rest:
    """Where an item was last seen resting, for left-item alerts."""

    sighting: Sighting
    moved: bool = False
    alerted: bool = False


def _age(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f} s ago"
    m, s = divmod(int(round(seconds)), 60)
    return f"{m} min {s} s ago" if s else f"{m} min ago"


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
        self._pose: Pose | None = None
        self._rest: dict[str, _Rest] = {}
        self.keyframes = 0

    # -- frames ----------------------------------------------------------------------------
    def on_frame(self, fr: FrameRecord, rgb: np.ndarray) -> list[Response]:
        self._pose = fr.pose
        enc = None
        if self._gate.admit(fr.t, rgb, fr.pose):
            enc = self._store_keyframe(fr, rgb)
            self._look_for_items(fr, enc)
        self._last = (fr, rgb, enc)
        return self._alerts(fr)

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
            if score < item.threshold:
                continue
            s = Sighting(item.name, fr.t, fr.i, cell, score, item.threshold, self._position(fr.pose, enc.grid, cell))
            rest = self._rest.get(item.name)
            if rest is None or s.position is None or rest.sighting.position is None:
                self._rest[item.name] = _Rest(s, moved=rest.moved if rest else False,
                                              alerted=rest.alerted if rest else False)
            elif math.dist(s.position, rest.sighting.position) > self.config.alerts.moved_m:
                self._rest[item.name] = _Rest(s, moved=True)
            else:
                self._rest[item.name] = _Rest(s, moved=rest.moved, alerted=rest.alerted)

    def _alerts(self, fr: FrameRecord) -> list[Response]:
        c = self.config.alerts
        out = []
        if fr.pose is None:
            return out
        for name, rest in self._rest.items():
            s = rest.sighting
            if (name not in c.carryable or not rest.moved or rest.alerted or s.position is None
                    or fr.t - s.t < c.min_away_s):
                continue
            away = math.dist((fr.pose.x, fr.pose.z), s.position)
            if away < c.leave_distance_m:
                continue
            rest.alerted = True
            out.append(Response(
                t=fr.t, kind="alert", utterance_t=None, item=name,
                text=f"You left your {name} behind: last seen {_age(fr.t - s.t)}, about {away:.0f} m back.",
                abstain=False, confidence=self._confidence(s.score, s.threshold),
                evidence=Evidence(s.t, s.frame), position=s.position))
        return out

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
        self._rest[item] = _Rest(Sighting(item, fr.t, fr.i, cell, 1.0, threshold, pos))
        log.info("enrolled %r at t=%.1f with threshold %.3f", item, utt.t, threshold)
        return Response(t=utt.t, kind="ack", utterance_t=utt.t, item=item,
                        text=f"Got it, I'll remember your {item}.", abstain=False, confidence=1.0,
                        evidence=Evidence(fr.t, fr.i), position=pos)

    @staticmethod
    def _confidence(score: float, threshold: float) -> float:
        return float(1.0 / (1.0 + math.exp(-(score - threshold) / 0.03)))

    def _locate(self, utt: Utterance, item: str) -> Response:
        rec = self.store.item(item)
        if rec is None:
            return Response(t=utt.t, kind="answer", utterance_t=utt.t, item=item,
                            text=f"I haven't seen your {item}. Say \"this is my {item}\" while looking at it.",
                            abstain=True, confidence=0.0, evidence=None, position=None)
        hits = self.store.search_patches(rec.prototypes, min_score=rec.threshold, t_before=utt.t)
        if not hits:
            return Response(t=utt.t, kind="answer", utterance_t=utt.t, item=item,
                            text=f"I haven't seen your {item} since you showed it to me.",
                            abstain=True, confidence=0.0, evidence=None, position=None)
        last = max(hits, key=lambda h: (h.t, h.score))
        kf = self.store.keyframe(last.keyframe_id)
        pose = None if kf.x is None else Pose(kf.x, kf.y, kf.z, kf.yaw_deg, kf.pitch_deg)
        grid = self.store.grid(last.keyframe_id)
        pos = self._position(pose, grid, last.cell)
        where = ""
        if pos is not None and pose is not None:
            where = f", about {math.dist(pos, (pose.x, pose.z)):.1f} m from where you stood then"
        return Response(t=utt.t, kind="answer", utterance_t=utt.t, item=item,
                        text=f"I last saw your {item} {_age(utt.t - last.t)}{where} (frame {last.frame}).",
                        abstain=False, confidence=self._confidence(last.score, rec.threshold),
                        evidence=Evidence(last.t, last.frame), position=pos)
