"""Build and write manifest.json for exported encoder programs (format: device/perception/encoder_manifest.py).

The manifest records what a device needs to run and trust the programs: input shape, dtype and
range, the resize and the normalisation, output dims and grid, each program's quantization
scheme, size, sha256 and verification figures, the sha256 of the float weights they came from,
the torch / executorch / torchao versions, and the calibration data.
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path
from typing import Any

from device.perception.encoder import ReferenceEncoder
from device.perception.encoder_manifest import EncoderManifest, ProgramEntry
from device.perception.encoder_pte import sha256_bytes
from device.session import write_json_atomic

RESIZE = "RGB uint8 -> bilinear (align_corners=False) to input_px square -> float / 255; device/encoder.py to_input"
POSTPROCESS = "per-patch L2 normalisation; embedding = L2-normalised mean of the patches; device/encoder.py to_encoding"


def package_versions() -> dict[str, str]:
    return {name: importlib.metadata.version(name) for name in ("torch", "executorch", "torchao")}


def program_entry(file: str, data: bytes, quantization: str, verification: dict[str, float]) -> ProgramEntry:
    return ProgramEntry(file=file, sha256=sha256_bytes(data), bytes=len(data), quantization=quantization,
                        verification=dict(verification))


def build_manifest(input_px: int, reference: ReferenceEncoder, programs: dict[str, ProgramEntry],
                   calibration: dict[str, Any]) -> EncoderManifest:
    """reference: the eager encoder the programs compute (its model name and weights are recorded,
    so the device names the same embedding space)."""
    from worldmodel.backbone import IMAGENET_MEAN, IMAGENET_STD

    dim = reference.dim
    return EncoderManifest(
        model=reference.model,
        input_shape=(1, 3, input_px, input_px),
        input_dtype="float32",
        input_range=(0.0, 1.0),
        resize=RESIZE,
        normalisation={"mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD), "where": "inside the program"},
        output_shape=(1, dim, input_px // 16, input_px // 16),
        postprocess=POSTPROCESS,
        source_weights=dict(reference.weights),
        versions=package_versions(),
        programs=programs,
        calibration=calibration,
        default="int8" if "int8" in programs else "fp32" if "fp32" in programs else "",
    )


def write_manifest(path: Path, manifest: EncoderManifest) -> Path:
    """Atomically (temp file, fsync, rename): a reader sees the old manifest or the new one."""
    write_json_atomic(path, manifest.to_json())
    path.chmod(0o644)  # shipped beside the programs, readable like them (the temp file was 0600)
    return path
