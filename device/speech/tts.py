"""Spoken answers: espeak-ng, offline, to the default output device.

The caller always prints and logs the text too; speech is an extra channel that may be off
(`--no-speak`) or missing (no espeak-ng, no output device), in which case it is skipped with one
warning rather than failing the answer.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from dataclasses import dataclass

from device.errors import AmiError

log = logging.getLogger(__name__)


class SpeechOutputError(AmiError, RuntimeError):
    """espeak-ng is missing or failed."""


@dataclass(frozen=True)
class SpeakerConfig:
    enabled: bool = True
    voice: str = "en-us"  # an espeak-ng voice (espeak-ng --voices)
    words_per_min: int = 170
    timeout_s: float = 30.0

    def __post_init__(self) -> None:
        if not 80 <= self.words_per_min <= 450:
            raise ValueError(f"SpeakerConfig.words_per_min must be 80..450, got {self.words_per_min}")
        if not self.voice or any(c.isspace() for c in self.voice):
            raise ValueError(f"SpeakerConfig.voice must be one espeak-ng voice name, got {self.voice!r}")
        if self.timeout_s <= 0:
            raise ValueError(f"SpeakerConfig.timeout_s must be > 0, got {self.timeout_s}")


class Speaker:
    """Says text through espeak-ng; a no-op when disabled or after the first failure."""

    def __init__(self, config: SpeakerConfig = SpeakerConfig()) -> None:
        self.config = config
        self._broken = not config.enabled
        self._exe = shutil.which("espeak-ng") if config.enabled else None
        if config.enabled and self._exe is None:
            log.warning("espeak-ng is not installed, answers are printed only (apt-get install espeak-ng)")
            self._broken = True

    def say(self, text: str) -> bool:
        """Speak `text` and wait until it is said; False when nothing was spoken."""
        if self._broken or not text.strip() or self._exe is None:
            return False
        c = self.config
        try:
            subprocess.run([self._exe, "-v", c.voice, "-s", str(c.words_per_min), "--", text],
                           check=True, capture_output=True, timeout=c.timeout_s)
        except subprocess.CalledProcessError as e:
            log.warning("espeak-ng failed (%s); answers are printed only from now on (try --no-speak)",
                        e.stderr.decode(errors="replace").strip())
            self._broken = True
            return False
        except subprocess.TimeoutExpired:
            log.warning("espeak-ng took over %.0f s; answers are printed only from now on", c.timeout_s)
            self._broken = True
            return False
        return True

    def to_wav(self, text: str, path: str) -> None:
        """Write `text` as speech to a wav (espeak-ng's own rate): for tests and benchmarks."""
        exe = self._exe or shutil.which("espeak-ng")
        if exe is None:
            raise SpeechOutputError("espeak-ng is not installed: apt-get install espeak-ng")
        c = self.config
        try:
            subprocess.run([exe, "-v", c.voice, "-s", str(c.words_per_min), "-w", path, "--", text],
                           check=True, capture_output=True, timeout=c.timeout_s)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as e:
            raise SpeechOutputError(f"espeak-ng could not speak {text!r} ({e}); check `espeak-ng --voices`") from e
