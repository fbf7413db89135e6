"""Shared by the companion tests and benchmarks: a toy predictor whose optimum is known, and a
real uvicorn server on a free loopback port in a background thread."""

from __future__ import annotations

import contextlib
import math
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import torch
import uvicorn

from companion_app.server import ServeConfig, build_app


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


class LiveServer:
    """uvicorn serving `app` on a socket bound to a free loopback port; stops on exit."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline and self.thread.is_alive(), "uvicorn did not start within 20 s"
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)
        self.sock.close()

    @property
    def code(self) -> str:
        return self.app.state.auth.pairing.code


@contextlib.contextmanager
def live(tmp_path: Path, predictor: Any = None, **config: Any) -> Iterator[LiveServer]:
    predictor = predictor or PoseToy()
    cfg = ServeConfig(state_dir=tmp_path / "state", port=0, **config)
    with LiveServer(build_app(cfg, predictor, predictor.config.latent_dim)) as server:
        yield server
