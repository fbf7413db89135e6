"""Keyframe encoder: RGB frame -> L2-normalised patch features and a global embedding.

v0 runs the frozen MobileNetV2 stride-16 trunk eagerly in torch. The `.pte` ExecuTorch path
(issue 4) will implement the same `EncoderRuntime` interface.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from device.errors import ModelError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EncoderConfig:
    input_px: int = 224  # frames are resized to this square; stride 16 gives a 14x14 grid
    threads: int = 1  # 2 threads under contention on 2 cores was many times slower than 1

    def __post_init__(self) -> None:
        if self.input_px % 16 or not 64 <= self.input_px <= 512:
            raise ValueError(f"EncoderConfig.input_px must be a multiple of 16 in [64, 512], got {self.input_px}")
        if self.threads < 1:
            raise ValueError(f"EncoderConfig.threads must be >= 1, got {self.threads}")

    @property
    def grid(self) -> tuple[int, int]:
        return (self.input_px // 16, self.input_px // 16)


@dataclass(frozen=True)
class Encoding:
    patches: np.ndarray  # (gh*gw, D) float32, each row L2-normalised, row-major over the grid
    grid: tuple[int, int]  # (gh, gw)
    embedding: np.ndarray  # (D,) float32, L2-normalised mean of the patches


class EncoderRuntime(Protocol):
    dim: int
    config: EncoderConfig

    def encode(self, rgb: np.ndarray) -> Encoding: ...


def _l2n(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=axis, keepdims=True), 1e-8)


class EagerEncoder:
    """The frozen ImageNet MobileNetV2 trunk (features[:14]) run by eager PyTorch."""

    def __init__(self, config: EncoderConfig = EncoderConfig()) -> None:
        import torch

        from worldmodel.backbone import STRIDE16_DIM, Stride16Features, load_mobilenet_v2

        self.config = config
        self.dim = STRIDE16_DIM
        torch.set_num_threads(config.threads)
        try:
            self._net = Stride16Features(load_mobilenet_v2()).eval()
        except (FileNotFoundError, RuntimeError) as e:
            raise ModelError(f"cannot load the MobileNetV2 backbone: {e}") from e
        self._torch = torch

    def encode(self, rgb: np.ndarray) -> Encoding:
        """rgb: (H, W, 3) uint8 -> Encoding."""
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"encoder input must be (H, W, 3) uint8 RGB, got {rgb.shape} {rgb.dtype}")
        torch = self._torch
        x = torch.from_numpy(np.array(rgb)).permute(2, 0, 1).unsqueeze(0).float().div_(255.0)  # (1, 3, H, W)
        px = self.config.input_px
        if rgb.shape[:2] != (px, px):
            x = torch.nn.functional.interpolate(x, size=(px, px), mode="bilinear", align_corners=False)
        with torch.inference_mode():
            feats = self._net(x)[0]  # (D, gh, gw)
        d, gh, gw = feats.shape
        patches = _l2n(feats.permute(1, 2, 0).reshape(gh * gw, d).numpy().astype(np.float32))
        return Encoding(patches=patches, grid=(gh, gw), embedding=_l2n(patches.mean(axis=0)))
