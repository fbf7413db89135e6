"""Item belief by energy minimization: where each item is, as a chain of discrete hypotheses.

An item's latent location at each observation step is one of the places (clusters of sighting
positions, discovered online by `PlaceMap`) or "carried". The energy of a whole location
sequence adds up:

- observation terms: each sighting's incompatibility with the hypothesis, weighted by the
  sighting's score margin over its threshold. At a place: the squared distance from the sighting
  position to the place in units of the sighting's noise, which is larger along the wearer's view
  ray than across it (one camera's range is unsure, its bearing is not: `sighting_sq_dist`),
  capped (one false match costs at most `outlier_energy`). Carried or resting is told by the
  session's own evidence where it can be (`worldmodel.carry`): a sighting that kept its place in
  the wearer's view while the wearer moved is in hand (a place pays up to `outlier_energy` more),
  one that kept its place in the world rests (carried pays that). Only a sighting that says
  neither (isolated, or the wearer still) falls back on a prior: a held item is seen about
  `carried_range_m` ahead of the wearer. A held item is seen clearly (a weak match pays
  `weak_carried_energy` more).
  Negative evidence too: the wearer looked at a place and did not see the item (a miss) costs
  `miss_energy` to every hypothesis that puts the item there.
- dynamics terms: staying put is free; picking up and putting down cost energy, and only where the
  wearer came within `reach_m`; a move from one place to another costs the same whether or not a
  sighting showed it in hand (a pocket, a bag, a hand held low: what the session cannot see is no
  evidence against a carry); staying carried costs energy per second (things are soon put down).
- priors: the enrollment sighting is a strong observation of the first place; at query time
  "carried" pays for the time since the last step (recency).

`worldmodel.chain` minimizes the energy exactly by dynamic programming (Viterbi) over the
observation steps, one step at a time (`ItemChain`) or from scratch (`infer`). The confidence comes
from the margin between the best and the best competing hypothesis (a place farther than two place
radii away, or carried), decayed by the age of the supporting evidence; `abstain` is set when the
best sequence still has a high energy per step.

Parameters were chosen on development seeds 0-9 only (see docs/BENCHMARKS.md). Pure numpy.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field, fields

import numpy as np

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BeliefConfig:
    place_radius_m: float = 1.0  # a sighting this close to a place's centre joins that place
    sigma_m: float = 0.6  # sighting position noise around a resting item, across the view ray ...
    # ... and along it sqrt(sigma_m^2 + (this * range)^2): the range is the unsure part (0.3 chosen on
    # dev seeds 0-9 from 0.1-0.3, then checked on 20-49; docs/BENCHMARKS.md, Seeds)
    range_sigma_per_m: float = 0.3
    outlier_energy: float = 3.0  # cap on one sighting's place term: what ignoring a false match costs
    # The prior for a sighting whose pair says nothing (worldmodel.carry): a held item is seen about this far
    # from the wearer. One recorder's convention, so it decides only what the session's evidence cannot.
    carried_range_m: float = 1.3
    carried_sigma_m: float = 0.25
    carried_energy: float = 0.3  # base cost of explaining a sighting as the item in hand
    # A sighting's weight is its score margin over threshold / this, clipped to [min_weight, 1]: a true
    # sighting's margin is about 0.25, a look-alike's 0.01-0.2 (0.25 chosen on dev seeds 30-49 from
    # 0.05-0.4, checked on 0-9 and 20-29; docs/BENCHMARKS.md, Seeds); a replay sets it to its encoder's
    # true-sighting margin (device.encoder.SIGHTING_MARGIN: this for the instance head)
    margin_scale: float = 0.25
    min_weight: float = 0.3
    enroll_weight: float = 3.0  # the enrollment glance counts as this many strong sightings
    pickup_energy: float = 1.0
    putdown_energy: float = 1.0
    carry_rate_per_s: float = 0.2  # energy per second carried since the last sighting (put down soon)
    carry_gap_rate_per_s: float = 0.05  # energy per second carried between two sightings
    confidence_scale: float = 2.0  # confidence = (1 - exp(-margin / scale)) * recency
    recency_s: float = 1800.0  # recency = exp(-age of the supporting sighting / recency_s)
    abstain_mean_energy: float = 2.5  # abstain when the best sequence's energy per step exceeds this
    reach_m: float = 3.5  # an item is picked up or put down only where the wearer came this close ...
    unreachable_energy: float = 20.0  # ... or this is paid (nearly forbidden)
    far_range_m: float = 3.9  # sightings this far from the wearer (range clamped, unsure) ...
    far_weight: float = 0.3  # ... count this much
    miss_energy: float = 0.5  # a look at a place that did not see the item
    # An item in hand is seen close up and clearly, so a weak match at hand range is more likely a
    # look-alike on the floor ahead: explaining a sighting as carried pays this times (1 - its margin /
    # margin_scale, clipped to [0, 1]). Chosen on dev seeds 0-49 and 1040-1059 from 0.5, 0.75, 1, 2
    # (docs/BENCHMARKS.md, Seeds).
    weak_carried_energy: float = 0.5
    # Resting surfaces: a sighting's range (from the ray meeting a plane 0.45 m up) is this many
    # times too short for an item on the floor and too long for one on furniture (dev seeds 0-8).
    floor_range_scale: float = 1.32
    furniture_range_scale: float = 0.53
    # A place's centre is the mean of its first this many positions, then stays put, so chains restart
    # only for new places and the first moves of their places. 20 made queries ~20x slower on the
    # belief_speed day; 1 (the leader's position) flipped the demo's ball answer to "in hand" in the
    # spoken replay; 3 keeps the demo's answers and most of the speed (dev seeds 20-29 in BENCHMARKS).
    place_freeze_count: int = 3

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"BeliefConfig.{f.name} must be a finite number > 0, got {value!r}")
        if self.min_weight > 1.0:
            raise ValueError(f"BeliefConfig.min_weight must be in (0, 1], got {self.min_weight}")


@dataclass(frozen=True)
class Observation:
    """One sighting of the item, in the belief's terms."""

    t: float  # seconds
    position: tuple[float, float] | None  # (x, z) metres of the sighting; None without a pose
    margin: float  # cosine score minus the item's threshold (>= 0)
    wearer: tuple[float, float] | None  # (x, z) metres of the wearer when it was seen
    enroll: bool = False
    miss: bool = False  # the wearer looked at `position` and did not see the item (negative evidence)
    follows: float | None = None  # moved with the wearer since the last sighting (worldmodel.carry), in [-1, 1]


SURFACE_MIN_SPREAD_M2 = 1e-6  # views from one spot (no parallax at all) cannot tell floor from furniture
CARRIED = -1  # the state id of "carried" in `Belief.state`


@dataclass(frozen=True)
class Belief:
    """The argmin hypothesis and what supports it."""

    state: int  # a place id (index into the PlaceMap), or CARRIED; CARRIED also when empty
    position: tuple[float, float] | None  # mean of the supporting sighting positions
    energy: float  # of the best sequence
    margin: float  # energy of the best competing hypothesis minus `energy` (inf when none)
    confidence: float  # in [0, 1]
    abstain: bool
    support: tuple[int, ...]  # indices into the observations: the final stay's sightings
    segment_start_t: float | None  # when the final stay began (its first observation)
    moved: bool  # the final stay is not the first one: the item was carried or moved before it
    carried_margin: float  # energy of "carried now" minus `energy` (>= 0 when a place wins)
    hypotheses: tuple[tuple[int, float], ...] = field(default=())  # (state, final energy), best first
    surface: str | None = None  # "floor" or "furniture" when the sightings' rays agree on one


class PlaceMap:
    """Places discovered online: leader clustering of positions with a radius.

    A centre is the mean of the place's first `freeze_count` positions, then stays put: a
    well-known place stops moving, so the beliefs over it can be extended step by step instead of
    recomputed (`worldmodel.chain`). `version` counts the changes; `changed_since` names the places
    added or moved after a version.
    """

    def __init__(self, radius_m: float, freeze_count: int = 3) -> None:
        if radius_m <= 0:
            raise ValueError(f"PlaceMap radius_m must be > 0, got {radius_m}")
        if freeze_count < 1:
            raise ValueError(f"PlaceMap freeze_count must be >= 1, got {freeze_count}")
        self.radius_m = radius_m
        self.freeze_count = freeze_count
        self.version = 0
        self._sums: list[list[float]] = []
        self._counts: list[int] = []  # positions in the centre's mean (at most freeze_count)
        self._changed: list[int] = []  # per place, the version at which its centre last changed
        self._centres: np.ndarray | None = None  # cache of centres()

    def __len__(self) -> int:
        return len(self._counts)

    def centres(self) -> np.ndarray:
        """(K, 2) place centres, metres."""
        if self._centres is None:
            self._centres = (np.array(self._sums) / np.array(self._counts, dtype=float)[:, None]
                             if self._counts else np.zeros((0, 2)))
        return self._centres

    def changed_since(self, version: int) -> np.ndarray:
        """Ids of the places added or moved after `version` (ascending)."""
        return np.flatnonzero(np.array(self._changed, dtype=np.int64) > version)

    def nearest(self, position: tuple[float, float]) -> tuple[int, float]:
        """(id, distance in metres) of the place centre nearest `position`; (-1, inf) with no places."""
        c = self.centres()
        if not len(c):
            return -1, math.inf
        d = np.hypot(c[:, 0] - position[0], c[:, 1] - position[1])  # (K,)
        k = int(np.argmin(d))
        return k, float(d[k])

    def assign(self, position: tuple[float, float]) -> int:
        """The id of the place that `position` joins (a new place when none is within the radius)."""
        k, d = self.nearest(position)
        if d <= self.radius_m:
            if self._counts[k] < self.freeze_count:
                self._sums[k][0] += position[0]
                self._sums[k][1] += position[1]
                self._counts[k] += 1
                self._moved(k)
            return k
        self._sums.append([position[0], position[1]])
        self._counts.append(1)
        self._changed.append(0)
        self._moved(len(self._counts) - 1)
        return len(self._counts) - 1

    def _moved(self, k: int) -> None:
        self.version += 1
        self._changed[k] = self.version
        self._centres = None


def sighting_sq_dist(pos: np.ndarray, wearer: np.ndarray, enroll: np.ndarray, centres: np.ndarray,
                     config: BeliefConfig, slack_m: float = 0.0) -> np.ndarray:
    """(T, K) squared distance of each sighting to each place centre in units of the sighting's
    noise: sigma_m across the wearer's view ray, and more along it, where the range from one
    camera is unsure (sqrt(sigma_m^2 + (range_sigma_per_m * range)^2)). Isotropic (sigma_m) for the
    enrollment glance and without the wearer's position. NaN where the sighting has no position.
    slack_m: each distance first shortened by this much (a centre that may still move that far).

    pos, wearer (T, 2) metres (NaN rows when unknown); enroll (T,); centres (K, 2).
    """
    c = config
    diff = pos[:, None, :] - centres[None, :, :]  # (T, K, 2)
    if slack_m > 0.0:
        norm = np.hypot(diff[..., 0], diff[..., 1])  # (T, K)
        diff = diff * (np.maximum(norm - slack_m, 0.0) / np.maximum(norm, 1e-9))[..., None]
    total = (diff ** 2).sum(axis=2)  # (T, K)
    ray = pos - wearer  # (T, 2)
    r = np.hypot(ray[:, 0], ray[:, 1])  # (T,)
    aniso = ~np.isnan(r) & (r > 1e-6) & ~enroll
    u = np.where(aniso[:, None], ray / np.where(aniso, r, 1.0)[:, None], 0.0)  # (T, 2) unit ray, 0 if isotropic
    along = (diff * u[:, None, :]).sum(axis=2)  # (T, K)
    var_along = c.sigma_m ** 2 + (c.range_sigma_per_m * np.nan_to_num(r)) ** 2  # (T,)
    return (total - along ** 2) / c.sigma_m ** 2 + along ** 2 / var_along[:, None]


def at_range_clamp(r: np.ndarray, config: BeliefConfig) -> np.ndarray:
    """(N,) bool: sightings as far from the wearer as the range clamp (`far_range_m`), whose range
    says only "at least this far". r (N,): each sighting's distance from the wearer, NaN (never at
    the clamp) without a position or the wearer."""
    return np.nan_to_num(r) >= config.far_range_m


def observation_energies(obs: list[Observation], centres: np.ndarray, config: BeliefConfig) -> np.ndarray:
    """(T, K + 1) energy of each observation under each place (columns 0..K-1) and carried (K)."""
    c = config
    T, K = len(obs), len(centres)
    nan2 = (math.nan, math.nan)
    pos = np.array([o.position if o.position is not None else nan2 for o in obs], dtype=float).reshape(T, 2)
    wearer = np.array([o.wearer if o.wearer is not None else nan2 for o in obs], dtype=float).reshape(T, 2)
    enroll = np.array([o.enroll for o in obs], dtype=bool)  # (T,)
    has_pos = ~np.isnan(pos[:, 0])
    has_wearer = ~np.isnan(wearer[:, 0])
    strength = np.clip(np.array([o.margin for o in obs], dtype=float) / c.margin_scale, 0.0, 1.0)  # (T,)
    w = np.maximum(strength, c.min_weight)
    r = np.hypot(pos[:, 0] - wearer[:, 0], pos[:, 1] - wearer[:, 1])  # (T,) nan without both
    w = np.where(at_range_clamp(r, c), w * c.far_weight, w)
    w = np.where(enroll, c.enroll_weight, w)
    fol = np.array([math.nan if o.follows is None else o.follows for o in obs], dtype=float)  # (T,)
    told = ~np.isnan(fol) & ~enroll  # the pair told carried from resting
    in_hand, at_rest = np.clip(np.nan_to_num(fol), 0.0, 1.0), np.clip(-np.nan_to_num(fol), 0.0, 1.0)
    E = np.zeros((T, K + 1))
    if K:
        m2 = sighting_sq_dist(pos, wearer, enroll, centres, c)
        E[:, :K] = w[:, None] * (np.minimum(0.5 * m2, c.outlier_energy) + c.outlier_energy * in_hand[:, None])
    prior = c.carried_energy + np.minimum(0.5 * ((r - c.carried_range_m) / c.carried_sigma_m) ** 2, c.outlier_energy)
    held = np.where(told, c.carried_energy + c.outlier_energy * at_rest, prior)
    held = np.where(at_range_clamp(r, c), c.carried_energy + c.outlier_energy, held)  # "at least 4 m": not in a hand
    E[:, K] = w * np.where(enroll, c.outlier_energy,  # the wearer points at it: it rests there
                           np.where(has_wearer | told, held, c.carried_energy))
    E[:, K] += np.where(enroll, 0.0, c.weak_carried_energy * (1.0 - strength))
    E[~has_pos] = 0.0  # no position: every hypothesis explains it equally
    miss = np.array([o.miss for o in obs], dtype=bool)  # (T,)
    if miss.any():
        E[miss] = 0.0
        if K:  # looked at and not seen: the places looked at pay, carried and the rest do not
            p = pos[miss]
            d = np.hypot(p[:, None, 0] - centres[None, :, 0], p[:, None, 1] - centres[None, :, 1])
            E[miss, :K] = c.miss_energy * (d <= c.place_radius_m)
    return E


def wearer_near(times: np.ndarray, centres: np.ndarray, path_t: np.ndarray, path_xy: np.ndarray,
                reach_m: float, prev_t: float | None = None) -> np.ndarray:
    """(T, K) bool: the wearer came within reach_m of place k between steps n-1 and n (a path point,
    kept each time the wearer has moved a little, lies within reach between the two steps).

    Standing still by a place counts only through the points a still wearer adds
    (`device.wm_answerer.PATH_DWELL_S`): counting the last point before the window gave the bundled
    demo a false left-item alert, so it was not kept.

    times (T,) step times; centres (K, 2); path_t (M,) and path_xy (M, 2) the wearer's positions.
    prev_t: the time of the step before times[0] when continuing a chain; None when times[0] is
    the first step (which counts as reachable). Without a path every place counts as reachable.
    """
    T, K = len(times), len(centres)
    near = np.ones((T, K), dtype=bool)
    if not len(path_t) or not K or not T:
        return near
    starts = np.concatenate([[times[0] if prev_t is None else prev_t], times[:-1]])  # (T,)
    a = int(np.searchsorted(path_t, starts[0], side="left"))  # only the path these steps span
    b = int(np.searchsorted(path_t, times[-1], side="right"))
    pt, pxy = path_t[a:b], path_xy[a:b]
    d = np.hypot(pxy[:, None, 0] - centres[None, :, 0], pxy[:, None, 1] - centres[None, :, 1]) <= reach_m
    cum = np.concatenate([np.zeros((1, K), dtype=np.int64), np.cumsum(d, axis=0)])  # (b - a + 1, K)
    lo = np.searchsorted(pt, starts, side="left")
    hi = np.searchsorted(pt, times, side="right")
    near = (cum[hi] - cum[lo]) > 0
    if prev_t is None:
        near[0] = True
    return near


def viterbi(E: np.ndarray, times: np.ndarray, config: BeliefConfig, near: np.ndarray | None = None,
            start: tuple[np.ndarray, float] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Exact minimum of the chain energy. E: (T, S) observation energies, S = K + 1 (last = carried).

    near (T, K): where the wearer could pick up or put down between steps (default: everywhere).
    start: (D (S,), t) the forward message and time of the step just before E[0], to continue a
    chain; None when E[0] is the first step.

    Returns (D, back): D (S,) the minimum total energy of sequences ending in each state at the
    last step; back (T, S) the predecessor state of each state at each step.
    """
    T, S = E.shape
    K = S - 1
    c = config
    jump = c.pickup_energy + c.putdown_energy  # a move costs the same seen in hand or not (a pocket, a bag)
    back = np.zeros((T, S), dtype=np.int64)
    idx = np.arange(K)
    far = np.zeros((T, K)) if near is None else c.unreachable_energy * (~near)  # (T, K)
    if start is None:  # the first observation's place, or already carried (which was a pick-up)
        D = E[0].copy()
        D[K] += c.pickup_energy
        back[0] = np.arange(S)
        first, t_prev = 1, 0.0
    else:
        D, t_prev = start
        first = 0
    for n in range(first, T):
        dt = max(0.0, float(times[n] - (times[n - 1] if n else t_prev)))
        bp = np.empty(S, dtype=np.int64)
        new = np.empty(S)
        held = float(D[K])
        pick, from_place = math.inf, 0
        if K:
            stay = D[:K]
            P = stay + far[n]  # leaving place i costs `far` unless the wearer was there
            b1 = int(P.argmin())
            m1 = float(P[b1])
            m2, b2 = math.inf, b1
            if K > 1:
                P[b1] = math.inf
                b2 = int(P.argmin())
                m2 = float(P[b2])
            other = np.full(K, m1 + jump)  # the best other place, then arriving at place j
            other[b1] = m2 + jump
            other += far[n]
            put = held + c.putdown_energy + far[n]
            best = stay.copy()
            bp[:K] = idx
            sel = put < best
            best[sel] = put[sel]
            bp[:K][sel] = K
            sel = other < best
            best[sel] = other[sel]
            bp[:K][sel] = b1
            if sel[b1]:
                bp[b1] = b2
            new[:K] = best
            pick, from_place = m1 + c.pickup_energy, b1
        hold = held + c.carry_gap_rate_per_s * dt
        new[K], bp[K] = (hold, K) if hold <= pick else (pick, from_place)
        D = new + E[n]
        back[n] = bp
    return D, back
