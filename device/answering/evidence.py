"""What the memory keeps beside a keyframe as evidence: its picture, and the alerts raised on it.

Pictures (faces blurred) are made off the frame loop (`device.perception.faces.ThumbnailKeeper`) and
handed to the memory's one writer as they finish. An alert ("you left your keys behind") is kept with
the keyframe of its evidence sighting (memory/alerts.py), so the viewer's Timeline can mark it, and
every forget that erases that keyframe erases the alert too.
"""

from __future__ import annotations

import logging

import numpy as np

from device.perception.faces import ThumbnailConfig, ThumbnailKeeper
from device.responses import Response
from memory.errors import KeyframeNotFoundError
from memory.store import MemoryStore

log = logging.getLogger(__name__)


class EvidenceKeeper:
    def __init__(self, store: MemoryStore, thumbnails: ThumbnailConfig | None) -> None:
        """thumbnails: None keeps no pixels."""
        self.store = store
        self._thumbs = None if thumbnails is None else ThumbnailKeeper(thumbnails)
        self._ids: dict[int, int] = {}  # this session's evidence frames -> memory's keyframe ids

    def keyframe(self, keyframe_id: int, t: float, frame: int, rgb: np.ndarray, evidence: bool) -> None:
        """A keyframe was stored: its picture follows when it is evidence, else at most every
        ThumbnailConfig.every_s (a keyframe keeps its first)."""
        if evidence:  # an alert rests on a sighting, so on a keyframe that was evidence
            self._ids[frame] = keyframe_id
        if self._thumbs is not None:
            self._thumbs.submit(keyframe_id, t, frame, rgb, evidence)

    def keep_thumbnails(self, wait: bool = False) -> None:
        """Store the pictures made so far (with wait: all of them; at the end of the frames, before a forget)."""
        for keyframe_id, jpeg, faces in [] if self._thumbs is None else self._thumbs.ready(wait):
            self.store.thumbnails.add(keyframe_id, jpeg, faces)  # False: it had one

    def keep_alerts(self, responses: list[Response], wall_unix: float) -> list[Response]:
        """Keep each alert among `responses` with its evidence keyframe; the responses, unchanged."""
        for r in responses:
            keyframe_id = None if r.kind != "alert" or r.evidence is None else self._ids.get(r.evidence.frame)
            if keyframe_id is None or r.item is None:
                continue
            try:
                self.store.alerts.add(keyframe_id, r.item, r.t, wall_unix, r.text)
            except KeyframeNotFoundError:  # its evidence was forgotten since: the alert is not kept either
                log.info("the %s alert at t=%.1f is not kept: its evidence keyframe was forgotten", r.item, r.t)
        return responses
