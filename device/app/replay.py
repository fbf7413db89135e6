"""Replay a recorded session through the assistant, causally, and write responses.jsonl.

At time t the assistant knows only what came before t. An utterance is handled once it has been
heard in full (the end of its audio span, or its onset when there is none): after every frame up
to that time and before any later frame. Its response's t is that time plus compute time.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from tqdm import tqdm

from device.answering.assistant import Assistant, AssistantConfig
from device.perception.encoder import SIGHTING_MARGIN, EncoderConfig, EncoderRuntime, make_encoder
from device.errors import AmiError, OutputError, SessionError
from device.responses import Response
from device.session import Session, Utterance, jsonl, write_text_atomic

if TYPE_CHECKING:
    from device.app.spoken import SpeechConfig
    from memory.store import MemoryStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReplayConfig:
    assistant: AssistantConfig = field(default_factory=AssistantConfig)
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    progress: bool = True
    speech: SpeechConfig | None = None  # --speech: utterances from audio.wav through Whisper


def _with_encoder_margin(assistant: AssistantConfig, encoder: EncoderConfig) -> AssistantConfig:
    """The world model counts a sighting fully from the encoder runtime's true-sighting margin
    (device.encoder.SIGHTING_MARGIN), unless its config says to keep its own."""
    wm = assistant.world_model
    if not wm.margin_scale_from_encoder:
        return assistant
    belief = dataclasses.replace(wm.belief, margin_scale=SIGHTING_MARGIN[encoder.runtime])
    return dataclasses.replace(assistant, world_model=dataclasses.replace(wm, belief=belief))


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


def heard_times(utterances: list[Utterance]) -> list[float]:
    """When each utterance has been heard in full: the end of its audio span, else its onset.

    Kept non-decreasing, so utterances are handled in the order they were spoken.
    """
    out: list[float] = []
    for utt in utterances:
        end = utt.audio[1] if utt.audio is not None else utt.t
        out.append(max(end, utt.t, out[-1] if out else -float("inf")))
    return out


def spoken_utterances(session: Session, config: SpeechConfig) -> list[Utterance]:
    """The session's utterances as Whisper hears them in audio.wav (onset detected, not given)."""
    from device.speech.asr import Transcriber, load_wav
    from device.app.spoken import speech_utterances

    if session.audio_path is None:
        raise SessionError(f"{session.path}: --speech needs audio.wav, and this session has none")
    return speech_utterances(load_wav(session.audio_path), list(session.utterances), Transcriber(config.asr), config)


def _feed(session: Session, assistant: Assistant, frames: list, utterances: list[Utterance], heard: list[float],
          progress: bool, responses: list[Response]) -> None:
    """The frames and utterances in the order the wearer saw and said them; each response, carrying
    the session's content id, joins `responses` as it is given (a replay that stops keeps them)."""
    def said(given: list[Response]) -> None:
        responses.extend(dataclasses.replace(r, session=session.content_id) for r in given)

    u = 0
    for fr in tqdm(frames, desc=f"replay {session.path.name}", unit="frame", disable=not progress):
        while u < len(utterances) and heard[u] < fr.t:
            said([assistant.on_utterance(utterances[u], heard[u])])
            u += 1
        said(assistant.on_frame(fr, session.load_frame(fr.i)))
    said([assistant.on_utterance(utterances[k], heard[k]) for k in range(u, len(utterances))])
    assistant.keep_thumbnails(wait=True)


def _write_responses(out: Path, responses: list[Response]) -> Path:
    """`responses` written atomically to `out`, one JSON line each."""
    try:
        write_text_atomic(out, jsonl([r.to_json() for r in responses]))
    except OSError as e:
        raise OutputError(f"{out}: could not write responses ({e.strerror})") from e
    return out


def _disk_full(session: Session, folder: Path, reached_t: float, used_bytes: int, written: Path | None,
               undone: bool) -> AmiError:
    """The one-line error of a replay that filled the disk: what is free now and about what the
    whole session needs (what it wrote so far, scaled to its length)."""
    free = shutil.disk_usage(folder).free
    whole = used_bytes * session.duration_s / max(reached_t, 1e-3)
    said = f"; the responses up to then are in {written}" if written else ""
    memory = "the replay was taken back out of the memory" if undone else "what it stored is still in the memory"
    return AmiError(f"{folder}: the disk filled up at t = {reached_t:.1f} s of {session.duration_s:.0f} s; "
                    f"{memory}{said}. The whole session needs about {whole / 1e6:.0f} MB and {free / 1e6:.1f} MB "
                    f"is free: make room and replay it again")


def _undo(store: MemoryStore, session: Session, after_id: int, items_before: set[str], folder: Path) -> bool:
    """Take what a replay that stopped stored out of the memory again, and say whether it could; the
    replay's own error is what the caller reports, so a failure here is logged with what to do, not
    raised over it."""
    try:
        new_items = sorted({i.name for i in store.items()} - items_before)
        undone = store.replays.undo(session.path.name, after_id, new_items)
    except Exception as e:  # noqa: BLE001 (reported, and the replay's error is raised next)
        log.error("%s: could not take the stopped replay out of %s again (%s); its keyframes have ids above %d: "
                  "`ami memory forget --all` or a fresh --memory", session.path.name, folder, e, after_id)
        return False
    log.warning("%s: the replay stopped; its %d keyframes were taken out of %s again",
                session.path.name, undone.keyframes, folder)
    return True


def _make_room(store: MemoryStore, session: Session, folder: Path, replace: bool) -> None:
    """Refuse a session this memory already holds, or (replace) erase the earlier replay of it."""
    earlier = store.replays.find(session.content_id)
    if earlier is None:
        return
    if not replace:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(earlier.recorded_at))
        raise AmiError(f"{session.path}: this session is already in the memory {folder} (replayed as "
                       f"'{earlier.session}' on {when}); `ami replay --replace` replays it again, "
                       "or use another --memory")
    gone = store.replays.forget(earlier)
    log.info("%s: erased the earlier replay's %d keyframes", session.path.name, gone.keyframes)


def replay(session: Session, out: Path | None, memory_dir: Path | None = None,
           config: ReplayConfig = ReplayConfig(), encoder: EncoderRuntime | None = None,
           until_t: float | None = None, inspect: Callable[[Assistant], None] | None = None,
           replace: bool = False) -> ReplayResult:
    """Run the session through a fresh assistant; write responses atomically to `out`, each
    carrying the session's content id.

    A session already replayed into `memory_dir` is refused (it would store every keyframe twice)
    unless `replace`, which first erases what the earlier replay stored.
    until_t: stop there (frames and utterances heard after it are not fed); inspect: called with
    the assistant at the end, while its memory is still open (`ami explain` reads its belief).
    """
    from memory.errors import StorageError
    from memory.folder import DB_FILE, file_bytes
    from memory.store import MemoryStore

    if out is not None:
        check_writable(out)
    encoder = encoder or make_encoder(config.encoder)
    tmp = None
    if memory_dir is None:
        tmp = Path(tempfile.mkdtemp(prefix="ami-memory-"))
    folder = memory_dir or tmp
    assert folder is not None, "either a memory folder or a temporary one"
    responses: list[Response] = []
    started = time.perf_counter()
    try:
        with MemoryStore.open(folder, embedding_dim=encoder.dim, patch_dim=encoder.dim,
                              embedding_space=encoder.space) as store:
            _make_room(store, session, folder, replace)
            if store.pause.on:
                log.warning("%s is paused: this replay keeps nothing it sees until a \"resume\" in the session "
                            "(or `ami memory resume --memory %s` first)", folder, folder)
            after_id = store.replays.last_id()
            origin = session.info.start_unix
            if origin is None:
                origin = time.time()
                log.info("%s: session.json has no start_time; its frames are stored on this replay's clock "
                         "(it started at %s)", session.path.name, time.strftime("%Y-%m-%d %H:%M:%S%z"))
            assistant_config = _with_encoder_margin(config.assistant, config.encoder)
            if tmp is not None:  # a memory nobody keeps shows nobody a picture: no face blur to pay for
                assistant_config = dataclasses.replace(assistant_config, thumbnails=None)
            assistant = Assistant(store, encoder, session.info, session_id=session.path.name,
                                  config=assistant_config, clock_origin_unix=origin)
            if config.speech is None:
                utterances = list(session.utterances)
            else:
                utterances = spoken_utterances(session, config.speech)
            heard = heard_times(utterances)
            if until_t is not None:
                utterances = [u for u, h in zip(utterances, heard) if h <= until_t]
                heard = heard[:len(utterances)]
            frames = [fr for fr in session.frames if until_t is None or fr.t <= until_t]
            items_before = {i.name for i in store.items()}
            if memory_dir is not None:  # a SIGKILL from here on is undone at the next open
                store.replays.begin(session.path.name, after_id, sorted(items_before))
            try:
                _feed(session, assistant, frames, utterances, heard, config.progress, responses)
            except BaseException as e:  # a bad frame, a full disk, Ctrl-C: what this replay stored goes
                used = file_bytes(folder, (DB_FILE, DB_FILE + "-wal")) if isinstance(e, StorageError) else 0
                undone = memory_dir is not None and _undo(store, session, after_id, items_before, folder)
                if isinstance(e, StorageError):  # a full disk: say so in one line, keep what was said
                    written = _write_responses(out, responses) if out is not None else None
                    raise _disk_full(session, folder, assistant.last_t, used, written, undone) from e
                raise
            keyframes = assistant.keyframes
            if until_t is None:
                store.replays.note(session.content_id, session.path.name, after_id)
            elif memory_dir is not None:
                store.replays.end()
            if inspect is not None:
                inspect(assistant)
        wall = time.perf_counter() - started
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    if out is not None:
        _write_responses(out, responses)
    log.info("replayed %d frames (%d keyframes) in %.1f s", len(session.frames), keyframes, wall)
    return ReplayResult(responses, len(frames), keyframes, wall, memory_dir)
