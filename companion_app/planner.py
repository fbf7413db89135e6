"""Plan a route in latent space: CEM and gradient descent over pose-delta sequences, through the
JEPA predictor's differentiable rollout, batched over requests.

The energy of a step is the mean squared distance between the rolled-out latent and the goal
latent (the contract's planning energy). A request may add a metric waypoint (where the device's
place graph says to head next, in the start view's frame): each step then also pays `weight`
per squared metre it ends beyond `radius_m` of the waypoint, its position integrated exactly
from the pose deltas. The latent goal says what the end of the route looks like; the waypoint
says which way the walls let the wearer go, which the predictor's latent does not know.

Both planners minimise the mean of the per-step energies over the horizon, not only the last
one: a route that gets near the goal early and stays there beats one that wanders and arrives at
the last step, which is what MPC (executing the first actions, then re-planning) needs.

With a waypoint, CEM's search starts from the plain way there (`toward`: face it, walk), which
is always among its samples, so the plan it returns costs no more than that; the latent energy
can only trade it for something it scores lower.

Actions are (forward_m, right_m, turn_deg), egocentric. Each request brings its own box
constraints; CEM clips its samples into the box, the gradient planner squashes an unconstrained
parameter through a sigmoid into it, so every returned action is feasible.

Batching: requests that share (planner, horizon, samples, iterations) are planned together in one
rollout batch. Each request draws its random numbers from its own generator seeded by the
request's seed, so a request gets the same plan alone or in a batch (up to float rounding in the
batched matrix products).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Literal, Protocol

import torch
from torch import Tensor

log = logging.getLogger(__name__)

ACTION_DIM = 3  # (forward_m, right_m, turn_deg)
PlannerName = Literal["cem", "gradient"]


class Predictor(Protocol):
    """What the planners need from worldmodel.jepa.LatentPredictor."""

    version: str

    def rollout(self, s0: Tensor, actions: Tensor) -> Tensor: ...  # (B, D), (B, H, 3) -> (B, H, D)


@dataclass(frozen=True)
class Bounds:
    """The feasible box of one action: lower and upper (forward_m, right_m, turn_deg)."""

    low: tuple[float, float, float]
    high: tuple[float, float, float]

    def __post_init__(self) -> None:
        for i, (lo, hi) in enumerate(zip(self.low, self.high)):
            if not lo <= hi:
                raise ValueError(f"Bounds: low[{i}]={lo} is above high[{i}]={hi}; each low must be <= its high")


@dataclass(frozen=True)
class Waypoint:
    """A metric target in the start view's frame: forward_m ahead, right_m to the right."""

    forward_m: float
    right_m: float
    radius_m: float = 0.0  # ending within this distance costs nothing
    weight: float = 1.0  # energy per squared metre beyond radius_m


@dataclass(frozen=True)
class PlanJob:
    """One request to plan: start and goal latents (D,), and how to search."""

    start: Tensor  # (D,)
    goal: Tensor  # (D,)
    bounds: Bounds
    horizon: int = 5
    planner: PlannerName = "cem"
    samples: int = 300
    iterations: int = 30
    seed: int = 0
    waypoint: Waypoint | None = None

    def key(self) -> tuple[str, int, int, int]:
        """Jobs with the same key can share one rollout batch."""
        return (self.planner, self.horizon, self.samples, self.iterations)


@dataclass(frozen=True)
class PlanResult:
    actions: list[list[float]]  # horizon rows of (forward_m, right_m, turn_deg)
    energies: list[float]  # the predicted energy after each action
    compute_ms: float  # wall time of the batch this job was planned in
    device: str  # "cpu" or "cuda:<name>"
    planner: str
    checkpoint: str
    batch_size: int  # how many requests shared the rollout batch
    iterations: int  # search iterations run: fewer than asked when the time budget ran out


@dataclass(frozen=True)
class PlannerConfig:
    elite_frac: float = 0.1  # CEM: the best 10% of samples refit the sampling distribution
    min_std_frac: float = 0.05  # CEM: std floor as a fraction of the box width (keeps exploring)
    lr: float = 0.3  # gradient: Adam step on the unconstrained (pre-sigmoid) actions
    # Wall time a batch may search: after it (and at least one iteration) the best plan found so far is
    # returned. A request at the limits (2000 samples x 200 iterations) would hold the planner for a
    # minute on a CPU while every other device waited; the glasses give up after 1.5 s.
    budget_s: float = 1.0

    def __post_init__(self) -> None:
        if not 0.0 < self.elite_frac <= 1.0:
            raise ValueError(f"PlannerConfig.elite_frac={self.elite_frac}: must be in (0, 1]")
        if not 0.0 <= self.min_std_frac < 1.0:
            raise ValueError(f"PlannerConfig.min_std_frac={self.min_std_frac}: must be in [0, 1)")
        if not self.lr > 0.0:
            raise ValueError(f"PlannerConfig.lr={self.lr}: must be > 0")
        if not self.budget_s > 0.0:
            raise ValueError(f"PlannerConfig.budget_s={self.budget_s}: must be > 0")


def pick_device(requested: str | None = None) -> torch.device:
    """CUDA when torch sees a GPU (or `requested` names a device), CPU otherwise."""
    if requested:
        return torch.device(requested)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def device_label(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda:{torch.cuda.get_device_name(device)}"
    return device.type


def step_energies(latents: Tensor, goal: Tensor) -> Tensor:
    """(B, H, D) rolled-out latents, (B, D) goals -> (B, H) mean squared distance per step."""
    return (latents - goal[:, None, :]).pow(2).mean(dim=-1)


def positions(actions: Tensor) -> Tensor:
    """(..., H, 3) pose deltas -> (..., H, 2) (forward_m, right_m) after each action, in the start's
    frame. Each action moves along the heading it starts with, then turns (turn_deg > 0 is left),
    as worldmodel.jepa.apply_action does."""
    fwd, right, turn = actions.unbind(-1)
    heading = torch.deg2rad(torch.cumsum(turn, dim=-1) - turn)
    df = fwd * torch.cos(heading) + right * torch.sin(heading)
    dr = right * torch.cos(heading) - fwd * torch.sin(heading)
    return torch.stack([df.cumsum(dim=-1), dr.cumsum(dim=-1)], dim=-1)


def waypoint_energies(actions: Tensor, target: Tensor) -> Tensor:
    """(B, H, 3) actions, (B, 4) rows of (forward_m, right_m, radius_m, weight) -> (B, H):
    weight x (metres beyond radius_m)^2 after each step; rows of weight 0 cost nothing."""
    d = (positions(actions) - target[:, None, :2]).norm(dim=-1)
    return target[:, None, 3] * (d - target[:, None, 2]).clamp(min=0.0).pow(2)


def toward(target: Tensor, low: Tensor, high: Tensor, horizon: int) -> Tensor:
    """(B, 4) waypoint rows, (B, 1, 3) action bounds -> (B, H, 3): the plain way to the waypoint,
    each step turning to face it and, when nearly facing it (30 degrees), walking on until within
    its radius. CEM starts its search here when there is a waypoint, so the plan it returns is at
    worst this one (it is always among the samples), improved where the latent energy says so."""
    b = target.shape[0]
    pos = torch.zeros(b, 2, device=target.device)  # (forward_m, right_m) in the start's frame
    heading = torch.zeros(b, device=target.device)  # radians, left positive
    steps = []
    for _ in range(horizon):
        rel = target[:, :2] - pos
        bearing = torch.remainder(torch.atan2(-rel[:, 1], rel[:, 0]) - heading + math.pi, 2 * math.pi) - math.pi
        left = (rel.norm(dim=-1) - target[:, 2]).clamp(min=0.0)
        fwd = torch.where(bearing.abs() <= math.radians(30.0), left, torch.zeros_like(left))
        step = torch.stack([fwd, torch.zeros_like(fwd), torch.rad2deg(bearing)], dim=-1)
        step = torch.maximum(torch.minimum(step, high[:, 0]), low[:, 0])
        pos = pos + step[:, :1] * torch.stack([torch.cos(heading), -torch.sin(heading)], dim=-1)
        heading = heading + torch.deg2rad(step[:, 2])
        steps.append(step)
    return torch.stack(steps, dim=1)


class Planner:
    """Plans batches of jobs through one predictor on one device. Not thread-safe: one caller."""

    def __init__(self, predictor: Predictor, device: torch.device | None = None,
                 config: PlannerConfig = PlannerConfig()) -> None:
        self.device = device or pick_device()
        self.predictor = predictor
        if isinstance(predictor, torch.nn.Module):
            predictor.to(self.device).eval()
        self.config = config
        self.device_label = device_label(self.device)

    def plan(self, job: PlanJob) -> PlanResult:
        return self.plan_batch([job])[0]

    def plan_batch(self, jobs: list[PlanJob]) -> list[PlanResult]:
        """Plan jobs that share one key in a single batch; results in the jobs' order."""
        assert jobs and all(j.key() == jobs[0].key() for j in jobs), "plan_batch needs jobs with one key"
        first = jobs[0]
        t0 = time.perf_counter()
        s0 = torch.stack([j.start for j in jobs]).to(self.device, torch.float32)  # (B, D)
        goal = torch.stack([j.goal for j in jobs]).to(self.device, torch.float32)  # (B, D)
        low = torch.tensor([j.bounds.low for j in jobs], device=self.device)[:, None, None, :]  # (B, 1, 1, 3)
        high = torch.tensor([j.bounds.high for j in jobs], device=self.device)[:, None, None, :]
        target = torch.tensor([(w.forward_m, w.right_m, w.radius_m, w.weight) if (w := j.waypoint) else (0.0,) * 4
                               for j in jobs], device=self.device)  # (B, 4); weight 0: no waypoint
        gens = [torch.Generator().manual_seed(j.seed) for j in jobs]  # CPU generators: same draws on any device
        search = self._cem if first.planner == "cem" else self._gradient
        deadline = t0 + self.config.budget_s
        actions, done = search(s0, goal, target, low[:, 0], high[:, 0], gens, first, deadline)  # (B, H, 3)
        with torch.no_grad():
            energies = self._energies(s0, goal, target, actions)  # (B, H)
        actions_l, energies_l = actions.cpu().tolist(), energies.cpu().tolist()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        ms = 1000.0 * (time.perf_counter() - t0)
        return [PlanResult(actions=a, energies=e, compute_ms=ms, device=self.device_label, planner=first.planner,
                           checkpoint=self.predictor.version, batch_size=len(jobs), iterations=done)
                for a, e in zip(actions_l, energies_l)]

    def _noise(self, gens: list[torch.Generator], shape: tuple[int, ...]) -> Tensor:
        """(B, *shape) standard normal draws, row b from generator b."""
        return torch.stack([torch.randn(shape, generator=g) for g in gens]).to(self.device)

    def _energies(self, s0: Tensor, goal: Tensor, target: Tensor, actions: Tensor) -> Tensor:
        """(B, D), (B, D), (B, 4), (B, H, 3) -> (B, H): each step's latent energy plus its waypoint term."""
        return step_energies(self.predictor.rollout(s0, actions), goal) + waypoint_energies(actions, target)

    def _cost(self, s0: Tensor, goal: Tensor, target: Tensor, actions: Tensor) -> Tensor:
        """(B, D), (B, D), (B, 4), (B, N, H, 3) -> (B, N): mean per-step energy of each candidate."""
        b, n, h, _ = actions.shape
        flat = actions.reshape(b * n, h, ACTION_DIM)
        rep = lambda t: t.repeat_interleave(n, 0)  # noqa: E731
        return self._energies(rep(s0), rep(goal), rep(target), flat).mean(dim=-1).reshape(b, n)

    @torch.no_grad()
    def _cem(self, s0: Tensor, goal: Tensor, target: Tensor, low: Tensor, high: Tensor,
             gens: list[torch.Generator], job: PlanJob, deadline: float) -> tuple[Tensor, int]:
        # low/high: (B, 1, 3), broadcast over the horizon
        b, h, n = s0.shape[0], job.horizon, job.samples
        n_elite = max(1, round(self.config.elite_frac * n))
        width = high - low
        mean = ((low + high) / 2).expand(b, h, ACTION_DIM).clone()  # (B, H, 3)
        has_waypoint = target[:, 3] > 0
        if has_waypoint.any():
            mean[has_waypoint] = toward(target, low, high, h)[has_waypoint]
        std = (width / 2).expand(b, h, ACTION_DIM).clone()
        floor = self.config.min_std_frac * width
        best_cost = torch.full((b,), float("inf"), device=self.device)
        best = mean.clone()
        done = 0
        while done < job.iterations and (done == 0 or time.perf_counter() < deadline):
            done += 1
            samples = mean[:, None] + std[:, None] * self._noise(gens, (n, h, ACTION_DIM))  # (B, N, H, 3)
            samples = samples.clamp(low[:, None], high[:, None])
            samples[:, 0] = mean  # the current mean competes too, so the best never gets worse
            cost = self._cost(s0, goal, target, samples)  # (B, N)
            order = cost.argsort(dim=1)
            elites = samples.gather(1, order[:, :n_elite, None, None].expand(-1, -1, h, ACTION_DIM))
            top = cost.gather(1, order[:, :1])[:, 0]
            better = top < best_cost
            best = torch.where(better[:, None, None], elites[:, 0], best)
            best_cost = torch.minimum(best_cost, top)
            mean = elites.mean(dim=1)
            std = torch.maximum(elites.std(dim=1, unbiased=False), floor)
        return best, done

    def _gradient(self, s0: Tensor, goal: Tensor, target: Tensor, low: Tensor, high: Tensor,
                  gens: list[torch.Generator], job: PlanJob, deadline: float) -> tuple[Tensor, int]:
        # `samples` parallel restarts per request, each an unconstrained (H, 3) sequence u;
        # actions = low + (high - low) * sigmoid(u) always lie in the box.
        b, h, n = s0.shape[0], job.horizon, job.samples
        lo, wd = low[:, None], (high - low)[:, None]  # (B, 1, 1, 3)
        u = self._noise(gens, (n, h, ACTION_DIM)).requires_grad_(True)  # (B, N, H, 3)
        opt = torch.optim.Adam([u], lr=self.config.lr)
        done = 0
        with torch.enable_grad():
            while done < job.iterations and (done == 0 or time.perf_counter() < deadline):
                done += 1
                cost = self._cost(s0, goal, target, lo + wd * torch.sigmoid(u))  # (B, N)
                (grad,) = torch.autograd.grad(cost.sum(), u)  # rows are independent: the sum's gradient is each row's
                u.grad = grad
                opt.step()
        with torch.no_grad():
            actions = lo + wd * torch.sigmoid(u)
            cost = self._cost(s0, goal, target, actions)
            pick = cost.argmin(dim=1)  # (B,)
            return actions[torch.arange(b, device=self.device), pick], done  # (B, H, 3)
