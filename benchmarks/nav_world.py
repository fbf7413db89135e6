"""The world of the closed-loop benchmark: a recorded house, its memory, the item goals, and a
wearer who moves through the MiniWorld house by pose-delta actions and sees real rendered frames.

A house is one recorded session (`ami record-sim`): its memory is what `ami replay --memory`
stores from that tour (keyframes with poses and patches), so the place graph and the goal
keyframes come from a real tour. The items stay where the tour left them. A goal is an item at
rest and the last memory keyframe that saw it there from within GOAL_VIEW_M (else the closest
view; truth/frames.jsonl says what each frame saw). Each goal also carries where the assistant
itself says the item is (its locate answer at the end of the tour, `ensure_answers`): that is
what the glasses' place-graph fallback routes to.
Moves that would put the wearer's body (BODY_RADIUS_M) into a wall, a piece of furniture or an
item are cut short where they would collide (MiniWorld's own circle tests).
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from device.navigation.place_graph import Place, places_in
from device.session import Pose, read_jsonl, read_session

SUCCESS_RADIUS_M = 1.0
WALK_PITCH_DEG = -10.0  # the wearer's usual head pitch while walking (device/sim/wearer.py)
HIDDEN_Y_M = -50.0
MIN_START_DISTANCE_M = 2.0
BODY_RADIUS_M = 0.3  # the wearer's body in collisions (MiniWorld's agent is 0.4, a broad robot)
GOAL_VIEW_M = 1.5  # a goal keyframe saw the item from this close when the tour has such a view


@dataclass(frozen=True)
class Answer:
    at: tuple[float, float] | None  # the assistant's locate answer (x, z); None: it abstained
    elsewhere: tuple[tuple[float, float], ...] = ()  # where its world model would look next, in order


@dataclass(frozen=True)
class Goal:
    item: str
    x: float
    z: float
    keyframe: int  # index into House.places of the last keyframe that saw the item at rest
    answer: Answer


@dataclass(frozen=True)
class Start:
    seed: int
    goal: Goal
    pose: Pose


class House:
    """One held-out house: its MiniWorld env with the items where the tour left them, memory's
    places with their patches, and the goals."""

    def __init__(self, seed: int, session_dir: Path, memory_dir: Path, answers: dict[str, Answer],
                 size_px: int = 128) -> None:
        from device.sim.house import make_house_env
        from device.sim.layout import HouseConfig, generate_house
        from device.sim.record import horizontal_fov_deg
        from device.sim.wearer import WearerConfig, plan_session
        from memory.store import MemoryStore

        self.seed = seed
        session = read_session(session_dir)
        self.layout = generate_house(HouseConfig(seed=seed))
        plan = plan_session(self.layout, WearerConfig(fps=session.info.fps), seed)
        with MemoryStore.open_existing(memory_dir) as store:
            self.places: list[Place] = places_in(store)
            self.patches = np.stack([store.patches(p.keyframe_id) for p in self.places])  # (N, 196, D)
            self.items = {it.name: it for it in store.items()}  # enrolled on the tour
        self.env = make_house_env(self.layout, size_px, size_px)
        self.hfov_deg = horizontal_fov_deg(float(self.env.agent.cam_fov_y), size_px, size_px)
        self.aspect_hw = 1.0  # frames are size_px square
        end = plan.frames[-1]
        names = [it.name for it in self.layout.items]
        for nm, pose in zip(names, end.items):
            carried = end.carrying == nm
            self.env.items[nm].pos = np.array([pose.x, HIDDEN_Y_M if carried else pose.y, pose.z])
            self.env.items[nm].dir = pose.dir
        visible = {obj["i"]: set(obj["visible"]) for _, obj in read_jsonl(session_dir / "truth" / "frames.jsonl")}
        self.goals: list[Goal] = []
        for k, nm in enumerate(names):
            if end.carrying == nm:
                continue
            rest = end.items[k]
            at_rest = [j for j, p in enumerate(self.places) if nm in visible.get(p.frame, ())
                       and plan.frames[p.frame].carrying != nm
                       and math.dist((plan.frames[p.frame].items[k].x, plan.frames[p.frame].items[k].z),
                                     (rest.x, rest.z)) < 0.01]
            near = [j for j in at_rest if self._dist(j, rest.x, rest.z) <= GOAL_VIEW_M]
            if at_rest:  # the last close view, else the closest one
                best = near[-1] if near else min(at_rest, key=lambda j: self._dist(j, rest.x, rest.z))
                self.goals.append(Goal(nm, rest.x, rest.z, best, answers.get(nm, Answer(None))))

    def _dist(self, place: int, x: float, z: float) -> float:
        p = self.places[place].pose
        return math.hypot(p.x - x, p.z - z)

    def close(self) -> None:
        self.env.close()

    def blocked(self, x: float, z: float) -> bool:
        return bool(self.env.intersect(self.env.agent, np.array([x, 0.0, z]), BODY_RADIUS_M))

    def step(self, pose: Pose, action: np.ndarray) -> Pose:
        """The pose after `action` (forward_m, right_m, turn_deg). A step that would collide is cut
        short (to a half, a quarter, or nothing): the wearer walks until they touch; the turn happens."""
        from worldmodel.jepa import apply_action

        nxt = apply_action(pose, action)
        for f in (1.0, 0.5, 0.25, 0.0):
            x, z = pose.x + f * (nxt.x - pose.x), pose.z + f * (nxt.z - pose.z)
            if f == 0.0 or not self.blocked(x, z):
                return Pose(x, pose.y, z, nxt.yaw_deg, pose.pitch_deg)
        raise AssertionError("unreachable: f == 0 always returns")

    def render(self, pose: Pose) -> np.ndarray:
        """(H, W, 3) uint8: what the wearer sees at `pose`."""
        self.env.agent.pos = np.array([pose.x, 0.0, pose.z])
        self.env.agent.dir = math.radians(pose.yaw_deg)
        self.env.agent.cam_pitch = pose.pitch_deg
        return self.env.render_obs().copy()

    def success(self, pose: Pose, goal: Goal, radius_m: float = SUCCESS_RADIUS_M) -> bool:
        """Within radius_m of the item and facing it (inside half the field of view)."""
        dx, dz = goal.x - pose.x, goal.z - pose.z
        if math.hypot(dx, dz) > radius_m:
            return False
        bearing = math.degrees(math.atan2(-dz, dx))
        return abs((bearing - pose.yaw_deg + 180.0) % 360.0 - 180.0) <= self.hfov_deg / 2

    def random_starts(self, rng: np.random.Generator, n: int) -> list[Start]:
        """n random free poses, each with a random goal at least MIN_START_DISTANCE_M away."""
        out: list[Start] = []
        while len(out) < n and self.goals:
            goal = self.goals[int(rng.integers(len(self.goals)))]
            r = self.layout.rooms[int(rng.integers(len(self.layout.rooms)))].rect
            x, z = rng.uniform(r.min_x + 0.5, r.max_x - 0.5), rng.uniform(r.min_z + 0.5, r.max_z - 0.5)
            if self.blocked(x, z) or math.hypot(goal.x - x, goal.z - z) < MIN_START_DISTANCE_M:
                continue
            out.append(Start(self.seed, goal, Pose(float(x), 1.5, float(z), float(rng.uniform(-180, 180)),
                                                   WALK_PITCH_DEG)))
        return out


def ensure_memory(session_dir: Path, folder: Path) -> Path:
    """The memory that `ami replay SESSION --memory DIR` writes from the tour, built once."""
    if not (folder / "memory.db").exists():
        from device.app.replay import ReplayConfig, replay

        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
        try:
            replay(read_session(session_dir), None, memory_dir=tmp / "m", config=ReplayConfig(progress=False))
            (tmp / "m").rename(folder)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return folder


def ensure_answers(session_dir: Path, path: Path) -> dict[str, Answer]:
    """Where the default assistant says each of the house's items is, asked just after the tour
    ends ("where is my X?"), and where else its world model would look next
    (`WorldModelAnswerer.elsewhere`), computed once into `path` (JSON: item -> {"answer": [x, z] or
    null, "elsewhere": [[x, z], ...]})."""
    if not path.exists():
        from device.app.replay import ReplayConfig, replay
        from device.session import Utterance

        session = read_session(session_dir)
        names = [obj["name"] for _, obj in read_jsonl(session_dir / "truth" / "items.jsonl")]
        t_end = session.frames[-1].t + 1.0
        found: dict[str, dict[str, Any]] = {}

        def ask(assistant: Any) -> None:
            for nm in names:
                r = assistant.on_utterance(Utterance(t_end, f"where is my {nm}?"), t_end)
                at = None if r.abstain or r.position is None else [r.position[0], r.position[1]]
                others = [] if at is None else assistant.answerer.elsewhere(nm, t_end, r.position)
                found[nm] = {"answer": at, "elsewhere": [list(q) for q in others]}

        replay(session, None, config=ReplayConfig(progress=False), inspect=ask)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps(found, indent=1))
        tmp.replace(path)
    return {k: Answer(None if v["answer"] is None else (float(v["answer"][0]), float(v["answer"][1])),
                      tuple((float(x), float(z)) for x, z in v["elsewhere"]))
            for k, v in json.loads(path.read_text()).items()}


def latents(predictor: Any, patches: np.ndarray, batch: int = 256) -> Any:
    """(N, 196, 96) patches -> (N, D) JEPA latents (a torch tensor)."""
    import torch

    with torch.inference_mode():
        return torch.cat([predictor.encode(torch.from_numpy(np.ascontiguousarray(patches[i:i + batch], np.float32)))
                          for i in range(0, len(patches), batch)])
