"""What memory saw of an item, on the asking session's clock.

A memory holds many sessions (replays, `ami ask`, `ami listen`), and each counts t from its own
start, so yesterday's late keyframe has a larger t than this morning's first one, and two sessions
reuse the same frame numbers. `Recall` puts every stored keyframe on the asking session's clock by
the wall clock it was stored at (yesterday's comes out negative, in order with today's), keys each
sighting's pose by its (t, frame) there, and gives an answer's evidence back as memory names it:
the stored keyframe's own session (t, frame).
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Sequence

import numpy as np

from device.perception.perception import Sighting
from device.responses import Evidence, Response
from device.session import Pose
from memory.store import MemoryStore
from memory.types import ItemRecord, KeyframeRecord, PatchHit

Position = Callable[[Pose | None, tuple[int, int], int], tuple[float, float] | None]  # (pose, grid, cell) -> (x, z)
Poses = dict[tuple[float, int], Pose | None]  # a sighting's (t, frame) -> the camera pose that saw it


def pose_of(kf: KeyframeRecord) -> Pose | None:
    """The keyframe's camera pose, None when it was stored without one."""
    if kf.x is None or kf.y is None or kf.z is None or kf.yaw_deg is None or kf.pitch_deg is None:
        return None
    return Pose(kf.x, kf.y, kf.z, kf.yaw_deg, kf.pitch_deg)


class Recall:
    def __init__(self, store: MemoryStore, origin_unix: float, position: Position) -> None:
        """origin_unix: the asking session's t = 0 on the wall clock (Unix s); position: where a
        sighting is, from its pose, the keyframe's grid and the cell."""
        self.store = store
        self.origin_unix = origin_unix
        self.position = position
        self._walls: dict[tuple[float, int], float] = {}  # a stored keyframe's own (t, frame) -> its wall clock
        self._stored: dict[tuple[float, int], tuple[float, int]] = {}  # a sighting's (t, frame) here -> stored

    def sightings(self, rec: ItemRecord, t: float, others: Sequence[ItemRecord] = ()) -> tuple[list[Sighting], Poses]:
        """Every keyframe's best patch over the item's threshold before t (on this clock), as
        sightings on this clock, and the camera pose of each. A patch that one of `others` (the
        other enrolled items) clears by more is theirs, not this item's (perception.claimed_cells)."""
        hits = self.store.search_patches(rec.prototypes, min_score=rec.threshold)
        if others:
            hits = self._unclaimed(rec, hits, others)
        best: dict[int, PatchHit] = {}
        for h in hits:
            if h.keyframe_id not in best or h.score > best[h.keyframe_id].score:
                best[h.keyframe_id] = h
        sightings, poses = [], {}
        for h in best.values():
            at = self.on_this_clock(h)
            if at >= t:
                continue
            pose = poses[(at, h.frame)] = pose_of(self.store.keyframe(h.keyframe_id))
            self._stored[(at, h.frame)] = (h.t, h.frame)
            if h.recorded_at is not None:
                self._walls[(h.t, h.frame)] = h.recorded_at
            sightings.append(Sighting(rec.name, at, h.frame, h.cell, h.score, rec.threshold,
                                      self.position(pose, self.store.grid(h.keyframe_id), h.cell)))
        return sightings, poses

    def _unclaimed(self, rec: ItemRecord, hits: list[PatchHit], others: Sequence[ItemRecord]) -> list[PatchHit]:
        """The hits no other item clears by more than `rec` does (perception.claimed_cells): the
        other items are scored on the hit patches alone, read back per keyframe as stored."""
        by_keyframe: dict[int, list[PatchHit]] = {}
        for h in hits:
            by_keyframe.setdefault(h.keyframe_id, []).append(h)
        protos = np.concatenate([o.prototypes for o in others])
        owner = np.repeat(np.arange(len(others)), [len(o.prototypes) for o in others])
        thresholds = np.array([o.threshold for o in others], dtype=np.float32)
        kept = []
        for keyframe_id, group in by_keyframe.items():
            patches = self.store.patches(keyframe_id)[[h.cell for h in group]]  # (n, Dp)
            scores = patches @ protos.T  # (n, all prototypes)
            rival = np.stack([scores[:, owner == j].max(axis=1) for j in range(len(others))], axis=1) - thresholds
            kept += [h for h, r in zip(group, rival.max(axis=1)) if r <= h.score - rec.threshold]
        return kept

    def on_this_clock(self, h: PatchHit) -> float:
        """A stored keyframe's time here: its wall clock less this session's origin, exactly its
        own t when it is this session's, and its own t when it has no wall clock (schema v1)."""
        if h.recorded_at is None:
            return h.t
        at = round(h.recorded_at - self.origin_unix, 3)
        return h.t if abs(at - h.t) < 1e-3 else at

    def as_stored(self, r: Response) -> Response:
        """The response with its evidence named as memory names it (the stored keyframe's own
        session t and frame), when the evidence is a recalled sighting."""
        if r.evidence is None or (r.evidence.t, r.evidence.frame) not in self._stored:
            return r
        return dataclasses.replace(r, evidence=Evidence(*self._stored[(r.evidence.t, r.evidence.frame)]))

    def wall(self, t: float, frame: int) -> float | None:
        """The wall clock of a recalled keyframe named by its own session's (t, frame), else None."""
        return self._walls.get((t, frame))
