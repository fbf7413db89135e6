"""The glasses' route follower (device/navigation/follower.py): the route to the answer, a
retarget once the item is seen, the scan at the end when it is not, and the receding-horizon step."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np

from device.navigation.follower import HOMING_STOP_M, RECOVER_STEPS, SCAN_DEG, Follower, RecedingHorizon
from device.navigation.place_graph import Place, PlaceGraph
from device.perception.encoder import Encoding
from device.perception.perception import project_point
from device.session import Pose

GRID = (14, 14)
HFOV = 60.0


def corridor() -> PlaceGraph:
    """Keyframes every 0.5 m along z = 0 from x = 0 to 6, then up x = 6 to z = 4: an L-shaped walk."""
    xz = [(x / 2, 0.0) for x in range(13)] + [(6.0, z / 2) for z in range(1, 9)]
    return PlaceGraph([Place(i, float(i), i, "s", Pose(x, 1.5, z, 0.0, -10.0)) for i, (x, z) in enumerate(xz)])


def view(item_cell: int | None, dim: int = 8) -> Encoding:
    """A frame whose patches are all e0, except the item's prototype e1 in `item_cell`."""
    patches = np.zeros((GRID[0] * GRID[1], dim), np.float32)
    patches[:, 0] = 1.0
    if item_cell is not None:
        patches[item_cell] = np.eye(dim, dtype=np.float32)[1]
    return Encoding(patches, GRID, patches.mean(axis=0))


ITEM = SimpleNamespace(prototypes=np.eye(8, dtype=np.float32)[1:2], threshold=0.8)


def walk(follow: Follower, end: Pose) -> Pose:
    """Pass every waypoint but the last on the way to `end`, as the wearer would."""
    for x, z in list(follow.targets[:-1]):
        follow.target(Pose(x, 1.5, z, 0.0, -10.0))
    return end


def test_route_goes_round_the_corner_to_the_answer() -> None:
    follow = Follower(corridor(), Pose(0.0, 1.5, 0.0, 0.0, -10.0), (6.0, 4.0), ITEM, HFOV, 1.0)
    assert follow.targets[-1] == (6.0, 4.0) and any(abs(x - 6.0) < 0.3 and abs(z) < 0.3 for x, z in follow.targets)
    x, z, radius = follow.target(Pose(0.0, 1.5, 0.0, 0.0, -10.0))
    assert radius == 0.0 and not follow.homing  # a waypoint on the way, not the end


def test_a_sighting_retargets_and_the_end_faces_it() -> None:
    follow = Follower(corridor(), Pose(0.0, 1.5, 0.0, 0.0, -10.0), (6.0, 4.0), ITEM, HFOV, 1.0)
    here = Pose(3.0, 1.5, 0.0, 0.0, -10.0)  # facing +x down the corridor
    follow.observe(view(9 * 14 + 7), here)  # the item low in view, just right of centre
    assert follow.homing and follow.in_view and follow.stop_m == HOMING_STOP_M
    x, z = follow.targets[-1]
    assert 4.5 < x < 6.5 and 0.0 < z < 0.5, (x, z)  # about 2.6 m ahead (its ray meets 0.45 m up), a little right
    follow.observe(view(None), here)
    assert not follow.in_view and follow.homing and follow.targets[-1] == (x, z)  # out of view: the target stays
    near = walk(follow, Pose(x - 0.3, 1.5, z, 90.0, -10.0))  # arrived, turned 90 degrees left of it
    turn = follow.end_action(near, 45.0)
    assert turn is not None and turn[0, 0] == 0.0 and turn[0, 2] == -45.0  # turn back right towards it


def test_not_seeing_it_at_the_end_scans_one_full_turn_then_stays() -> None:
    follow = Follower(corridor(), Pose(0.0, 1.5, 0.0, 0.0, -10.0), (6.0, 4.0), ITEM, HFOV, 1.0)
    there = walk(follow, Pose(6.0, 1.5, 3.4, -90.0, -10.0))  # 0.6 m short of the answer, facing it (+z)
    assert follow.arrived(there)
    turns = [follow.end_action(there, 45.0) for _ in range(10)]
    assert all(t is not None for t in turns)
    assert [float(t[0, 2]) for t in turns[:8]] == [SCAN_DEG] * 8 and float(turns[8][0, 2]) == 0.0
    assert follow.end_action(Pose(2.0, 1.5, 0.0, 0.0, -10.0), 45.0) is None  # mid-route: no end move


def test_not_seeing_it_after_a_full_turn_goes_on_to_where_else_it_may_be() -> None:
    """The answer (6, 4) is wrong; the world model's next place to look is (3, 0), back down the
    corridor. After one full scan at the answer the route leads there, and ends with a scan too."""
    follow = Follower(corridor(), Pose(0.0, 1.5, 0.0, 0.0, -10.0), (6.0, 4.0), ITEM, HFOV, 1.0,
                      elsewhere=[(3.0, 0.0)])
    there = walk(follow, Pose(6.0, 1.5, 3.4, -90.0, -10.0))
    turns = [follow.end_action(there, 45.0) for _ in range(9)]
    assert [float(t[0, 2]) for t in turns[:8]] == [SCAN_DEG] * 8 and turns[8] is None  # on the move again
    assert follow.answer == follow.goal == follow.targets[-1] == (3.0, 0.0) and not follow.elsewhere
    x, z, radius = follow.target(there)
    assert radius == 0.0 and x == 6.0  # back along the walked path first, not through the wall
    back = walk(follow, Pose(3.6, 1.5, 0.0, 0.0, -10.0))
    assert follow.arrived(back) and float(follow.end_action(back, 45.0)[0, 2]) == SCAN_DEG


def cell_of(pose: Pose, point: tuple[float, float, float]) -> int:
    """The grid cell in which `pose` sees `point`."""
    u, v = project_point(pose, HFOV, 1.0, point)
    return min(int(v * GRID[0]), GRID[0] - 1) * GRID[1] + min(int(u * GRID[1]), GRID[1] - 1)


def facing(x: float, z: float, item: tuple[float, float]) -> Pose:
    yaw = math.degrees(math.atan2(-(item[1] - z), item[0] - x))  # forward = (cos yaw, -sin yaw)
    return Pose(x, 1.5, z, yaw, -10.0)


def test_one_sighting_gives_the_bearing_and_the_answer_the_range() -> None:
    """Seen once, 3 m down the corridor, on the floor: the sighting's ray meets the 0.45 m plane
    about 2.1 m out, short of it. With the answer on that ray the target lies on it between the
    two; with the answer 1.5 m off to the side the target moves onto the ray, at about the
    answer's range."""
    item = (4.5, 0.0)
    here = facing(1.5, 0.0, item)
    for answer in ((4.4, 0.0), (4.5, 1.5)):
        follow = Follower(corridor(), Pose(0.0, 1.5, 0.0, 0.0, -10.0), answer, ITEM, HFOV, 1.0)
        follow.observe(view(cell_of(here, (item[0], 0.05, item[1]))), here)
        x, z = follow.targets[-1]
        assert abs(z) < 0.3, (answer, x, z)  # on the bearing the glasses saw
        assert 3.8 < x < 4.4, (answer, x, z)  # beyond the plane's point (3.6), short of the answer


def test_rays_from_several_places_cross_at_the_item() -> None:
    """The answer is 2.8 m off; sightings of an item on furniture (0.85 m up: each ray meets the
    plane beyond it) from three places put the target within 0.5 m of it."""
    item = (4.0, 2.0)
    follow = Follower(corridor(), Pose(0.0, 1.5, 0.0, 0.0, -10.0), (6.0, 4.0), ITEM, HFOV, 1.0)
    for x, z in ((1.0, 0.0), (2.5, 0.0), (4.0, 0.0)):
        pose = facing(x, z, item)
        follow.observe(view(cell_of(pose, (item[0], 0.85, item[1]))), pose)
    assert math.dist(follow.targets[-1], item) < 0.5, follow.targets[-1]


def test_a_step_that_runs_into_something_gets_a_new_route_and_the_glasses_steps() -> None:
    """A plan that cut the corner walked into the wall at (5.5, 0.6): the step was cut short. The
    route is found afresh from there and the next steps are the place graph's own; a step that
    went as far as it was told, or a turn on the spot, changes nothing."""
    follow = Follower(corridor(), Pose(0.0, 1.5, 0.0, 0.0, -10.0), (6.0, 4.0), ITEM, HFOV, 1.0)
    here = Pose(5.0, 1.5, 0.4, -45.0, -10.0)
    assert not follow.blocked(Pose(4.6, 1.5, 0.0, -45.0, -10.0), here, np.array([0.5, 0.0, 0.0]))
    assert not follow.blocked(here, here, np.array([0.0, 0.0, 45.0])) and follow.recover == 0
    old = list(follow.targets)
    stuck = Pose(5.1, 1.5, 0.5, -45.0, -10.0)
    assert follow.blocked(here, stuck, np.array([0.5, 0.0, 0.0]))  # 0.14 m of 0.5
    assert follow.recover == RECOVER_STEPS and follow.targets != old and follow.targets[-1] == (6.0, 4.0)
    assert math.dist(follow.targets[0], (stuck.x, stuck.z)) < 1.0  # first back onto the walked path nearby


def test_the_receding_horizon_plans_towards_the_next_target_and_takes_over_after_a_bump() -> None:
    """With a planner, each new view asks it for actions towards the next target, given as a
    waypoint seen from the wearer; after a step that ran into something, the next RECOVER_STEPS
    calls are the place graph's own steps; without a planner they always are."""
    asked: list[tuple[float, float, float]] = []

    def plan(enc: Encoding, waypoint: tuple[float, float, float]) -> np.ndarray:
        asked.append(waypoint)
        return np.array([[0.5, 0.0, 0.0], [0.5, 0.0, 0.0]], np.float32)

    start = Pose(0.0, 1.5, 0.0, 0.0, -10.0)
    nav = RecedingHorizon(Follower(corridor(), start, (6.0, 4.0), ITEM, HFOV, 1.0), plan, 0.5, 45.0)
    assert nav.next_actions(start, view(None)).shape == (2, 3) and len(asked) == 1
    x, z, _ = nav.follow.target(start)
    forward, right, radius = asked[0]
    assert math.isclose(forward, x) and math.isclose(right, z) and radius == 0.0  # facing +x: ahead is x
    here, stuck = Pose(5.0, 1.5, 0.4, -45.0, -10.0), Pose(5.1, 1.5, 0.5, -45.0, -10.0)
    assert nav.executed(here, stuck, np.array([0.5, 0.0, 0.0]))
    for _ in range(RECOVER_STEPS):
        step = nav.next_actions(stuck, view(None))
        assert step.shape == (1, 3) and len(asked) == 1  # the glasses' own steps, no plan asked
    nav.next_actions(stuck, view(None))
    assert len(asked) == 2
    alone = RecedingHorizon(Follower(corridor(), start, (6.0, 4.0), ITEM, HFOV, 1.0), None, 0.5, 45.0)
    step = alone.next_actions(start, view(None))
    assert step.shape == (1, 3) and 0.0 < step[0, 0] <= 0.5  # facing the first waypoint: walk
