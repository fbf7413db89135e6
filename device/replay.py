"""Replay a recorded session through the assistant, causally, and write responses.jsonl.

At time t the assistant knows only what came before t: an utterance at t_u is handled after every
frame with t <= t_u and before any later frame.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from device.assistant import Assistant, AssistantConfig
from device.encoder import EagerEncoder, EncoderConfig, EncoderRuntime
from device.errors import OutputError
from device.responses import Response
from device.session import Session, jsonl, write_text_atomic

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReplayConfig:
    assistant: AssistantConfig = field(default_factory=AssistantConfig)
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    progress: bool = True


@dataclass(frozen=True)
class ReplayResult:
    responses: list[Response]
    frames: int
    keyframes: int
    wall_s: float
    memory_dir: Path | None  # None when a temporary memory was used and removed

    @property
    def frames_per_s(self) -> float:
        return self.frames / self.wall_s if self.wall_s > 0 else float("inf")


def check_writable(out: Path) -> None:
    """Fail before the work starts if `out` cannot be written."""
    parent = out.parent if str(out.parent) else Path(".")
    if out.is_dir():
        raise OutputError(f"{out}: is a folder; --out names the responses.jsonl file to write")
    try:
        parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=parent, prefix=f".{out.name}.", suffix=".probe"):
            pass
    except OSError as e:
        raise OutputError(f"{parent}: cannot write {out.name} here ({e.strerror}); choose another --out") from e


def replay(session: Session, out: Path | None, memory_dir: Path | None = None,
           config: ReplayConfig = ReplayConfig(), encoder: EncoderRuntime | None = None) -> ReplayResult:
    """Run the session through a fresh assistant; write responses atomically to `out`."""
    from memory.store import MemoryStore

    if out is not None:
        check_writable(out)
    encoder = encoder or EagerEncoder(config.encoder)
    tmp = None
    if memory_dir is None:
        tmp = Path(tempfile.mkdtemp(prefix="ami-memory-"))
    folder = memory_dir or tmp
    assert folder is not None, "either a memory folder or a temporary one"
    responses: list[Response] = []
    started = time.perf_counter()
    try:
        with MemoryStore.open(folder, embedding_dim=encoder.dim, patch_dim=encoder.dim) as store:
            assistant = Assistant(store, encoder, session.info, session_id=session.path.name,
                                  config=config.assistant)
            utterances = list(session.utterances)
            u = 0
            for fr in tqdm(session.frames, desc=f"replay {session.path.name}", unit="frame",
                           disable=not config.progress):
                while u < len(utterances) and utterances[u].t < fr.t:
                    responses.append(assistant.on_utterance(utterances[u]))
                    u += 1
                responses.extend(assistant.on_frame(fr, session.load_frame(fr.i)))
            for utt in utterances[u:]:
                responses.append(assistant.on_utterance(utt))
            keyframes = assistant.keyframes
        wall = time.perf_counter() - started
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    if out is not None:
        try:
            write_text_atomic(out, jsonl([r.to_json() for r in responses]))
        except OSError as e:
            raise OutputError(f"{out}: could not write responses ({e.strerror})") from e
    log.info("replayed %d frames (%d keyframes) in %.1f s", len(session.frames), keyframes, wall)
    return ReplayResult(responses, len(session.frames), keyframes, wall, memory_dir)
