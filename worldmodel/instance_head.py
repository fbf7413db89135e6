"""A learned instance head on the frozen MobileNetV2: per-cell embeddings that find one object again.

The frozen ImageNet features mix an item with the floor it lies on (issue 8), so a small head is
trained on top of them (worldmodel/train_perception.py) from the recorder's truth. It reads the
stride-8 features (features[:7], 32 channels: fine detail for far, small items) folded into the
stride-16 grid by space-to-depth, and the stride-16 features (features[:14], 96 channels), and
gives one L2-normalised embedding per stride-16 cell, so its output has the same grid as the
frozen encoder's patches.

Checkpoints are versioned: a file from another head layout or version raises CheckpointError
naming the file, instead of loading garbage into the device's embedding space.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from core.files import replace_atomically
from worldmodel.backbone import IMAGENET_MEAN, IMAGENET_STD, STRIDE16_END, MobileNetV2
from worldmodel.errors import CheckpointError

STRIDE8_END = 7  # features[:7] ends with 32 channels at stride 8
STRIDE8_DIM = 32
STRIDE16_DIM = 96
CHECKPOINT_FORMAT = "ami-instance-head/1"


class MultiScaleFeatures(nn.Module):
    """RGB (B, 3, H, W) in [0, 1] -> (stride-8 (B, 32, H/8, W/8), stride-16 (B, 96, H/16, W/16))."""

    def __init__(self, backbone: MobileNetV2) -> None:
        super().__init__()
        self.low = backbone.features[:STRIDE8_END]
        self.high = backbone.features[STRIDE8_END:STRIDE16_END]
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def forward(self, rgb01: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s8 = self.low((rgb01 - self.mean) / self.std)
        return s8, self.high(s8)


@dataclass(frozen=True)
class InstanceHeadConfig:
    hidden: int = 128
    dim: int = 64  # embedding size per cell
    blocks: int = 2  # depthwise-separable 3x3 blocks: a little spatial context (item vs its floor)

    def __post_init__(self) -> None:
        for name in ("hidden", "dim", "blocks"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"InstanceHeadConfig.{name} must be a positive integer, got {v!r}")


class InstanceHead(nn.Module):
    """(s8 (B, 32, 2h, 2w), s16 (B, 96, h, w)) -> (B, dim, h, w) L2-normalised per cell."""

    def __init__(self, config: InstanceHeadConfig = InstanceHeadConfig()) -> None:
        super().__init__()
        self.config = config
        c = config.hidden
        self.inp = nn.Sequential(nn.Conv2d(4 * STRIDE8_DIM + STRIDE16_DIM, c, 1), nn.ReLU())
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.Conv2d(c, c, 3, padding=1, groups=c), nn.Conv2d(c, c, 1), nn.ReLU())
            for _ in range(config.blocks))
        self.out = nn.Conv2d(c, config.dim, 1)

    def embed(self, s8: torch.Tensor, s16: torch.Tensor) -> torch.Tensor:
        """The embeddings before the L2 normalisation: (B, dim, h, w)."""
        x = torch.cat([nn.functional.pixel_unshuffle(s8, 2), s16], dim=1)  # (B, 224, h, w)
        x = self.inp(x)
        for block in self.blocks:
            x = x + block(x)
        return self.out(x)

    def forward(self, s8: torch.Tensor, s16: torch.Tensor) -> torch.Tensor:
        return nn.functional.normalize(self.embed(s8, s16), dim=1)


class InstanceNet(nn.Module):
    """RGB (B, 3, H, W) in [0, 1] -> (B, dim, H/16, W/16): backbone and head as one module (to export).

    It stops before the head's L2 normalisation: the device normalises every cell anyway
    (device/perception/encoder.py to_encoding), and the norm does not lower to XNNPACK (it split the program
    into 3 pieces, with portable ops between them)."""

    def __init__(self, features: MultiScaleFeatures, head: InstanceHead) -> None:
        super().__init__()
        self.features, self.head = features, head

    def forward(self, rgb01: torch.Tensor) -> torch.Tensor:
        return self.head.embed(*self.features(rgb01))


def save_checkpoint(path: Path, head: InstanceHead, threshold: float, meta: dict[str, Any]) -> str:
    """Write the head atomically (temp file + rename); return the weights' sha256 (its space id).

    threshold: the one cosine threshold across items, chosen on training seeds.
    """
    state = {k: v.detach().clone() for k, v in head.state_dict().items()}
    digest = hashlib.sha256(b"".join(v.numpy().tobytes() for v in state.values())).hexdigest()
    blob = {"format": CHECKPOINT_FORMAT, "config": asdict(head.config), "state": state,
            "threshold": float(threshold), "space": f"instance-head:{digest[:16]}", "meta": meta}
    # A model is not private data: readable by all, unlike what the glasses write.
    replace_atomically(path, lambda tmp: torch.save(blob, tmp), mode=0o644)
    return blob["space"]


@dataclass(frozen=True)
class LoadedHead:
    head: InstanceHead
    threshold: float
    space: str  # the embedding space's id: memories from another head must be refused
    meta: dict[str, Any]


def load_checkpoint(path: Path) -> LoadedHead:
    """The head in eval mode, or CheckpointError naming the file and what to do."""
    path = Path(path)
    fix = "retrain it with `ami train perception` or restore worldmodel/artifacts/ from git"
    if not path.is_file():
        raise CheckpointError(f"{path}: instance-head checkpoint not found; {fix}")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for a corrupt or foreign file
        raise CheckpointError(f"{path}: not a readable instance-head checkpoint ({type(e).__name__}); {fix}") from e
    if not isinstance(blob, dict) or blob.get("format") != CHECKPOINT_FORMAT:
        got = blob.get("format") if isinstance(blob, dict) else type(blob).__name__
        raise CheckpointError(f"{path}: format {got!r}, expected {CHECKPOINT_FORMAT!r}; {fix}")
    try:
        head = InstanceHead(InstanceHeadConfig(**blob["config"]))
        head.load_state_dict(blob["state"], strict=True)
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{path}: weights do not fit the instance head ({e}); {fix}") from e
    head.eval()
    for p in head.parameters():
        p.requires_grad_(False)
    return LoadedHead(head, float(blob["threshold"]), str(blob["space"]), dict(blob.get("meta", {})))
