"""Train the instance head by supervised metric learning from the recorder's truth.

Each step samples anchor views of items (near ones, like an enrollment glance) and a target
frame per anchor: another view of the same object (same mesh: across distances, rooms, lighting
and houses) or a frame of the same house where it is not visible. The anchor cell's embedding
scores every cell of the target; a learned "not here" logit joins them. The loss is a
multi-positive softmax: the item's cell (or a neighbour, as items span cells) must win when the
item is visible, "not here" must win when it is not, so the floor, furniture and the other items
in the target frame are the hard negatives.

Inputs are arrays (cached frozen-backbone features and per-frame labels), so this module reads no
session files; device/training/perception_train.py builds them.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from worldmodel.instance_head import InstanceHead, InstanceHeadConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 800
    batch: int = 32  # anchor/target pairs per step
    lr: float = 3e-3
    temperature: float = 0.1
    anchor_max_distance_m: float = 3.0  # anchors look like an enrollment glance: near views
    negative_fraction: float = 0.25  # targets where the anchor's item is not visible
    seed: int = 0
    head: InstanceHeadConfig = InstanceHeadConfig()

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch < 2:
            raise ValueError(f"TrainConfig: steps must be >= 1 and batch >= 2, got {self.steps}, {self.batch}")
        if not 0.0 <= self.negative_fraction < 1.0:
            raise ValueError(f"TrainConfig.negative_fraction must be in [0, 1), got {self.negative_fraction}")
        if self.temperature <= 0:
            raise ValueError(f"TrainConfig.temperature must be > 0, got {self.temperature}")


@dataclass(frozen=True)
class TrainData:
    """Frames of all training sessions stacked; labels per (frame, item-of-its-session) pair."""

    s8: np.ndarray  # (F, 32, 2h, 2w) float16
    s16: np.ndarray  # (F, 96, h, w) float16
    frame_session: np.ndarray  # (F,) int: which session each frame is from
    label_frame: np.ndarray  # (L,) int: row in s8/s16
    label_object: np.ndarray  # (L,) int: object id (the same mesh in any house is one object)
    label_visible: np.ndarray  # (L,) bool
    label_cell: np.ndarray  # (L,) int: the item centre's cell (meaningful when visible)
    label_distance: np.ndarray  # (L,) float: metres


@dataclass(frozen=True)
class TrainResult:
    head: InstanceHead
    losses: list[float]  # per step
    wall_s: float


def _neighbours(cells: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """(B,) cells -> (B, h*w) bool: cells within one row/column of each."""
    gh, gw = grid
    r, c = cells // gw, cells % gw
    rr = torch.arange(gh * gw) // gw
    cc = torch.arange(gh * gw) % gw
    return ((rr[None] - r[:, None]).abs() <= 1) & ((cc[None] - c[:, None]).abs() <= 1)


def _sample(data: TrainData, config: TrainConfig, rng: np.random.Generator
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(anchor label rows, target frame rows, target visible, target cells) for one batch."""
    vis = data.label_visible
    anchors_ok = np.flatnonzero(vis & (data.label_distance <= config.anchor_max_distance_m))
    a = rng.choice(anchors_ok, config.batch)
    tf, tv, tc = [], [], []
    for la in a:
        obj, sess = data.label_object[la], data.frame_session[data.label_frame[la]]
        if rng.random() < config.negative_fraction:
            pool = np.flatnonzero((data.label_object == obj) & ~vis
                                  & (data.frame_session[data.label_frame] == sess))
            if len(pool):
                lt = rng.choice(pool)
                tf.append(data.label_frame[lt]), tv.append(False), tc.append(0)
                continue
        pool = np.flatnonzero((data.label_object == obj) & vis)
        lt = rng.choice(pool)
        tf.append(data.label_frame[lt]), tv.append(True), tc.append(data.label_cell[lt])
    return a, np.array(tf), np.array(tv), np.array(tc)


def _embed(head: InstanceHead, data: TrainData, rows: np.ndarray) -> torch.Tensor:
    s8 = torch.from_numpy(data.s8[rows].astype(np.float32))
    s16 = torch.from_numpy(data.s16[rows].astype(np.float32))
    return head(s8, s16).flatten(2)  # (B, D, h*w)


def batch_loss(head: InstanceHead, null: torch.Tensor, data: TrainData, batch: tuple[np.ndarray, ...],
               temperature: float) -> torch.Tensor:
    """The multi-positive softmax loss of one sampled batch (see the module docstring)."""
    a, tf, tv, tc = batch
    grid = (int(data.s16.shape[2]), int(data.s16.shape[3]))
    ea = _embed(head, data, data.label_frame[a])  # (B, D, N)
    anchor = ea[torch.arange(len(a)), :, torch.from_numpy(data.label_cell[a])]  # (B, D)
    et = _embed(head, data, tf)  # (B, D, N)
    sims = torch.einsum("bd,bdn->bn", anchor, et)  # (B, N) cosines
    logits = torch.cat([sims, null.expand(len(a), 1)], dim=1) / temperature  # (B, N + 1)
    pos = torch.zeros_like(logits, dtype=torch.bool)
    visible = torch.from_numpy(tv)
    pos[:, :-1] = _neighbours(torch.from_numpy(tc), grid) & visible[:, None]
    pos[:, -1] = ~visible
    return (torch.logsumexp(logits, 1) - torch.logsumexp(logits.masked_fill(~pos, -math.inf), 1)).mean()


def train(data: TrainData, config: TrainConfig = TrainConfig(), progress: bool = True) -> TrainResult:
    """Train a fresh head on `data`; deterministic for a given config.seed and thread count."""
    from tqdm import tqdm

    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    head = InstanceHead(config.head)
    null = torch.nn.Parameter(torch.tensor(0.5))  # the "not here" cosine, learned
    opt = torch.optim.AdamW([*head.parameters(), null], lr=config.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=config.lr, total_steps=config.steps, pct_start=0.1)
    losses: list[float] = []
    started = time.perf_counter()
    head.train()
    bar = tqdm(range(config.steps), desc="train perception", unit="step", disable=not progress)
    for _ in bar:
        loss = batch_loss(head, null, data, _sample(data, config, rng), config.temperature)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
        bar.set_postfix(loss=f"{np.mean(losses[-50:]):.3f}")
    head.eval()
    for p in head.parameters():
        p.requires_grad_(False)
    return TrainResult(head, losses, time.perf_counter() - started)


def plot_losses(losses: list[float], path: Path) -> None:
    """A PNG of the per-step loss and its 50-step running mean, written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(losses, lw=0.5, alpha=0.4, label="step")
    k = min(50, len(losses))
    ax.plot(np.arange(k - 1, len(losses)), np.convolve(losses, np.ones(k) / k, mode="valid"), label=f"mean of {k}")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title("instance head training loss")
    ax.legend()
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    tmp.replace(path)
