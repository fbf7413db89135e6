"""Replay through the real assistant, SQLite file and FAISS index on a small synthetic session
(MiniWorld sessions are in test_spine.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from device.cli.main import main
from synthetic import make_session


def _responses(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_replay_writes_the_response_format(tmp_path: Path, capsys) -> None:
    root = make_session(tmp_path, n=6)
    out = tmp_path / "r.jsonl"
    assert main(["replay", str(root), "--out", str(out), "--quiet", "--print"]) == 0
    said = capsys.readouterr().out  # --print: the transcript, as the demo prints it
    assert "wearer: this is my keys" in said and "wearer: where are my keys?" in said and "glasses: " in said
    enroll, locate = _responses(out)
    # "this is my keys" spans 0.1-0.9 s: heard in full at 0.9 s, when frame 5 (t=0.5) is the latest
    assert enroll["kind"] == "ack" and enroll["item"] == "keys" and enroll["evidence"]["frame"] == 5
    assert enroll["t"] >= 0.9
    assert locate["kind"] == "answer" and locate["utterance_t"] == 0.3
    assert set(locate) == {"t", "kind", "utterance_t", "item", "text", "abstain", "confidence", "evidence", "position",
                           "energy", "session"}  # energy and session: optional in v1
    from device.session import read_session
    assert {r["session"] for r in (enroll, locate)} == {read_session(root).content_id}
    assert locate["t"] >= locate["utterance_t"]


def test_memory_folder_is_created_then_continued_and_a_session_is_stored_once(tmp_path: Path, capsys) -> None:
    """A second replay of the same session (by content, under any folder name) is refused, as it
    would store every keyframe twice; --replace redoes it; once forgotten, it is welcome again."""
    import shutil

    from memory.store import MemoryStore

    root = make_session(tmp_path, n=6)
    mem = tmp_path / "mem"
    replay = ["replay", "--memory", str(mem), "--quiet", "--out"]
    assert main([*replay, str(tmp_path / "a.jsonl"), str(root)]) == 0
    assert (mem / "memory.db").stat().st_mode & 0o077 == 0
    with MemoryStore.open(mem, embedding_dim=64, patch_dim=64) as store:
        first = store.count()
        assert first >= 1 and store.item("keys") is not None
    copy = shutil.copytree(root, tmp_path / "copy-of-it")
    assert main([*replay, str(tmp_path / "b.jsonl"), str(copy)]) == 2
    err = capsys.readouterr().err
    assert "already in the memory" in err and "--replace" in err and not (tmp_path / "b.jsonl").exists()
    assert main([*replay, str(tmp_path / "b.jsonl"), str(copy), "--replace"]) == 0
    with MemoryStore.open(mem, embedding_dim=64, patch_dim=64) as store:
        assert store.count() == first
        store.forget_all()
    assert main([*replay, str(tmp_path / "c.jsonl"), str(root)]) == 0


def test_eval_refuses_another_sessions_responses(tmp_path: Path, capsys) -> None:
    first, second = make_session(tmp_path / "a", n=6), make_session(tmp_path / "b", n=7)
    out = tmp_path / "a.jsonl"
    assert main(["replay", str(first), "--out", str(out), "--quiet"]) == 0
    assert main(["eval", str(second), str(out)]) == 2
    assert "written for another session" in capsys.readouterr().err


@pytest.mark.parametrize("out, message", [("afile/r.jsonl", "cannot write r.jsonl here"), ("adir", "is a folder")])
def test_unwritable_output_fails_before_work(tmp_path: Path, out: str, message: str, capsys) -> None:
    root = make_session(tmp_path)
    (tmp_path / "afile").write_text("x")
    (tmp_path / "adir").mkdir()
    assert main(["replay", str(root), "--out", str(tmp_path / out), "--quiet"]) == 2
    assert message in capsys.readouterr().err


def test_spoken_forget_spares_other_sessions_in_the_same_memory(tmp_path: Path) -> None:
    from memory.store import MemoryStore

    first = make_session(tmp_path / "a", n=6).rename(tmp_path / "monday")
    second = make_session(tmp_path / "b", n=6).rename(tmp_path / "tuesday")
    for s, day in ((first, "07"), (second, "08")):  # forget goes by the wearer's clock: a day apart
        meta = json.loads((s / "session.json").read_text())
        (s / "session.json").write_text(json.dumps({**meta, "start_time": f"2026-12-{day}T09:00:00+01:00"}))
    with (second / "utterances.jsonl").open("a") as f:
        f.write(json.dumps({"t": 0.5, "text": "forget the last ten minutes"}) + "\n")
    mem = tmp_path / "mem"
    for s in (first, second):
        assert main(["replay", str(s), "--out", str(tmp_path / f"{s.name}.jsonl"), "--memory", str(mem),
                     "--quiet"]) == 0
    with MemoryStore.open(mem) as store:
        sessions = {store.keyframe(h.keyframe_id).session for h in
                    store.search_keyframes(np.ones(64, np.float32) / np.sqrt(64), k=100)}
    assert sessions == {"monday"}
    responses = (tmp_path / "tuesday.jsonl").read_text()
    assert "Done: I forgot the last 10 min (6 views, your keys)" in responses, responses


def test_the_world_model_weighs_sightings_by_the_encoders_own_margin() -> None:
    """A score margin means something else for each encoder: the frozen trunk's true sightings clear
    their thresholds by far less than the instance head's. An ablation can keep its own scale."""
    from device.answering.assistant import AssistantConfig
    from device.perception.encoder import SIGHTING_MARGIN, EncoderConfig
    from device.app.replay import _with_encoder_margin
    from device.answering.wm_config import WorldModelConfig
    from worldmodel.belief import BeliefConfig

    def scale(assistant: AssistantConfig, runtime: str) -> float:
        return _with_encoder_margin(assistant, EncoderConfig(runtime=runtime)).world_model.belief.margin_scale

    assert scale(AssistantConfig(), "pte") == SIGHTING_MARGIN["pte"] == BeliefConfig().margin_scale
    assert scale(AssistantConfig(), "frozen") == SIGHTING_MARGIN["frozen"] < SIGHTING_MARGIN["pte"]
    own = AssistantConfig(world_model=WorldModelConfig(belief=BeliefConfig(margin_scale=0.1),
                                                       margin_scale_from_encoder=False))
    assert scale(own, "frozen") == 0.1


@pytest.mark.slow
def test_a_normal_replay_prints_nothing_on_stderr(tmp_path: Path) -> None:
    """A whole process: no runtime chatter (cpuinfo, threadpool), no torchao warnings."""
    import subprocess
    import sys

    root = make_session(tmp_path, n=6)
    argv = [sys.executable, "-m", "device", "replay", str(root), "--out", str(tmp_path / "r.jsonl"), "--quiet"]
    done = subprocess.run(argv, capture_output=True, text=True, cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert "Wrote 2 responses" in done.stdout


def test_native_stderr_goes_to_the_debug_log(capfd, caplog) -> None:
    import logging
    import os

    from device.perception.encoder_pte import _native_stderr_to_debug_log

    with caplog.at_level(logging.DEBUG, logger="device.perception.encoder_pte"), _native_stderr_to_debug_log():
        os.write(2, b"[cpuinfo_utils.cpp:71] chatter\n")
    assert capfd.readouterr().err == ""
    assert "executorch: [cpuinfo_utils.cpp:71] chatter" in caplog.text


def test_a_replay_that_fails_leaves_nothing_in_the_memory(tmp_path: Path, capsys) -> None:
    """All or nothing: a replay stopped by a corrupt frame takes its keyframes and the items it
    enrolled out again; the fixed session then replays as if the first try never happened."""
    from device.session import read_session
    from memory.store import MemoryStore

    root = make_session(tmp_path, n=8)
    good = (root / "frames" / "000006.png").read_bytes()
    (root / "frames" / "000006.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    mem = tmp_path / "mem"
    argv = ["replay", str(root), "--out", str(tmp_path / "r.jsonl"), "--memory", str(mem), "--quiet"]
    assert main(argv) == 2 and "frame 6 is corrupt" in capsys.readouterr().err
    with MemoryStore.open_existing(mem) as store:
        assert store.count() == 0 and store.items() == [] and store.replays.find(read_session(root).content_id) is None
    (root / "frames" / "000006.png").write_bytes(good)
    assert main(argv) == 0
    with MemoryStore.open_existing(mem) as store:
        once = store.count()
        keys = store.item("keys")
        assert once >= 1 and keys is not None
    fresh = tmp_path / "fresh"
    assert main([*argv[:5], str(fresh), "--quiet"]) == 0
    with MemoryStore.open_existing(fresh) as store:
        assert store.count() == once and len(store.item("keys").prototypes) == len(keys.prototypes)
