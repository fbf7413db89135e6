"""How far the wearer would walk back to an item: over the ground they walked, not through walls.

Left behind is about the walk back, not the straight line: a wallet on a cabinet 4.8 m away
through a wall was a 6 m walk through the door. The wearer's own path since the item was last
seen is ground known to be walkable: consecutive path points are joined, and so are any two within
`link_m` of each other (the same spot on another pass). The walk back is the shortest way over that
graph to a point from which the item is within `sight_m` (close enough to see it), plus that last
straight stretch. When no point of the path came that close, the walk is unknown (None). Over
open floor the wearer did not walk, the walk back can come out longer than it is: the graph knows
only the ground walked.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree

LINK_M = 0.5  # two path points this close are the same spot (as the route's place graph links them)
WALK_POINTS = 400  # the walk back is found over at most the path's last this many points (100 m or more)


def away_m(times: np.ndarray, points: np.ndarray, since_t: float, position: tuple[float, float],
           wearer: tuple[float, float], leave_m: float, sight_m: float) -> float:
    """How far the wearer is from `position`: the straight line when that is already leave_m, else
    the walk back over the path (times (M,), points (M, 2)) since since_t, when that is longer."""
    straight = float(np.hypot(wearer[0] - position[0], wearer[1] - position[1]))
    if straight >= leave_m:
        return straight
    since = max(int(np.searchsorted(times, since_t)) - 1, len(points) - WALK_POINTS, 0)
    return max(straight, walk_back_m(points[since:], position, LINK_M, sight_m) or 0.0)


def walk_back_m(points: np.ndarray, target: tuple[float, float], link_m: float, sight_m: float) -> float | None:
    """The walk from the last of `points` (M, 2), the wearer's path in time order, back to `target`."""
    n = len(points)
    to_target = np.hypot(points[:, 0] - target[0], points[:, 1] - target[1])
    ends = np.flatnonzero(to_target <= sight_m)
    if n == 0 or not len(ends):
        return None
    pairs = cKDTree(points).query_pairs(link_m, output_type="ndarray")
    steps = np.stack([np.arange(n - 1), np.arange(1, n)], axis=1)
    # each pair once: a sparse matrix adds up duplicate entries, and a step is often a pair too
    edges = np.unique(np.sort(np.concatenate([steps, pairs.reshape(-1, 2)]), axis=1), axis=0)
    length = np.hypot(*(points[edges[:, 0]] - points[edges[:, 1]]).T) + 1e-9  # 0 would be no edge
    graph = coo_matrix((length, (edges[:, 0], edges[:, 1])), shape=(n, n)).tocsr()
    walked = dijkstra(graph, directed=False, indices=n - 1)
    return float(np.min(walked[ends] + to_target[ends]))
