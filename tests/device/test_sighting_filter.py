"""Sighting consistency and multi-view position (device/perception/sighting_filter.py) on known geometry."""

from __future__ import annotations

import numpy as np
import pytest

from device.perception.perception import cell_ray, project_point
from device.session import Pose
from device.perception.sighting_filter import FilterConfig, multiview_position, supported_scores, triangulate


def test_one_frame_match_needs_a_neighbour() -> None:
    t = np.arange(7) * 0.2
    score = np.array([0.9, 0.1, 0.1, 0.8, 0.85, 0.1, 0.95])
    got = supported_scores(t, score, support_s=0.2)
    assert got.tolist() == pytest.approx([0.1, 0.1, 0.1, 0.8, 0.8, 0.1, 0.1])


def test_rays_of_a_walking_wearer_meet_at_the_item() -> None:
    """Cameras walking past an item on a desk: the cells it projects to give back its x, z."""
    item = (2.0, 0.95, -1.0)
    grid, hfov = (14, 14), 60.0
    origins, dirs = [], []
    for k in range(6):
        pose = Pose(-1.0 + 0.3 * k, 1.5, 0.5, 20.0, -15.0)
        u, v = project_point(pose, hfov, 1.0, item)
        cell = int(v * grid[0]) * grid[1] + int(u * grid[1])
        origins.append((pose.x, pose.y, pose.z))
        dirs.append(cell_ray(pose, hfov, 1.0, grid, cell))
    xz = multiview_position(np.array(origins), np.array(dirs), FilterConfig())
    assert xz is not None and np.hypot(xz[0] - item[0], xz[1] - item[2]) < 0.4  # cells are ~4 degrees wide


def test_parallel_or_diverging_rays_give_no_position() -> None:
    o = np.array([[0.0, 1.5, 0.0], [0.5, 1.5, 0.0]])
    d = np.array([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    assert triangulate(o, d) is None
    away = np.array([[-1.0, 0.0, 0.2], [1.0, 0.0, 0.2]])
    away /= np.linalg.norm(away, axis=1, keepdims=True)
    assert multiview_position(o, away, FilterConfig()) is None
