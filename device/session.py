"""Session format v1 ("ami-session/1"): a validating reader and an atomic writer.

The format is a contract shared with other tools; see docs/session-format.md. A session is a
folder with session.json, frames/NNNNNN.{jpg,png}, frames.jsonl, utterances.jsonl, an optional
16 kHz mono audio.wav and an optional truth/ folder the assistant never reads.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from core.files import write_json_atomic, write_text_atomic  # noqa: F401 (re-exported)
from core.types import Pose  # noqa: F401 (re-exported: session format v1's pose)
from device.errors import SessionError

FORMAT = "ami-session/1"
FRAME_EXTENSIONS = (".jpg", ".png")
AUDIO_SAMPLE_RATE_HZ = 16_000


@dataclass(frozen=True)
class SessionInfo:
    fps: float
    width: int
    height: int
    hfov_deg: float = 60.0
    source: str = "unknown"
    units: str = "m"
    start_time: str | None = None  # wall clock at t = 0: ISO 8601 with a UTC offset (optional)

    def __post_init__(self) -> None:
        if isinstance(self.fps, bool) or not isinstance(self.fps, (int, float)) or not (0 < self.fps < math.inf):
            raise SessionError(f"session.json: field 'fps' must be a finite number > 0, got {self.fps!r}")
        for name in ("width", "height"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise SessionError(f"session.json: field '{name}' must be a positive integer, got {value!r}")
        if not (0 < self.hfov_deg < 180):
            raise SessionError(f"session.json: field 'hfov_deg' must be in (0, 180), got {self.hfov_deg!r}")
        if self.units != "m":
            raise SessionError(f"session.json: field 'units' must be 'm', got {self.units!r}")
        if self.start_time is not None:
            self.start_unix  # validates

    @property
    def start_unix(self) -> float | None:
        """The wall clock (Unix seconds) at the session's t = 0, or None when session.json has none."""
        if self.start_time is None:
            return None
        try:
            when = datetime.fromisoformat(str(self.start_time))
        except ValueError as e:
            raise SessionError(f"session.json: field 'start_time' must be ISO 8601 with a UTC offset, such as "
                               f"'2026-12-07T09:14:00+01:00', got {self.start_time!r}") from e
        if when.tzinfo is None:
            raise SessionError(f"session.json: field 'start_time' needs a UTC offset ('+01:00' or 'Z'), "
                               f"got {self.start_time!r}")
        return when.timestamp()


@dataclass(frozen=True)
class FrameRecord:
    i: int
    t: float
    pose: Pose | None


@dataclass(frozen=True)
class Utterance:
    t: float
    text: str
    audio: tuple[float, float] | None = None


def read_jsonl(path: Path, error: type[Exception] = SessionError) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line number, object) for each non-blank line; raise `error` naming file:line."""
    with path.open("rb") as f:
        for lineno, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise error(f"{path}:{lineno}: not UTF-8 text ({e.reason} at byte {e.start}); "
                            "save the file as UTF-8") from e
            if not line.strip():
                continue
            try:
                obj = json.loads(line, parse_constant=_no_constant)
            except (json.JSONDecodeError, ValueError) as e:
                why = e.msg if isinstance(e, json.JSONDecodeError) else str(e)
                raise error(f"{path}:{lineno}: malformed JSON ({why}); fix or remove the line") from e
            if not isinstance(obj, dict):
                raise error(f"{path}:{lineno}: expected a JSON object, got {type(obj).__name__}")
            yield lineno, obj


def _no_constant(name: str) -> float:
    """json's NaN, Infinity and -Infinity are not JSON: refused (json.loads parse_constant)."""
    raise ValueError(f"{name} is not a JSON number")


def _number(obj: dict[str, Any], key: str, where: str) -> float:
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise SessionError(f"{where}: field '{key}' must be a finite number, got {value!r}")
    return float(value)


def _parse_pose(obj: Any, where: str) -> Pose | None:
    if obj is None:
        return None
    if not isinstance(obj, dict):
        raise SessionError(f"{where}: field 'pose' must be an object or null")
    return Pose(**{k: _number(obj, k, where) for k in ("x", "y", "z", "yaw_deg", "pitch_deg")})


class Session:
    """A validated, read-only view of a session folder. Frames load lazily."""

    def __init__(self, path: Path, info: SessionInfo, frames: list[FrameRecord],
                 utterances: list[Utterance], frame_files: list[Path]) -> None:
        self.path = path
        self.info = info
        self.frames = frames
        self.utterances = utterances
        self._frame_files = frame_files

    @property
    def duration_s(self) -> float:
        return self.frames[-1].t

    @functools.cached_property
    def content_id(self) -> str:
        """The session's identity by content: a hash of session.json and the frames index, the same
        for a copy of the folder under any name (memory refuses a session replayed twice by it, and
        responses carry it so `ami eval` can refuse another session's)."""
        h = hashlib.sha256()
        for name in ("session.json", "frames.jsonl"):
            h.update((self.path / name).read_bytes())
        return h.hexdigest()[:16]

    @property
    def audio_path(self) -> Path | None:
        p = self.path / "audio.wav"
        return p if p.exists() else None

    @property
    def truth_dir(self) -> Path:
        return self.path / "truth"

    def frame_path(self, i: int) -> Path:
        return self._frame_files[i]

    def load_frame(self, i: int) -> np.ndarray:
        """Return frame i as (H, W, 3) uint8 RGB; raise SessionError naming the frame if bad."""
        from PIL import Image, UnidentifiedImageError

        path = self._frame_files[i]
        try:
            with Image.open(path) as im:
                rgb = np.asarray(im.convert("RGB"))
        except FileNotFoundError as e:
            raise SessionError(f"{path}: frame {i} is missing; re-record or restore the file") from e
        except (UnidentifiedImageError, OSError) as e:
            raise SessionError(f"{path}: frame {i} is corrupt or truncated ({e})") from e
        except Image.DecompressionBombError as e:
            raise SessionError(f"{path}: frame {i} is far larger than session.json's "
                               f"{self.info.width}x{self.info.height} ({e}); resize the frame") from e
        want = (self.info.height, self.info.width)
        if rgb.shape[:2] != want:
            raise SessionError(
                f"{path}: frame {i} is {rgb.shape[1]}x{rgb.shape[0]}, but session.json says "
                f"{self.info.width}x{self.info.height}; resize the frame or fix session.json")
        return rgb


def read_session(path: str | os.PathLike[str]) -> Session:
    """Read and validate a session folder. Raises SessionError naming the file, line or frame."""
    root = Path(path)
    meta_path = root / "session.json"
    if not meta_path.is_file():
        raise SessionError(f"{root}: not a session folder (no session.json); record one with `ami record-sim`")
    try:
        meta = json.loads(meta_path.read_bytes().decode("utf-8"), parse_constant=_no_constant)
    except UnicodeDecodeError as e:
        raise SessionError(f"{meta_path}: not UTF-8 text ({e.reason} at byte {e.start}); save it as UTF-8") from e
    except json.JSONDecodeError as e:
        raise SessionError(f"{meta_path}: malformed JSON ({e.msg} at line {e.lineno})") from e
    except ValueError as e:  # NaN or Infinity
        raise SessionError(f"{meta_path}: malformed JSON ({e})") from e
    if not isinstance(meta, dict):
        raise SessionError(f"{meta_path}: expected a JSON object")
    if meta.get("format") != FORMAT:
        raise SessionError(f"{meta_path}: unknown format {meta.get('format')!r}; this reader supports {FORMAT!r}")
    known = {"fps", "width", "height", "hfov_deg", "source", "units", "start_time"}
    try:
        info = SessionInfo(**{k: v for k, v in meta.items() if k in known})
    except TypeError as e:
        raise SessionError(f"{meta_path}: {e}; required fields are fps, width, height") from e

    frames_path = root / "frames.jsonl"
    if not frames_path.is_file():
        raise SessionError(f"{frames_path}: missing; every session needs frames.jsonl")
    frames: list[FrameRecord] = []
    for lineno, obj in read_jsonl(frames_path):
        where = f"{frames_path}:{lineno}"
        i, t = obj.get("i"), _number(obj, "t", where)
        if type(i) is not int or i != len(frames):
            raise SessionError(f"{where}: expected frame index {len(frames)}, got {i!r}; "
                               "indices start at 0 and count up by 1")
        if frames and t < frames[-1].t:
            raise SessionError(f"{where}: frame {i} has t={t} before the previous frame's t={frames[-1].t}")
        frames.append(FrameRecord(i=i, t=t, pose=_parse_pose(obj.get("pose"), where)))
    if not frames:
        raise SessionError(f"{frames_path}: the session is empty (no frames)")

    frame_files = []
    for fr in frames:
        candidates = [root / "frames" / f"{fr.i:06d}{ext}" for ext in FRAME_EXTENSIONS]
        found = next((p for p in candidates if p.is_file()), None)
        if found is None:
            raise SessionError(f"{candidates[0]}: frame {fr.i} is missing (no .jpg or .png)")
        frame_files.append(found)

    utterances: list[Utterance] = []
    utt_path = root / "utterances.jsonl"
    if utt_path.is_file():
        for lineno, obj in read_jsonl(utt_path):
            where = f"{utt_path}:{lineno}"
            t = _number(obj, "t", where)
            text = obj.get("text")
            if not isinstance(text, str):
                raise SessionError(f"{where}: field 'text' must be a string")
            if utterances and t < utterances[-1].t:
                raise SessionError(f"{where}: utterance at t={t} is out of order "
                                   f"(previous t={utterances[-1].t}); sort by t")
            span = obj.get("audio")
            audio = None
            if span is not None:
                if (not isinstance(span, list) or len(span) != 2
                        or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                                   for v in span) or span[1] < span[0]):
                    raise SessionError(f"{where}: field 'audio' must be [start_s, end_s], finite numbers with "
                                       f"end >= start, got {span!r}")
                audio = (float(span[0]), float(span[1]))
            utterances.append(Utterance(t=t, text=text, audio=audio))
    return Session(root, info, frames, utterances, frame_files)


def jsonl(objs: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(o, allow_nan=False) + "\n" for o in objs)  # NaN/Infinity are not JSON


class SessionWriter:
    """Writes a session into a hidden temp folder beside `out`, then renames it into place.

    Use as a context manager; on an exception nothing is left at `out`.
    """

    def __init__(self, out: str | os.PathLike[str], info: SessionInfo, overwrite: bool = False) -> None:
        self.out = Path(out)
        self.info = info
        if self.out.exists() and not overwrite:
            raise SessionError(f"{self.out}: already exists; choose another --out or remove it")
        parent = self.out.parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
            self._tmp = Path(tempfile.mkdtemp(dir=parent, prefix=f".{self.out.name}."))
        except OSError as e:
            raise SessionError(f"{parent}: cannot write the session here ({e.strerror})") from e
        (self._tmp / "frames").mkdir()
        self._frames: list[dict[str, Any]] = []
        self._utterances: list[dict[str, Any]] = []
        self._overwrite = overwrite

    def __enter__(self) -> "SessionWriter":
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.commit()
        else:
            shutil.rmtree(self._tmp, ignore_errors=True)

    def add_frame(self, t: float, rgb: np.ndarray, pose: Pose | None, ext: str = ".jpg") -> int:
        from PIL import Image

        if rgb.shape != (self.info.height, self.info.width, 3) or rgb.dtype != np.uint8:
            raise SessionError(f"frame {len(self._frames)}: expected ({self.info.height}, {self.info.width}, 3) uint8, "
                               f"got {rgb.shape} {rgb.dtype}")
        if self._frames and t < self._frames[-1]["t"]:
            raise SessionError(f"frame {len(self._frames)}: t={t} goes back in time")
        i = len(self._frames)
        Image.fromarray(rgb).save(self._tmp / "frames" / f"{i:06d}{ext}", quality=92)
        self._frames.append({"i": i, "t": round(t, 3), "pose": None if pose is None else
                             {k: round(v, 4) for k, v in asdict(pose).items()}})
        return i

    def add_utterance(self, utt: Utterance) -> None:
        if self._utterances and utt.t < self._utterances[-1]["t"]:
            raise SessionError(f"utterance {utt.text!r}: t={utt.t} is before the previous one")
        obj: dict[str, Any] = {"t": round(utt.t, 3), "text": utt.text}
        if utt.audio is not None:
            obj["audio"] = [round(utt.audio[0], 3), round(utt.audio[1], 3)]
        self._utterances.append(obj)

    def write_audio(self, samples: np.ndarray) -> None:
        """samples: (N,) float32 in [-1, 1] at 16 kHz mono."""
        import wave

        pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")
        with wave.open(str(self._tmp / "audio.wav"), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(AUDIO_SAMPLE_RATE_HZ)
            w.writeframes(pcm.tobytes())

    def write_truth(self, name: str, obj: Any) -> None:
        """name ending in .jsonl takes a list of objects, .json any JSON value."""
        path = self._tmp / "truth" / name
        path.parent.mkdir(exist_ok=True)
        text = jsonl(obj) if name.endswith(".jsonl") else json.dumps(obj, indent=2) + "\n"
        path.write_text(text, encoding="utf-8")

    def commit(self) -> None:
        if not self._frames:
            shutil.rmtree(self._tmp, ignore_errors=True)
            raise SessionError(f"{self.out}: refusing to write an empty session (no frames)")
        meta = {"format": FORMAT, **{k: v for k, v in asdict(self.info).items() if v is not None}}
        (self._tmp / "session.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        (self._tmp / "frames.jsonl").write_text(jsonl(self._frames), encoding="utf-8")
        (self._tmp / "utterances.jsonl").write_text(jsonl(self._utterances), encoding="utf-8")
        if self.out.exists() and self._overwrite:
            shutil.rmtree(self.out)
        os.replace(self._tmp, self.out)
