"""Closed-loop navigation in held-out MiniWorld houses: drive the wearer to an item by MPC through
the companion's planner, side by side with a random baseline, a greedy-in-latent baseline and the
place-graph fallback; success rate and time per plan in one run.

Houses are held-out seeds 2000-2019, each toured once (`ami record-sim`, cached in
--work/nav-sessions) and remembered by `ami replay --memory` (cached in --work/nav-memory, per
encoder embedding space: a memory and its answers are rebuilt for another encoder, and the
answers also for other answering code). Each episode puts the wearer at a random free pose; the
goal is an item at rest and the last memory keyframe that saw it there. Every method sees the
same starts. Latent methods see real rendered frames, encoded by the shipped encoder and the JEPA
predictor:
- companion: MPC, each plan from the real `ami companion serve` on loopback (signed HTTP, the
  device client); the goal latent is the goal keyframe's; the first --execute actions run, then
  it re-plans from the new view;
- companion + route: the same planner and latent goal, and each plan request also carries a
  metric waypoint (the planning energy's waypoint term, weight --waypoint-weight): the next point
  of the glasses' route, the place graph's path to where the assistant says the item is, or, once
  the item is in view, where the fresh sightings put it (device/navigation/follower.py). At the
  route's end the glasses turn the wearer to face the item, or turn on the spot to look for it;
- greedy in latent: one-step lookahead through the predictor over a fixed set of actions;
- random: uniform random actions within the planner's bounds;
- place graph: the glasses' fallback: the same route (the same homing and end turns), followed
  with the wearer's pose (VIO) by turning towards the next point and walking, no planner.
Both route methods need the assistant's locate answer at the end of the tour: an item it cannot
place is a failure.
Success: within 1 m of the item and facing it (inside half the field of view) within --budget
actions. Run (1 thread):

    .venv/bin/python benchmarks/closed_loop.py --seeds 2000-2019
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import math
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from companion_process import CompanionProcess
from device.navigation.follower import RECOVER_STEPS, Follower, RecedingHorizon
from nav_world import House, Start, ensure_answers, ensure_memory, latents
from report import ROOT, fmt, parse_seeds, write_section

HELD_OUT = "2000-2019"
METHODS = ("companion", "companion+route", "greedy", "random", "place-graph")
ROUTED = ("companion+route", "place-graph")  # the methods that follow the glasses' route
MAX_FORWARD_M, MAX_TURN_DEG = 0.5, 45.0
VIEW_RADIUS_M = 1.5  # the goal keyframes' views are from about 1.2 m (where the tour's wearer stood)
GREEDY_ACTIONS = np.array([(f, 0.0, t) for f in (0.0, 0.25, 0.5) for t in (-45.0, -22.5, 0.0, 22.5, 45.0)],
                          np.float32)  # (15, 3)


@dataclass
class Episode:
    method: str
    seed: int
    item: str
    success: bool = False
    reached_view: bool = False  # at some point within VIEW_RADIUS_M and facing the item
    steps: int = 0
    plan_ms: list[float] = field(default_factory=list)
    companion_ms: list[float] = field(default_factory=list)  # compute time the companion reports
    final_m: float = math.inf
    blocked: int = 0  # route methods: steps that ran into something (then the glasses took over for a while)


class Ctx:
    """What the methods share in one house: encoder, predictor, memory latents."""

    def __init__(self, house: House, encoder: Any, predictor: Any) -> None:
        import torch

        self.house, self.encoder, self.predictor, self.torch = house, encoder, predictor, torch
        self.memory = latents(predictor, house.patches)  # (N, D)

    def look(self, pose: Any) -> Any:
        """The device.perception.encoder.Encoding of what the wearer sees at `pose`."""
        return self.encoder.encode(self.house.render(pose))

    def latent(self, enc: Any) -> Any:
        """(D,) JEPA latent of an encoding."""
        with self.torch.inference_mode():
            return self.predictor.encode(self.torch.from_numpy(enc.patches)[None])[0]


def greedy(ctx: Ctx, s: Any, goal: Any) -> tuple[np.ndarray, float]:
    t0 = time.perf_counter()
    torch = ctx.torch
    with torch.inference_mode():
        a = torch.from_numpy(GREEDY_ACTIONS)
        e = ((ctx.predictor.predict(s[None].expand(len(a), -1), a) - goal) ** 2).mean(-1)
    return GREEDY_ACTIONS[int(torch.argmin(e))][None], (time.perf_counter() - t0) * 1000


def companion_actions(client: Any, ctx: Ctx, enc: Any, goal_latent: Any, ep: Episode, args: argparse.Namespace,
                      waypoint: tuple[float, float, float] | None = None) -> np.ndarray:
    """The first --execute actions of the companion's plan from the view `enc`, timed into `ep`."""
    plan = client.plan(ctx.latent(enc).numpy(), goal_latent.numpy(), waypoint=waypoint)
    ep.plan_ms.append(plan.round_trip_ms)
    ep.companion_ms.append(plan.compute_ms)
    return plan.actions[:args.execute]


def run_episode(method: str, start: Start, ctx: Ctx, graph: Any, client: Any, args: argparse.Namespace,
                rng: np.random.Generator) -> Episode:
    house, goal = ctx.house, start.goal
    ep = Episode(method, start.seed, goal.item)
    pose = start.pose
    goal_latent = ctx.memory[goal.keyframe]
    nav: RecedingHorizon | None = None  # the glasses' own navigation loop (device/navigation/follower.py)
    if method in ROUTED:
        if goal.answer.at is None:  # the glasses cannot say where it is: nothing to route to
            ep.final_m = math.hypot(goal.x - pose.x, goal.z - pose.z)
            return ep
        t0 = time.perf_counter()
        follow = Follower(graph, pose, goal.answer.at, house.items.get(goal.item), house.hfov_deg, house.aspect_hw,
                          elsewhere=goal.answer.elsewhere)
        ep.plan_ms.append((time.perf_counter() - t0) * 1000)
        plan = None if method == "place-graph" else (
            lambda enc, waypoint: companion_actions(client, ctx, enc, goal_latent, ep, args, waypoint))
        nav = RecedingHorizon(follow, plan, MAX_FORWARD_M, MAX_TURN_DEG)
    while ep.steps < args.budget and not ep.success:
        if method == "random":
            actions = rng.uniform([0.0, 0.0, -MAX_TURN_DEG], [MAX_FORWARD_M, 0.0, MAX_TURN_DEG],
                                  (1, 3)).astype(np.float32)
        else:
            enc = ctx.look(pose)
            if nav is not None:
                actions = nav.next_actions(pose, enc)
            elif method == "greedy":
                actions, ms = greedy(ctx, ctx.latent(enc), goal_latent)
                ep.plan_ms.append(ms)
            else:
                actions = companion_actions(client, ctx, enc, goal_latent, ep, args)
        for a in actions:
            before, pose = pose, house.step(pose, a)
            ep.steps += 1
            ep.reached_view |= house.success(pose, goal, VIEW_RADIUS_M)
            if house.success(pose, goal):
                ep.success = True
                break
            if nav is not None and nav.executed(before, pose, a):
                ep.blocked += 1
                break  # the rest of the plan was made for a step that did not happen
    ep.final_m = math.hypot(goal.x - pose.x, goal.z - pose.z)
    return ep


def answerer_version() -> str:
    """A hash of the code behind the assistant's locate answers: cached answers of other code are
    not reused."""
    h = hashlib.sha256()
    for f in ("device/answering/wm_answerer.py", "device/perception/perception.py", "worldmodel/belief.py",
              "worldmodel/chain.py"):
        h.update((ROOT / f).read_bytes())
    return h.hexdigest()[:12]


def start_companion(tmp: Path, checkpoint: Path | None, args: argparse.Namespace) -> tuple[Any, Any]:
    """The real companion on loopback, and a paired device client."""
    from device.navigation.companion_client import CompanionClient, CompanionConfig, pair

    proc = CompanionProcess(tmp, checkpoint or ROOT / "worldmodel" / "artifacts" / "jepa-v1.pt")
    proc.start()
    config = CompanionConfig(timeout_s=args.timeout_s, horizon=args.horizon, samples=args.samples,
                             iterations=args.iterations, max_forward_m=MAX_FORWARD_M, max_turn_deg=MAX_TURN_DEG,
                             waypoint_weight=args.waypoint_weight)
    return proc, CompanionClient(pair(proc.url, proc.code, tmp / "glasses"), config)


def summary(eps: list[Episode]) -> dict[str, Any]:
    ms = [m for e in eps for m in e.plan_ms]
    cms = [m for e in eps for m in e.companion_ms]
    won = [e.steps for e in eps if e.success]
    return {"episodes": len(eps), "success": sum(e.success for e in eps),
            "reached_view": sum(e.reached_view for e in eps),
            "median_steps_success": statistics.median(won) if won else None,
            "median_final_m": statistics.median([e.final_m for e in eps]),
            "plan_ms_median": statistics.median(ms) if ms else None,
            "plan_ms_p90": float(np.percentile(ms, 90)) if ms else None,
            "companion_ms_median": statistics.median(cms) if cms else None, "plans": len(ms),
            "blocked_steps": sum(e.blocked for e in eps)}


def render_section(s: dict[str, dict[str, Any]], args: argparse.Namespace, command: str, version: str,
                   houses: int, wall_s: float) -> str:
    ms = lambda v: "n/a" if v is None else f"{v:.0f}"  # noqa: E731
    rows = []
    for m in METHODS:
        r = s[m]
        rows.append(f"| {m} | {r['success']}/{r['episodes']} ({fmt(r['success'] / r['episodes'], True)}) | "
                    f"{fmt(r['reached_view'] / r['episodes'], True)} | "
                    f"{fmt(r['median_final_m'])} | {r['median_steps_success'] or 'n/a'} | {ms(r['plan_ms_median'])} / "
                    f"{ms(r['plan_ms_p90'])} | {ms(r['companion_ms_median'])} |")
    return "\n".join([
        f"Measured {dt.date.today().isoformat()} with `{command}` ({houses} held-out houses, seeds {args.seeds}, "
        f"{s[METHODS[0]]['episodes']} random starts, the same for every method; JEPA `{version}`; everything on "
        f"1 CPU thread of this 2-core machine, shared with other work; {wall_s / 60:.1f} min in all).",
        "",
        f"CEM on the companion: horizon {args.horizon}, {args.samples} samples, {args.iterations} iterations "
        f"(fewer than DINO-WM's 300 x 30, to fit the run in minutes on one CPU thread); MPC executes the first "
        f"{'action' if args.execute == 1 else f'{args.execute} actions'} of each plan, starting CEM from the "
        f"plain way to the route's next point. Budget {args.budget} actions of at most {MAX_FORWARD_M} m and "
        f"{MAX_TURN_DEG:.0f} degrees. Success: within 1 m of the item and facing it.",
        "",
        f"| method | success | within {VIEW_RADIUS_M} m and facing, at some point | median distance left (m) "
        "| median actions to success | time per plan, median / p90 (ms) "
        "| companion compute per plan, median (ms) |",
        "|---|---|---|---|---|---|---|",
        *rows,
        "",
        "Time per plan: companion methods, the device's round trip (sign, HTTP on loopback, CEM, parse); greedy, "
        "one batched predictor step over 15 actions; place graph, the route search once per episode. Rendering "
        "and encoding the view (common to every method but random) is not counted.",
        "",
        "Both route methods head for where the assistant itself says the item is (the default world model's "
        "locate answer, asked once the tour ends; an item it cannot place fails), and on the way home in on "
        "the item once the glasses see it (benchmarks/nav_follow.py). When a full turn at the end of the route "
        "does not see it, they go on to the next places the world model would look (at most 2, the lowest-energy "
        "places 2 m or more apart: `WorldModelAnswerer.elsewhere`). After a step that runs into something (cut "
        "short by a wall or a door frame: a plan that cut a corner), the route is found afresh from there and the "
        f"next {RECOVER_STEPS} steps are the place graph's (`Follower.blocked`; steps that ran into something: "
        f"companion + route {s['companion+route']['blocked_steps']}, place graph {s['place-graph']['blocked_steps']}). "
        "On the development houses 22-29 (48 starts), "
        "before that search, the place graph's 9 misses were 5 answers 3.7-11 m off (the assistant's world model "
        "placed the item wrong, issue 6), 2 items never seen on the way whose answer was 1.65 m off, one stop "
        "1.01 m away and one not facing the item from 0.6 m; the search took it from 39 to 41 and companion + route "
        "from 36 to 38, and the steps of the glasses' own after running into something took companion + route to 43 "
        "(the place graph 41 either way). The waypoint weight "
        f"({args.waypoint_weight:g} per squared metre) and the homing were chosen on development houses (seeds "
        "22-29; the development runs below), never on these.",
    ])


def main() -> int:
    from device.navigation.companion_client import CompanionConfig

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default=HELD_OUT, help=f"house seeds (default: {HELD_OUT}, held out)")
    ap.add_argument("--starts", type=int, default=6, help="random starts per house (default: 6)")
    ap.add_argument("--work", type=Path, default=ROOT / "out" / "bench", help="cache of tours and memories")
    ap.add_argument("--checkpoint", type=Path, default=None, help="JEPA checkpoint (default: the shipped one)")
    ap.add_argument("--budget", type=int, default=60, help="actions per episode (default: 60)")
    ap.add_argument("--horizon", type=int, default=5)
    ap.add_argument("--samples", type=int, default=64, help="CEM samples (default: 64)")
    ap.add_argument("--iterations", type=int, default=8, help="CEM iterations (default: 8)")
    ap.add_argument("--execute", type=int, default=1, help="actions executed per plan (default: 1)")
    ap.add_argument("--waypoint-weight", type=float, default=CompanionConfig.waypoint_weight,
                    help=f"companion + route: energy per squared metre from the waypoint (default: "
                         f"{CompanionConfig.waypoint_weight}, the device's)")
    ap.add_argument("--timeout-s", type=float, default=10.0,
                    help="device client timeout (default: 10: no fallback here)")
    ap.add_argument("--methods", default=",".join(METHODS), help="comma-separated subset of the methods")
    ap.add_argument("--no-write", action="store_true", help="print only; leave docs/BENCHMARKS.md alone")
    args = ap.parse_args()

    import torch
    from tqdm import tqdm

    torch.set_num_threads(1)
    from device.perception.encoder import EncoderConfig, make_encoder
    from device.navigation.place_graph import PlaceGraph
    from device.sim.record import RecordConfig, recorded
    from worldmodel.jepa import load_predictor

    began = time.perf_counter()
    methods = [m for m in args.methods.split(",") if m]
    predictor = load_predictor(args.checkpoint)
    encoder = make_encoder(EncoderConfig(threads=1))
    remembered = args.work / "nav-memory" / hashlib.sha256(encoder.space.encode()).hexdigest()[:12]
    answerer = answerer_version()
    episodes: list[Episode] = []
    with tempfile.TemporaryDirectory(prefix="ami-closed-loop-") as tmp:
        proc, client = start_companion(Path(tmp), args.checkpoint, args) if any(
            m.startswith("companion") for m in methods) else (None, None)
        try:
            seeds = parse_seeds(args.seeds)
            for seed in tqdm(seeds, desc="houses", unit="house"):
                session = recorded(args.work / "nav-sessions" / f"seed-{seed}", RecordConfig(seed=seed))
                memory = ensure_memory(session, remembered / f"seed-{seed}")
                answers = ensure_answers(session, remembered / f"answers-elsewhere-{seed}-{answerer}.json")
                house = House(seed, session, memory, answers)
                try:
                    ctx, graph = Ctx(house, encoder, predictor), PlaceGraph(house.places)
                    rng = np.random.default_rng([seed, 7])
                    for start in house.random_starts(rng, args.starts):
                        for m in methods:
                            episodes.append(run_episode(m, start, ctx, graph, client, args, rng))
                finally:
                    house.close()
        finally:
            if client is not None:
                client.close()
                proc.stop()
    wall = time.perf_counter() - began
    stats = {m: summary([e for e in episodes if e.method == m]) for m in methods}
    record = {"summary": stats, "episodes": [asdict(e) for e in episodes]}
    (args.work / "closed_loop.json").write_text(json.dumps(record, indent=1, default=float))
    command = "nice .venv/bin/python benchmarks/closed_loop.py " + " ".join(sys.argv[1:])
    print(json.dumps(stats, indent=1))
    if methods == list(METHODS):
        section = render_section(stats, args, command.strip(), predictor.version, len(seeds), wall)
        print(section)
        if not args.no_write:
            write_section("closed-loop", section, "## Closed-loop navigation to an item (issue 7)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
