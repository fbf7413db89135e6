"""The place graph: on-device route guidance when the companion is away.

Nodes are the positions where memory's keyframes were taken. The wearer walked between
consecutive keyframes of a session, so those edges are known to be traversable; keyframes taken
within a short distance of each other (the same spot on another pass) are joined too. The route
from the wearer's position to where the item was last seen is a shortest path (Dijkstra) over
this graph, simplified (Ramer-Douglas-Peucker, with a tolerance well under the distance the
wearer kept from walls) into a few waypoints.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from device.session import Pose
from memory.errors import KeyframeNotFoundError

if TYPE_CHECKING:
    from memory.reads import StoreReads


@dataclass(frozen=True)
class Place:
    """Where one keyframe was taken."""

    keyframe_id: int
    t: float
    frame: int
    session: str
    pose: Pose


@dataclass(frozen=True)
class PlaceGraphConfig:
    max_step_gap_s: float = 3.0  # consecutive keyframes further apart in time were not one walk
    max_step_m: float = 2.5  # nor those further apart in space (the gate keeps keyframes <= 2 s apart)
    link_radius_m: float = 0.5  # keyframes this close are the same spot, whenever taken
    simplify_m: float = 0.3  # waypoints stay this close to the walked path (walls were >= 0.6 m away)

    def __post_init__(self) -> None:
        for name in ("max_step_gap_s", "max_step_m", "link_radius_m", "simplify_m"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"PlaceGraphConfig.{name} must be a positive number, got {v!r}")


@dataclass(frozen=True)
class Route:
    """A walkable route: waypoints (x, z) from the wearer to the goal, and the places it follows."""

    waypoints: tuple[tuple[float, float], ...]  # the first is the wearer's position
    places: tuple[int, ...]  # indices into PlaceGraph.places of the shortest path
    length_m: float


def places_in(store: StoreReads) -> list[Place]:
    """Every keyframe of the memory that has a pose, in id order (forgotten ones skipped)."""
    last = store.last_keyframe()
    out: list[Place] = []
    if last is None:
        return out
    for kid in range(1, last.id + 1):
        try:
            kf = store.keyframe(kid)
        except KeyframeNotFoundError:
            continue
        if kf.x is not None:
            out.append(Place(kf.id, kf.t, kf.frame, kf.session, Pose(kf.x, kf.y, kf.z, kf.yaw_deg, kf.pitch_deg)))
    return out


class PlaceGraph:
    def __init__(self, places: list[Place], config: PlaceGraphConfig = PlaceGraphConfig()) -> None:
        if not places:
            raise ValueError("a place graph needs at least one keyframe with a pose")
        self.places = places
        self.config = config
        self.xz = np.array([(p.pose.x, p.pose.z) for p in places], dtype=np.float64)  # (N, 2)
        self.edges: list[dict[int, float]] = [{} for _ in places]
        order = sorted(range(len(places)), key=lambda i: (places[i].session, places[i].t))
        for a, b in zip(order, order[1:]):
            pa, pb = places[a], places[b]
            d = float(np.linalg.norm(self.xz[a] - self.xz[b]))
            if pa.session == pb.session and pb.t - pa.t <= config.max_step_gap_s and d <= config.max_step_m:
                self._link(a, b, d)
        for a in range(len(places)):  # the same spot on another pass
            d = np.linalg.norm(self.xz - self.xz[a], axis=1)
            for b in np.flatnonzero(d <= config.link_radius_m):
                if b != a:
                    self._link(a, int(b), float(d[b]))

    def _link(self, a: int, b: int, d: float) -> None:
        self.edges[a][b] = self.edges[b][a] = d

    def nearest(self, x: float, z: float) -> int:
        return int(np.argmin(np.linalg.norm(self.xz - np.array([x, z]), axis=1)))

    def shortest_path(self, a: int, b: int) -> list[int] | None:
        """Node indices from a to b by Dijkstra, or None when b cannot be reached."""
        dist, prev = {a: 0.0}, {a: -1}
        heap = [(0.0, a)]
        while heap:
            d, u = heapq.heappop(heap)
            if u == b:
                break
            if d > dist[u]:
                continue
            for v, w in self.edges[u].items():
                if d + w < dist.get(v, math.inf):
                    dist[v], prev[v] = d + w, u
                    heapq.heappush(heap, (d + w, v))
        if b not in prev:
            return None
        path = [b]
        while prev[path[-1]] != -1:
            path.append(prev[path[-1]])
        return path[::-1]

    def reachable_nearest(self, start: int, x: float, z: float) -> int:
        """The node nearest (x, z) among those reachable from `start`."""
        seen, stack = {start}, [start]
        while stack:
            for v in self.edges[stack.pop()]:
                if v not in seen:
                    seen.add(v)
                    stack.append(v)
        ids = np.fromiter(seen, dtype=np.int64)
        return int(ids[np.argmin(np.linalg.norm(self.xz[ids] - np.array([x, z]), axis=1))])

    def route(self, start: tuple[float, float], goal: tuple[float, float]) -> Route:
        """From the wearer at `start` (x, z) to the place nearest `goal` that the graph reaches."""
        a = self.nearest(*start)
        b = self.reachable_nearest(a, *goal)
        path = self.shortest_path(a, b)
        assert path is not None, "reachable_nearest returned an unreachable node"
        points = [start] + [tuple(self.xz[i]) for i in path]
        kept = simplify(np.array(points), self.config.simplify_m)
        wps = tuple((float(p[0]), float(p[1])) for p in kept)
        length = float(sum(math.dist(p, q) for p, q in zip(wps, wps[1:])))
        return Route(wps, tuple(path), length)


def simplify(points: np.ndarray, tolerance_m: float) -> np.ndarray:
    """Ramer-Douglas-Peucker on (N, 2) points: the first and last kept, every dropped point within
    `tolerance_m` of the segment that replaces it."""
    if len(points) <= 2:
        return points
    a, b = points[0], points[-1]
    ab = b - a
    rel = points[1:-1] - a
    s = np.clip(rel @ ab / max(float(ab @ ab), 1e-12), 0.0, 1.0)  # nearest point on the segment, not the line
    dist = np.linalg.norm(rel - s[:, None] * ab, axis=1)
    k = int(np.argmax(dist))
    if dist[k] <= tolerance_m:
        return np.stack([a, b])
    left = simplify(points[:k + 2], tolerance_m)
    right = simplify(points[k + 1:], tolerance_m)
    return np.concatenate([left[:-1], right])
