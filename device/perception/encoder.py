"""Keyframe encoder: RGB frame -> L2-normalised patch features and a global embedding.

The device's network is the frozen ImageNet MobileNetV2 (stride-8 and stride-16 features) plus the
learned instance head (issue 8): a 14x14 grid of 64-d cells at 224 px. Three runtimes implement
`EncoderRuntime`:
- `PteEncoder` (device/perception/encoder_pte.py, runtime "pte", the default): the exported ExecuTorch `.pte`
  (XNNPACK, int8 or fp32), described by its manifest.json; the shipped one is backbone + head;
- `InstanceEncoder` (device/perception/instance_encoder.py, runtime "eager"): the same network in eager
  PyTorch, the reference the shipped `.pte` is verified against;
- `FrozenEncoder` (here, runtime "frozen"): the frozen stride-16 trunk alone (96-d patches), the
  perception the head replaced, kept as the baseline it is measured against. Its embeddings live in
  their own space, so a memory written by one refuses the other.

Everything outside the network is shared here, so both paths are identical around it:
`to_input` (validate, bilinear resize to input_px, scale to [0, 1]) and `to_encoding` (per-patch
L2 normalisation and the normalised mean). ImageNet normalisation is inside the network.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from device.errors import ModelError

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

RUNTIMES = ("pte", "eager", "frozen")  # eager: backbone + instance head in PyTorch; frozen: the trunk alone
VARIANTS = ("int8", "fp32")  # programs `ami export` writes; "auto" picks int8 when the manifest has it
# A true sighting's score margin over its item's threshold, per runtime: the world model counts a
# sighting fully from this margin (worldmodel.belief.BeliefConfig.margin_scale). The instance head's
# true sightings clear their thresholds by about 0.25 (0.25 chosen on dev seeds 30-49); the frozen
# trunk's sightings by much less (median 0.07 on dev seeds 0-9), and 0.05 was its scale while it was
# the device's encoder.
SIGHTING_MARGIN = {"pte": 0.25, "eager": 0.25, "frozen": 0.05}


@dataclass(frozen=True)
class EncoderConfig:
    input_px: int = 224  # frames are resized to this square; stride 16 gives a 14x14 grid
    threads: int = 1  # 2 threads under contention on 2 cores was many times slower than 1
    runtime: str = "pte"  # "pte": the ExecuTorch program; "eager": PyTorch (reference); "frozen": no head
    variant: str = "auto"  # which program of the manifest the pte runtime loads: auto | int8 | fp32
    manifest: Path | None = None  # None: the shipped export/artifacts/manifest.json
    fallback: bool = True  # pte -> eager (logged) when the ExecuTorch runtime is not installed

    def __post_init__(self) -> None:
        if self.input_px % 16 or not 64 <= self.input_px <= 512:
            raise ValueError(f"EncoderConfig.input_px must be a multiple of 16 in [64, 512], got {self.input_px}")
        if self.threads < 1:
            raise ValueError(f"EncoderConfig.threads must be >= 1, got {self.threads}")
        if self.runtime not in RUNTIMES:
            raise ValueError(f"EncoderConfig.runtime must be one of {RUNTIMES}, got {self.runtime!r}")
        if self.variant not in ("auto", *VARIANTS):
            raise ValueError(f"EncoderConfig.variant must be one of {('auto', *VARIANTS)}, got {self.variant!r}")

    @property
    def grid(self) -> tuple[int, int]:
        return (self.input_px // 16, self.input_px // 16)


@dataclass(frozen=True)
class Encoding:
    patches: np.ndarray  # (gh*gw, D) float32, each row L2-normalised, row-major over the grid
    grid: tuple[int, int]  # (gh, gw)
    embedding: np.ndarray  # (D,) float32, L2-normalised mean of the patches


def embedding_space(model: str, weights_sha256: str, input_px: int) -> str:
    """The name of the space an encoder's embeddings live in; a memory records it when it is created
    and refuses an encoder from another space (its searches would be meaningless). The int8 and fp32
    programs of one export share the space of the weights they were verified against."""
    return f"{model} | weights sha256:{weights_sha256[:16]} | {input_px} px | mean of L2-normalised patches"


class EncoderRuntime(Protocol):
    dim: int
    config: EncoderConfig
    space: str  # embedding_space(...)

    def encode(self, rgb: np.ndarray) -> Encoding: ...


class ReferenceEncoder(EncoderRuntime, Protocol):
    """An eager encoder that `ami export` can lower and verify its programs against."""

    model: str  # what the network computes; the manifest's "model"
    weights: dict[str, str]  # the float weights it came from; the manifest's "source_weights"

    def network(self) -> torch.nn.Module: ...


def _l2n(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=axis, keepdims=True), 1e-8)


def to_input(rgb: np.ndarray, input_px: int) -> torch.Tensor:
    """(H, W, 3) uint8 RGB -> the network input (1, 3, input_px, input_px) float32 in [0, 1].

    Bilinear, align_corners=False; frames already input_px square are not resampled.
    """
    import torch

    if not isinstance(rgb, np.ndarray) or rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        got = f"{rgb.shape} {rgb.dtype}" if isinstance(rgb, np.ndarray) else type(rgb).__name__
        raise ModelError(f"encoder input must be an (H, W, 3) uint8 RGB frame, got {got}")
    x = torch.from_numpy(np.array(rgb)).permute(2, 0, 1).unsqueeze(0).float().div_(255.0)  # (1, 3, H, W)
    if rgb.shape[:2] != (input_px, input_px):
        # On one thread whatever the encoder's: torch's bilinear kernel rounds differently split over
        # threads, and that last bit flipped near-threshold sightings (`--threads 2` changed answers).
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            x = torch.nn.functional.interpolate(x, size=(input_px, input_px), mode="bilinear", align_corners=False)
        finally:
            torch.set_num_threads(threads)
    return x.contiguous()


def to_encoding(feats: np.ndarray) -> Encoding:
    """Network output (D, gh, gw) float -> Encoding (per-patch L2, normalised mean)."""
    d, gh, gw = feats.shape
    patches = _l2n(np.ascontiguousarray(feats.transpose(1, 2, 0).reshape(gh * gw, d), dtype=np.float32))
    return Encoding(patches=patches, grid=(gh, gw), embedding=_l2n(patches.mean(axis=0)))


class FrozenEncoder:
    """The frozen ImageNet MobileNetV2 trunk (features[:14]) run by eager PyTorch."""

    def __init__(self, config: EncoderConfig = EncoderConfig(runtime="frozen")) -> None:
        import torch

        from worldmodel.backbone import (STRIDE16_DIM, STRIDE16_MODEL, Stride16Features, load_mobilenet_v2,
                                         mobilenet_v2_weights_path, sha256_file)

        self.config = config
        self.dim = STRIDE16_DIM
        torch.set_num_threads(config.threads)
        try:
            weights = mobilenet_v2_weights_path()
            self._net = Stride16Features(load_mobilenet_v2(weights)).eval()
        except (FileNotFoundError, RuntimeError) as e:
            raise ModelError(f"cannot load the MobileNetV2 backbone: {e}") from e
        self.model = STRIDE16_MODEL  # what the network computes; `ami export` writes it to the manifest
        self.weights = {"file": weights.name, "sha256": sha256_file(weights)}
        self.space = embedding_space(self.model, self.weights["sha256"], config.input_px)
        self._torch = torch

    def network(self) -> torch.nn.Module:
        """The module `ami export` lowers: (1, 3, px, px) in [0, 1] -> (1, D, gh, gw)."""
        return self._net

    def features(self, x: torch.Tensor) -> np.ndarray:
        """(1, 3, px, px) float in [0, 1] -> (D, gh, gw) float32."""
        with self._torch.inference_mode():
            return self._net(x)[0].numpy()

    def encode(self, rgb: np.ndarray) -> Encoding:
        """rgb: (H, W, 3) uint8 -> Encoding."""
        return to_encoding(self.features(to_input(rgb, self.config.input_px)))


def make_encoder(config: EncoderConfig) -> EncoderRuntime:
    """The runtime `config` asks for. The pte runtime falls back to eager only when the ExecuTorch
    runtime is not installed, with a logged reason, and only when the eager weights are the ones
    the program was exported from (so the embedding space does not change)."""
    if config.runtime == "frozen":
        return FrozenEncoder(config)
    if config.runtime == "eager":
        from device.perception.instance_encoder import InstanceEncoder

        return InstanceEncoder(config)
    from device.perception.encoder_manifest import read_manifest
    from device.perception.encoder_pte import PteEncoder, RuntimeMissingError, manifest_path

    try:
        return PteEncoder(config)
    except RuntimeMissingError as e:
        if not config.fallback:
            raise
        manifest = read_manifest(manifest_path(config))
        eager = make_encoder(EncoderConfig(input_px=config.input_px, threads=config.threads, runtime=reference_runtime(
            manifest.model)))
        want = embedding_space(manifest.model, manifest.source_weights.get("sha256", ""), manifest.input_px)
        if eager.space != want:
            raise ModelError(f"no eager fallback: the installed weights ({eager.space}) are not the ones the .pte "
                             f"was exported from ({want}), so answers would change; install executorch or "
                             "re-export") from e
        log.warning("encoder: falling back to eager PyTorch: %s", e)
        return eager


def reference_runtime(model: str) -> str:
    """The eager runtime that computes what a manifest's `model` names: "eager" (backbone + instance
    head) or "frozen" (the trunk alone)."""
    from device.perception.instance_encoder import INSTANCE_MODEL

    return "eager" if model.startswith(INSTANCE_MODEL) else "frozen"


class NoisyFrames:
    """A reference encoder run on the frame with +-1 grey level of uniform noise per pixel (fixed
    seed): how far eager moves from itself, its noise floor."""

    def __init__(self, inner: EncoderRuntime, seed: int = 0) -> None:
        self.inner, self.dim, self.config, self.space = inner, inner.dim, inner.config, inner.space
        self.rng = np.random.default_rng(seed)

    def encode(self, rgb: np.ndarray) -> Encoding:
        noise = self.rng.integers(-1, 2, size=rgb.shape)
        return self.inner.encode(np.clip(rgb.astype(np.int16) + noise, 0, 255).astype(np.uint8))
