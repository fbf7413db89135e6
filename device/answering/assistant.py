"""The assistant loop: frames and utterances in, responses out, memory written as it goes.

Frames pass the keyframe gate, get encoded and stored. Enrolled items are looked for in each
keyframe (sightings), which drive left-item alerts. Utterances are parsed into intents; "where
are my X?" is answered by the configured answerer: `world-model` (the default: the
energy-minimizing belief of `worldmodel/belief.py`) or `baseline` (the last confident sighting in
memory, kept for comparison). "Take me to my X" adds a route (device/navigation/), then live steps.
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

import numpy as np

from device.perception.encoder import Encoding, EncoderRuntime
from device.speech.asr import COMMON_ITEMS
from device.speech.intents import Intent, IntentConfig, IntentParser, item_key, sounds_like
from device.speech.privacy import privacy_command
from device.perception.faces import ThumbnailConfig
from device.perception.keyframes import KeyframeConfig, KeyframeGate
from device.answering.evidence import EvidenceKeeper
from device.answering.baseline import BaselineConfig, LastSightingAnswerer, pronouns, span_text, this_is
from device.answering.when import when_text
from device.perception.perception import (PerceptionConfig, Sighting, best_match, calibrate_threshold, claimed_cells,
                               glance_prototypes, sighting_position)
from device.responses import Evidence, Response
from device.navigation.live_guide import LiveGuide
from device.navigation.route import RouteGuide
from device.answering.place_names import PlaceNames, PlaceNamesConfig
from device.answering.recall import Recall, pose_of
from device.answering.wm_answerer import WorldModelAnswerer
from device.answering.wm_config import WorldModelConfig
from device.session import FrameRecord, Pose, SessionInfo, Utterance
from memory.store import MemoryStore
from memory.types import ItemRecord

if TYPE_CHECKING:
    from device.navigation.companion_client import CompanionClient

log = logging.getLogger(__name__)

ENROLL_BACKGROUND_GAP_S = 3.0  # background statistics skip the keyframes just before enrollment
ENROLL_LEAD_S = 0.5  # the glance at an item starts this long before "this is my X"
RECENT_KEYFRAMES_S = 10.0  # recent keyframes kept decoded for enrollment
ANSWERERS = ("baseline", "world-model")


@dataclass(frozen=True)
class AssistantConfig:
    keyframes: KeyframeConfig = field(default_factory=KeyframeConfig)
    perception: PerceptionConfig = field(default_factory=PerceptionConfig)
    baseline: BaselineConfig = field(default_factory=BaselineConfig)
    intents: IntentConfig = field(default_factory=IntentConfig)
    item_synonym_min_sim: float = 0.6  # "mobile" (0.70), "purse" (0.61) find "phone", "wallet"
    answerer: str = "world-model"  # one of ANSWERERS: who answers "where is my X?" and raises alerts
    thumbnails: ThumbnailConfig | None = field(default_factory=ThumbnailConfig)  # None: keep no pixels
    world_model: WorldModelConfig = field(default_factory=WorldModelConfig)
    place_names: PlaceNamesConfig = field(default_factory=PlaceNamesConfig)

    def __post_init__(self) -> None:
        if not 0.0 < self.item_synonym_min_sim <= 1.0:
            raise ValueError(f"AssistantConfig.item_synonym_min_sim must be in (0, 1], got {self.item_synonym_min_sim}")
        if self.answerer not in ANSWERERS:
            raise ValueError(f"AssistantConfig.answerer must be one of {ANSWERERS}, got {self.answerer!r}")


class Assistant:
    def __init__(self, store: MemoryStore, encoder: EncoderRuntime, info: SessionInfo, session_id: str,
                 config: AssistantConfig = AssistantConfig(), companion: CompanionClient | None = None,
                 clock_origin_unix: float | None = None) -> None:
        """companion: a paired companion for route plans (None: routes from the place graph, offline).
        clock_origin_unix: the wearer's wall clock (Unix s) at session time t = 0; memory records
        every keyframe, item and place name at origin + t, so a forget by time covers every session
        (default: the session's start_time, else now)."""
        self.store = store
        origin = info.start_unix if clock_origin_unix is None else clock_origin_unix
        self.clock_origin_unix = time.time() if origin is None else origin
        self.encoder = encoder
        self.info = info
        self.session_id = session_id
        self.config = config
        self._gate = KeyframeGate(config.keyframes)
        self._last: tuple[FrameRecord, np.ndarray, Encoding | None] | None = None
        self._recent: deque[tuple[FrameRecord, Encoding]] = deque()
        self.place_names = PlaceNames(config.place_names)  # the wearer's names for places, kept in memory
        self.place_names.load(store.place_names())
        self.answerer: LastSightingAnswerer | WorldModelAnswerer = (
            WorldModelAnswerer(config.world_model, self.place_names, (info.hfov_deg, info.height / info.width),
                               self.said_when) if config.answerer == "world-model"
            else LastSightingAnswerer(config.baseline, self.said_when))
        self.recall = Recall(store, self.clock_origin_unix, self._position)  # memory's sightings, on this clock
        self.intents = IntentParser(config.intents)  # loads its embedding model on first need
        self._items: list[ItemRecord] | None = None  # enrolled items, read once per change, not per keyframe
        self.router = RouteGuide(store, companion)
        self.guide: LiveGuide | None = None  # step-by-step guidance after "take me to my X", while frames come
        self.keyframes = 0
        self.evidence = EvidenceKeeper(store, config.thumbnails)  # pictures and alerts kept with keyframes
        self._last_id = 0  # memory's id of the last keyframe stored

    # -- frames ----------------------------------------------------------------------------
    def on_frame(self, fr: FrameRecord, rgb: np.ndarray) -> list[Response]:
        if self.paused:  # the wearer said "pause": nothing seen now is kept, looked at or remembered
            return self.answerer.alerts(fr.t, fr.pose)
        enc = None
        if self._gate.admit(fr.t, rgb, fr.pose):
            enc = self.encoder.encode(rgb)
            seen = self._look_for_items(fr, enc)
            self._store_keyframe(fr, rgb, enc, evidence=bool(seen))
            for s in seen:  # after the keyframe is in memory: a sighting's evidence is there
                self.answerer.on_sighting(s)
        self._last = (fr, rgb, enc)
        self.keep_thumbnails()
        out = self.evidence.keep_alerts(self.answerer.alerts(fr.t, fr.pose), self.wall(fr.t))
        step = None if self.guide is None or fr.pose is None else self.guide.step(fr.t, fr.pose, enc)
        return out if step is None else [*out, step]

    def _store_keyframe(self, fr: FrameRecord, rgb: np.ndarray, enc: Encoding | None = None,
                        evidence: bool = True) -> Encoding:
        """Keep the keyframe; its thumbnail when it is evidence, else at most every ThumbnailConfig.every_s."""
        enc = self.encoder.encode(rgb) if enc is None else enc
        pose = None if fr.pose is None else (fr.pose.x, fr.pose.y, fr.pose.z, fr.pose.yaw_deg, fr.pose.pitch_deg)
        self._last_id = self.store.add_keyframe(fr.t, fr.i, self.session_id, pose, enc.embedding, enc.patches,
                                                enc.grid, recorded_at=self.wall(fr.t))
        self.evidence.keyframe(self._last_id, fr.t, fr.i, rgb, evidence)  # its picture follows, off the frame loop
        self.keyframes += 1
        self._recent.append((fr, enc))
        while self._recent and fr.t - self._recent[0][0].t > RECENT_KEYFRAMES_S:
            self._recent.popleft()
        return enc

    def keep_thumbnails(self, wait: bool = False) -> None:
        """Store the thumbnails made so far (with wait: all of them; at the end of the frames)."""
        self.evidence.keep_thumbnails(wait)

    @property
    def paused(self) -> bool:
        """"pause" ... "resume": nothing seen meanwhile is kept; the memory holds it (memory/pause.py)."""
        return self.store.pause.on

    @property
    def last_t(self) -> float:
        """The session time of the last frame seen in full (0 before any)."""
        return 0.0 if self._last is None else self._last[0].t

    def wall(self, t: float) -> float:
        """Session time t on the wearer's wall clock (Unix s)."""
        return self.clock_origin_unix + t

    def said_when(self, then_t: float, frame: int | None, now_t: float) -> str:
        """When (then_t, frame) was, said from now_t on the wearer's wall clock: a keyframe from memory
        by the wall clock it was stored at (another session's, yesterday's), else this session's."""
        then = self.recall.wall(then_t, frame) if frame is not None else None
        return when_text(self.wall(then_t) if then is None else then, self.wall(now_t))

    def _position(self, pose: Pose | None, grid: tuple[int, int], cell: int) -> tuple[float, float] | None:
        if pose is None:
            return None
        return sighting_position(pose, self.info.hfov_deg, self.info.height / self.info.width, grid, cell,
                                 self.config.perception)

    def _enrolled(self) -> list[ItemRecord]:
        """The enrolled items; this assistant is memory's only writer, so enroll and forget refresh it."""
        if self._items is None:
            self._items = self.store.items()
        return self._items

    def _look_for_items(self, fr: FrameRecord, enc: Encoding) -> list[Sighting]:
        items = self._enrolled()
        if not items:
            return []
        margins = np.stack([(enc.patches @ it.prototypes.T).max(axis=1) - it.threshold for it in items])
        return [Sighting(it.name, fr.t, fr.i, got[0], got[1] + it.threshold, it.threshold,
                         self._position(fr.pose, enc.grid, got[0]))
                for it, got in zip(items, claimed_cells(margins)) if got is not None]

    # -- utterances ------------------------------------------------------------------------
    def on_utterance(self, utt: Utterance, heard_t: float | None = None, intent: Intent | None = None) -> Response:
        """Handle an utterance once it has been heard in full, at heard_t (default: its onset).

        Frames up to heard_t have been seen; the response comes after heard_t plus compute time.
        intent: the utterance's intent when the caller has parsed it already (the spoken path).
        """
        started = time.perf_counter()
        heard = utt.t if heard_t is None else max(utt.t, heard_t)
        command = privacy_command(utt.text)
        self.guide = None  # whatever the wearer says next ends the guidance
        if command is not None:  # "pause" / "resume": exact commands, before any guessing
            r = self._privacy(utt, command)
        else:
            intent = intent or self.intents.parse(utt.text)
            log.info("utterance %r at t=%.1f: %s %s (confidence %.2f, %s)", utt.text, utt.t, intent.kind,
                     intent.item, intent.confidence, intent.source)
            r = self._dispatch(utt, intent)
        # The answer is ready after the assistant's own compute time (wall clock, this machine).
        elapsed = time.perf_counter() - started
        return Response(**{**r.__dict__, "t": heard + elapsed})

    def _privacy(self, utt: Utterance, command: str) -> Response:
        self.store.pause.set(command == "pause", at=self.wall(utt.t))  # kept in memory: every program honours it
        if self.paused:
            self._last = None  # nothing seen before the pause is enrolled during it
        return self._ack(utt, None, "Paused: I won't keep anything I see until you say \"resume\"." if self.paused
                         else "Resumed: I'm remembering what I see again.")

    def _enroll(self, utt: Utterance, item: str) -> Response:
        if self._last is None:
            return Response(t=utt.t, kind="ack", utterance_t=utt.t, item=item,
                            text=f"I can't see anything yet, so I can't learn your {item}.",
                            abstain=True, confidence=0.0, evidence=None, position=None)
        fr, rgb, enc = self._last
        if enc is None:  # the frame the wearer looks at must be in memory as evidence, with its picture
            enc = self._store_keyframe(fr, rgb)
        else:  # kept, perhaps without a picture (not due): now it is evidence
            self.evidence.keyframe(self._last_id, fr.t, fr.i, rgb, evidence=True)
        p = self.config.perception
        glance = [e for f, e in self._recent if f.t >= utt.t - ENROLL_LEAD_S]
        protos = glance_prototypes(glance or [enc], p)
        before = self.wall(utt.t - ENROLL_BACKGROUND_GAP_S)  # by the wall clock: this and earlier sessions
        hits = [h for h in self.store.search_patches(protos, min_score=p.threshold_floor)
                if h.recorded_at is not None and h.recorded_at < before]
        n_bg = self.store.count_recorded_before(before) * enc.grid[0] * enc.grid[1]
        threshold = calibrate_threshold(np.array([h.score for h in hits], dtype=np.float32), n_bg, p)
        self.store.enroll_item(item, utt.t, protos, threshold, recorded_at=self.wall(utt.t))
        self._items = None
        cell, _ = best_match(enc, protos)
        pos = self._position(fr.pose, enc.grid, cell)
        self.answerer.on_enroll(Sighting(item, fr.t, fr.i, cell, 1.0, threshold, pos))
        log.info("enrolled %r at t=%.1f with threshold %.3f", item, utt.t, threshold)
        return Response(t=utt.t, kind="ack", utterance_t=utt.t, item=item,
                        text=f"Got it, I'll remember your {item}.", abstain=False, confidence=1.0,
                        evidence=Evidence(fr.t, fr.i), position=pos)

    def _locate(self, utt: Utterance, item: str) -> Response:
        rec = self.store.item(item)
        if rec is None:
            return Response(t=utt.t, kind="answer", utterance_t=utt.t, item=item,
                            text=f"I haven't seen your {item}. Say \"{this_is(item)}\" while looking at "
                                 f"{pronouns(item)[1]}.",
                            abstain=True, confidence=0.0, evidence=None, position=None)
        sightings, poses = self.recall.sightings(rec, utt.t, [i for i in self._enrolled() if i.name != item])
        return self.recall.as_stored(self.answerer.locate(item, utt.t, sightings, poses))

    # -- intents beyond enroll and locate (issue 5) ------------------------------------------
    def _dispatch(self, utt: Utterance, intent: Intent) -> Response:
        if intent.kind == "name_place" and intent.item:  # a place's name, not one of the items
            return self._name_place(utt, intent.item)
        item = None if intent.item is None else self.resolve_item(intent.item, enrolling=intent.kind == "enroll")
        if intent.kind == "enroll" and item:
            return self._enroll(utt, item)
        if intent.kind == "locate" and item:
            return self._locate(utt, item)
        if intent.kind == "route" and item:
            return self._route(utt, item)
        if intent.kind == "left_items":
            return self._left_items(utt)
        if intent.kind == "forget" and (item or intent.duration_s):
            if intent.source != "rule":  # a paraphrase guess ("leave out my phone" misheard): ask, never erase
                what = f"your {item}" if item else f"the last {span_text(intent.duration_s or 0)}"
                say = f"forget my {item}" if item else f"forget {what}"
                return self._ack(utt, item, f"Do you want me to forget {what}? Forgetting cannot be undone, "
                                            f"so say \"{say}\" to do it.", abstain=True)
            return self._forget(utt, item, intent.duration_s)
        return self._ack(utt, None, "Sorry, I didn't catch that.", abstain=True)

    @staticmethod
    def _ack(utt: Utterance, item: str | None, text: str, abstain: bool = False, kind: str = "ack") -> Response:
        return Response(t=utt.t, kind=kind, utterance_t=utt.t, item=item, text=text,  # type: ignore[arg-type]
                        abstain=abstain, confidence=0.0 if abstain else 1.0, evidence=None, position=None)

    def resolve_item(self, name: str, enrolling: bool = False) -> str:
        """The enrolled item `name` means: the same words up to plural and spacing ("key", "car
        keys" -> "keys"; "med kit" -> "medkit"), else the one it sounds like (Whisper heard
        "toolbox" as "tool locks"), else the nearest name by sentence embedding."""
        known = [i.name for i in self._enrolled()]
        if name in known:
            return name
        key = item_key
        for k in known:
            if key(k) in (key(name), key(name.split()[0]), key(name.split()[-1])):  # "keys med", "car keys"
                return k
        if enrolling:  # a new item: the usual spelling of a common thing ("key" -> "keys"), no guess
            return next((c for c in COMMON_ITEMS if key(c) == key(name)), name)
        if not known:
            return name
        alike = [k for k in known if sounds_like(name, k)]
        if len(alike) == 1:
            return alike[0]
        if name in COMMON_ITEMS and set(known) <= set(COMMON_ITEMS):  # no two are synonyms by the embedder: tested
            return name  # (and its 6 s load is spared)
        vecs = self.intents.embedder.encode([name] + known)  # (1 + K, 384)
        sims = vecs[1:] @ vecs[0]
        best = int(np.argmax(sims))
        return known[best] if sims[best] >= self.config.item_synonym_min_sim else name

    def _route(self, utt: Utterance, item: str) -> Response:
        r = self._locate(utt, item)
        if r.abstain:
            return r
        here, patches = None, None
        if self._last is not None:
            fr, rgb, enc = self._last
            here = fr.pose
            if self.router.companion is not None:  # the latent of what the wearer sees now
                patches = (enc or self.encoder.encode(rgb)).patches
        kf = self.store.last_keyframe() if here is None or patches is None else None
        if kf is not None:  # no live frame (ask, listen): the last thing the glasses saw
            here = here or pose_of(kf)
            if self.router.companion is not None and patches is None:
                patches = self.store.patches(kf.id)
        answer = self.router.answer(r, here, patches)
        graph = self.router.graph  # the route's own place graph (None: memory has no places)
        if self._last is not None and here is not None and r.position is not None and graph is not None:
            record = next((i for i in self._enrolled() if i.name == item), None)  # frames go on: guide live
            elsewhere = (self.answerer.elsewhere(item, utt.t, r.position)
                         if isinstance(self.answerer, WorldModelAnswerer) else [])
            self.guide = LiveGuide(answer, graph, here, record, self.info.hfov_deg, self.info.height / self.info.width,
                                   elsewhere)
        return answer

    def _name_place(self, utt: Utterance, name: str) -> Response:
        """"This is the kitchen": the place under the wearer gets the name; answers use it."""
        here = self._wearer_position()
        if here is None:
            return self._ack(utt, None, f"I can't tell where we are, so I can't call this the {name}.", abstain=True)
        self.store.name_place(name, here[0], here[1], utt.t, self.session_id,
                              replace_radius_m=self.place_names.replace_radius_m, recorded_at=self.wall(utt.t))
        self.place_names.load(self.store.place_names())
        return Response(t=utt.t, kind="ack", utterance_t=utt.t, item=None, text=f"Got it: this is the {name}.",
                        abstain=False, confidence=1.0, evidence=None, position=here)

    def _wearer_position(self) -> tuple[float, float] | None:
        pose = self._last[0].pose if self._last is not None else None
        if pose is None:
            kf = self.store.last_keyframe()
            pose = None if kf is None else pose_of(kf)
        return None if pose is None else (pose.x, pose.z)

    def _left_items(self, utt: Utterance) -> Response:
        """Carryable items that the answerer (the world model by default, as for the alerts) places
        at least leave_distance_m from where the wearer is now."""
        c = self.config.baseline
        carry = [i for i in self._enrolled() if i.name in c.carryable]
        if not carry:
            return self._ack(utt, None, "I'm not watching any of your things yet: show me your keys, phone "
                                        "or wallet and say \"these are my keys\".", abstain=True, kind="answer")
        here = self._wearer_position()
        left: list[Response] = []
        parts = []
        for rec in carry:
            r = self._locate(utt, rec.name)
            if r.abstain or r.position is None or r.evidence is None or here is None:
                continue
            away = math.dist(r.position, here)
            if away >= c.leave_distance_m:
                left.append(r)
                seen = self.said_when(r.evidence.t, r.evidence.frame, utt.t)
                parts.append(f"your {rec.name} ({seen}, about {away:.0f} m from here)")
        if not left:
            watched = ", ".join(i.name for i in carry)
            return self._ack(utt, None, f"I don't think so: nothing I watch ({watched}) was last seen away from you.",
                             kind="answer")
        last = max(left, key=lambda r: r.evidence.t if r.evidence else 0.0)
        return Response(t=utt.t, kind="answer", utterance_t=utt.t, item=left[0].item if len(left) == 1 else None,
                        text="You may have left " + " and ".join(parts) + ".", abstain=False,
                        confidence=min(r.confidence for r in left), evidence=last.evidence, position=last.position)

    def _forget(self, utt: Utterance, item: str | None, span_s: float | None) -> Response:
        self.keep_thumbnails(wait=True)  # pictures still being made are kept first, so the forget erases them
        if item is not None:
            if self.store.item(item) is None:
                return self._ack(utt, item, f"I don't know your {item}, so there is nothing to forget.",
                                 abstain=True)
            res = self.store.forget_item(item)
            self._drop_sightings(lambda s: s.item == item)
            return self._ack(utt, item, f"Done: I forgot your {item} and {res.keyframes} views of it.")
        assert span_s is not None, "forget needs an item or a span"
        t0 = utt.t - span_s
        span = span_text(span_s)
        # By the wearer's wall clock, over every session in memory (replay, ask, listen): what the wearer lived
        res = self.store.forget_recorded_since(self.wall(t0))
        self._drop_sightings(lambda s: s.t >= t0)
        if res.keyframes == 0 and not res.items and not res.place_names:
            return self._ack(utt, None, f"I kept nothing from the last {span}, so there was nothing to forget.")
        parts = [f"{res.keyframes} views"] + [f"your {name}" for name in res.items]
        if res.place_names:
            parts.append(f"{res.place_names} place names")
        return self._ack(utt, None, f"Done: I forgot the last {span} ({', '.join(parts)}).")

    def _drop_sightings(self, gone: Callable[[Sighting], bool]) -> None:
        # Answerers keep their own copies of sightings: forgotten ones must not come back in alerts.
        self.answerer.forget(gone)
        self._items = None  # a forget may have removed enrolled items
        self.place_names.load(self.store.place_names())  # ... and place names

