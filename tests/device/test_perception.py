"""Perception v0 logic: geometry of sightings, enrollment prototypes, threshold calibration and
the keyframe gate (intents are in test_intents.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from device.perception.encoder import Encoding
from device.perception.keyframes import KeyframeConfig, KeyframeGate
from device.perception.perception import (PerceptionConfig, calibrate_threshold, cell_ray, enrollment_prototypes,
                               project_point, sighting_position)
from device.session import Pose
from worldmodel.belief import BeliefConfig

CFG = PerceptionConfig(item_centre_height_m=0.15, max_range_m=8.0)


def centre_cell(grid: tuple[int, int]) -> int:
    # even grids have no exact centre cell; these tests use odd grids
    return (grid[0] // 2) * grid[1] + grid[1] // 2


@pytest.mark.parametrize("yaw, expect", [(0.0, (1.35, 0.0)), (90.0, (0.0, -1.35)), (180.0, (-1.35, 0.0))])
def test_centre_ray_meets_floor_ahead(yaw: float, expect: tuple[float, float]) -> None:
    pose = Pose(0.0, 1.5, 0.0, yaw, -45.0)
    x, z = sighting_position(pose, 60.0, 1.0, (7, 7), centre_cell((7, 7)), CFG)
    assert (x, z) == pytest.approx(expect, abs=1e-3)


def test_right_of_image_is_plus_z_at_yaw_zero() -> None:
    d = cell_ray(Pose(0, 1.5, 0, 0.0, 0.0), 60.0, 1.0, (7, 7), 3 * 7 + 6)
    assert d[2] > 0.3 and d[0] > 0.7
    expected = math.degrees(math.atan(6.0 / 7 * math.tan(math.radians(30))))
    assert math.degrees(math.atan2(d[2], d[0])) == pytest.approx(expected, abs=0.01)


@pytest.mark.parametrize("yaw, pitch, cell", [(0.0, -30.0, 24), (73.0, -10.0, 3), (-140.0, 5.0, 44)])
def test_projection_inverts_the_cell_ray(yaw: float, pitch: float, cell: int) -> None:
    pose = Pose(1.0, 1.5, -2.0, yaw, pitch)
    d = cell_ray(pose, 60.0, 0.75, (7, 7), cell)
    u, v = project_point(pose, 60.0, 0.75, tuple(np.array([1.0, 1.5, -2.0]) + 3.0 * d))
    r, c = divmod(cell, 7)
    assert (u, v) == pytest.approx(((c + 0.5) / 7, (r + 0.5) / 7), abs=1e-9)
    assert project_point(pose, 60.0, 0.75, tuple(np.array([1.0, 1.5, -2.0]) - d)) is None


def test_looking_up_puts_the_sighting_at_max_range() -> None:
    x, z = sighting_position(Pose(0, 1.5, 0, 0.0, 10.0), 60.0, 1.0, (7, 7), centre_cell((7, 7)), CFG)
    assert math.hypot(x, z) == pytest.approx(CFG.max_range_m, abs=1e-3)
    assert math.hypot(x, z) >= BeliefConfig().far_range_m  # so the world model counts it as far


def _unit(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    x = rng.normal(size=(n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_enrollment_picks_the_distinct_centre_patch() -> None:
    rng = np.random.default_rng(0)
    floor = _unit(rng, 1, 16)[0]
    patches = np.tile(floor, (49, 1)) + 0.01 * rng.normal(size=(49, 16)).astype(np.float32)
    item = _unit(rng, 1, 16)[0]
    patches[centre_cell((7, 7))] = item
    patches /= np.linalg.norm(patches, axis=1, keepdims=True)
    enc = Encoding(patches=patches, grid=(7, 7), embedding=patches.mean(0))
    protos = enrollment_prototypes(enc, PerceptionConfig(prototypes_per_item=1))
    assert float(protos[0] @ item) == pytest.approx(1.0, abs=1e-5)


def test_enrollment_keeps_the_items_own_cells_not_another_thing_in_view() -> None:
    """A small item in the centre cell and the cell below it (the wearer looks at it), and another
    thing three cells away: the prototypes are the item's touching cells; the thing apart is
    something else, which as a prototype would be matched all day (in an independent generator's
    house, a wallet's third prototype matched a green dresser)."""
    rng = np.random.default_rng(1)
    floor = _unit(rng, 1, 16)[0]
    patches = np.tile(floor, (196, 1)) + 0.01 * rng.normal(size=(196, 16)).astype(np.float32)
    item, other = _unit(rng, 2, 16)
    at, below, apart = 7 * 14 + 7, 8 * 14 + 7, 4 * 14 + 9  # (7, 7), (8, 7) and (4, 9) of the 14x14 grid
    patches[at], patches[below], patches[apart] = item, item + 0.5 * floor, other
    patches /= np.linalg.norm(patches, axis=1, keepdims=True)
    enc = Encoding(patches=patches, grid=(14, 14), embedding=patches.mean(0))
    protos = enrollment_prototypes(enc, PerceptionConfig(prototypes_per_item=3))
    assert float(protos[0] @ patches[at]) == pytest.approx(1.0, abs=1e-5)
    assert float(protos[1] @ patches[below]) == pytest.approx(1.0, abs=1e-5)
    assert max(float(p @ patches[apart]) for p in protos) < 0.9, "a thing apart from the item is no prototype"


def test_threshold_calibration() -> None:
    cfg = PerceptionConfig(threshold_floor=0.7, background_quantile=0.99, threshold_margin=0.02)
    assert calibrate_threshold(np.array([]), 1000, cfg) == 0.7  # nothing above the floor
    scores = np.array([0.9, 0.85, 0.8] + [0.75] * 20)  # 23 above the floor; 1% of 1000 = 10 allowed
    assert calibrate_threshold(scores, 1000, cfg) == pytest.approx(0.77)


def test_keyframe_gate_skips_duplicates_and_keeps_changes() -> None:
    gate = KeyframeGate(KeyframeConfig(max_gap_s=2.0))
    still = np.full((32, 32, 3), 100, np.uint8)
    pose = Pose(0, 1.5, 0, 0, 0)
    assert gate.admit(0.0, still, pose)
    assert not gate.admit(0.1, still, pose)
    assert gate.admit(0.2, still, Pose(0, 1.5, 0, 20, 0))  # turned the head
    assert gate.admit(0.3, np.full((32, 32, 3), 200, np.uint8), Pose(0, 1.5, 0, 20, 0))  # new view
    assert gate.admit(2.5, np.full((32, 32, 3), 200, np.uint8), Pose(0, 1.5, 0, 20, 0))  # max gap
