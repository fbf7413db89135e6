"""The spoken front end: audio -> voice activity -> Whisper -> an utterance for the assistant, and
the two ways to use it: `ask` (one wav against a memory folder) and `listen` (the live loop from a
microphone, answers printed, logged and spoken).

Silence and noise give no utterance at all (the VAD hears no speech, or Whisper writes nothing);
speech Whisper is unsure of (mumbling) gives an empty utterance, which the assistant answers with
"Sorry, I didn't catch that". Of Whisper's readings nearly as likely as its first, the first that
makes a whole request (an intent, and for one that names an item, a known item) is kept: "I must
list my keys" loses to "I misplaced my keys" (`complete_reading`).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import re
import shutil
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator, Literal, Sequence

import numpy as np

from device.speech.asr import SAMPLE_RATE_HZ, AsrConfig, Transcriber, Transcript
from device.answering.assistant import AssistantConfig
from device.answering.no_camera import memory_assistant
from device.errors import AmiError
from device.speech.intents import Intent, IntentConfig, clean_text, extract_item, item_key, parse_intent
from device.speech.microphone import MicrophoneConfig, VadConfig, VadSegmenter, speech_spans
from device.responses import Response
from device.session import Utterance
from device.speech.tts import Speaker

if TYPE_CHECKING:
    from memory.store import MemoryStore

log = logging.getLogger(__name__)

HeardKind = Literal["silence", "speech", "unclear"]


@dataclass(frozen=True)
class SpeechConfig:
    asr: AsrConfig = field(default_factory=AsrConfig)
    vad: VadConfig = field(default_factory=VadConfig)
    intents: IntentConfig = field(default_factory=IntentConfig)
    min_avg_logprob: float = -1.0  # Whisper less sure than this: "didn't catch that"
    min_speech_s: float = 0.3  # less voiced audio than this is not a query
    # An item name heard that is not enrolled is read as the enrolled name Whisper finds most likely
    # in its place when that reading is at most this much less likely (total log-prob) ...
    enrolled_max_drop: float = 4.0
    # ... and this much more likely than the next enrolled name.
    enrolled_min_lead: float = 2.0

    def __post_init__(self) -> None:
        if not -10.0 < self.min_avg_logprob < 0.0:
            raise ValueError(f"SpeechConfig.min_avg_logprob must be in (-10, 0), got {self.min_avg_logprob}")
        if not 0.0 <= self.min_speech_s <= 5.0:
            raise ValueError(f"SpeechConfig.min_speech_s must be in [0, 5], got {self.min_speech_s}")
        for name in ("enrolled_max_drop", "enrolled_min_lead"):
            if not 0.0 <= getattr(self, name) <= 50.0:
                raise ValueError(f"SpeechConfig.{name} must be in [0, 50] (log-prob), got {getattr(self, name)}")


@dataclass(frozen=True)
class Heard:
    kind: HeardKind
    text: str  # what goes to the assistant: "" unless kind == "speech"
    onset_s: float | None  # speech onset, seconds into the audio given (VAD)
    end_s: float | None  # speech end (VAD)
    transcript: Transcript | None


def complete_reading(readings: Sequence[str], parse: Callable[[str], Intent], known: set[str]) -> int:
    """The index of the first reading that makes a whole request: an intent, with a known item
    when it names one (a place name need not be known); else 0, Whisper's best. A reading that a
    pattern reads comes before one the sentence embedding guessed ("erase my wallet from your
    memory" over a likelier "it raised my wallet from your memory", which reads as an enrollment).
    A reading that is a request only with an unknown item is not preferred: "is it far to the shop"
    must not become "where is my shop"."""
    guessed = None  # the first whole request the embedding guessed; after it, only the patterns are asked
    for k, r in enumerate(readings):
        it = parse(r) if guessed is None else parse_intent(r)
        if it.kind != "unknown" and (it.kind == "name_place" or it.item is None or item_key(it.item) in known):
            if it.source == "rule":
                return k
            guessed = k
    return 0 if guessed is None else guessed


def hear(samples: np.ndarray, asr: Transcriber, config: SpeechConfig, vocabulary: tuple[str, ...] = (),
         parse: Callable[[str], Intent] = parse_intent, segment: bool = False) -> Heard:
    """Find the speech in (N,) 16 kHz audio and transcribe it; `parse` (the assistant's intents)
    picks among Whisper's likely readings. segment: the audio is already one utterance cut by the
    VAD (VadSegmenter: speech padded by vad.pad_s), so the VAD does not run on it again."""
    spans = [(0.0, len(samples) / SAMPLE_RATE_HZ)] if segment else speech_spans(samples, config.vad)
    voiced = sum(b - a for a, b in spans) - 2 * config.vad.pad_s * len(spans)
    if not spans or voiced < config.min_speech_s:
        return Heard("silence", "", None, None, None)
    a, b = spans[0][0], spans[-1][1]
    speech = samples[int(a * SAMPLE_RATE_HZ):int(b * SAMPLE_RATE_HZ)]
    known = {item_key(v) for v in (*asr.config.vocabulary, *vocabulary)}

    def choose(readings: Sequence[str]) -> int:
        return complete_reading(readings, parse, known)

    tr = asr.transcribe(speech, vocabulary, choose=choose)
    item = extract_item(clean_text(tr.text))
    if item is not None and item_key(item) not in known:
        # An item outside the vocabulary: ask the full 30 s window too, and keep its reading if
        # it names a known item ("this is my world" -> "this is my ball").
        second = asr.transcribe(speech, vocabulary, full_window=True, choose=choose)
        other = extract_item(clean_text(second.text))
        if other is not None and item_key(other) in known:
            log.info("second reading %r over %r", second.text, tr.text)
            tr = second
    if vocabulary:
        tr = enrolled_reading(speech, tr, asr, config, vocabulary, parse)
    onset = min(a + config.vad.pad_s, b)  # the spans carry pad_s of lead-in
    end = max(onset, b - config.vad.pad_s)
    if not tr.text.strip():
        return Heard("silence", "", onset, end, tr)
    words = tr.text.lower().split()
    if len(words) >= 6 and len(set(words)) < len(words) / 2:  # "all right, all right, all right, ..."
        log.info("repetitive transcript %r: Whisper is looping", tr.text)
        return Heard("unclear", "", onset, end, tr)
    if tr.avg_logprob < config.min_avg_logprob:
        log.info("unclear speech %r (avg log-prob %.2f)", tr.text, tr.avg_logprob)
        return Heard("unclear", "", onset, end, tr)
    return Heard("speech", tr.text, onset, end, tr)


def enrolled_reading(speech: np.ndarray, tr: Transcript, asr: Transcriber, config: SpeechConfig,
                     enrolled: tuple[str, ...], parse: Callable[[str], Intent]) -> Transcript:
    """`tr`, or `tr` with its item name replaced by the enrolled name Whisper finds nearly as likely
    for the audio ("where is my heart?" -> "where is my hat?"), when the request is about a
    wearer's item (not naming a new one) and the name heard is not enrolled. A name not enrolled
    stays when no enrolled name comes close: "where is my car?" is not "where is my charger?"."""
    intent = parse(tr.text)
    if intent.item is None or intent.kind not in ("locate", "forget", "route"):
        return tr
    keys = {item_key(e) for e in enrolled}
    if item_key(intent.item) in keys or any(item_key(w) in keys for w in intent.item.split()):
        return tr  # "car keys" -> keys: the assistant's resolve_item already takes it
    spans = list(re.finditer(rf"\b{re.escape(intent.item)}\b", tr.text, re.IGNORECASE))
    if not spans:
        return tr
    a, b = spans[-1].span()
    texts = [tr.text] + [tr.text[:a] + name + tr.text[b:] for name in enrolled]
    scores = asr.likelihood(speech, texts, [intent.item, *enrolled])
    order = sorted(range(1, len(texts)), key=lambda k: -scores[k])
    best, lead = order[0], scores[order[0]] - (scores[order[1]] if len(order) > 1 else -math.inf)
    log.info("heard %r (log-prob %.1f); as an enrolled name: %r (%.1f, %.1f ahead of the next)",
             tr.text, scores[0], texts[best], scores[best], lead)
    if scores[best] >= scores[0] - config.enrolled_max_drop and lead >= config.enrolled_min_lead:
        return dataclasses.replace(tr, text=texts[best])
    return tr


def speech_utterances(audio: np.ndarray, utterances: list[Utterance], asr: Transcriber,
                      config: SpeechConfig = SpeechConfig(), lead_s: float = 0.5,
                      tail_s: float = 1.0) -> list[Utterance]:
    """Replace each utterance's text by what Whisper hears in its audio span, and its t by the
    detected onset. Utterances without a span keep their text. Causal: the window ends tail_s
    after the span and never reaches the next utterance; item names enrolled by earlier
    utterances are the only vocabulary hint."""
    out: list[Utterance] = []
    known: list[str] = []
    for k, utt in enumerate(utterances):
        if utt.audio is None:
            out.append(utt)
            continue
        nxt = utterances[k + 1].t if k + 1 < len(utterances) else float("inf")
        w0 = max(0.0, utt.audio[0] - lead_s)
        w1 = min(utt.audio[1] + tail_s, nxt, len(audio) / SAMPLE_RATE_HZ)
        heard = hear(audio[int(w0 * SAMPLE_RATE_HZ):int(w1 * SAMPLE_RATE_HZ)], asr, config, tuple(known))
        if heard.kind == "silence" or heard.onset_s is None or heard.end_s is None:
            log.warning("no speech heard in %.1f-%.1f s (%r)", utt.audio[0], utt.audio[1], utt.text)
            continue
        log.info("heard %r for %r", heard.text, utt.text)
        intent = parse_intent(heard.text)
        if intent.kind == "enroll" and intent.item and intent.item not in known:
            known.append(intent.item)
        out.append(Utterance(t=w0 + heard.onset_s, text=heard.text, audio=(w0 + heard.onset_s, w0 + heard.end_s)))
    return out


@dataclass(frozen=True)
class Exchange:
    heard: Heard
    intent: Intent | None
    response: Response | None
    latency_s: float  # from the end of the audio handed over to the answer text


def _new_memory(folder: Path) -> MemoryStore:
    """An empty memory (owner-only) in the shipped encoder's dims."""
    from device.perception.encoder_manifest import read_manifest
    from device.perception.encoder_pte import DEFAULT_MANIFEST
    from memory.store import MemoryStore

    dim = read_manifest(DEFAULT_MANIFEST).dim
    return MemoryStore.open(folder, embedding_dim=dim, patch_dim=dim)


class SpokenAssistant:
    """An assistant over a memory folder, fed with audio; one per `ask` or `listen`."""

    def __init__(self, memory_dir: Path | None, config: SpeechConfig = SpeechConfig(),
                 speaker: Speaker | None = None, warm: bool = False, create: bool = False) -> None:
        """memory_dir: the memory to answer from; None: an empty temporary one (tests, benchmarks).
        create: start an empty memory in memory_dir when it holds none (the wearer's default folder);
        otherwise a folder without a memory is an error (a mistyped --memory).
        warm: load the sentence-embedding model now, not at the first paraphrase (live use)."""
        from memory.store import MemoryStore

        self.config = config
        self.speaker = speaker
        self._tmp = None
        if memory_dir is None:
            self._tmp = Path(tempfile.mkdtemp(prefix="ami-ask-"))
            self.store = _new_memory(self._tmp)
        elif (Path(memory_dir) / "memory.db").exists():
            self.store = MemoryStore.open_existing(memory_dir)
        elif create:
            self.store = _new_memory(Path(memory_dir))
        else:
            raise AmiError(f"{memory_dir}: no memory here; write one with `ami replay SESSION --memory DIR`, "
                           f"or leave out --memory to use the default one")
        from device.navigation.companion_client import CompanionClient

        # a companion paired with `ami companion pair --memory DIR` plans routes; none: the place graph
        self.companion = None if memory_dir is None else CompanionClient.from_state(Path(memory_dir))
        self.assistant, self.clock0 = memory_assistant(self.store, AssistantConfig(intents=config.intents),
                                                       self.companion)
        self.asr = Transcriber(config.asr)
        if warm and config.intents.use_embeddings:
            self.assistant.intents.parse("where might my thing be")  # no pattern fits: loads MiniLM

    def vocabulary(self) -> tuple[str, ...]:
        return tuple(i.name for i in self.store.items())

    def handle(self, samples: np.ndarray, t: float, speak: bool = True, segment: bool = False) -> Exchange:
        """Hear `samples` (which started at session time t) and answer; t of the answer = end.
        speak: say the answer here (`ask`); the live loop says it itself, to mute its own voice.
        segment: the samples are one utterance the VAD already cut (see `hear`)."""
        started = time.perf_counter()
        heard = hear(samples, self.asr, self.config, self.vocabulary(), self.assistant.intents.parse, segment)
        if heard.kind == "silence" or heard.onset_s is None:
            return Exchange(heard, None, None, time.perf_counter() - started)
        utt = Utterance(t=t + heard.onset_s, text=heard.text,
                        audio=(t + heard.onset_s, t + (heard.end_s or heard.onset_s)))
        intent = self.assistant.intents.parse(heard.text)
        response = self.assistant.on_utterance(utt, heard_t=utt.audio[1] if utt.audio else None, intent=intent)
        latency = time.perf_counter() - started
        log.info("answer to %r: %s", heard.text, response.text)
        if speak and self.speaker is not None:
            self.speaker.say(response.text)
        return Exchange(heard, intent, response, latency)

    def close(self) -> None:
        if self.companion is not None:
            self.companion.close()
        self.store.close()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> "SpokenAssistant":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def listen(spoken: SpokenAssistant, mic_config: MicrophoneConfig, max_s: float | None = None,
           on_exchange: Callable[[Exchange], None] | None = None) -> Iterator[Exchange]:
    """The live loop: microphone -> VAD segments -> answers, until max_s seconds or Ctrl-C.

    What the microphone caught while an answer was being worked out is still heard (the wearer
    may already be asking the next thing); only what it caught while the answer was spoken aloud
    is dropped, because that is the glasses' own voice.
    """
    from device.speech.microphone import SoundDeviceMicrophone

    seg = VadSegmenter(spoken.config.vad)
    heard_s = 0.0  # stream seconds already fed to the segmenter or dropped
    backlog: deque[np.ndarray | int] = deque()  # audio to hear next, or a count of samples to drop
    live = True

    def hear_next(item: np.ndarray | int, flush: bool = False) -> Iterator[Exchange]:
        nonlocal heard_s
        if isinstance(item, int):
            heard_s += item / SAMPLE_RATE_HZ
            seg.reset(heard_s)
            return
        heard_s += len(item) / SAMPLE_RATE_HZ
        for s in seg.flush() if flush else seg.feed(item):
            # the segment is already cut to speech by the VAD: Whisper runs on it as it is
            ex = spoken.handle(s.samples, spoken.clock0 + s.start_s, speak=False, segment=True)
            if ex.heard.kind == "silence":  # noise the VAD let through: say nothing
                continue
            if on_exchange is not None:
                on_exchange(ex)
            yield ex
            if live and ex.response is not None and spoken.speaker is not None:
                backlog.append(mic.read(timeout_s=0.0))  # heard while answering
                if spoken.speaker.say(ex.response.text):
                    backlog.append(len(mic.read(timeout_s=0.0)))  # our own voice: dropped

    with SoundDeviceMicrophone(mic_config) as mic:
        started = time.monotonic()
        while max_s is None or time.monotonic() - started < max_s:
            yield from hear_next(backlog.popleft() if backlog else mic.read(timeout_s=0.5))
        live = False  # the deadline: hear what is left, answer it, and stop
        backlog.append(mic.read(timeout_s=0.0))
        while backlog:
            yield from hear_next(backlog.popleft())
        yield from hear_next(np.zeros(0, np.float32), flush=True)
