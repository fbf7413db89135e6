"""Frozen-backbone features of a recorded session, computed once and cached on disk.

Training the instance head and scoring perception both read every (or every k-th) frame's
stride-8 and stride-16 MobileNetV2 features; the backbone is frozen, so these are computed once
per session and kept in out/perception-cache/ (ignored by git) as float16 .npz files, written
atomically. The cache key holds the session's path, frame count, step and input size.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.files import replace_atomically
from core.paths import OUT
from device.perception.encoder import to_input
from device.errors import ModelError
from device.session import Session

DEFAULT_CACHE = OUT / "perception-cache"


@dataclass(frozen=True)
class SessionFeatures:
    frames: np.ndarray  # (N,) int: the frame indices these features are for
    s8: np.ndarray  # (N, 32, 2h, 2w) float16: stride-8 features
    s16: np.ndarray  # (N, 96, h, w) float16: stride-16 features (the frozen encoder's patches)

    @property
    def grid(self) -> tuple[int, int]:
        return (int(self.s16.shape[2]), int(self.s16.shape[3]))


class FeatureExtractor:
    """The frozen backbone's two feature maps for one frame, eager, on the configured threads."""

    def __init__(self, input_px: int = 224, threads: int = 1) -> None:
        import torch

        from worldmodel.backbone import load_mobilenet_v2
        from worldmodel.instance_head import MultiScaleFeatures

        torch.set_num_threads(threads)
        try:
            self.net = MultiScaleFeatures(load_mobilenet_v2()).eval()
        except (FileNotFoundError, RuntimeError) as e:
            raise ModelError(f"cannot load the MobileNetV2 backbone: {e}") from e
        self.input_px = input_px
        self._torch = torch

    def __call__(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(H, W, 3) uint8 -> (s8 (32, 2h, 2w), s16 (96, h, w)) float32."""
        with self._torch.inference_mode():
            s8, s16 = self.net(to_input(rgb, self.input_px))
        return s8[0].numpy(), s16[0].numpy()


def _key(session: Session, step: int, input_px: int) -> str:
    ident = f"{Path(session.path).resolve()}|{len(session.frames)}|{step}|{input_px}"
    return f"{Path(session.path).name}-{hashlib.sha256(ident.encode()).hexdigest()[:12]}"


def session_features(session: Session, step: int = 2, input_px: int = 224, cache: Path = DEFAULT_CACHE,
                     extractor: FeatureExtractor | None = None, progress: bool = True) -> SessionFeatures:
    """Features of frames 0, step, 2*step, ... of the session, from the cache or computed now."""
    from tqdm import tqdm

    path = Path(cache) / f"{_key(session, step, input_px)}.npz"
    if path.is_file():
        with np.load(path) as z:
            return SessionFeatures(z["frames"], z["s8"], z["s16"])
    ex = extractor or FeatureExtractor(input_px)
    idx = np.arange(0, len(session.frames), step)
    s8s, s16s = [], []
    for i in tqdm(idx, desc=f"features {Path(session.path).name}", unit="frame", disable=not progress):
        s8, s16 = ex(session.load_frame(int(i)))
        s8s.append(s8.astype(np.float16))
        s16s.append(s16.astype(np.float16))
    feats = SessionFeatures(idx, np.stack(s8s), np.stack(s16s))
    replace_atomically(path, lambda tmp: np.savez(tmp, frames=feats.frames, s8=feats.s8, s16=feats.s16),
                       suffix=".tmp.npz")
    return feats
