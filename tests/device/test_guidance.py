"""Spoken guidance from known actions and waypoints, and the place-graph route on a synthetic walk."""

from __future__ import annotations

import math

import numpy as np
import pytest

from device.navigation.guidance import (Step, distance_text, egocentric, path_steps, plan_path, spoken, turn_text,
                             where_from_here)
from device.navigation.place_graph import Place, PlaceGraph, simplify
from device.session import Pose


@pytest.mark.parametrize("actions, want", [
    ([[0, 0, 90]] + [[0.5, 0, 0]] * 6, "turn left about 90 degrees, walk about 3 metres"),
    ([[0, 0, -45], [0, 0, -45]] + [[0.5, 0, 0]] * 3, "turn right about 90 degrees, walk about 1.5 metres"),
    ([[0.5, 0, 5], [0.5, 0, -5], [0.1, 0, 0]], "walk about 1 metre"),  # wiggles and a tiny step merge
    ([[0, 0, 45]] * 4 + [[0.5, 0, 0]] * 8, "turn around, walk about 4 metres"),
    ([[0.5, 0, 0]] * 4 + [[0, 0, 90]] + [[0.5, 0, 0]] * 2,
     "walk about 2 metres; then turn left about 90 degrees, walk about 1 metre"),
    ([[0, 0.5, 0]] * 2, "turn right about 90 degrees, walk about 1 metre"),  # a sidestep is a turn and a walk
    ([[0.05, 0, 0]], ""),
])
def test_actions_become_spoken_steps(actions: list[list[float]], want: str) -> None:
    points, end_yaw = plan_path(np.array(actions, np.float32), 0.0, 0.0, 30.0)
    assert spoken(path_steps(points, 30.0)) == want


def test_plan_path_follows_the_pose_convention() -> None:
    # yaw 90 faces -z; a left turn of 90 then faces -x; right is +x at yaw 90.
    points, yaw = plan_path(np.array([[1.0, 0, 90], [1.0, 0.5, 0]]), 0.0, 0.0, 90.0)
    assert np.allclose(points, [(0, 0), (0, -1), (-1, -1.5)], atol=1e-6) and yaw == pytest.approx(180.0)


def test_final_turn_faces_the_item_and_numbers_are_rounded() -> None:
    steps = path_steps([(0, 0), (2, 0)], 0.0, end_yaw_deg=-90.0)  # then face +z: a right turn
    assert steps == [Step(0.0, 2.0), Step(-90.0, 0.0)]
    assert spoken(steps) == "walk about 2 metres; then turn right about 90 degrees"
    assert turn_text(10) == "" and turn_text(-52) == "turn right about 45 degrees"
    assert distance_text(0.4) == "about half a metre" and distance_text(7.4) == "about 7 metres"


def _walk(session: str, xs: list[tuple[float, float]], t0: float = 0.0) -> list[Place]:
    return [Place(0, t0 + i, i, session, Pose(x, 1.5, z, 0.0, 0.0)) for i, (x, z) in enumerate(xs)]


def test_place_graph_routes_along_walked_edges_and_simplifies() -> None:
    # Session a walks east along z=0 then north-west to (4, -4); session b walks from (0, 5) up
    # to (0, 0.3), close to a's start: the two walks meet only there.
    a = _walk("a", [(float(x), 0.0) for x in range(5)] + [(4.0, -float(z)) for z in range(1, 5)])
    b = _walk("b", [(0.0, 5.0 - z) for z in (0, 1, 2, 3, 4, 4.7)])
    places = [Place(k + 1, p.t, p.frame, p.session, p.pose) for k, p in enumerate(a + b)]
    graph = PlaceGraph(places)
    route = graph.route((0.1, 5.2), (4.3, -4.2))
    assert [tuple(round(v, 1) for v in w) for w in route.waypoints] == [(0.1, 5.2), (0.0, 0.0), (4.0, 0.0), (4.0, -4.0)]
    assert route.length_m == pytest.approx(math.dist((0.1, 5.2), (0, 0)) + 8.0, abs=1e-6)
    # The walks meet only where b ended near a's start (the 0.5 m link), not anywhere else.
    assert sorted(graph.edges[0]) == [1, 14] and sorted(graph.edges[9]) == [10]
    # Facing -z (yaw 90): straight on, right to face +x, then left to face -z again.
    assert spoken(path_steps(list(route.waypoints), 90.0, end_yaw_deg=90.0)) == (
        "walk about 5 metres; then turn right about 90 degrees, walk about 4 metres; "
        "then turn left about 90 degrees, walk about 4 metres")


def test_place_graph_far_goal_goes_to_the_nearest_reachable_place() -> None:
    a = _walk("a", [(0.0, 0.0), (1.0, 0.0), (2.0, 0.0)])
    c = _walk("c", [(10.0, 0.0), (11.0, 0.0)], t0=100.0)  # an island: never walked to from a
    graph = PlaceGraph(a + c)
    assert graph.route((0.0, 0.0), (10.5, 0.0)).waypoints[-1] == (2.0, 0.0)


def test_simplify_keeps_corners_and_back_and_forth() -> None:
    pts = np.array([(0, 0), (1, 0.05), (2, 0), (2, 1), (2, 2)], float)
    assert simplify(pts, 0.3).tolist() == [[0, 0], [2, 0], [2, 2]]
    out_and_back = np.array([(0, 0), (3, 0), (1, 0)], float)  # beyond the segment's end: kept
    assert simplify(out_and_back, 0.3).tolist() == out_and_back.tolist()


@pytest.mark.parametrize("yaw", [0.0, 37.0, -120.0, 180.0])
def test_egocentric_inverts_one_action(yaw: float) -> None:
    points, _ = plan_path(np.array([[1.2, -0.7, 0.0]]), 2.0, -3.0, yaw)
    assert egocentric(2.0, -3.0, yaw, *points[-1]) == pytest.approx((1.2, -0.7), abs=1e-9)


@pytest.mark.parametrize("yaw, point, words", [
    (0.0, (4.0, 0.0), "about 4 metres ahead of you"),
    (0.0, (-10.0, 0.0), "about 10 metres behind you"),
    (0.0, (0.0, 3.0), "about 3 metres to your right"),  # +z is to the right at yaw 0
    (90.0, (0.0, -3.0), "about 3 metres ahead of you"),  # facing -z
    (0.0, (0.5, 0.5), "right around where you are now"),
])
def test_where_from_here(yaw: float, point: tuple[float, float], words: str) -> None:
    assert where_from_here(0.0, 0.0, yaw, *point) == words
