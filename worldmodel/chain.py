"""One item's belief kept up to date step by step: exact Viterbi whose cost per query does not grow.

`ItemChain` holds the forward messages of one item's chain (`worldmodel.belief`): the minimum
energy of the sequences ending in each state at the last observation, and the step at which each
of those sequences' final stay began. A new observation extends them by one step; a query only
adds the query-time term ("carried" pays for the time since the last step) and reads the argmin,
the margin and the final stay's sightings. So a query costs O(places + final stay), not O(day).

The chain ranges over the places near the item's observations. When that set changes (a new place
near one of them) or one of those places moves (`PlaceMap` centres settle after their first
positions), the chain starts over from its observations. The result is always the one that
minimizing from scratch (`infer`) gives, which the tests check on random sequences.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from worldmodel.belief import (CARRIED, SURFACE_MIN_SPREAD_M2, Belief, BeliefConfig, Observation, PlaceMap,
                               at_range_clamp, observation_energies, sighting_sq_dist, viterbi, wearer_near)

Path = tuple[np.ndarray, np.ndarray]  # the wearer's path: times (M,), positions (M, 2)


class WearerPath:
    """The wearer's path, indexed by place: for each place, the path points within reach of it.

    "Did the wearer come near place k between steps n-1 and n?" (`worldmodel.belief.wearer_near`)
    is then two binary searches instead of a pass over the day's path. A place's index is built on
    first use, extended as the path grows, and rebuilt when the place's centre moves.
    """

    def __init__(self, reach_m: float) -> None:
        self.reach_m = reach_m
        self._t = np.zeros(64)  # (capacity,) times, s; the first `n` are used
        self._xy = np.zeros((64, 2))  # (capacity, 2) positions (x, z) metres
        self.n = 0
        self._visits: dict[int, tuple[tuple[float, float], np.ndarray, int]] = {}  # place -> (centre, idx, checked)

    @property
    def times(self) -> np.ndarray:
        return self._t[:self.n]  # (M,)

    @property
    def points(self) -> np.ndarray:
        return self._xy[:self.n]  # (M, 2)

    def add(self, t: float, xy: tuple[float, float]) -> None:
        if self.n and t < self._t[self.n - 1]:
            raise ValueError(f"WearerPath.add: t={t} comes before the last point (t={self._t[self.n - 1]})")
        if self.n == len(self._t):
            self._t = np.concatenate([self._t, np.zeros(self.n)])
            self._xy = np.concatenate([self._xy, np.zeros((self.n, 2))])
        self._t[self.n], self._xy[self.n] = t, xy
        self.n += 1

    def _near_points(self, centre: tuple[float, float], a: int, b: int) -> np.ndarray:
        d = np.hypot(self._xy[a:b, 0] - centre[0], self._xy[a:b, 1] - centre[1])
        return np.flatnonzero(d <= self.reach_m) + a

    def visits(self, place: int, centre: tuple[float, float]) -> np.ndarray:
        """Sorted indices of the path points within reach of the place's centre."""
        cached = self._visits.get(place)
        if cached is None or cached[0] != centre:
            idx = self._near_points(centre, 0, self.n)
        elif cached[2] < self.n:
            idx = np.concatenate([cached[1], self._near_points(centre, cached[2], self.n)])
        else:
            return cached[1]
        self._visits[place] = (centre, idx, self.n)
        return idx

    def near(self, times: np.ndarray, places: np.ndarray, centres: np.ndarray,
             prev_t: float | None = None) -> np.ndarray:
        """(T, K) bool, as `wearer_near(times, centres, self.times, self.points, reach_m, prev_t)`."""
        T, K = len(times), len(places)
        near = np.ones((T, K), dtype=bool)
        if not self.n or not K or not T:
            return near
        starts = np.concatenate([[times[0] if prev_t is None else prev_t], times[:-1]])  # (T,)
        lo = np.searchsorted(self.times, starts, side="left")
        hi = np.searchsorted(self.times, times, side="right")
        for j in range(K):
            v = self.visits(int(places[j]), (float(centres[j, 0]), float(centres[j, 1])))
            near[:, j] = np.searchsorted(v, hi) > np.searchsorted(v, lo)
        if prev_t is None:
            near[0] = True
        return near


@dataclass(frozen=True)
class Hypothesis:
    """One state of the chain at query time, for explanations."""

    state: int  # a place id, or CARRIED
    centre: tuple[float, float] | None  # the place's centre (x, z) metres; None for carried
    energy: float  # the minimum energy of sequences ending in this state, query-time terms included
    since_t: float  # when the final stay of that sequence began


def places_apart(hyps: list[Hypothesis], answer: tuple[float, float], count: int, apart_m: float,
                 max_gap: float = math.inf) -> list[tuple[float, float]]:
    """The centres of the lowest-energy places among `hyps` (lowest energy first), each at least
    apart_m from `answer` and from each other, and at most max_gap above the lowest energy: at
    most `count` of them."""
    out: list[tuple[float, float]] = []
    for h in hyps:
        if h.energy - hyps[0].energy > max_gap:
            break
        if h.centre is not None and all(math.dist(h.centre, q) >= apart_m for q in (answer, *out)):
            out.append((round(h.centre[0], 3), round(h.centre[1], 3)))
            if len(out) == count:
                break
    return out


def _rows(obs: list[Observation]) -> tuple[np.ndarray, ...]:
    nan2 = (math.nan, math.nan)
    t = np.array([o.t for o in obs], dtype=float)
    pos = np.array([o.position if o.position is not None else nan2 for o in obs], dtype=float).reshape(-1, 2)
    wearer = np.array([o.wearer if o.wearer is not None else nan2 for o in obs], dtype=float).reshape(-1, 2)
    enroll = np.array([o.enroll for o in obs], dtype=bool)
    miss = np.array([o.miss for o in obs], dtype=bool)
    return t, pos, wearer, enroll, miss


def surface_position(pos: np.ndarray, wearer: np.ndarray, enroll: np.ndarray,
                     config: BeliefConfig) -> tuple[tuple[float, float], str | None]:
    """Where the supporting sightings agree, and on what: their mean (surface None), or, when they
    were seen from several places, the mean at the range scale on which their rays agree best.

    A sighting's range comes from its ray meeting a plane 0.45 m up, too short for an item on the
    floor (floor_range_scale) and too long for one on furniture (furniture_range_scale). The scales
    tried are those two, 1 (no correction, which wins ties) and the two midway; the two ends name
    the surface ("floor", "furniture"). Seen from one spot, a smaller scale shrinks the spread, so
    the furniture scale wins: a prior for furniture, where most items rest (60 of the 96 queried on
    development seeds). Spreads divided by the squared scale (a pure parallax test) doubled the
    median position error on development seeds (docs/BENCHMARKS.md, Seeds). Sightings at the range
    clamp (`far_range_m`) are left out when others have a range: one of them, far along its ray, kept
    the correction from the rest and put a phone on a table in the next room (dev seed 50).

    pos (N, 2) the sightings; wearer (N, 2) where the wearer was (NaN when unknown); enroll (N,).
    """
    ranged = ~at_range_clamp(np.hypot(pos[:, 0] - wearer[:, 0], pos[:, 1] - wearer[:, 1]), config)
    if ranged.any():  # a range clamped at the limit says nothing about where along the ray the item is
        pos, wearer, enroll = pos[ranged], wearer[ranged], enroll[ranged]
    best, surface = pos.mean(axis=0), None
    viewed = ~np.isnan(wearer[:, 0]) & ~enroll
    if viewed.sum() >= 2:
        w = wearer[viewed]  # (N, 2)
        v = pos[viewed] - w
        fl, fu = config.floor_range_scale, config.furniture_range_scale
        spread = []  # (spread, is a correction, mean, surface), one per scale
        for k, name in ((1.0, None), (fl, "floor"), ((1.0 + fl) / 2, None), ((1.0 + fu) / 2, None), (fu, "furniture")):
            q = w + k * v
            spread.append((float(((q - q.mean(axis=0)) ** 2).sum(axis=1).mean()), k != 1.0, q.mean(axis=0), name))
        s1, _, q1, n1 = min(spread, key=lambda x: (x[0], x[1]))
        if s1 < spread[0][0] - SURFACE_MIN_SPREAD_M2:  # needs parallax
            best, surface = q1, n1
    return (round(float(best[0]), 3), round(float(best[1]), 3)), surface


class ItemChain:
    """The exact minimum of one item's chain energy, extended one observation at a time."""

    def __init__(self, config: BeliefConfig) -> None:
        self.config = config
        self.obs: list[Observation] = []
        self._t, self._pos, self._wearer, self._enroll, self._miss = _rows([])
        self._places: PlaceMap | None = None
        self._version = -1  # the PlaceMap version the chain last checked
        self._restart()

    def _restart(self) -> None:
        self._keep = np.zeros(0, dtype=np.int64)  # (K,) the place ids the chain ranges over, ascending
        self._centres = np.zeros((0, 2))  # (K, 2) their centres
        self._D: np.ndarray | None = None  # (K + 1,) forward message at the last folded step
        self._run = np.zeros(1, dtype=np.int64)  # (K + 1,) where each state's final stay began
        self._n = 0  # observations folded into _D

    # -- building ----------------------------------------------------------------------------
    def extend(self, new: list[Observation], places: PlaceMap, path: WearerPath | Path | None = None) -> ItemChain:
        """Add observations (not earlier than the last one) and fold them into the forward messages.

        path: the wearer's path so far (indexed, or as arrays); it must already cover the new
        observations' times.
        """
        if not new and self.is_current(places):
            return self  # nothing new, and the places have not changed: the messages hold
        if new:
            t, pos, wearer, enroll, miss = _rows(new)
            if self._t.size and t[0] < self._t[-1]:
                raise ValueError(f"ItemChain.extend: observations must come in time order "
                                 f"(got t={t[0]} after t={self._t[-1]})")
            self.obs.extend(new)
            self._t = np.concatenate([self._t, t])
            self._pos = np.concatenate([self._pos, pos])
            self._wearer = np.concatenate([self._wearer, wearer])
            self._enroll = np.concatenate([self._enroll, enroll])
            self._miss = np.concatenate([self._miss, miss])
        if places is not self._places or self._stale(places):
            self._places = places
            self._restart()
            self._keep = self._near_places(places.centres(), 0, len(self.obs))
        self._version = places.version
        self._centres = places.centres()[self._keep]
        self._fold(path)
        return self

    def is_current(self, places: PlaceMap) -> bool:
        """Folded over this place map as it is now: a query needs no restart."""
        return places is self._places and places.version == self._version

    def _near_places(self, centres: np.ndarray, a: int, b: int) -> np.ndarray:
        """Ids of the places that observations a..b-1 could be at: within the outlier cap of one of
        them, in units of its noise (`sighting_sq_dist`), allowing for a place centre that still
        moves by up to a place radius. Farther places pay every cap and never win."""
        c = self.config
        pos = self._pos[a:b]
        seen = ~np.isnan(pos[:, 0])
        if not len(centres) or not seen.any():
            return np.zeros(0, dtype=np.int64)
        m2 = sighting_sq_dist(pos[seen], self._wearer[a:b][seen], self._enroll[a:b][seen], centres, c,
                              slack_m=c.place_radius_m)  # (N, K)
        return np.flatnonzero((0.5 * m2 < c.outlier_energy).any(axis=0))

    def _stale(self, places: PlaceMap) -> bool:
        """The folded steps no longer hold: a kept place moved, or another place came within reach."""
        centres = places.centres()
        changed = places.changed_since(self._version)
        if np.isin(changed, self._keep).any():
            return True
        if len(changed) and len(self._near_places(centres[changed], 0, self._n)):
            return True
        # The new observations may reach places the chain does not range over yet.
        return bool(np.setdiff1d(self._near_places(centres, self._n, len(self.obs)), self._keep).size)

    def _fold(self, path: WearerPath | Path | None) -> None:
        T = len(self.obs)
        if self._n == T:
            return
        n, K, c = self._n, len(self._keep), self.config
        E = observation_energies(self.obs[n:], self._centres, c)  # (T - n, K + 1)
        times = self._t[n:]
        prev_t = None if n == 0 else float(self._t[n - 1])
        if path is None:
            near = None
        elif isinstance(path, WearerPath):
            near = path.near(times, self._keep, self._centres, prev_t)
        else:
            near = wearer_near(times, self._centres, path[0], path[1], c.reach_m, prev_t)
        start = None if self._D is None else (self._D, float(prev_t if prev_t is not None else 0.0))
        self._D, back = viterbi(E, times, c, near, start)
        states = np.arange(K + 1)
        run = self._run if n else np.zeros(K + 1, dtype=np.int64)
        for k in range(len(back)):  # the final stay continues while the predecessor is the same state
            run = np.where(back[k] == states, run, n + k) if n + k else run
        self._run = run
        self._n = T

    # -- reading -----------------------------------------------------------------------------
    def _final(self, t_query: float) -> np.ndarray:
        assert self._D is not None, "a chain with observations has been folded"
        final = self._D.copy()
        final[len(self._keep)] += self.config.carry_rate_per_s * max(0.0, t_query - float(self._t[-1]))
        return final

    def hypotheses(self, t_query: float) -> list[Hypothesis]:
        """Every state the chain ranges over at t_query, lowest energy first."""
        if not self.obs:
            return []
        final, K = self._final(t_query), len(self._keep)
        out = []
        for k in np.argsort(final, kind="stable"):
            centre = None if k == K else (float(self._centres[k, 0]), float(self._centres[k, 1]))
            out.append(Hypothesis(CARRIED if k == K else int(self._keep[k]), centre, float(final[k]),
                                  float(self._t[self._run[k]])))
        return out

    def query(self, t_query: float, places_only: bool = False) -> Belief:
        """The belief at t_query. places_only: the best place, even when "carried" has a lower
        energy (an answer must point somewhere)."""
        c = self.config
        if not self.obs:
            return Belief(CARRIED, None, math.inf, 0.0, 0.0, True, (), None, False, 0.0)
        K, keep, centres = len(self._keep), self._keep, self._centres
        final = self._final(t_query)
        best = int(np.argmin(final[:K])) if places_only and K else int(np.argmin(final))
        n0 = int(self._run[best])
        # Supporting sightings: those the final stay explains (not the outliers it pays the cap for).
        pos = self._pos[n0:]
        ok = ~np.isnan(pos[:, 0]) & ~self._miss[n0:]
        if best < K:
            m2 = sighting_sq_dist(pos, self._wearer[n0:], self._enroll[n0:], centres[best:best + 1], c)[:, 0]
            ok &= 0.5 * m2 < c.outlier_energy  # NaN (no position) compares False
        support_idx = np.flatnonzero(ok) + n0
        position, surface = None, None
        if best < K and len(support_idx):
            position, surface = surface_position(self._pos[support_idx], self._wearer[support_idx],
                                        self._enroll[support_idx], c)
        elif best < K:
            position = (round(float(centres[best, 0]), 3), round(float(centres[best, 1]), 3))
        # Competing hypotheses: carried, and places far enough from the best to be another answer.
        rivals = [K] if best != K else []
        if best < K:
            far = np.hypot(centres[:, 0] - centres[best, 0], centres[:, 1] - centres[best, 1]) > 2 * c.place_radius_m
            rivals += [int(k) for k in np.flatnonzero(far)]
        else:
            rivals += list(range(K))
        margin = float(min((final[k] for k in rivals), default=math.inf) - final[best])
        last_t = float(self._t[support_idx[-1]]) if len(support_idx) else float(self._t[-1])
        age = max(0.0, t_query - last_t) if len(support_idx) else t_query - last_t
        confidence = max(0.0, 1.0 - math.exp(-margin / c.confidence_scale)) * math.exp(-age / c.recency_s)
        abstain = bool(final[best] / len(self.obs) > c.abstain_mean_energy)
        order = np.argsort(final, kind="stable")
        hyps = tuple((CARRIED if k == K else int(keep[k]), float(final[k])) for k in order[:5])
        return Belief(
            state=CARRIED if best == K else int(keep[best]), position=position, energy=float(final[best]),
            margin=margin, confidence=float(confidence), abstain=abstain, support=tuple(support_idx.tolist()),
            segment_start_t=float(self._t[n0]), moved=n0 > 0,
            carried_margin=float(final[K] - final[best]), hypotheses=hyps, surface=surface)


def infer(obs: list[Observation], places: PlaceMap, t_query: float, config: BeliefConfig,
          places_only: bool = False, path: WearerPath | Path | None = None) -> Belief:
    """The belief at t_query from the item's observations (sorted by t) over the current places,
    minimized from scratch. path: the wearer's path; items are picked up and put down only where
    the wearer went."""
    return ItemChain(config).extend(obs, places, path).query(t_query, places_only)
