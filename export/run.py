"""`export_encoder`: the whole export, as `ami export` runs it.

1. Record (or take) calibration and held-out verification sessions; they must not overlap.
2. torch.export the eager encoder and lower it to an XNNPACK fp32 `.pte`; quantize it (PT2E int8,
   calibrated on the calibration keyframes, its most sensitive blocks kept in fp32: export/quantize.py)
   and lower that too.
3. Stage both programs with a manifest in a hidden folder inside the output folder and load each
   through the device's own runtime (PteEncoder), then verify it against eager: its sightings on the
   held-out keyframes (export/verify.py) and, when `ExportConfig.answers` is given, the answers of
   whole replays (device/app/answer_check.py).
4. Move only the programs that passed into place, then write manifest.json last, atomically, naming
   int8 as the default when it passed. A program that failed is not written; the result says why.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol

from device.perception.encoder import VARIANTS, EncoderConfig, EncoderRuntime, FrozenEncoder, ReferenceEncoder
from device.perception.encoder_manifest import MANIFEST_FILE, ProgramEntry
from device.errors import ModelError
from export.manifest import build_manifest, program_entry, write_manifest
from export.quantize import SCHEME_INT8, QuantizeConfig
from export.verify import VerifyConfig, VerifyReport, verify_encoder

log = logging.getLogger(__name__)

HELD_OUT_EVAL_SEEDS = range(1000, 1010)  # reserved for evaluation: never calibrate or verify on them
PROGRAM_FILES = {"fp32": "encoder-fp32.pte", "int8": "encoder-int8.pte"}
# instance: the MobileNetV2 trunk + the learned instance head (the shipped program); frozen: the trunk alone
MODELS = ("instance", "frozen")
SCHEMES = {"fp32": "none (fp32)", "int8": SCHEME_INT8}


class ExportError(ModelError):
    """No program passed verification, or the export cannot start."""


class Verdict(Protocol):
    """A check's outcome (export.verify.VerifyReport; device.app.answer_check.AnswerReport)."""

    @property
    def passed(self) -> bool: ...

    @property
    def reasons(self) -> tuple[str, ...]: ...

    def figures(self) -> dict[str, float]: ...

    def summary(self) -> str: ...


# Verification by consequence: (candidate, eager) -> how the candidate's replayed answers compare with
# eager's. The CLI passes device.app.answer_check's (export sits below the apps and cannot import them).
AnswerCheck = Callable[[EncoderRuntime, EncoderRuntime], Verdict]


@dataclass(frozen=True)
class ExportConfig:
    calib_sessions: tuple[Path, ...]
    verify_sessions: tuple[Path, ...]
    variants: tuple[str, ...] = VARIANTS
    model: str = "instance"
    input_px: int = 224
    threads: int = 1
    quantize: QuantizeConfig = field(default_factory=QuantizeConfig)
    verify: VerifyConfig = field(default_factory=VerifyConfig)
    answers: AnswerCheck | None = None  # run on each program whose sightings passed; None: sightings only

    def __post_init__(self) -> None:
        if not self.calib_sessions or not self.verify_sessions:
            raise ValueError("ExportConfig.calib_sessions and .verify_sessions must each name at least one session")
        overlap = {p.resolve() for p in self.calib_sessions} & {p.resolve() for p in self.verify_sessions}
        if overlap:
            raise ValueError(f"ExportConfig: verification must use held-out sessions, but {sorted(map(str, overlap))} "
                             "are also calibration sessions")
        bad = [v for v in self.variants if v not in VARIANTS]
        if bad or not self.variants:
            raise ValueError(f"ExportConfig.variants must be a non-empty subset of {VARIANTS}, got {self.variants}")
        if self.threads < 1:
            raise ValueError(f"ExportConfig.threads must be >= 1, got {self.threads}")
        if self.model not in MODELS:
            raise ValueError(f"ExportConfig.model must be one of {MODELS}, got {self.model!r}")


@dataclass(frozen=True)
class ExportResult:
    out_dir: Path
    written: dict[str, Path]  # variant -> .pte that passed and was written
    reports: dict[str, VerifyReport]  # variant -> verification of its sightings, passed or not
    manifest: Path | None  # None when nothing passed
    answers: dict[str, Verdict] = field(default_factory=dict)  # variant -> its answers (when checked)

    def passed(self, variant: str) -> bool:
        answers = self.answers.get(variant)
        return self.reports[variant].passed and (answers is None or answers.passed)

    def reasons(self, variant: str) -> tuple[str, ...]:
        answers = self.answers.get(variant)
        return self.reports[variant].reasons + (() if answers is None else answers.reasons)

    @property
    def rejected(self) -> list[str]:
        return [v for v in self.reports if not self.passed(v)]


def check_seeds(calib: list[int], verify: list[int]) -> None:
    """Development seeds only, and verification seeds held out from calibration."""
    reserved = sorted(s for s in (*calib, *verify) if s in HELD_OUT_EVAL_SEEDS)
    if reserved:
        raise ExportError(f"seeds {reserved} are held-out evaluation seeds (1000-1009); use development seeds")
    shared = sorted(set(calib) & set(verify))
    if shared:
        raise ExportError(f"seeds {shared} are both calibration seeds and verification or answer seeds; verification "
                          "must be held out")


def record_seeds(seeds: list[int], folder: Path, short: bool = True) -> tuple[Path, ...]:
    """MiniWorld sessions for the given development seeds: short ones (about 10-15 s each to record),
    or whole ones with their questions and left-behind events (for the answer check)."""
    from device.sim.record import RecordConfig, record_session

    return tuple(record_session(folder / f"seed{s}{'' if short else '-whole'}", RecordConfig(seed=s, short=short),
                                progress=False) for s in seeds)


def reference_encoder(config: ExportConfig) -> ReferenceEncoder:
    """The eager encoder of the model being exported: what its programs are verified against."""
    if config.model == "instance":
        from device.perception.instance_encoder import InstanceEncoder

        return InstanceEncoder(EncoderConfig(runtime="eager", input_px=config.input_px, threads=config.threads))
    return FrozenEncoder(EncoderConfig(runtime="frozen", input_px=config.input_px, threads=config.threads))


def stage_programs(staging: Path, programs: dict[str, bytes], config: ExportConfig, reference: ReferenceEncoder,
                   calibration: dict[str, object]) -> dict[str, ProgramEntry]:
    """Write the programs and a manifest (no verification figures yet) into `staging`."""
    entries = {}
    for variant, data in programs.items():
        (staging / PROGRAM_FILES[variant]).write_bytes(data)
        entries[variant] = program_entry(PROGRAM_FILES[variant], data, SCHEMES[variant], {})
    write_manifest(staging / MANIFEST_FILE, build_manifest(config.input_px, reference, entries, calibration))
    return entries


def lower_all(config: ExportConfig, calibration_dirs: tuple[Path, ...],
              reference: ReferenceEncoder) -> tuple[dict[str, bytes], dict[str, object]]:
    """The requested programs of the reference's network as `.pte` bytes (int8 calibrated on
    calibration_dirs), and calibration info."""
    import torch

    from export.frames import load_keyframes
    from export.lower import lower_to_pte
    from export.quantize import quantize_int8, sensitive_blocks

    torch.set_num_threads(config.threads)
    net = reference.network()
    calib = load_keyframes(list(calibration_dirs), config.input_px, config.quantize.calibration_frames)
    example = calib.inputs[0]
    programs: dict[str, bytes] = {}
    if "fp32" in config.variants:
        programs["fp32"] = lower_to_pte(net, example)
    info: dict[str, object] = {"sessions": list(calib.sessions), "frames": len(calib.inputs),
                               "selection": "keyframes (device keyframe gate), evenly spread"}
    if "int8" in config.variants:
        keep = config.quantize.keep_fp32
        if keep is None:
            keep, info["int8_search"] = sensitive_blocks(net, calib, config.quantize)
        info["int8_fp32_blocks"] = list(keep)
        programs["int8"] = lower_to_pte(quantize_int8(net, calib, config.quantize, keep), example)
    return programs, info


def export_encoder(out_dir: Path, config: ExportConfig) -> ExportResult:
    """Export, verify and write the encoder programs and manifest.json into out_dir."""
    import torch

    from device.perception.encoder_pte import PteEncoder

    torch.set_num_threads(config.threads)
    out_dir.mkdir(parents=True, exist_ok=True)
    eager = reference_encoder(config)
    programs, calibration = lower_all(config, config.calib_sessions, eager)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=out_dir))  # same filesystem: os.replace is atomic
    try:
        entries = stage_programs(staging, programs, config, eager, calibration)
        reports: dict[str, VerifyReport] = {}
        answers: dict[str, Verdict] = {}
        for variant in programs:
            candidate = PteEncoder(EncoderConfig(runtime="pte", variant=variant, manifest=staging / MANIFEST_FILE,
                                                 input_px=config.input_px, threads=config.threads))
            reports[variant] = verify_encoder(candidate, eager, list(config.verify_sessions), config.verify)
            log.info("%s: %s", variant, reports[variant].summary())
            if reports[variant].passed and config.answers is not None:
                answers[variant] = config.answers(candidate, eager)
                log.info("%s: %s", variant, answers[variant].summary())
        verdict = ExportResult(out_dir, {}, reports, None, answers)
        passed = {v: e for v, e in entries.items() if verdict.passed(v)}
        if not passed:
            why = "; ".join(f"{v}: {', '.join(verdict.reasons(v))}" for v in reports)
            raise ExportError(f"no program passed verification, nothing was written ({why})")
        final = {v: ProgramEntry(**{**e.__dict__, "verification": {
            **reports[v].figures(), **({f"answers_{k}": x for k, x in answers[v].figures().items()}
                                       if v in answers else {})}}) for v, e in passed.items()}
        written = {}
        for variant, entry in final.items():
            os.replace(staging / entry.file, out_dir / entry.file)
            written[variant] = out_dir / entry.file
        manifest = write_manifest(out_dir / MANIFEST_FILE, build_manifest(config.input_px, eager, final, calibration))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return ExportResult(out_dir, written, reports, manifest, answers)
