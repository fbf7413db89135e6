"""The real microphone path: a private PulseAudio with a pipe-source virtual microphone, fed
espeak-ng speech in real time, heard by `ami listen` through PortAudio (sounddevice).

The daemon runs in user mode under a temporary folder (its own XDG_RUNTIME_DIR, PULSE_* and HOME)
and is stopped by its PID. `ami listen` runs in a subprocess with that environment, because
PortAudio lists the devices when sounddevice is imported.
"""

from __future__ import annotations

import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest

from device.speech.asr import load_wav
from live_server import interruptible
from device.speech.tts import Speaker, SpeakerConfig

SR = 16_000
CHUNK = SR // 50  # 20 ms


@dataclass(frozen=True)
class Pulse:
    env: dict[str, str]
    fifo: Path


@pytest.fixture(scope="module")
def pulse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pulse]:
    exe = shutil.which("pulseaudio")
    assert exe is not None, "pulseaudio is missing: apt-get install pulseaudio libportaudio2 (scripts/setup.sh)"
    root = tmp_path_factory.mktemp("pulse")
    dirs = {k: root / k for k in ("run", "state", "config", "home")}
    for d in dirs.values():
        d.mkdir()
    fifo = root / "mic.fifo"
    config = root / "default.pa"
    config.write_text(
        "load-module module-native-protocol-unix auth-anonymous=1\n"
        "load-module module-null-sink sink_name=vspk rate=16000 channels=1\n"
        f"load-module module-pipe-source source_name=vmic file={fifo} format=s16le rate=16000 channels=1\n"
        "set-default-sink vspk\nset-default-source vmic\n")
    env = {**os.environ, "XDG_RUNTIME_DIR": str(dirs["run"]), "PULSE_RUNTIME_PATH": str(dirs["run"] / "pulse"),
           "PULSE_STATE_PATH": str(dirs["state"]), "PULSE_CONFIG_PATH": str(dirs["config"]),
           "HOME": str(dirs["home"])}
    log = (root / "pulse.log").open("w")
    proc = subprocess.Popen([exe, "-n", "-F", str(config), "--daemonize=no", "--exit-idle-time=-1"],
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 15
        while not ((dirs["run"] / "pulse" / "native").exists() and fifo.exists()):
            assert proc.poll() is None, f"pulseaudio exited: {(root / 'pulse.log').read_text()}"
            assert time.monotonic() < deadline, "pulseaudio did not start in 15 s"
            time.sleep(0.1)
        yield Pulse(env, fifo)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        log.close()


class Feeder:
    """Writes 16 kHz s16le into the FIFO in real time: queued audio, else silence (a pipe source
    delivers only while written, and a stream on a silent pipe cannot stop)."""

    def __init__(self, fifo: Path) -> None:
        self._fifo = fifo
        self._queue: queue.Queue[np.ndarray] = queue.Queue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def play(self, x: np.ndarray) -> None:
        for i in range(0, len(x), CHUNK):
            self._queue.put(x[i:i + CHUNK])

    def idle(self) -> bool:
        return self._queue.empty()

    def _run(self) -> None:
        silence = np.zeros(CHUNK, np.float32)
        with open(self._fifo, "wb") as f:
            next_t = time.monotonic()
            while not self._stop.is_set():
                try:
                    chunk = self._queue.get_nowait()
                except queue.Empty:
                    chunk = silence
                try:
                    f.write((np.clip(chunk, -1, 1) * 32767).astype("<i2").tobytes())
                    f.flush()
                except BrokenPipeError:  # the daemon went away: the test is over
                    return
                next_t += len(chunk) / SR
                time.sleep(max(0.0, next_t - time.monotonic()))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def speak(text: str, tmp: Path, voice: str = "en-us", wpm: int = 170) -> np.ndarray:
    path = tmp / "say.wav"
    Speaker(SpeakerConfig(voice=voice, words_per_min=wpm)).to_wav(text, str(path))
    return load_wav(path)


@pytest.mark.slow
def test_ami_listen_through_a_virtual_microphone(pulse: Pulse, tmp_path: Path) -> None:
    gap = np.zeros(int(1.5 * SR), np.float32)
    noise = (0.05 * np.random.default_rng(0).standard_normal(int(1.5 * SR))).astype(np.float32)
    script = np.concatenate([
        gap, speak("where are my keys", tmp_path, "en-us"), gap,
        noise, gap,  # noise: no answer at all
        speak("hmm mm hmm uhh mm", tmp_path, "en-us", 250), gap,  # mumbling: "didn't catch that"
        speak("did I leave anything behind", tmp_path, "en-gb", 160), gap])
    feeder = Feeder(pulse.fifo)
    proc = interruptible([sys.executable, "-m", "device", "listen", "--seconds", "240", "--no-speak", "--device",
                          "default"], env={**pulse.env, "PYTHONFAULTHANDLER": "1"},  # SIGABRT: every thread's stack
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()  # printed once the models are loaded and the stream is open
        assert first.startswith("Listening"), first + (proc.stderr.read() if proc.stderr else "")
        feeder.play(script)
        deadline = time.monotonic() + 220  # a loaded CI machine answers late, not wrongly
        while sum(line.startswith("answer:") for line in lines) < 3 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line.rstrip("\n"))
        while not feeder.idle():  # let the trailing silence through, then stop like Ctrl-C
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        try:
            rest, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGABRT)
            rest, err = proc.communicate(timeout=30)
            pytest.fail("ami listen did not stop within 30 s of Ctrl-C; what it printed, then its threads:\n"
                        + "\n".join(lines) + rest + "\n" + err[-8000:])
        lines += rest.splitlines()
    finally:
        if proc.poll() is None:
            proc.kill()
        feeder.close()
    out = "\n".join(lines) + "\n" + err[-2000:]
    assert proc.returncode in (0, 130), err
    intents = [line for line in lines if line.startswith("intent:")]
    answers = [line for line in lines if line.startswith("answer:")]
    assert len(intents) >= 2 and len(answers) >= 2, out
    assert intents[0].startswith("intent: locate item=keys"), out
    assert answers[0].startswith("answer: I haven't seen your keys"), out
    assert answers[1] == "answer: Sorry, I didn't catch that.", out
    assert intents[-1].startswith("intent: left_items"), out
    assert len(answers) == 3, out  # the noise got none


@pytest.mark.slow
def test_answers_are_spoken_to_the_default_output(pulse: Pulse) -> None:
    """espeak-ng plays to the default sink (the daemon's null sink): say() reports it spoke."""
    say = "from device.speech.tts import Speaker; print(Speaker().say('Your keys are here.'))"
    r = subprocess.run([sys.executable, "-c", say],
                       env=pulse.env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "True", r.stderr


def test_no_input_device_is_a_clear_error(tmp_path: Path) -> None:
    """No sound server and a bogus device name: a one-line error saying how to fix it."""
    env = {**os.environ, "XDG_RUNTIME_DIR": str(tmp_path), "PULSE_RUNTIME_PATH": str(tmp_path / "none"),
           "HOME": str(tmp_path)}
    open_mic = "from device.speech.microphone import *; SoundDeviceMicrophone(MicrophoneConfig(device='no such mic'))"
    r = subprocess.run([sys.executable, "-c", open_mic],
                       env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    assert "MicrophoneError" in r.stderr and "--device" in r.stderr
