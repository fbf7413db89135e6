"""The MiniWorld simulator: house layout, scripted wearer, and recorded sessions with truth/."""

from __future__ import annotations

import json
import math
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from device.session import read_session
from device.sim.errors import SimError
from device.sim.layout import DOOR_WIDTH_M, WALK_MARGIN_M, HouseConfig, HouseLayout, generate_house
from device.sim.record import RecordConfig, horizontal_fov_deg, record_session, visible_items
from device.sim.wearer import FrameState, ItemPose, WearerConfig, plan_session

SEEDS = [0, 1, 7, 12, 33]


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _walls(layout: HouseLayout) -> list[tuple[float, float, float, float]]:
    """Every wall piece (x0, z0, x1, z1) with the doorway openings cut out."""
    pieces = []
    for room in layout.rooms:
        r = room.rect
        for x0, z0, x1, z1 in [(r.min_x, r.min_z, r.max_x, r.min_z), (r.min_x, r.max_z, r.max_x, r.max_z),
                               (r.min_x, r.min_z, r.min_x, r.max_z), (r.max_x, r.min_z, r.max_x, r.max_z)]:
            cuts = sorted((d.z if x0 == x1 else d.x) for d in layout.doors
                          if (x0 == x1 == d.x and d.normal[0] and z0 < d.z < z1)
                          or (z0 == z1 == d.z and d.normal[1] and x0 < d.x < x1))
            lo = z0 if x0 == x1 else x0
            for c in cuts + [None]:
                hi = (z1 if x0 == x1 else x1) if c is None else c - DOOR_WIDTH_M / 2
                pieces.append((x0, lo, x0, hi) if x0 == x1 else (lo, z0, hi, z0))
                if c is not None:
                    lo = c + DOOR_WIDTH_M / 2
    return pieces


def _crosses(p: tuple[float, float], q: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> bool:
    def side(u: tuple[float, float], v: tuple[float, float], w: tuple[float, float]) -> float:
        return (v[0] - u[0]) * (w[1] - u[1]) - (v[1] - u[1]) * (w[0] - u[0])
    return side(p, q, a) * side(p, q, b) < 0 and side(a, b, p) * side(a, b, q) < 0


@pytest.mark.parametrize("bad", [{"seed": -1}, {"width": 8}, {"height": 4096}, {"fps": 0.0}, {"short": "yes"}])
def test_record_config_names_the_bad_field(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=f"RecordConfig.{next(iter(bad))}"):
        RecordConfig(**bad)


def test_horizontal_fov_follows_the_aspect_ratio() -> None:
    assert horizontal_fov_deg(60.0, 128, 128) == pytest.approx(60.0)
    assert horizontal_fov_deg(60.0, 96, 64) == pytest.approx(2 * math.degrees(math.atan(math.tan(math.pi / 6) * 1.5)))


@pytest.mark.parametrize("seed", SEEDS)
def test_house_is_deterministic_and_well_formed(seed: int) -> None:
    layout = generate_house(HouseConfig(seed=seed))
    assert layout == generate_house(HouseConfig(seed=seed))
    assert 3 <= len(layout.rooms) <= 5 and 3 <= len(layout.items) <= 6
    assert len({it.name for it in layout.items}) == len(layout.items)
    assert any(it.carryable for it in layout.items)
    assert len({(r.floor, r.wall) for r in layout.rooms}) == len(layout.rooms), "rooms should look distinct"
    for room in layout.rooms:
        for f in room.furniture:
            assert room.rect.contains(f.x, f.z) and not room.rect.contains(f.x, f.z, WALK_MARGIN_M - 0.3)
        for s in room.spots:
            assert layout.room_at(s.x, s.z) == room.id
    for d in layout.doors:  # a door sits on the wall the two rooms share
        a, b = layout.rooms[d.room_a].rect, layout.rooms[d.room_b].rect
        assert (a.max_x == b.min_x == d.x) if d.normal[0] else (a.max_z == b.min_z == d.z)
    for r in layout.rooms:  # every room is reachable
        layout.route(0, r.id)


def _house_and_plan(seed: int, short: bool):
    n = 3 if short else None
    layout = generate_house(HouseConfig(seed=seed, n_rooms=n, n_items=n))
    return layout, plan_session(layout, WearerConfig(short=short), seed)


@pytest.mark.parametrize("short", [True, False])
@pytest.mark.parametrize("seed", SEEDS)
def test_wearer_walks_through_doorways_never_walls_or_furniture(seed: int, short: bool) -> None:
    layout, plan = _house_and_plan(seed, short)
    assert (30.0 <= plan.duration_s <= 45.0) if short else (120.0 <= plan.duration_s <= 180.0)
    walls = _walls(layout)
    furniture = [f for r in layout.rooms for f in r.furniture]
    for f0, f1 in zip(plan.frames, plan.frames[1:]):
        assert math.hypot(f1.x - f0.x, f1.z - f0.z) <= 1.0 / plan.fps + 1e-6, "faster than 1 m/s"
        for x0, z0, x1, z1 in walls:
            assert not _crosses((f0.x, f0.z), (f1.x, f1.z), (x0, z0), (x1, z1)), f"walked through a wall at t={f1}"
        assert all(math.hypot(f1.x - f.x, f1.z - f.z) > 0.7 for f in furniture)


@pytest.mark.parametrize("short", [True, False])
@pytest.mark.parametrize("seed", SEEDS)
def test_wearer_script_has_the_required_moments(seed: int, short: bool) -> None:
    layout, plan = _house_and_plan(seed, short)
    types = [e.type for e in plan.events]
    assert {"enroll", "pickup", "putdown", "left_behind", "query"} <= set(types)
    assert [e.t for e in plan.events] == sorted(e.t for e in plan.events)
    names = {it.name for it in layout.items}
    queries = [e for e in plan.events if e.type == "query"]
    assert any(q.item not in names and q.position is None for q in queries), "no never-seen query"
    for q in queries:  # asked with empty hands, about items at rest
        frame = plan.frames[round(q.t * plan.fps)]
        assert frame.carrying is None
    for ev in (e for e in plan.events if e.type == "putdown"):
        pickup = max(e.t for e in plan.events if e.type == "pickup" and e.item == ev.item and e.t < ev.t)
        from_room = next(e.room for e in plan.events if e.type == "pickup" and e.t == pickup)
        assert ev.room != from_room, "items are carried to another room"
    assert all(s.text.startswith(("this is my ", "where is my ", "where are my ")) for s in plan.speech)


def test_visible_items_needs_the_item_drawn_at_its_centre() -> None:
    items = (ItemPose(3.0, 0.0, 0.0, 0.0), ItemPose(-3.0, 0.0, 0.0, 0.0), ItemPose(3.0, 0.0, -1.0, 0.0))
    frame = FrameState(0.0, 0.0, 0.0, 0.0, None, items)  # at the origin, facing +x, level
    names, heights, radii = ["ahead", "behind", "left"], [0.3, 0.3, 0.3], [0.2, 0.2, 0.2]
    # yaw 0 faces +x and +z is on the right, so (3, 0, -1) is ahead and to the left. With a 60 deg
    # fov at 64 x 64 px, "ahead" (centre 3 m away, 1.35 m below the eye) lands on row 56, column 32,
    # and "left" on row 56, column 13.
    bare = np.full((64, 64), 50.0, np.float32)
    drawn = bare.copy()
    drawn[55:58, 31:34] = 2.9  # the "ahead" item's surface
    drawn[55:58, 12:15] = 2.9  # something 2.9 m away where "left" (3.16 m) should be: itself
    assert visible_items(frame, names, heights, radii, drawn, bare, 60.0, 60.0) == ["ahead", "left"]
    wall = np.full((64, 64), 1.0, np.float32)  # a wall 1 m ahead, with or without items
    assert visible_items(frame, names, heights, radii, wall, wall, 60.0, 60.0) == []
    other = bare.copy()
    other[55:58, 31:34] = 1.5  # another item in front of "ahead"
    assert visible_items(frame, names, heights, radii, other, bare, 60.0, 60.0) == []


def test_missing_espeak_says_how_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import device.sim.record as rec

    monkeypatch.setattr(rec.shutil, "which", lambda name: None)
    with pytest.raises(SimError, match="apt-get install espeak-ng sox"):
        record_session(tmp_path / "s", RecordConfig(seed=0, short=True), progress=False)
    assert not (tmp_path / "s").exists()


@pytest.mark.slow
def test_short_session_reads_back_with_the_configured_frames(sim_short_session: Path,
                                                           sim_short_config: RecordConfig) -> None:
    session = read_session(sim_short_session)
    w, h = sim_short_config.width, sim_short_config.height
    assert (session.info.width, session.info.height, session.info.source) == (w, h, "miniworld")
    assert session.info.hfov_deg == pytest.approx(horizontal_fov_deg(60.0, w, h), abs=1e-3)
    assert 30.0 <= session.duration_s <= 45.0
    for i in (0, len(session.frames) // 2, len(session.frames) - 1):
        assert session.load_frame(i).shape == (h, w, 3)
    assert all(f.pose is not None and f.pose.y == pytest.approx(1.5) for f in session.frames)
    assert len(_lines(sim_short_session / "truth" / "frames.jsonl")) == len(session.frames)
    items = _lines(sim_short_session / "truth" / "items.jsonl")
    assert len(items) == 3 and set(items[0]) == {"name", "mesh", "look", "carryable", "height_m"}
    rooms = json.loads((sim_short_session / "truth" / "rooms.json").read_text())["rooms"]
    assert [r["id"] for r in rooms] == [0, 1, 2]


@pytest.mark.slow
def test_visible_items_lie_inside_the_field_of_view_of_the_pose(sim_short_session: Path) -> None:
    """Checks the pose convention: forward = (cos yaw, 0, -sin yaw), pitch < 0 looks down."""
    session = read_session(sim_short_session)
    truth = sim_short_session / "truth"
    heights = {it["name"]: it["height_m"] for it in _lines(truth / "items.jsonl")}
    events = _lines(truth / "events.jsonl")
    frames = _lines(truth / "frames.jsonl")
    rest: dict[str, list[tuple[float, float, dict[str, float]]]] = {}  # item -> [(from_t, to_t, position)]
    for name in heights:
        mine = [e for e in events if e["item"] == name and e["type"] in ("enroll", "pickup", "putdown")]
        since, pos = 0.0, mine[0]["position"] if mine else None
        for e in mine:
            if e["type"] == "pickup":
                rest.setdefault(name, []).append((since, e["t"], pos))
                pos = None
            elif e["type"] == "putdown":
                since, pos = e["t"], e["position"]
        if pos is not None:
            rest.setdefault(name, []).append((since, math.inf, pos))
    tx = math.tan(math.radians(session.info.hfov_deg) / 2)
    ty = math.tan(math.radians(30.0))
    checked = 0
    for fr, tr in zip(session.frames, frames):
        for name in tr["visible"]:
            pos = next((p for a, b, p in rest.get(name, []) if a < fr.t < b), None)
            if pos is None:
                continue
            pose = fr.pose
            assert pose is not None
            yaw, pitch = math.radians(pose.yaw_deg), math.radians(pose.pitch_deg)
            fwd = np.array([math.cos(pitch) * math.cos(yaw), math.sin(pitch), -math.cos(pitch) * math.sin(yaw)])
            right = np.array([math.sin(yaw), 0.0, math.cos(yaw)])
            d = np.array([pos["x"] - pose.x, pos["y"] + heights[name] / 2 - pose.y, pos["z"] - pose.z])
            zc = d @ fwd
            assert zc > 0 and abs(d @ right) / zc <= tx + 1e-3, f"{name} outside the hfov at t={fr.t}"
            assert abs(d @ np.cross(right, fwd)) / zc <= ty + 1e-3, f"{name} outside the vfov at t={fr.t}"
            checked += 1
    assert checked > 20
    for e in (e for e in events if e["type"] == "enroll"):  # the wearer looks at what it names
        assert e["item"] in frames[round(e["t"] * session.info.fps)]["visible"]


@pytest.mark.slow
def test_queries_and_left_behind_truth(sim_short_session: Path) -> None:
    truth = sim_short_session / "truth"
    queries = _lines(truth / "queries.jsonl")
    never = [q for q in queries if not q["exists"]]
    assert len(never) == 1 and never[0]["seen"] is False and never[0]["room"] is None
    assert never[0]["position"] is None
    seen = [q for q in queries if q["exists"]]
    assert seen and all(q["seen"] and not q["carried"] and q["room"] is not None for q in seen)
    left = _lines(truth / "left_behind.jsonl")
    assert len(left) == 1 and left[0]["put_t"] < left[0]["t"]
    assert set(left[0]) == {"t", "put_t", "item", "room", "position"}
    utterances = read_session(sim_short_session).utterances
    assert [q["t"] for q in queries] == [u.t for u in utterances if u.text.startswith("where")]


@pytest.mark.slow
def test_audio_is_16k_mono_and_speaks_at_each_utterance(sim_short_session: Path) -> None:
    with wave.open(str(sim_short_session / "audio.wav"), "rb") as wf:
        assert (wf.getframerate(), wf.getnchannels(), wf.getsampwidth()) == (16_000, 1, 2)
        pcm = np.frombuffer(wf.readframes(wf.getnframes()), dtype="<i2").astype(np.float32) / 32768
    session = read_session(sim_short_session)
    assert len(pcm) / 16_000 >= session.duration_s
    for u in session.utterances:
        assert u.audio is not None and u.audio[0] == u.t and 0.5 < u.audio[1] - u.audio[0] < 3.0
        span = pcm[int(u.audio[0] * 16_000):int(u.audio[1] * 16_000)]
        assert np.sqrt(np.mean(span ** 2)) > 0.02, f"silence where {u.text!r} should be"
    assert np.abs(pcm[: int(session.utterances[0].t * 16_000)]).max() == 0.0


@pytest.mark.slow
def test_same_seed_records_the_same_session(sim_short_session: Path, sim_short_config: RecordConfig,
                                            tmp_path: Path) -> None:
    again = record_session(tmp_path / "again", sim_short_config, progress=False)
    names = ["frames.jsonl", "utterances.jsonl", "session.json"]
    names += [f"truth/{p.name}" for p in (sim_short_session / "truth").iterdir()]
    for name in names:
        assert (again / name).read_bytes() == (sim_short_session / name).read_bytes(), name


# -- domain shifts (issue 21) ---------------------------------------------------------------------
@pytest.mark.parametrize("specs, looks, carry, camera", [
    ((), False, "default", (60.0, 1.5)), (("looks",), True, "default", (60.0, 1.5)),
    (("carry=hidden",), False, "hidden", (60.0, 1.5)), (("looks", "carry=low"), True, "low", (60.0, 1.5)),
    (("camera=75@1.65",), False, "default", (75.0, 1.65)),
])
def test_shift_axes_parse_alone_and_together(specs: tuple[str, ...], looks: bool, carry: str,
                                             camera: tuple[float, float]) -> None:
    from device.sim.shift import parse_shift

    s = parse_shift(specs, seed=5)
    assert (s.looks, s.carry, s.camera) == (looks, carry, camera) and parse_shift(specs, seed=5) == s
    assert parse_shift(s.names(), seed=5) == s  # what truth/shift.json says reads back


@pytest.mark.parametrize("bad", ["colour", "carry=pocket", "looks=7", "camera=wide", "camera=200@1.5"])
def test_a_bad_shift_names_itself(bad: str) -> None:
    from device.sim.record import RecordConfig

    with pytest.raises(ValueError, match=f"--shift {bad}"):
        RecordConfig(seed=1, shift=(bad,))


def test_random_shift_is_deterministic_per_seed_and_varies_across_seeds() -> None:
    from device.sim.shift import parse_shift

    draws = {parse_shift(("random",), seed) for seed in range(40)}
    assert all(parse_shift(("random",), seed) == parse_shift(("random",), seed) for seed in range(5))
    assert {d.carry for d in draws} == {"ahead", "low", "hidden"} and all(d.looks for d in draws)
    vfov, eye = np.array([d.camera for d in draws]).T
    assert 50 <= vfov.min() < 60 < 80 < vfov.max() <= 90 and 1.4 <= eye.min() < 1.5 < 1.7 < eye.max() <= 1.8
    assert parse_shift(("camera",), 7).camera == parse_shift(("camera",), 7).camera != (60.0, 1.5)


def test_looks_change_the_items_not_the_house() -> None:
    from device.sim.layout import HouseConfig, generate_house

    plain = generate_house(HouseConfig(seed=12))
    varied = generate_house(HouseConfig(seed=12, varied_looks=True))
    assert plain.rooms == varied.rooms and plain.start_spots == varied.start_spots
    assert [i.name for i in plain.items] == [i.name for i in varied.items]
    assert [i.look for i in plain.items] != [i.look for i in varied.items]


@pytest.mark.slow
def test_a_hidden_carry_is_never_in_view(tmp_path: Path) -> None:
    """carry=hidden: between pick-up and put-down the carried item is in no frame's view, but for the
    hand taking it out to put it down (the last HAND_MOVE_S of the carry)."""
    from device.sim.record import RecordConfig, record_session

    out = record_session(tmp_path / "hidden", RecordConfig(seed=3, width=64, height=64, short=True,
                                                           shift=("carry=hidden",)), progress=False)
    frames = [json.loads(line) for line in (out / "truth" / "frames.jsonl").read_text().splitlines()]
    from device.sim.wearer import HAND_MOVE_S

    taking_out = round(HAND_MOVE_S * 10)  # frames at 10 fps
    carried = [f for k, f in enumerate(frames) if f["carrying"]
               and all(g["carrying"] == f["carrying"] for g in frames[k:k + taking_out + 1])]
    assert carried and not any(f["carrying"] in f["visible"] for f in carried)
    assert json.loads((out / "truth" / "shift.json").read_text()) == {"shift": ["carry=hidden"]}


@pytest.mark.slow
def test_another_camera_reaches_the_session_as_a_headset_gives_it(tmp_path: Path) -> None:
    """camera=VFOV@EYE: session.json's hfov_deg and every pose's y are that camera's, and the items the
    wearer looks at are still in view (the script aims the head from the new eye height)."""
    out = record_session(tmp_path / "cam", RecordConfig(seed=3, width=64, height=48, short=True,
                                                        shift=("camera=80@1.75",)), progress=False)
    session = read_session(out)
    assert session.info.hfov_deg == pytest.approx(horizontal_fov_deg(80.0, 64, 48), abs=1e-3)
    assert all(fr.pose is not None and fr.pose.y == pytest.approx(1.75) for fr in session.frames)
    frames = [json.loads(line) for line in (out / "truth" / "frames.jsonl").read_text().splitlines()]
    assert sum(bool(f["visible"]) for f in frames) > len(frames) // 4
