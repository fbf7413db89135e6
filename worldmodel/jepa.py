"""JEPA latent predictor: keyframe patch features -> latent s; (s_t, a_t) -> s_{t+1}.

s is a projection of the device encoder's cells (device/perception/encoder.py `Encoding.patches`, a
row-major 14x14 grid at input_px 224: 64-d from the shipped instance head; `patch_dim` in the
checkpoint says which). The grid is average-pooled
to 7x7 first and each cell is projected on its own before one MLP mixes them, so the latent keeps
where things are in view: a turn shifts the view sideways, and the predictor has to be able to see
that. a is the pose delta between two keyframes in the first pose's frame: (forward_m, right_m,
turn_deg), turn positive to the left (yaw grows), as docs/session-format.md's conventions give.

The predictor is residual (s + f(s, a)) so "nothing changes" is its starting point, and its
rollouts are differentiable so the companion can plan through them by CEM or gradient descent.
`surprise` is its prediction error per row: the energy the planners minimise to a goal latent.

Checkpoints are torch files holding only tensors and JSON-able values (loaded with
weights_only=True), format "ami-jepa/1"; device/training/train_jepa.py writes them.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from core.errors import ModelError
from core.geometry import step_pose, wrap_deg
from core.types import Pose

CHECKPOINT_FORMAT = "ami-jepa/1"
CHECKPOINT_VERSION = 1
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
DEFAULT_CHECKPOINT = ARTIFACTS / "jepa-v1.pt"


@dataclass(frozen=True)
class JepaConfig:
    latent_dim: int = 128  # public: the companion's plan requests carry latents of this size
    action_dim: int = 3  # (forward_m, right_m, turn_deg), egocentric in the pose at time t
    patch_dim: int = 64  # channels of the encoder's patches (the shipped instance head: 64; `ami train jepa` sets it)
    grid: int = 14  # the patches form a grid x grid row-major layout (input_px 224 / 16)
    pool: int = 2  # average-pool the grid by this factor before projecting (14 -> 7)
    cell_dim: int = 32  # each pooled cell is projected to this many features
    projector_dim: int = 256  # width of the MLP that mixes the cells into s
    predictor_dim: int = 512  # width of the dynamics MLP (the part planning leans on)
    max_forward_m: float = 0.5  # action scale: the largest step the predictor is trained on
    max_turn_deg: float = 45.0  # action scale: the largest turn the predictor is trained on
    dropout: float = 0.1  # in the projector and the dynamics while training: 10 houses overfit without it

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name != "dropout" and not (isinstance(value, (int, float)) and value > 0):
                raise ValueError(f"JepaConfig.{f.name} must be > 0, got {value!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"JepaConfig.dropout must be in [0, 1), got {self.dropout!r}")
        if self.action_dim != 3:
            raise ValueError(f"JepaConfig.action_dim must be 3 (forward_m, right_m, turn_deg), got {self.action_dim}")
        if self.grid % self.pool:
            raise ValueError(f"JepaConfig.pool must divide grid ({self.grid}), got {self.pool}")

    @property
    def pooled_grid(self) -> int:
        return self.grid // self.pool

    @property
    def cells(self) -> int:
        return self.pooled_grid ** 2


def pool_patches(patches: Tensor, config: JepaConfig) -> Tensor:
    """(B, grid*grid, C) row-major patches -> (B, cells, C) average-pooled cells, row-major.

    Pooling is linear and comes first, so a feature cache may store pooled cells
    (device/training/jepa_data.py) and feed them to `LatentPredictor.encode_cells` unchanged."""
    b, n, c = patches.shape
    if n != config.grid ** 2 or c != config.patch_dim:
        raise ModelError(f"JEPA encode: expected patches of shape (B, {config.grid ** 2}, {config.patch_dim}) "
                         f"(a {config.grid}x{config.grid} grid), got {tuple(patches.shape)}")
    x = patches.reshape(b, config.grid, config.grid, c).permute(0, 3, 1, 2)  # (B, C, g, g)
    x = nn.functional.avg_pool2d(x, config.pool)  # (B, C, g/p, g/p)
    return x.flatten(2).transpose(1, 2).contiguous()  # (B, cells, C)


class LatentPredictor(nn.Module):
    """encode: patches -> s; predict: (s, a) -> s one action later; rollout: H actions."""

    def __init__(self, config: JepaConfig = JepaConfig(), version: str = "jepa-v1+untrained") -> None:
        super().__init__()
        self.config = config
        self.version = version
        self.meta: dict[str, Any] = {}  # from the checkpoint: training seeds, metrics, encoder weights
        d, h, hp = config.latent_dim, config.projector_dim, config.predictor_dim
        self.cell = nn.Sequential(nn.Linear(config.patch_dim, config.cell_dim), nn.GELU())
        self.cell_pos = nn.Parameter(torch.zeros(config.cells, config.cell_dim))  # where in view
        p = config.dropout
        self.project = nn.Sequential(nn.Dropout(p), nn.Linear(config.cells * config.cell_dim, h), nn.LayerNorm(h),
                                     nn.GELU(), nn.Dropout(p), nn.Linear(h, d))
        self.dynamics = nn.Sequential(nn.Linear(d + 4, hp), nn.GELU(), nn.Dropout(p), nn.Linear(hp, hp), nn.GELU(),
                                      nn.Dropout(p), nn.Linear(hp, d))
        with torch.no_grad():  # start close to "nothing changes"
            self.dynamics[-1].weight.mul_(0.1)
            self.dynamics[-1].bias.zero_()
        scale = torch.tensor([config.max_forward_m, config.max_forward_m, 1.0, 1.0])
        self.register_buffer("action_scale", scale, persistent=False)

    def encode_cells(self, cells: Tensor) -> Tensor:
        """(B, cells, C) pooled patch cells -> (B, latent_dim)."""
        x = self.cell(cells) + self.cell_pos  # (B, cells, cell_dim)
        return self.project(x.flatten(1))  # (B, D)

    def encode(self, patches: Tensor) -> Tensor:
        """(B, N, C) encoder cells (Encoding.patches, N = 196, C = patch_dim) -> (B, latent_dim)."""
        return self.encode_cells(pool_patches(patches, self.config))

    def action_features(self, a: Tensor) -> Tensor:
        """(B, 3) (forward_m, right_m, turn_deg) -> (B, 4): metres scaled by max_forward_m, and the
        turn as (sin, cos - 1) scaled so max_turn_deg is about 1 (smooth across the wrap)."""
        turn = torch.deg2rad(a[:, 2])
        k = 1.0 / math.sin(math.radians(self.config.max_turn_deg))
        feats = torch.stack([a[:, 0], a[:, 1], k * torch.sin(turn), k * (torch.cos(turn) - 1.0)], dim=1)
        return feats / self.action_scale  # (B, 4)

    def predict(self, s: Tensor, a: Tensor) -> Tensor:
        """(B, D) latent, (B, 3) action -> (B, D): the latent one action later."""
        if s.ndim != 2 or s.shape[1] != self.config.latent_dim or a.shape != (s.shape[0], self.config.action_dim):
            raise ModelError(f"JEPA predict: expected s (B, {self.config.latent_dim}) and a (B, 3), "
                             f"got {tuple(s.shape)} and {tuple(a.shape)}")
        return s + self.dynamics(torch.cat([s, self.action_features(a.to(s.dtype))], dim=1))

    def rollout(self, s0: Tensor, actions: Tensor) -> Tensor:
        """(B, D) start latent, (B, H, 3) actions -> (B, H, D) latents after each action; differentiable."""
        if actions.ndim != 3:
            raise ModelError(f"JEPA rollout: actions must be (B, H, 3), got {tuple(actions.shape)}")
        out, s = [], s0
        for h in range(actions.shape[1]):
            s = self.predict(s, actions[:, h])
            out.append(s)
        return torch.stack(out, dim=1)  # (B, H, D)


def surprise(predictor: LatentPredictor, s_t: Tensor, a_t: Tensor, s_next: Tensor) -> Tensor:
    """(B, D), (B, 3), (B, D) -> (B,): ||predict(s_t, a_t) - s_next||^2 / D, the prediction energy."""
    return (predictor.predict(s_t, a_t) - s_next).pow(2).mean(dim=1)


def action_between(p0: Pose, p1: Pose) -> np.ndarray:
    """(3,) float32 (forward_m, right_m, turn_deg) of p1 seen from p0: the displacement in p0's
    heading frame (forward = (cos yaw, -sin yaw) in x, z; right = (sin yaw, cos yaw)) and the yaw
    change wrapped to (-180, 180] (positive: a left turn)."""
    yaw = math.radians(p0.yaw_deg)
    dx, dz = p1.x - p0.x, p1.z - p0.z
    forward = dx * math.cos(yaw) - dz * math.sin(yaw)
    right = dx * math.sin(yaw) + dz * math.cos(yaw)
    return np.array([forward, right, wrap_deg(p1.yaw_deg - p0.yaw_deg)], dtype=np.float32)


def apply_action(p0: Pose, a: Any) -> Pose:
    """The pose after taking action a = (forward_m, right_m, turn_deg) from p0; y and pitch kept."""
    forward, right, turn = (float(v) for v in np.asarray(a, dtype=np.float64).reshape(3))
    x, z, yaw_deg = step_pose(p0.x, p0.z, p0.yaw_deg, forward, right, turn)
    return Pose(x=x, y=p0.y, z=z, yaw_deg=yaw_deg, pitch_deg=p0.pitch_deg)


def checkpoint_bytes(predictor: LatentPredictor, meta: dict[str, Any]) -> bytes:
    """The checkpoint file's bytes: format, version, config, meta (JSON-able) and the weights."""
    buf = io.BytesIO()
    torch.save({"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "config": asdict(predictor.config),
                "meta": meta, "state_dict": {k: v.detach().cpu() for k, v in predictor.state_dict().items()}}, buf)
    return buf.getvalue()


def load_predictor(path: Path | None = None, device: str = "cpu") -> LatentPredictor:
    """Load a checkpoint (None: the shipped worldmodel/artifacts/jepa-v1.pt) in eval mode.

    Raises ModelError naming the file when it is missing, corrupt, of another format or version,
    or does not match its config."""
    path = Path(path) if path is not None else DEFAULT_CHECKPOINT
    try:
        data = path.read_bytes()
    except FileNotFoundError as e:
        raise ModelError(f"{path}: no JEPA checkpoint here; train one with `ami train jepa --out {path.parent}`") from e
    except OSError as e:
        raise ModelError(f"{path}: cannot read the JEPA checkpoint ({e.strerror})") from e
    try:
        ckpt = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except (RuntimeError, pickle.UnpicklingError, EOFError, ValueError) as e:  # truncated, garbage, empty
        raise ModelError(f"{path}: not a readable JEPA checkpoint ({type(e).__name__}: {e}); "
                         "copy it again or retrain with `ami train jepa`") from e
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        got = ckpt.get("format") if isinstance(ckpt, dict) else type(ckpt).__name__
        raise ModelError(f"{path}: format {got!r} is not {CHECKPOINT_FORMAT!r}; retrain with `ami train jepa`")
    if ckpt.get("version") != CHECKPOINT_VERSION:
        raise ModelError(f"{path}: checkpoint version {ckpt.get('version')!r}, this code reads version "
                         f"{CHECKPOINT_VERSION}; retrain with `ami train jepa`")
    try:
        config = JepaConfig(**ckpt["config"])
        model = LatentPredictor(config, version=f"jepa-v{CHECKPOINT_VERSION}+{hashlib.sha256(data).hexdigest()[:8]}")
        model.load_state_dict(ckpt["state_dict"], strict=True)
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        raise ModelError(f"{path}: config or weights do not match this model ({type(e).__name__}: {e}); "
                         "retrain with `ami train jepa`") from e
    model.meta = dict(ckpt.get("meta", {}))
    return model.to(device).eval()
