"""The planners on a toy predictor whose optimum is known: they reach the goal where random
action sequences do not, keep every action inside the constraints, and batch without changing
any request's answer."""

from __future__ import annotations

import pytest
import torch

from companion_app.planner import Bounds, Planner, PlanJob, Waypoint, positions, step_energies, toward
from companion_fixtures import PoseToy, pose_latent

BOX = Bounds((0.0, 0.0, -45.0), (0.5, 0.0, 45.0))


def reachable_goal(toy: PoseToy) -> torch.Tensor:
    """The latent after three feasible actions: turn 30 deg left and walk 0.5 m, then 1 m more."""
    s0 = torch.tensor([pose_latent(0, 0, 0)])
    acts = torch.tensor([[[0.5, 0.0, 30.0], [0.5, 0.0, 0.0], [0.5, 0.0, 0.0]]])
    return toy.rollout(s0, acts)[0, -1]


@pytest.mark.parametrize("name", ["cem", "gradient"])
def test_planner_reaches_known_optimum_and_beats_random(toy: PoseToy, name: str) -> None:
    start, goal = torch.tensor(pose_latent(0, 0, 0)), reachable_goal(toy)
    result = Planner(toy, torch.device("cpu")).plan(PlanJob(start, goal, BOX, planner=name))
    actions = torch.tensor(result.actions)
    assert actions.shape == (5, 3)
    low, high = torch.tensor(BOX.low), torch.tensor(BOX.high)
    assert bool(((actions >= low - 1e-6) & (actions <= high + 1e-6)).all()), actions
    # the predicted energies are those of the returned actions
    again = step_energies(toy.rollout(start[None], actions[None]), goal[None])[0]
    assert torch.allclose(again, torch.tensor(result.energies), atol=1e-6)
    # random feasible sequences from the same box: the plan ends far closer to the goal
    g = torch.Generator().manual_seed(1)
    rand = low + (high - low) * torch.rand((256, 5, 3), generator=g)
    rand_final = step_energies(toy.rollout(start.expand(256, -1), rand), goal.expand(256, -1))[:, -1]
    assert result.energies[-1] < 0.02 * float(rand_final.median()), (result.energies, float(rand_final.median()))
    assert result.energies[-1] < 5e-3  # the optimum is 0: the goal is reachable in 3 of the 5 steps


@pytest.mark.parametrize("name", ["cem", "gradient"])
def test_batch_gives_the_same_answers_as_one_by_one(toy: PoseToy, name: str) -> None:
    planner = Planner(toy, torch.device("cpu"))
    goals = [pose_latent(1.0, -0.5, 20), pose_latent(0.8, 0.6, -40), pose_latent(1.5, 0.0, 0)]
    jobs = [PlanJob(torch.tensor(pose_latent(0, 0, 0)), torch.tensor(g), BOX, planner=name, samples=64,
                    iterations=10, seed=i) for i, g in enumerate(goals)]
    batched = planner.plan_batch(jobs)
    assert [r.batch_size for r in batched] == [3, 3, 3]
    for job, together in zip(jobs, batched):
        alone = planner.plan(job)
        assert alone.batch_size == 1
        assert torch.allclose(torch.tensor(alone.actions), torch.tensor(together.actions), atol=1e-4)
        assert torch.allclose(torch.tensor(alone.energies), torch.tensor(together.energies), atol=1e-5)


def test_same_seed_same_plan_other_seed_other_samples(toy: PoseToy) -> None:
    planner = Planner(toy, torch.device("cpu"))
    job = PlanJob(torch.tensor(pose_latent(0, 0, 0)), torch.tensor(pose_latent(1, 1, 90)), BOX, samples=32,
                  iterations=3, seed=5)
    assert planner.plan(job).actions == planner.plan(job).actions
    other = PlanJob(job.start, job.goal, BOX, samples=32, iterations=3, seed=6)
    assert planner.plan(other).actions != planner.plan(job).actions


def test_bounds_refuse_an_empty_box() -> None:
    with pytest.raises(ValueError, match=r"low\[0\]=1.0 is above high\[0\]=0.5"):
        Bounds((1.0, 0.0, 0.0), (0.5, 0.0, 0.0))


def test_positions_integrate_actions_as_the_wearer_moves() -> None:
    import numpy as np

    from device.session import Pose
    from worldmodel.jepa import apply_action

    acts = torch.tensor([[0.5, 0.1, 30.0], [0.4, -0.2, -60.0], [0.3, 0.0, 45.0]])
    pose, want = Pose(0.0, 1.5, 0.0, 0.0, 0.0), []
    for a in acts:
        pose = apply_action(pose, a.numpy())
        want.append((pose.x, pose.z))  # at yaw 0, +x is forward and +z is right
    assert np.allclose(positions(acts).numpy(), np.array(want), atol=1e-5)


@pytest.mark.parametrize("name", ["cem", "gradient"])
def test_a_waypoint_steers_the_plan_to_a_metric_target(toy: PoseToy, name: str) -> None:
    """The latent goal is the start (staying costs nothing); the waypoint, 1.5 m ahead and 1 m to
    the left, is reached only through the waypoint term."""
    here = torch.tensor(pose_latent(0, 0, 0))
    planner = Planner(toy, torch.device("cpu"))
    waypoint = Waypoint(forward_m=1.5, right_m=-1.0, radius_m=0.2, weight=10.0)
    steered = planner.plan(PlanJob(here, here, BOX, planner=name, samples=128, iterations=20, waypoint=waypoint))
    end = positions(torch.tensor(steered.actions))[-1]
    assert float((end - torch.tensor([1.5, -1.0])).norm()) < 0.35, steered.actions
    assert steered.energies[-1] < steered.energies[0]  # the reported energies include the waypoint term
    unsteered = planner.plan(PlanJob(here, here, BOX, planner=name, samples=128, iterations=20))
    assert float(positions(torch.tensor(unsteered.actions))[-1].norm()) < 0.5


@pytest.mark.parametrize("forward, right", [(2.0, 0.0), (-1.5, 0.5), (0.5, -2.0)])
def test_toward_walks_to_a_waypoint_ahead_behind_or_aside(forward: float, right: float) -> None:
    """The plain way: turn to face the waypoint (45 degrees a step at most), then walk."""
    target = torch.tensor([[forward, right, 0.3, 1.0]])
    acts = toward(target, torch.tensor([BOX.low])[:, None], torch.tensor([BOX.high])[:, None], 10)
    assert acts.shape == (1, 10, 3)
    assert all(BOX.low[i] <= float(a[i]) <= BOX.high[i] for a in acts[0] for i in range(3))
    assert float((positions(acts[0])[-1] - target[0, :2]).norm()) <= 0.3 + 1e-4


def test_cem_with_a_waypoint_is_no_worse_than_the_plain_way(toy: PoseToy) -> None:
    """CEM starts from `toward` and keeps the best sample, so with a short search its plan still
    costs no more than the plain way to the waypoint (here, 2 m behind the wearer)."""
    here = torch.tensor(pose_latent(0, 0, 0))
    planner = Planner(toy, torch.device("cpu"))
    waypoint = Waypoint(forward_m=-2.0, right_m=0.0, radius_m=0.3, weight=100.0)
    plan = planner.plan(PlanJob(here, here, BOX, horizon=8, samples=4, iterations=1, waypoint=waypoint))
    target = torch.tensor([[-2.0, 0.0, 0.3, 100.0]])
    plain = toward(target, torch.tensor([BOX.low])[:, None], torch.tensor([BOX.high])[:, None], 8)
    cost = lambda a: float(planner._energies(here[None], here[None], target, a).mean())  # noqa: E731
    assert cost(torch.tensor([plan.actions])) <= cost(plain) + 1e-6
