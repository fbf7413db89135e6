"""Bad input, fuzzed by a seeded mutator: session files and wavs with odd values, flipped bytes and
cut tails. Every case ends in a clean replay or a one-line error (exit 2), never a traceback, never
a partial output, and never a non-finite number in what is written."""

from __future__ import annotations

import json
import math
import shutil
import wave
from pathlib import Path

import numpy as np
import pytest

from device.cli.main import main
from device.speech.asr import AudioError, load_wav
from synthetic import make_session

ODD_VALUES = [float("nan"), float("inf"), -1.0, 0, 1.0, True, None, "", "x", [], {}, 1e308, -1e308, 2**63]
SESSION_FILES = ("session.json", "frames.jsonl", "utterances.jsonl")


def _odd_json(rng: np.random.Generator, obj: object) -> object:
    """obj with one value (at any depth) replaced by an odd one."""
    if isinstance(obj, dict) and obj:
        key = list(obj)[int(rng.integers(len(obj)))]
        return {**obj, key: _odd_json(rng, obj[key]) if rng.random() < 0.5 else ODD_VALUES[
            int(rng.integers(len(ODD_VALUES)))]}
    if isinstance(obj, list) and obj:
        k = int(rng.integers(len(obj)))
        return obj[:k] + [_odd_json(rng, obj[k])] + obj[k + 1:]
    return ODD_VALUES[int(rng.integers(len(ODD_VALUES)))]


def mutate(rng: np.random.Generator, path: Path) -> str:
    """Damage one file of a session: a JSON value made odd, bytes flipped, or the tail cut."""
    data = path.read_bytes()
    how = int(rng.integers(3))
    if how == 0 and path.suffix == ".json":
        path.write_text(json.dumps(_odd_json(rng, json.loads(data))))  # NaN and Infinity as Python writes them
        return f"{path.name}: odd"
    if how == 0 and path.suffix == ".jsonl":
        lines = data.decode().splitlines()
        k = int(rng.integers(len(lines)))
        lines[k] = json.dumps(_odd_json(rng, json.loads(lines[k])))
        path.write_text("\n".join(lines) + "\n")
        return f"{path.name}: line {k + 1} odd"
    if how == 1 and data:
        raw = bytearray(data)
        for _ in range(int(rng.integers(1, 4))):
            raw[int(rng.integers(len(raw)))] = int(rng.integers(256))
        path.write_bytes(bytes(raw))
        return f"{path.name}: bytes flipped"
    path.write_bytes(data[: int(rng.integers(len(data) + 1))])
    return f"{path.name}: cut"


def _finite(obj: object) -> bool:
    if isinstance(obj, float):
        return math.isfinite(obj)
    if isinstance(obj, dict):
        return all(_finite(v) for v in obj.values())
    if isinstance(obj, list):
        return all(_finite(v) for v in obj)
    return True


@pytest.mark.slow
def test_fuzzed_sessions_replay_cleanly_or_fail_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    clean = make_session(tmp_path / "clean", n=6)
    assert main(["replay", str(clean), "--out", str(tmp_path / "clean.jsonl"), "--quiet"]) == 0  # the undamaged one
    capsys.readouterr()
    rng = np.random.default_rng(2026)
    outcomes = {0: 0, 2: 0}
    for case in range(40):
        s = shutil.copytree(clean, tmp_path / f"case-{case}")
        files = [s / f for f in SESSION_FILES] + sorted((s / "frames").iterdir())[:2]
        what = mutate(rng, files[int(rng.integers(len(files)))])
        out = tmp_path / f"case-{case}.jsonl"
        code = main(["replay", str(s), "--out", str(out), "--quiet"])  # a traceback fails the test
        err = capsys.readouterr().err
        assert code in outcomes, (what, code, err)
        outcomes[code] += 1
        if code == 2:
            assert not out.exists() and err.count("\n") == 1 and "error:" in err, (what, err)
        else:
            for line in out.read_text().splitlines():
                assert _finite(json.loads(line, parse_constant=lambda c: math.nan)), (what, line)
    assert outcomes[2] >= 10, outcomes  # the mutator does find bad input


def _wav(path: Path, samples: np.ndarray, rate: int = 16_000) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((samples * 32767).astype("<i2").tobytes())
    return path


def test_fuzzed_wavs_load_or_fail_with_audio_error(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    clean = _wav(tmp_path / "clean.wav", 0.1 * np.sin(np.arange(16_000) / 10.0))
    for case in range(60):
        path = tmp_path / f"case-{case}.wav"
        shutil.copy(clean, path)
        mutate(rng, path)
        try:
            x = load_wav(path)
        except AudioError as e:
            assert str(path) in str(e) and "()" not in str(e)
            continue
        assert x.size > 0 and np.isfinite(x).all()


@pytest.mark.parametrize("case, message", [
    ("empty", "holds no audio"), ("header-only", "ends early"), ("folder", "is a folder"),
])
def test_wavs_without_audio_are_errors(tmp_path: Path, case: str, message: str) -> None:
    path = tmp_path / "q.wav"
    if case == "folder":
        path.mkdir()
    else:
        _wav(path, np.zeros(0) if case == "empty" else 0.1 * np.ones(1600))
        if case == "header-only":
            path.write_bytes(path.read_bytes()[:44])  # the header promises 1600 frames
    with pytest.raises(AudioError, match=message):
        load_wav(path)
