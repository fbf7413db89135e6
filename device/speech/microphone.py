"""The microphone: a `Microphone` interface, a PortAudio implementation (sounddevice) into a ring
buffer, and voice-activity-gated segmentation of the stream into utterances (Silero VAD, the one
faster-whisper ships).

    with SoundDeviceMicrophone(MicrophoneConfig(device="pulse")) as mic:
        seg = VadSegmenter()
        while True:
            for utterance in seg.feed(mic.read(timeout_s=1.0)):
                ...  # utterance.samples: (N,) float32, 16 kHz mono

Import sounddevice only inside `SoundDeviceMicrophone`: PortAudio lists the devices when it is
imported, so the sound-server environment must be set before.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from device.errors import AmiError

log = logging.getLogger(__name__)

SAMPLE_RATE_HZ = 16_000
ONSET_KEEP_S = 1.0  # audio kept before speech is detected
HOW_TO_FIX = ("install PortAudio and a sound server (apt-get install libportaudio2 pulseaudio), "
              "or pass --device NAME|INDEX (see `python -m sounddevice` for the list)")


class MicrophoneError(AmiError, RuntimeError):
    """No usable input device, or the stream failed."""


@dataclass(frozen=True)
class MicrophoneConfig:
    device: str | int | None = None  # None: the default input; a name substring or an index
    sample_rate_hz: int = SAMPLE_RATE_HZ
    block_s: float = 0.1  # PortAudio callback size
    ring_s: float = 30.0  # audio kept for a slow reader; older samples are dropped
    stall_s: float = 10.0  # a stream that delivers nothing for this long has stopped: an error

    def __post_init__(self) -> None:
        if self.sample_rate_hz != SAMPLE_RATE_HZ:
            raise ValueError(f"MicrophoneConfig.sample_rate_hz must be {SAMPLE_RATE_HZ}, got {self.sample_rate_hz}")
        if not 0.005 <= self.block_s <= 1.0:
            raise ValueError(f"MicrophoneConfig.block_s must be in [0.005, 1], got {self.block_s}")
        if self.ring_s < 2.0:
            raise ValueError(f"MicrophoneConfig.ring_s must be >= 2, got {self.ring_s}")
        if self.stall_s < 1.0:
            raise ValueError(f"MicrophoneConfig.stall_s must be >= 1, got {self.stall_s}")
        if isinstance(self.device, int) and self.device < 0:
            raise ValueError(f"MicrophoneConfig.device index must be >= 0, got {self.device}")


class RingBuffer:
    """A fixed-size float32 ring. One writer (the audio thread), one reader with its own cursor."""

    def __init__(self, capacity: int) -> None:
        self._buf = np.zeros(capacity, np.float32)
        self._written = 0  # samples ever written
        self._read = 0  # samples ever handed to the reader
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)
        self.dropped = 0  # samples overwritten before the reader took them

    def write(self, x: np.ndarray) -> None:
        with self._lock:
            cap = len(self._buf)
            self._written += max(0, len(x) - cap)  # samples that would be overwritten at once
            x = x[-cap:]
            n = len(x)
            start = self._written % cap
            first = min(n, cap - start)
            self._buf[start:start + first] = x[:first]
            self._buf[:n - first] = x[first:]
            self._written += n
            if self._written - self._read > cap:
                self.dropped += self._written - self._read - cap
                self._read = self._written - cap
            self._ready.notify_all()

    def read(self, timeout_s: float) -> np.ndarray:
        """Everything written since the last read (waits up to timeout_s for something): (N,)."""
        with self._lock:
            if self._written == self._read:
                self._ready.wait(timeout_s)
            cap = len(self._buf)
            idx = np.arange(self._read, self._written) % cap
            self._read = self._written
            return self._buf[idx].copy()


class Microphone(Protocol):
    """16 kHz mono float32 audio from some input."""

    def start(self) -> None: ...

    def read(self, timeout_s: float = 1.0) -> np.ndarray: ...  # (N,) float32, N may be 0

    def close(self) -> None: ...


def _input_devices(sd: Any) -> list[tuple[int, str]]:
    try:
        devices = sd.query_devices()
    except sd.PortAudioError as e:
        raise MicrophoneError(f"PortAudio cannot list devices ({e}); {HOW_TO_FIX}") from e
    return [(i, d["name"]) for i, d in enumerate(devices) if d["max_input_channels"] > 0]


def resolve_device(sd: Any, spec: str | int | None) -> int | None:
    """The PortAudio index for `spec` (index, exact name, or unique substring); None: default."""
    inputs = _input_devices(sd)
    listing = ", ".join(f"{i}: {n}" for i, n in inputs) or "none"
    if not inputs:
        raise MicrophoneError(f"no audio input device found; {HOW_TO_FIX}")
    if spec is None:
        try:
            default = sd.default.device[0]
        except (AttributeError, IndexError, TypeError) as e:
            raise MicrophoneError(f"no default input device; pass --device (inputs: {listing})") from e
        if default is None or default < 0:
            return inputs[0][0]
        return int(default)
    if isinstance(spec, int) or (isinstance(spec, str) and spec.isdigit()):
        index = int(spec)
        if index not in {i for i, _ in inputs}:
            raise MicrophoneError(f"--device {index} is not an input device; inputs: {listing}")
        return index
    exact = [i for i, n in inputs if n == spec]
    matches = exact or [i for i, n in inputs if spec.lower() in n.lower()]
    if len(matches) != 1:
        what = "matches no" if not matches else "matches more than one"
        raise MicrophoneError(f"--device {spec!r} {what} input device; inputs: {listing}")
    return matches[0]


class SoundDeviceMicrophone:
    """A PortAudio input stream (16 kHz, mono, float32) feeding a ring buffer."""

    def __init__(self, config: MicrophoneConfig = MicrophoneConfig()) -> None:
        self.config = config
        try:
            import sounddevice as sd
        except OSError as e:  # the Python package is there, the PortAudio library is not
            raise MicrophoneError(f"PortAudio is missing ({e}); {HOW_TO_FIX}") from e
        except ImportError as e:
            raise MicrophoneError("sounddevice is not installed: pip install sounddevice==0.5.6") from e
        self._sd = sd
        self.device = resolve_device(sd, config.device)
        self.ring = RingBuffer(int(config.ring_s * config.sample_rate_hz))
        self._stream: Any = None
        self.overflows = 0
        self._last_audio = 0.0  # time.monotonic() of the last callback

    def _callback(self, indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        # "high" latency gives PortAudio deep buffers: Whisper's bursts of work must not drop audio
        if status and status.input_overflow:
            self.overflows += 1
            log.warning("microphone input overflow: audio was dropped (the CPU is too busy)")
        self._last_audio = time.monotonic()
        self.ring.write(indata[:, 0])

    def start(self) -> None:
        if self._stream is not None:
            return
        c = self.config
        try:
            self._stream = self._sd.InputStream(
                samplerate=c.sample_rate_hz, channels=1, dtype="float32", device=self.device,
                blocksize=int(c.block_s * c.sample_rate_hz), latency="high", callback=self._callback)
            self._last_audio = time.monotonic()
            self._stream.start()
        except self._sd.PortAudioError as e:
            self._stream = None
            raise MicrophoneError(f"cannot open input device {self.device} at {c.sample_rate_hz} Hz mono ({e}); "
                                  f"{HOW_TO_FIX}") from e
        log.info("microphone: device %s, %d Hz", self.device, c.sample_rate_hz)

    def read(self, timeout_s: float = 1.0) -> np.ndarray:
        if self._stream is None:
            raise MicrophoneError("the microphone is not started; call start() or use it as a context manager")
        x = self.ring.read(timeout_s)
        silent_s = time.monotonic() - self._last_audio
        if not len(x) and silent_s > self.config.stall_s:
            raise MicrophoneError(f"input device {self.device} delivered no audio for {silent_s:.0f} s: the stream "
                                  f"stopped (a sound server restart or an unplugged device); start `ami listen` again")
        return x

    def close(self) -> None:
        if self._stream is not None:
            # abort, not stop: stop() waits for the device to drain, which a pipe source never does
            self._stream.abort()
            self._stream.close()
            self._stream = None
            if self.overflows or self.ring.dropped:
                log.warning("microphone: %d input overflows, %d samples dropped by a slow reader: the CPU "
                            "was too busy, and answers may have missed words", self.overflows, self.ring.dropped)

    def __enter__(self) -> "SoundDeviceMicrophone":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- voice activity ------------------------------------------------------------------------------
@dataclass(frozen=True)
class VadConfig:
    threshold: float = 0.5  # Silero speech probability
    min_speech_s: float = 0.25  # shorter bursts (clicks, knocks) are not speech
    min_silence_s: float = 0.6  # this much silence ends an utterance
    pad_s: float = 0.2  # kept on both sides of the speech
    max_utterance_s: float = 15.0  # longer speech is cut here (a monologue is not a query)
    check_every_s: float = 0.2  # how often the segmenter re-runs the VAD on its buffer

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"VadConfig.threshold must be in (0, 1), got {self.threshold}")
        for name in ("min_speech_s", "min_silence_s", "pad_s", "check_every_s"):
            if not 0.0 <= getattr(self, name) <= 5.0:
                raise ValueError(f"VadConfig.{name} must be in [0, 5], got {getattr(self, name)}")
        if not 1.0 <= self.max_utterance_s <= 30.0:
            raise ValueError(f"VadConfig.max_utterance_s must be in [1, 30], got {self.max_utterance_s}")


@dataclass(frozen=True)
class SpeechSegment:
    start_s: float  # on the stream's clock (seconds since the first sample fed)
    end_s: float
    samples: np.ndarray  # (N,) float32, the padded speech
    truncated: bool  # cut at max_utterance_s


def speech_spans(samples: np.ndarray, config: VadConfig = VadConfig()) -> list[tuple[float, float]]:
    """Speech spans (start_s, end_s) in (N,) 16 kHz audio, by Silero VAD, padded by `pad_s`."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    opts = VadOptions(threshold=config.threshold, min_speech_duration_ms=int(config.min_speech_s * 1000),
                      min_silence_duration_ms=int(config.min_silence_s * 1000),
                      speech_pad_ms=int(config.pad_s * 1000))
    spans = get_speech_timestamps(np.asarray(samples, np.float32), opts, sampling_rate=SAMPLE_RATE_HZ)
    return [(s["start"] / SAMPLE_RATE_HZ, s["end"] / SAMPLE_RATE_HZ) for s in spans]


class VadSegmenter:
    """Cuts a stream into utterances: speech followed by `min_silence_s` of silence."""

    def __init__(self, config: VadConfig = VadConfig()) -> None:
        self.config = config
        self._buf = np.zeros(0, np.float32)
        self._buf_start = 0  # stream sample index of _buf[0]
        self._unchecked = 0  # samples fed since the last VAD run

    def feed(self, chunk: np.ndarray) -> list[SpeechSegment]:
        """Add audio; return the utterances that ended in it."""
        self._buf = np.concatenate([self._buf, np.asarray(chunk, np.float32).reshape(-1)])
        self._unchecked += len(chunk)
        if self._unchecked < self.config.check_every_s * SAMPLE_RATE_HZ:
            return []
        self._unchecked = 0
        return self._cut(final=False)

    def reset(self, stream_s: float) -> None:
        """Forget the buffered audio; the next sample fed is at stream_s (e.g. after our own answer)."""
        self._buf, self._unchecked = np.zeros(0, np.float32), 0
        self._buf_start = int(round(stream_s * SAMPLE_RATE_HZ))

    def flush(self) -> list[SpeechSegment]:
        """End of stream: whatever speech is buffered."""
        out = self._cut(final=True)
        self._buf, self._unchecked = np.zeros(0, np.float32), 0
        return out

    def _emit(self, a: int, b: int, truncated: bool) -> SpeechSegment:
        seg = SpeechSegment((self._buf_start + a) / SAMPLE_RATE_HZ, (self._buf_start + b) / SAMPLE_RATE_HZ,
                            self._buf[a:b].copy(), truncated)
        self._drop(b)
        return seg

    def _drop(self, n: int) -> None:
        self._buf = self._buf[n:]
        self._buf_start += n

    def _cut(self, final: bool) -> list[SpeechSegment]:
        c, sr = self.config, SAMPLE_RATE_HZ
        out: list[SpeechSegment] = []
        while len(self._buf):
            spans = speech_spans(self._buf, c)
            if not spans:
                # Keep the last second: speech that has just begun is too short for the VAD yet
                # (min_speech_s), and its onset must still be there when it is.
                self._drop(max(0, len(self._buf) - int(ONSET_KEEP_S * sr)))
                break
            a, b = int(spans[0][0] * sr), int(spans[0][1] * sr)
            if a > 0:
                self._drop(a)
                b -= a
                a = 0
            silence_after = len(self._buf) - b
            if b > c.max_utterance_s * sr:
                out.append(self._emit(0, int(c.max_utterance_s * sr), truncated=True))
            elif len(spans) > 1 or final or silence_after >= (c.min_silence_s - c.pad_s) * sr:
                out.append(self._emit(0, b, truncated=False))
            elif len(self._buf) > c.max_utterance_s * sr:  # speech still going on: bound it
                out.append(self._emit(0, int(c.max_utterance_s * sr), truncated=True))
            else:
                break
        return out
