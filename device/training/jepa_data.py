"""Training data for the JEPA predictor: cached encoder cells per session, and (t, t+k) pairs.

The encoder is frozen, so each session's frames are encoded once (by the device's own encoder,
the `.pte` by default, on 1 thread) and kept in out/jepa-cache/ (ignored by git) as float16
pooled cells: `pool_patches` is linear and is the model's first step, so caching the 7x7 cells
instead of the 14x14 patches loses nothing and is 4x smaller. The cache key holds the session's
path and the sha256 of its frames.jsonl, the encoder program's sha256, the pooling and the frame step.

Pairs are every (i, j) with 0 < t_j - t_i <= max_gap_s whose action (forward_m, right_m,
turn_deg) stays within the step sizes the predictor is for (|forward|, |right| <= max_step_m,
|turn| <= max_turn_deg). Pairs where the head pitch changes by more than max_pitch_change_deg
are left out: pitch is not part of the action, so such a change could not be predicted from it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from core.files import replace_atomically
from core.paths import OUT
from device.perception.encoder import EncoderRuntime
from device.errors import ModelError
from device.session import Session
from worldmodel.jepa import JepaConfig, LatentPredictor, action_between, pool_patches

DEFAULT_CACHE = OUT / "jepa-cache"


@dataclass(frozen=True)
class PairConfig:
    max_gap_s: float = 0.8  # pairs up to this far apart in time (8 frames at 10 fps)
    max_step_m: float = 0.5  # |forward_m| and |right_m| at most this (walking up to ~0.5 m)
    max_turn_deg: float = 45.0  # |turn_deg| at most this
    max_pitch_change_deg: float = 5.0  # pitch is not in the action; larger changes are left out

    def __post_init__(self) -> None:
        for name in ("max_gap_s", "max_step_m", "max_turn_deg", "max_pitch_change_deg"):
            if not getattr(self, name) > 0:
                raise ValueError(f"PairConfig.{name} must be > 0, got {getattr(self, name)!r}")


@dataclass(frozen=True)
class SessionCells:
    name: str  # the session folder's name, for messages
    frames: np.ndarray  # (T,) int: frame indices of the rows
    t: np.ndarray  # (T,) float64: their times, seconds
    poses: list  # T device.session.Pose (frames without a pose are not kept)
    cells: np.ndarray  # (T, cells, C) float16: pooled encoder patches


@dataclass(frozen=True)
class Pairs:
    i: np.ndarray  # (P,) int: row of s_t in the stacked cells
    j: np.ndarray  # (P,) int: row of s_{t+k}
    actions: np.ndarray  # (P, 3) float32: (forward_m, right_m, turn_deg) of j seen from i


def encoder_id(encoder: EncoderRuntime) -> str:
    """What produced the cached features: the program's sha256 for a `.pte`, the runtime otherwise."""
    entry = getattr(encoder, "entry", None)
    return f"pte:{entry.sha256}" if entry is not None else f"{type(encoder).__name__}"


def _save_npz_atomic(path: Path, **arrays: np.ndarray) -> None:
    replace_atomically(path, lambda tmp: np.savez(tmp, **arrays), suffix=".npz")


def session_cells(session: Session, encoder: EncoderRuntime, config: JepaConfig, frame_step: int = 1,
                  cache: Path = DEFAULT_CACHE, progress: bool = True) -> SessionCells:
    """Pooled encoder cells of frames 0, step, 2*step, ... that have a pose, cached on disk."""
    from tqdm import tqdm

    name = Path(session.path).name
    rows = [f for f in session.frames[::frame_step] if f.pose is not None]
    if len(rows) < 2:
        raise ModelError(f"{session.path}: fewer than 2 frames with a pose; the JEPA needs poses to learn actions")
    poses = hashlib.sha256((Path(session.path) / "frames.jsonl").read_bytes()).hexdigest()  # a re-recorded session
    ident = (f"{Path(session.path).resolve()}|{poses}|{frame_step}|{encoder_id(encoder)}|{config.grid}/{config.pool}")
    path = Path(cache) / f"{name}-{hashlib.sha256(ident.encode()).hexdigest()[:12]}.npz"
    frames = np.array([f.i for f in rows])
    if path.is_file():
        with np.load(path) as z:
            cells = z["cells"]
    else:
        out = []
        for f in tqdm(rows, desc=f"encode {name}", unit="frame", disable=not progress, leave=False):
            patches = torch.from_numpy(encoder.encode(session.load_frame(f.i)).patches)[None]  # (1, N, C)
            out.append(pool_patches(patches, config)[0].numpy().astype(np.float16))
        cells = np.stack(out)
        _save_npz_atomic(path, cells=cells, frames=frames)
    return SessionCells(name=name, frames=frames, t=np.array([f.t for f in rows]), poses=[f.pose for f in rows],
                        cells=cells)


def session_pairs(data: SessionCells, config: PairConfig, offset: int = 0) -> Pairs:
    """All valid (t, t+k) pairs of one session; rows are shifted by `offset` (for stacking)."""
    ii, jj, aa = [], [], []
    n = len(data.t)
    for i in range(n):
        p0 = data.poses[i]
        for j in range(i + 1, n):
            if data.t[j] - data.t[i] > config.max_gap_s:
                break
            p1 = data.poses[j]
            if abs(p1.pitch_deg - p0.pitch_deg) > config.max_pitch_change_deg:
                continue
            a = action_between(p0, p1)
            if abs(a[0]) <= config.max_step_m and abs(a[1]) <= config.max_step_m and abs(a[2]) <= config.max_turn_deg:
                ii.append(i + offset)
                jj.append(j + offset)
                aa.append(a)
    if not ii:
        return Pairs(np.zeros(0, int), np.zeros(0, int), np.zeros((0, 3), np.float32))
    return Pairs(np.array(ii), np.array(jj), np.stack(aa).astype(np.float32))


def stack(sessions: list[SessionCells], config: PairConfig) -> tuple[np.ndarray, Pairs]:
    """All sessions' cells (T_total, cells, C) float16 and their pairs, indexing into that stack."""
    if not sessions:
        raise ModelError("JEPA: no sessions to build pairs from")
    cells, parts, offset = [], [], 0
    for s in sessions:
        cells.append(s.cells)
        parts.append(session_pairs(s, config, offset))
        offset += len(s.cells)
    pairs = Pairs(np.concatenate([p.i for p in parts]), np.concatenate([p.j for p in parts]),
                  np.concatenate([p.actions for p in parts]))
    if len(pairs.i) == 0:
        raise ModelError(f"JEPA: no frame pairs within the step limits in {[s.name for s in sessions]}; "
                         "are the poses all missing or the sessions very short?")
    return np.concatenate(cells), pairs


def effective_rank(z: torch.Tensor) -> float:
    """exp(entropy of the normalised singular values) of the centred (B, D) latents: 1 when all
    rows lie on a line (collapse), up to D when every direction is used equally."""
    sv = torch.linalg.svdvals(z - z.mean(dim=0))
    p = sv / sv.sum().clamp_min(1e-12)
    return float(torch.exp(-(p * torch.log(p.clamp_min(1e-12))).sum()))


def encode_all(model: LatentPredictor, cells: torch.Tensor, chunk: int = 1024) -> torch.Tensor:
    """(T, cells, C) float16 or float32 cached cells -> (T, D) latents, in chunks to bound memory."""
    return torch.cat([model.encode_cells(cells[k:k + chunk].float()) for k in range(0, len(cells), chunk)])
