"""`PteEncoder`: the exported encoder run by the ExecuTorch runtime (XNNPACK), the glasses' default.

It reads only the manifest (device/perception/encoder_manifest.py) and the `.pte` it names, and checks
before running anything: the manifest's format, the ExecuTorch version the program was written
by, the program's size and sha256, and the loaded method's input and output shapes. A failed
check is a `ModelError` that says how to fix it; nothing falls back silently. Pre- and
post-processing are device/perception/encoder.py's, shared with the eager reference.

The ExecuTorch runtime's compiled extension is imported here lazily, alone: its Python wrappers
import the exporter (seconds). Its threadpool is set once, before the first program is loaded:
resetting it later crashed or deadlocked, so one process should use one thread count.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import logging
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from core.paths import EXPORT_ARTIFACTS
from device.perception.encoder import VARIANTS, EncoderConfig, Encoding, embedding_space, to_encoding, to_input
from device.perception.encoder_manifest import MANIFEST_FILE, EncoderManifest, ProgramEntry, read_manifest
from device.errors import ModelError

log = logging.getLogger(__name__)

DEFAULT_MANIFEST = EXPORT_ARTIFACTS / MANIFEST_FILE
_DTYPE_CODES = {"float32": 6}  # ExecuTorch ScalarType codes the runtime reports (6 = Float)


class RuntimeMissingError(ModelError):
    """The ExecuTorch runtime is not installed (the only case the eager fallback covers)."""


def manifest_path(config: EncoderConfig) -> Path:
    return config.manifest if config.manifest is not None else DEFAULT_MANIFEST


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def installed_executorch() -> str:
    try:
        return importlib.metadata.version("executorch")
    except importlib.metadata.PackageNotFoundError as e:
        raise RuntimeMissingError(
            "the ExecuTorch runtime is not installed; `pip install executorch==1.5.1` "
            "(scripts/setup.sh does this) or use --encoder eager") from e


@contextlib.contextmanager
def _native_stderr_to_debug_log() -> Iterator[None]:
    """What native code writes to stderr (file descriptor 2) meanwhile goes to the debug log
    (`ami -v` shows it) instead of the wearer's terminal."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            for line in caught.read().decode("utf-8", "replace").splitlines():
                log.debug("executorch: %s", line)


def check_program_bytes(data: bytes, entry: ProgramEntry, where: Path) -> None:
    """Size, then sha256, against the manifest: truncated, corrupt or swapped programs fail here."""
    if len(data) != entry.bytes:
        kind = "truncated" if len(data) < entry.bytes else "longer than the manifest says"
        raise ModelError(f"{where}: {kind} ({len(data)} bytes, manifest says {entry.bytes}); "
                         "copy the program again or re-export with `ami export`")
    digest = sha256_bytes(data)
    if digest != entry.sha256:
        raise ModelError(f"{where}: sha256 {digest[:12]}... does not match the manifest's {entry.sha256[:12]}...: "
                         "the program is corrupt or is not the one this manifest describes; "
                         "re-export with `ami export`")


class PteEncoder:
    """EncoderRuntime over an ExecuTorch `.pte` described by a manifest.json."""

    def __init__(self, config: EncoderConfig = EncoderConfig()) -> None:
        self.config = config
        self.manifest_path = manifest_path(config)
        self.manifest: EncoderManifest = read_manifest(self.manifest_path)
        m = self.manifest
        self.variant = config.variant
        if self.variant == "auto":  # the manifest's default; else the smallest: int8 when it passed, else fp32
            self.variant = m.default or next((v for v in VARIANTS if v in m.programs), "")
        if self.variant not in m.programs:
            raise ModelError(f"{self.manifest_path}: has no {config.variant!r} program (it has "
                             f"{sorted(m.programs)}); choose another variant or re-export")
        if m.input_px != config.input_px:
            raise ModelError(f"{self.manifest_path}: the program takes {m.input_px} px frames, but the encoder is "
                             f"configured for {config.input_px} px; use input_px={m.input_px} or re-export")
        if m.input_dtype not in _DTYPE_CODES:
            raise ModelError(f"{self.manifest_path}: input_dtype {m.input_dtype!r} "
                             f"is not one of {sorted(_DTYPE_CODES)}")
        self.entry = m.programs[self.variant]
        self.path = self.manifest_path.parent / self.entry.file
        self.dim = m.dim
        self.space = embedding_space(m.model, m.source_weights.get("sha256", ""), m.input_px)
        have = installed_executorch()
        wrote = m.versions.get("executorch")
        if wrote != have:
            raise ModelError(f"{self.path}: written by executorch {wrote}, but this runtime is executorch {have}; "
                             f"re-export with `ami export` (or install executorch=={wrote})")
        try:
            data = self.path.read_bytes()
        except OSError as e:
            raise ModelError(f"{self.path}: cannot read the program ({e.strerror}); "
                             "re-export with `ami export`") from e
        check_program_bytes(data, self.entry, self.path)
        self._data = data  # the loaded program may refer into these bytes: they live as long as it
        self._program, self._method = self._load(data)
        self._check_method()
        log.info("encoder: %s (%s, %d bytes, %d thread(s))", self.path.name, self.entry.quantization,
                 self.entry.bytes, config.threads)

    def _load(self, data: bytes) -> tuple[Any, Any]:
        import torch  # before the extension: it loads libtorch, which the extension links against

        # The runtime's compiled extension alone. `portable_lib` and `executorch.runtime` wrap this
        # same module, but importing them imports the exporter (`executorch.exir`, torchao): 4 to 5 s
        # of every command's start, for nothing the glasses run.
        try:
            from executorch.extension.pybindings import _C
        except ImportError as e:
            raise RuntimeMissingError(f"the ExecuTorch runtime cannot be imported ({e})") from e
        torch.set_num_threads(self.config.threads)  # the resize in to_input
        with _native_stderr_to_debug_log():  # the threadpool's first use prints cpuinfo chatter
            if _C._threadpool_get_thread_count() != self.config.threads:
                _C._unsafe_reset_threadpool(self.config.threads)
        try:
            # The Program must outlive its Method (dropping it while the method runs segfaulted).
            program = _C._load_program_from_buffer(data, enable_etdump=False, debug_buffer_size=0,
                                                   program_verification=_C.Verification.InternalConsistency,
                                                   data_path=None)
            method = program.load_method("forward")
        except (RuntimeError, KeyError) as e:
            raise ModelError(f"{self.path}: the ExecuTorch runtime cannot load it ({e}): the file is corrupt or "
                             "was written by another ExecuTorch version; re-export with `ami export`") from e
        return program, method

    def _check_method(self) -> None:
        meta = self._method.method_meta()
        m = self.manifest
        if meta.num_inputs() != 1 or meta.num_outputs() != 1:
            raise ModelError(f"{self.path}: forward has {meta.num_inputs()} inputs and {meta.num_outputs()} "
                             "outputs, the encoder needs 1 and 1; the manifest does not match this program")
        got_in, got_out = meta.input_tensor_meta(0), meta.output_tensor_meta(0)
        if tuple(got_in.sizes()) != m.input_shape or int(got_in.dtype()) != _DTYPE_CODES[m.input_dtype]:
            raise ModelError(f"{self.path}: takes {tuple(got_in.sizes())} (dtype code {int(got_in.dtype())}), "
                             f"the manifest says {m.input_shape} {m.input_dtype}; re-export with `ami export`")
        if tuple(got_out.sizes()) != m.output_shape:
            raise ModelError(f"{self.path}: returns {tuple(got_out.sizes())}, the manifest says {m.output_shape}; "
                             "re-export with `ami export`")

    def features(self, x: Any) -> np.ndarray:
        """(1, 3, px, px) float32 torch tensor in [0, 1] -> (D, gh, gw) float32."""
        import torch

        shape = self.manifest.input_shape
        if not isinstance(x, torch.Tensor) or tuple(x.shape) != shape or x.dtype != torch.float32:
            got = f"{tuple(x.shape)} {x.dtype}" if isinstance(x, torch.Tensor) else type(x).__name__
            raise ModelError(f"{self.path.name}: input must be a float32 tensor of shape {shape}, got {got}")
        try:
            out = self._method((x.contiguous(),))
        except RuntimeError as e:
            raise ModelError(f"{self.path.name}: the program failed to run ({e})") from e
        y = out[0]
        if tuple(y.shape) != self.manifest.output_shape:
            raise ModelError(f"{self.path.name}: returned {tuple(y.shape)}, expected {self.manifest.output_shape}")
        return y[0].numpy().copy()

    def encode(self, rgb: np.ndarray) -> Encoding:
        """rgb: (H, W, 3) uint8 -> Encoding, exactly as the eager encoders around the network."""
        return to_encoding(self.features(to_input(rgb, self.config.input_px)))
