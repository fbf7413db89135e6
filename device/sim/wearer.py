"""The scripted wearer: a deterministic plan of per-frame poses, item positions and speech.

`plan_session` needs no renderer. From a house layout and a seed it tours the rooms, enrolls
items ("this is my keys" while looking at them), carries items to other rooms and puts them
down, leaves carryable items behind, and asks "where are my keys?", including about an item that
is not in the house. The wearer walks at about 1 m/s, turns at about 90 deg/s, goes from room to
room only through doorway centres, and keeps `WALK_MARGIN_M` from walls, so it never passes
through a wall or a piece of furniture.

Angles follow MiniWorld and session format v1: yaw in radians with forward = (cos yaw, 0,
-sin yaw); pitch in degrees, negative looks down.
"""

from __future__ import annotations

import logging
import math

import numpy as np

from device.sim.layout import WALK_MARGIN_M, HouseLayout, Spot, facing_dir
from device.sim.script import (  # noqa: F401 (the script's records, re-exported)
    WALK_SPEED_MPS, TURN_SPEED_DPS, PITCH_SPEED_DPS, WALK_PITCH_DEG, LOOK_AROUND_PITCH_DEG, STAND_DISTANCE_M,
    CARRY_AHEAD_M, CARRY_BELOW_EYE_M, HIDDEN_Y_M, HAND_MOVE_S, LOOK_HOLD_S, FULL_CHORES_UNTIL_S, FULL_MAX_S,
    FULL_DETOUR_UNTIL_S, TURN_ALLOWANCE_S, CHORE_EXTRA_S, WRAP_UP_S, NEVER_SEEN, WearerConfig, ItemPose,
    FrameState, Event, Speech, WearerPlan,
)

log = logging.getLogger(__name__)


def _smooth(u: float) -> float:
    return u * u * (3.0 - 2.0 * u)


def _wrap(a: float) -> float:
    """An angle in radians wrapped to (-pi, pi]."""
    return -((-a + math.pi) % (2 * math.pi) - math.pi)


class _Script:
    """Builds the plan frame by frame; each action appends frames at 1/fps."""

    def __init__(self, layout: HouseLayout, config: WearerConfig, x: float, z: float, yaw: float) -> None:
        self.layout, self.fps, self.config = layout, config.fps, config
        self.x, self.z, self.yaw, self.pitch = x, z, yaw, WALK_PITCH_DEG
        self.carrying: str | None = None
        self.items = {it.name: it for it in layout.items}
        self.spot: dict[str, Spot] = {it.name: s for it, s in zip(layout.items, layout.start_spots)}
        self.rest = {it.name: ItemPose(s.x, s.y, s.z, facing_dir(*s.facing))
                     for it, s in zip(layout.items, layout.start_spots)}
        self.hand: dict[str, ItemPose] = {}  # items moving between rest and hand this frame
        self.frames: list[FrameState] = []
        self.events: list[Event] = []
        self.speech: list[Speech] = []
        self.enrolled: list[str] = []
        self._emit()

    @property
    def now(self) -> float:
        return len(self.frames) / self.fps

    @property
    def room(self) -> int:
        r = self.layout.room_at(self.x, self.z)
        assert r is not None, f"the wearer stands on a wall at ({self.x:.2f}, {self.z:.2f})"
        return r

    def carry_pose(self, name: str) -> ItemPose:
        h, c = self.items[name].height_m, self.config
        if c.carry_hidden:  # in a pocket: below the floor, where no view reaches
            return ItemPose(self.x, HIDDEN_Y_M, self.z, self.yaw)
        y = max(c.eye_height_m - h - c.carry_below_eye_m, 0.0)
        return ItemPose(self.x + c.carry_ahead_m * math.cos(self.yaw), y, self.z - c.carry_ahead_m * math.sin(self.yaw),
                        self.yaw)

    def _emit(self) -> None:
        poses = []
        for it in self.layout.items:
            if it.name in self.hand:
                poses.append(self.hand[it.name])
            elif it.name == self.carrying:
                poses.append(self.carry_pose(it.name))
            else:
                poses.append(self.rest[it.name])
        self.frames.append(FrameState(self.x, self.z, self.yaw, self.pitch, self.carrying, tuple(poses)))

    def _event(self, type_: str, name: str) -> None:
        p = self.rest[name]
        self.events.append(Event(round(self.now, 3), type_, name, self.layout.room_at(p.x, p.z), (p.x, p.y, p.z)))

    # Motion primitives

    def hold(self, seconds: float) -> None:
        for _ in range(max(1, round(seconds * self.fps))):
            self._emit()

    def rotate(self, yaw: float | None = None, pitch: float | None = None) -> None:
        """Turn to an unwrapped yaw and/or tilt to a pitch together, eased in and out."""
        y0, p0 = self.yaw, self.pitch
        y1 = y0 if yaw is None else yaw
        p1 = p0 if pitch is None else pitch
        secs = max(abs(math.degrees(y1 - y0)) / TURN_SPEED_DPS, abs(p1 - p0) / PITCH_SPEED_DPS)
        if secs < 1e-6:
            return
        n = max(1, math.ceil(secs * self.fps))
        for k in range(1, n + 1):
            u = _smooth(k / n)
            self.yaw, self.pitch = y0 + (y1 - y0) * u, p0 + (p1 - p0) * u
            self._emit()

    def face(self, x: float, z: float, y: float | None = None) -> None:
        """Turn the shortest way towards (x, z); with y, also tilt the head to look at that height."""
        yaw = self.yaw + _wrap(facing_dir(x - self.x, z - self.z) - self.yaw)
        eye = self.config.eye_height_m
        pitch = None if y is None else math.degrees(math.atan2(y - eye, math.hypot(x - self.x, z - self.z)))
        self.rotate(yaw, pitch)

    def walk_to(self, x: float, z: float) -> None:
        """Straight line inside one room (or through one doorway): turn, then walk."""
        dist = math.hypot(x - self.x, z - self.z)
        if dist < 0.05:
            return
        self.face(x, z)
        if abs(self.pitch - WALK_PITCH_DEG) > 1:
            self.rotate(pitch=WALK_PITCH_DEG)
        x0, z0 = self.x, self.z
        n = max(1, math.ceil(dist / WALK_SPEED_MPS * self.fps))
        for k in range(1, n + 1):
            self.x, self.z = x0 + (x - x0) * k / n, z0 + (z - z0) * k / n
            self._emit()

    def waypoints(self, a: tuple[float, float], b: tuple[float, float]) -> list[tuple[float, float]]:
        """From a to b, room to room through doorway centres, WALK_MARGIN_M off the walls."""
        ra, rb = self.layout.room_at(*a), self.layout.room_at(*b)
        assert ra is not None and rb is not None, f"{a} or {b} is not inside a room"
        points = []
        for door in self.layout.route(ra, rb):
            dx, dz = door.step_from(ra)
            points += [(door.x - dx * WALK_MARGIN_M, door.z - dz * WALK_MARGIN_M),
                       (door.x + dx * WALK_MARGIN_M, door.z + dz * WALK_MARGIN_M)]
            ra = door.other(ra)
        return points + [b]

    def path_s(self, points: list[tuple[float, float]]) -> float:
        """About how long walking through `points` takes: metres at walking speed, plus turns."""
        metres = sum(math.dist(p, q) for p, q in zip(points, points[1:]))
        return metres / WALK_SPEED_MPS + len(points) * TURN_ALLOWANCE_S

    def go_to(self, x: float, z: float) -> None:
        for p in self.waypoints((self.x, self.z), (x, z)):
            self.walk_to(*p)

    def look_around(self, degrees: float = 360.0) -> None:
        self.rotate(pitch=LOOK_AROUND_PITCH_DEG)
        self.rotate(yaw=self.yaw + math.radians(degrees))
        self.rotate(pitch=WALK_PITCH_DEG)

    # Actions with items

    def stand_point(self, spot: Spot) -> tuple[float, float]:
        rect = self.layout.rooms[spot.room].rect
        return rect.clamp(spot.x + spot.facing[0] * STAND_DISTANCE_M, spot.z + spot.facing[1] * STAND_DISTANCE_M,
                          WALK_MARGIN_M)

    def look_at_item(self, name: str) -> None:
        spot = self.spot[name]
        self.go_to(*self.stand_point(spot))
        self.face(spot.x, spot.z, spot.y + self.items[name].height_m / 2)

    def say(self, text: str, name: str, kind: str) -> None:
        self.hold(0.3)
        self.speech.append(Speech(round(self.now, 3), text, name, kind))

    def enroll(self, name: str) -> None:
        self.look_at_item(name)
        self.say(f"this is my {name}", name, "enroll")
        self._event("enroll", name)
        self.enrolled.append(name)
        self.hold(LOOK_HOLD_S)

    def _move_hand(self, name: str, a: ItemPose, b: ItemPose) -> None:
        n = max(1, round(HAND_MOVE_S * self.fps))
        for k in range(1, n + 1):
            u = _smooth(k / n)
            self.hand[name] = ItemPose(a.x + (b.x - a.x) * u, a.y + (b.y - a.y) * u, a.z + (b.z - a.z) * u,
                                       a.dir + _wrap(b.dir - a.dir) * u)
            self._emit()
        del self.hand[name]

    def pick_up(self, name: str) -> None:
        assert self.carrying is None, f"already carrying {self.carrying}"
        self.look_at_item(name)
        self.hold(0.5)
        self._event("pickup", name)
        self._move_hand(name, self.rest[name], self.carry_pose(name))
        self.carrying = name
        self.rotate(pitch=WALK_PITCH_DEG)

    def put_down(self, spot: Spot) -> None:
        name = self.carrying
        assert name is not None, "put_down while carrying nothing"
        self.go_to(*self.stand_point(spot))
        self.face(spot.x, spot.z, spot.y + self.items[name].height_m / 2)
        rest = ItemPose(spot.x, spot.y, spot.z, self.yaw)
        self._move_hand(name, self.carry_pose(name), rest)
        self.carrying, self.rest[name], self.spot[name] = None, rest, spot
        self._event("putdown", name)
        self.hold(1.5)
        self.rotate(pitch=WALK_PITCH_DEG)

    def ask(self, name: str) -> None:
        """'where are my X?' (only while carrying nothing, and about an item at rest)."""
        assert self.carrying is None, "queries are asked with empty hands"
        plural = self.items[name].plural if name in self.items else name.endswith("s")
        self.say(f"where {'are' if plural else 'is'} my {name}?", name, "query")
        if name in self.items:
            self._event("query", name)
        else:
            self.events.append(Event(round(self.now, 3), "query", name, None, None))
        self.hold(LOOK_HOLD_S)

    def free_spot(self, room: int, rng: np.random.Generator) -> Spot:
        used = set(self.spot.values())
        free = [s for s in self.layout.rooms[room].spots if s not in used]
        assert free, f"room {room} has no free spot"
        surfaces = [s for s in free if s.on != "floor"]
        pool = surfaces if surfaces and rng.random() < 0.6 else free
        return pool[int(rng.integers(len(pool)))]

    def has_free_spot(self, room: int) -> bool:
        return bool(set(self.layout.rooms[room].spots) - set(self.spot.values()))

    def neighbour(self, room: int, rng: np.random.Generator, avoid: int | None = None) -> int:
        rooms = sorted({d.other(room) for d in self.layout.doors if room in (d.room_a, d.room_b)})
        pool = [r for r in rooms if r != avoid] or rooms
        return pool[int(rng.integers(len(pool)))]

    def resting_in(self, room: int) -> list[str]:
        return [it.name for it in self.layout.items if it.name != self.carrying and self.spot[it.name].room == room]


def _left_behind(layout: HouseLayout, fps: float, frames: list[FrameState], events: list[Event]) -> list[Event]:
    """A carryable item put down, then the wearer leaves that room before picking it up again."""
    out = []
    carryable = {it.name for it in layout.items if it.carryable}
    for k, ev in enumerate(events):
        if ev.type != "putdown" or ev.item not in carryable or ev.room is None:
            continue
        later = [e.t for e in events[k + 1:] if e.type == "pickup" and e.item == ev.item]
        rect = layout.rooms[ev.room].rect
        for i in range(round(ev.t * fps), len(frames)):
            t = round(i / fps, 3)
            if later and t >= later[0]:
                break
            if not rect.contains(frames[i].x, frames[i].z):
                out.append(Event(t, "left_behind", ev.item, ev.room, ev.position, put_t=ev.t))
                break
    return out


def plan_session(layout: HouseLayout, config: WearerConfig, seed: int) -> WearerPlan:
    """The wearer's whole session, deterministic in (layout, config, seed)."""
    rng = np.random.default_rng([seed, 2])
    never = NEVER_SEEN[int(rng.integers(len(NEVER_SEEN)))]
    first = layout.items[0]  # always carryable (see layout._choose_items)
    start = layout.start_spots[0].room if config.short else int(rng.integers(len(layout.rooms)))
    cx, cz = layout.rooms[start].rect.centre
    s = _Script(layout, config, cx, cz, float(rng.uniform(-math.pi, math.pi)))
    if config.short:
        _short(s, rng, first.name, never)
    else:
        _full(s, rng, never)
    s.hold(1.5)
    events = sorted(s.events + _left_behind(layout, config.fps, s.frames, s.events), key=lambda e: e.t)
    plan = WearerPlan(config.fps, tuple(s.frames), tuple(events), tuple(s.speech))
    log.debug("plan seed %d: %.1f s, %d events, %d utterances", seed, plan.duration_s, len(events), len(s.speech))
    return plan


def _short(s: _Script, rng: np.random.Generator, name: str, never: str) -> None:
    """Enroll an item, carry it to the next room, leave it there, ask about it and about `never`."""
    home = s.room
    s.look_around(270.0)
    s.enroll(name)
    s.pick_up(name)
    there = s.neighbour(home, rng)
    if not s.has_free_spot(there):
        there = next(r.id for r in s.layout.rooms if r.id != home and s.has_free_spot(r.id))
    s.put_down(s.free_spot(there, rng))
    nxt = s.neighbour(there, rng, avoid=home)
    s.go_to(*s.layout.rooms[nxt].rect.centre)
    others = [n for n in s.resting_in(nxt) if n != name]
    if others and s.now < 27.0:
        s.enroll(others[0])
    s.ask(name)
    s.ask(never)


def _full(s: _Script, rng: np.random.Generator, never: str) -> None:
    """Tour every room enrolling what is there, then move things around, asking along the way."""
    layout = s.layout
    tour: list[int] = []
    stack = [s.room]
    while stack:  # depth-first, neighbours in random order
        r = stack.pop()
        if r in tour:
            continue
        tour.append(r)
        neighbours = sorted({d.other(r) for d in layout.doors if r in (d.room_a, d.room_b)})
        stack += [int(x) for x in rng.permutation(neighbours)]
    never_at = int(rng.integers(1, len(tour) + 1))
    for k, room in enumerate(tour):
        s.go_to(*layout.rooms[room].rect.centre)
        s.look_around()
        for name in [n for n in s.resting_in(room) if n not in s.enrolled]:
            s.enroll(name)
        if k == 1 and (earlier := [n for n in s.enrolled if s.spot[n].room != room]):
            s.ask(earlier[int(rng.integers(len(earlier)))])
        if k == never_at:
            s.ask(never)
    pending: list[str] = []
    last: str | None = None
    chores = 0
    while chores < 4:
        free = [r.id for r in layout.rooms if s.has_free_spot(r.id)]
        pool = [n for n in s.enrolled if n != last and (chores > 0 or s.items[n].carryable)
                and set(free) - {s.spot[n].room}]
        if not pool:
            break
        name = pool[int(rng.integers(len(pool)))]
        rooms = [r for r in free if r != s.spot[name].room]
        spot = s.free_spot(rooms[int(rng.integers(len(rooms)))], rng)
        at_item = s.stand_point(s.spot[name])
        walk = s.waypoints((s.x, s.z), at_item) + s.waypoints(at_item, s.stand_point(spot))
        if chores > 0 and (s.now > FULL_CHORES_UNTIL_S
                           or s.now + s.path_s([(s.x, s.z)] + walk) + CHORE_EXTRA_S > FULL_MAX_S - WRAP_UP_S):
            break
        s.pick_up(name)
        s.put_down(spot)
        last, chores = name, chores + 1
        pending.append(name)
        if rng.random() < 0.5 and s.now < FULL_DETOUR_UNTIL_S:  # else the wrap-up below asks
            s.go_to(*layout.rooms[s.neighbour(s.room, rng)].rect.centre)
            s.look_around(180.0)
            s.ask(pending.pop(0))
    s.go_to(*layout.rooms[s.neighbour(s.room, rng)].rect.centre)  # leave the last room too
    for k, name in enumerate(dict.fromkeys(pending[:1] + pending[-1:])):  # the first (carryable) and the last
        if k == 0 or s.now < FULL_MAX_S - 8.0:
            s.ask(name)
    if never_at >= len(tour):
        s.ask(never)
    if not pending:
        s.ask(s.enrolled[int(rng.integers(len(s.enrolled)))])
