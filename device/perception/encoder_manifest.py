"""manifest.json of an exported encoder (format "ami-encoder/1"): what the device needs to run a
`.pte` without the exporter. `export/manifest.py` writes it; `device/perception/encoder_pte.py` reads it.

The device trusts nothing it cannot check: each program's size and sha256, the ExecuTorch
version it was written by, and its input and output shapes against the loaded method.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from device.errors import ModelError

MANIFEST_FORMAT = "ami-encoder/1"
MANIFEST_FILE = "manifest.json"


@dataclass(frozen=True)
class ProgramEntry:
    """One `.pte` next to the manifest."""

    file: str  # file name in the manifest's folder
    sha256: str
    bytes: int
    quantization: str  # "none" or the scheme, e.g. "pt2e-int8-static-per-channel-symmetric"
    verification: dict[str, float]  # parity figures measured before it was written

    def __post_init__(self) -> None:
        if "/" in self.file or self.file in ("", ".", ".."):
            raise ModelError(f"manifest: program file must be a plain file name, got {self.file!r}")
        if len(self.sha256) != 64:
            raise ModelError(f"manifest: program sha256 must be 64 hex digits, got {self.sha256!r}")
        if self.bytes <= 0:
            raise ModelError(f"manifest: program bytes must be > 0, got {self.bytes}")


@dataclass(frozen=True)
class EncoderManifest:
    model: str  # what the program computes, e.g. "mobilenet_v2.features[:14]"
    input_shape: tuple[int, int, int, int]  # (1, 3, px, px)
    input_dtype: str  # "float32"
    input_range: tuple[float, float]  # (0.0, 1.0): RGB / 255 after the bilinear resize
    resize: str  # how frames become the input (outside the program: device/perception/encoder.py to_input)
    normalisation: dict[str, Any]  # {"mean": [...], "std": [...], "where": "inside the program"}
    output_shape: tuple[int, int, int, int]  # (1, D, gh, gw)
    postprocess: str  # outside the program: device/perception/encoder.py to_encoding
    source_weights: dict[str, str]  # {"file": ..., "sha256": ...} of the float checkpoint
    versions: dict[str, str]  # torch, executorch, torchao that wrote the programs
    programs: dict[str, ProgramEntry]  # variant ("int8", "fp32") -> program
    calibration: dict[str, Any] = field(default_factory=dict)  # sessions and frame count (int8)
    default: str = ""  # the program the device runs unless asked for another ("": the smallest listed)
    format: str = MANIFEST_FORMAT

    def __post_init__(self) -> None:
        if self.format != MANIFEST_FORMAT:
            raise ModelError(f"manifest: format {self.format!r} is not {MANIFEST_FORMAT!r}; "
                             "re-export with `ami export` for this version of ami")
        if len(self.input_shape) != 4 or self.input_shape[0] != 1 or self.input_shape[1] != 3:
            raise ModelError(f"manifest: input_shape must be (1, 3, px, px), got {self.input_shape}")
        if len(self.output_shape) != 4 or self.output_shape[0] != 1:
            raise ModelError(f"manifest: output_shape must be (1, D, gh, gw), got {self.output_shape}")
        if not self.programs:
            raise ModelError("manifest: lists no programs; re-export with `ami export`")
        if self.default and self.default not in self.programs:
            raise ModelError(f"manifest: default {self.default!r} is not one of its programs {sorted(self.programs)}; "
                             "re-export with `ami export`")

    @property
    def dim(self) -> int:
        return self.output_shape[1]

    @property
    def grid(self) -> tuple[int, int]:
        return (self.output_shape[2], self.output_shape[3])

    @property
    def input_px(self) -> int:
        return self.input_shape[2]

    def to_json(self) -> dict[str, Any]:
        obj = asdict(self)
        return {"format": obj.pop("format"), **obj}  # the format first, for a reader

    @classmethod
    def from_json(cls, obj: Any, where: str = MANIFEST_FILE) -> EncoderManifest:
        if not isinstance(obj, dict):
            raise ModelError(f"{where}: must hold a JSON object")
        if obj.get("format") != MANIFEST_FORMAT:
            raise ModelError(f"{where}: format {obj.get('format')!r} is not {MANIFEST_FORMAT!r}; "
                             "re-export with `ami export` for this version of ami")
        try:
            programs = {str(k): ProgramEntry(**v) for k, v in obj["programs"].items()}
            fields = {k: obj[k] for k in ("model", "input_dtype", "resize", "normalisation", "postprocess",
                                          "source_weights", "versions")}
            return cls(input_shape=tuple(int(v) for v in obj["input_shape"]),  # type: ignore[arg-type]
                       input_range=tuple(float(v) for v in obj["input_range"]),  # type: ignore[arg-type]
                       output_shape=tuple(int(v) for v in obj["output_shape"]),  # type: ignore[arg-type]
                       programs=programs, calibration=dict(obj.get("calibration", {})),
                       default=str(obj.get("default", "")), **fields)
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise ModelError(f"{where}: incomplete or malformed ({type(e).__name__}: {e}); "
                             "re-export with `ami export`") from e


def read_manifest(path: Path) -> EncoderManifest:
    """Read and validate a manifest.json; ModelError says what is wrong."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise ModelError(f"{path}: no encoder manifest here; run `ami export --out {Path(path).parent}` "
                         "or use --encoder eager") from e
    except (OSError, UnicodeDecodeError) as e:
        raise ModelError(f"{path}: cannot read the encoder manifest ({e})") from e
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise ModelError(f"{path}: not valid JSON ({e}); re-export with `ami export`") from e
    return EncoderManifest.from_json(obj, where=str(path))
