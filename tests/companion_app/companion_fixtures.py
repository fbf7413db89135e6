"""Shared by the companion tests and benchmarks: a toy predictor whose optimum is known, and the
real companion served on a free loopback port in a background thread (tests/live_server.py)."""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import torch

from companion_app.server import ServeConfig, build_app
from live_server import LiveServer


@dataclass(frozen=True)
class ToyConfig:
    latent_dim: int = 8


class PoseToy(torch.nn.Module):
    """A latent that is the pose itself: s = (x, z, cos yaw, sin yaw, 0, ...). An action first
    turns by turn_deg, then moves forward_m along the new heading and right_m across it. The goal
    latent of a reachable pose has energy 0, so a planner's optimum is known."""

    def __init__(self, latent_dim: int = 8) -> None:
        super().__init__()
        self.config = ToyConfig(latent_dim)
        self.version = "toy-pose-v1"

    def predict(self, s: torch.Tensor, a: torch.Tensor) -> torch.Tensor:  # (B, D), (B, 3) -> (B, D)
        yaw = torch.atan2(s[:, 3], s[:, 2]) + torch.deg2rad(a[:, 2])
        c, si = torch.cos(yaw), torch.sin(yaw)
        x = s[:, 0] + a[:, 0] * c + a[:, 1] * si
        z = s[:, 1] - a[:, 0] * si + a[:, 1] * c
        return torch.cat([torch.stack([x, z, c, si], dim=1), s[:, 4:]], dim=1)

    def rollout(self, s0: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:  # (B, D), (B, H, 3) -> (B, H, D)
        out, s = [], s0
        for h in range(actions.shape[1]):
            s = self.predict(s, actions[:, h])
            out.append(s)
        return torch.stack(out, dim=1)


def pose_latent(x: float, z: float, yaw_deg: float, dim: int = 8) -> list[float]:
    r = math.radians(yaw_deg)
    return [x, z, math.cos(r), math.sin(r)] + [0.0] * (dim - 4)


class CompanionServer(LiveServer):
    @property
    def code(self) -> str:
        return self.app.state.auth.pairing.code


@contextlib.contextmanager
def live(tmp_path: Path, predictor: Any = None, **config: Any) -> Iterator[CompanionServer]:
    predictor = predictor or PoseToy()
    cfg = ServeConfig(state_dir=tmp_path / "state", port=0, **config)
    with CompanionServer(build_app(cfg, predictor, predictor.config.latent_dim)) as server:
        yield server
