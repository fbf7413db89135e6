"""Record an egocentric session (format ami-session/1) in a MiniWorld house, headless.

`record_session` builds a house from the seed, plans the scripted wearer, renders every frame,
speaks each utterance with espeak-ng into a 16 kHz mono audio.wav, and writes the truth/ files
the scorer reads (see docs/session-format.md). The same seed gives the same frames.jsonl,
utterances and truth.
"""

from __future__ import annotations

import logging
import math
import shutil
import subprocess
import tempfile
import time
import wave
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from core.geometry import wrap_deg as _wrap_deg
from device.session import AUDIO_SAMPLE_RATE_HZ, Pose, SessionInfo, SessionWriter, Utterance
from device.errors import SessionError
from device.sim.errors import SimError
from device.sim.shift import parse_shift
from device.sim.house import make_house_env
from device.sim.layout import CAMERA_HEIGHT_M, HouseConfig, HouseLayout, generate_house
from device.sim.wearer import HIDDEN_Y_M, FrameState, WearerConfig, WearerPlan, plan_session

log = logging.getLogger(__name__)

NEAR_CLIP_M = 0.04  # MiniWorld's projection
FAR_CLIP_M = 100.0
SURFACE_SLACK_M = 0.03  # depth-buffer noise (16 bits, 0.04-100 m: about 1 cm at 5 m)
SPEECH_GAIN = 0.8


@dataclass(frozen=True)
class RecordConfig:
    seed: int = 0
    width: int = 128
    height: int = 128
    fps: float = 10.0
    short: bool = False  # a quick ~30-45 s session in 3 rooms with 3 items, for tests
    start_time: str | None = None  # session.json's wall clock at t = 0 (ISO 8601); None: when recording starts
    shift: tuple[str, ...] = ()  # `--shift` axes (device.sim.shift); () is the default recorder

    def __post_init__(self) -> None:
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"RecordConfig.seed must be a non-negative integer, got {self.seed!r}")
        for name in ("width", "height"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not 32 <= v <= 1024:
                raise ValueError(f"RecordConfig.{name} must be an integer from 32 to 1024 pixels, got {v!r}")
        if isinstance(self.fps, bool) or not isinstance(self.fps, (int, float)) or not 1.0 <= self.fps <= 60.0:
            raise ValueError(f"RecordConfig.fps must be between 1 and 60, got {self.fps!r}")
        if not isinstance(self.short, bool):
            raise ValueError(f"RecordConfig.short must be True or False, got {self.short!r}")
        parse_shift(self.shift, self.seed)  # a bad axis is a ValueError naming it
        if self.start_time is not None:
            try:
                SessionInfo(fps=1.0, width=1, height=1, start_time=self.start_time)
            except SessionError as e:
                raise ValueError(f"RecordConfig.start_time: {e}") from e


def horizontal_fov_deg(vfov_deg: float, width: int, height: int) -> float:
    """MiniWorld's fov is vertical; the horizontal one follows from the aspect ratio."""
    return math.degrees(2.0 * math.atan(math.tan(math.radians(vfov_deg) / 2.0) * width / height))


def camera_axes(yaw: float, pitch_deg: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(forward, right, up) unit vectors of the camera, as MiniWorld's gluLookAt builds them."""
    p = math.radians(pitch_deg)
    fwd = np.array([math.cos(p) * math.cos(yaw), math.sin(p), -math.cos(p) * math.sin(yaw)])
    right = np.array([math.sin(yaw), 0.0, math.cos(yaw)])
    return fwd, right, np.cross(right, fwd)


def visible_items(frame: FrameState, names: list[str], heights_m: list[float], radii_m: list[float],
                  depth: np.ndarray, depth_without_items: np.ndarray, hfov_deg: float, vfov_deg: float,
                  eye_height_m: float = CAMERA_HEIGHT_M) -> list[str]:
    """Names of the items seen at their centre, sorted.

    depth and depth_without_items: (H, W) metres along the view axis, from the frame's render and
    from the same view rendered with every item hidden. An item's centre is its base plus half its
    height. The item is visible when the centre projects inside the image and, at that pixel or
    one of its 8 neighbours, the render shows an item (nearer than the house behind it by more
    than SURFACE_SLACK_M) whose depth is within the item's radius (+ SURFACE_SLACK_M) of the
    centre's: this item, not a wall, furniture or another item in front of it. An item seen only
    at its edges does not count; one far away counts even if it covers only a few pixels.
    """
    h, w = depth.shape
    fwd, right, up = camera_axes(frame.yaw, frame.pitch_deg)
    eye = np.array([frame.x, eye_height_m, frame.z])
    tx, ty = math.tan(math.radians(hfov_deg) / 2), math.tan(math.radians(vfov_deg) / 2)
    out = []
    for name, pose, height, radius in zip(names, frame.items, heights_m, radii_m):
        d = np.array([pose.x, pose.y + height / 2, pose.z]) - eye
        zc = float(d @ fwd)
        if zc <= NEAR_CLIP_M:
            continue
        nx, ny = float(d @ right) / (zc * tx), float(d @ up) / (zc * ty)
        if abs(nx) > 1.0 or abs(ny) > 1.0:
            continue
        col = min(int((nx + 1.0) / 2.0 * w), w - 1)
        row = min(int((1.0 - ny) / 2.0 * h), h - 1)
        win = np.s_[max(row - 1, 0):row + 2, max(col - 1, 0):col + 2]
        drawn = depth[win] < depth_without_items[win] - SURFACE_SLACK_M
        mine = np.abs(depth[win] - zc) <= radius + SURFACE_SLACK_M
        if np.any(drawn & mine):
            out.append(name)
    return sorted(out)


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise SimError(f"`{name}` is not installed; the simulator speaks with it: apt-get install espeak-ng sox")
    return path


def synthesize(text: str, workdir: Path) -> np.ndarray:
    """Speak `text` with espeak-ng and resample it with sox: (N,) float32 at 16 kHz mono."""
    espeak, sox = _tool("espeak-ng"), _tool("sox")
    raw, out = workdir / "raw.wav", workdir / "16k.wav"
    try:
        subprocess.run([espeak, "-w", str(raw), text], check=True, capture_output=True, timeout=60)
        # -D: no dither, so the same text always gives the same samples
        subprocess.run([sox, "-D", str(raw), "-r", str(AUDIO_SAMPLE_RATE_HZ), "-c", "1", "-b", "16", str(out)],
                       check=True, capture_output=True, timeout=60)
    except subprocess.CalledProcessError as e:
        raise SimError(f"speaking {text!r} failed: {e.stderr.decode(errors='replace').strip()}; "
                       "check `espeak-ng` and `sox` (apt-get install espeak-ng sox)") from e
    with wave.open(str(out), "rb") as wf:
        assert wf.getframerate() == AUDIO_SAMPLE_RATE_HZ and wf.getnchannels() == 1, "sox ignored -r/-c"
        pcm = np.frombuffer(wf.readframes(wf.getnframes()), dtype="<i2")
    return pcm.astype(np.float32) / 32768.0


def _speech_track(plan: WearerPlan) -> tuple[np.ndarray, list[Utterance]]:
    """The silent track with every utterance mixed in at its t, and the utterances with spans."""
    sr = AUDIO_SAMPLE_RATE_HZ
    track = np.zeros(int(math.ceil(plan.duration_s * sr)), dtype=np.float32)
    utterances = []
    clips: dict[str, np.ndarray] = {}
    with tempfile.TemporaryDirectory(prefix="ami-speech-") as tmp:
        for sp in plan.speech:
            if sp.text not in clips:
                clips[sp.text] = synthesize(sp.text, Path(tmp)) * SPEECH_GAIN
            clip = clips[sp.text]
            start = int(round(sp.t * sr))
            if start + len(clip) > len(track):
                track = np.concatenate([track, np.zeros(start + len(clip) - len(track), np.float32)])
            track[start:start + len(clip)] += clip
            utterances.append(Utterance(sp.t, sp.text, (sp.t, sp.t + len(clip) / sr)))
    return np.clip(track, -1.0, 1.0), utterances


def _r(v: float) -> float:
    return round(float(v), 3)


def _truth(layout: HouseLayout, plan: WearerPlan, visible: list[list[str]]) -> dict[str, Any]:
    """The truth/ files, keyed by file name (see docs/session-format.md)."""
    rooms = {"rooms": [{"id": r.id, "min_x": _r(r.rect.min_x), "max_x": _r(r.rect.max_x),
                        "min_z": _r(r.rect.min_z), "max_z": _r(r.rect.max_z), "floor": r.floor, "wall": r.wall,
                        "furniture": [{"kind": f.kind, "x": _r(f.x), "z": _r(f.z), "top_y": _r(f.height_m)}
                                      for f in r.furniture]} for r in layout.rooms],
             "doors": [{"rooms": [d.room_a, d.room_b], "x": _r(d.x), "z": _r(d.z), "width_m": d.width_m}
                       for d in layout.doors]}
    items = [{"name": it.name, "mesh": it.mesh, "look": it.look, "carryable": it.carryable, "height_m": it.height_m}
             for it in layout.items]
    names = [it.name for it in layout.items]
    events = []
    for e in plan.events:
        obj: dict[str, Any] = {"t": e.t, "type": e.type, "item": e.item, "room": e.room,
                               "position": None if e.position is None else
                               dict(zip("xyz", (_r(v) for v in e.position)))}
        if e.put_t is not None:
            obj["put_t"] = e.put_t
        events.append(obj)
    queries = []
    for sp in (s for s in plan.speech if s.kind == "query"):
        k = round(sp.t * plan.fps)
        exists = sp.item in names
        q: dict[str, Any] = {"t": sp.t, "text": sp.text, "item": sp.item, "exists": exists,
                             "seen": exists and any(sp.item in v for v in visible[:k]),
                             "carried": plan.frames[k].carrying == sp.item, "room": None, "position": None}
        if exists and not q["carried"]:
            p = plan.frames[k].items[names.index(sp.item)]
            q["room"], q["position"] = layout.room_at(p.x, p.z), {"x": _r(p.x), "z": _r(p.z)}
        queries.append(q)
    left = [{"t": e.t, "put_t": e.put_t, "item": e.item, "room": e.room,
             "position": {"x": _r(e.position[0]), "z": _r(e.position[2])} if e.position else None}
            for e in plan.events if e.type == "left_behind"]
    frames = [{"i": i, "room": layout.room_at(f.x, f.z), "carrying": f.carrying, "visible": visible[i]}
              for i, f in enumerate(plan.frames)]
    return {"rooms.json": rooms, "items.jsonl": items, "events.jsonl": events, "queries.jsonl": queries,
            "left_behind.jsonl": left, "frames.jsonl": frames}


def recorded(folder: Path, config: RecordConfig, progress: bool = False) -> Path:
    """`folder`, holding the session `config` records: recorded now unless it is already there (the
    recorder is deterministic per config, so a recorded folder is a cache)."""
    if not folder.exists():
        record_session(folder, config, progress=progress)
    return folder


def record_session(out: Path, config: RecordConfig, progress: bool = True) -> Path:
    """Record one session into the new folder `out` (which must not exist) and return its path."""
    from tqdm import tqdm

    started = time.perf_counter()
    out = Path(out)
    for tool in ("espeak-ng", "sox"):  # fail before rendering anything
        _tool(tool)
    n = 3 if config.short else None
    shift = parse_shift(config.shift, config.seed)
    layout = generate_house(HouseConfig(seed=config.seed, n_rooms=n, n_items=n, varied_looks=shift.looks))
    ahead_m, below_m = shift.carry_pose_m()
    vfov, eye_m = shift.camera
    plan = plan_session(layout, WearerConfig(fps=config.fps, short=config.short, carry_ahead_m=ahead_m,
                                             carry_below_eye_m=below_m, carry_hidden=shift.carry_hidden,
                                             eye_height_m=eye_m), config.seed)
    audio, utterances = _speech_track(plan)
    env = make_house_env(layout, config.width, config.height)
    try:
        env.agent.cam_height, env.agent.cam_fov_y = eye_m, vfov  # the headset's camera (device.sim.shift)
        hfov = horizontal_fov_deg(vfov, config.width, config.height)
        names = [it.name for it in layout.items]
        heights = [it.height_m for it in layout.items]
        radii = [float(env.items[nm].radius) for nm in names]
        info = SessionInfo(fps=float(config.fps), width=config.width, height=config.height,
                           hfov_deg=round(hfov, 4), source="miniworld",
                           start_time=config.start_time or datetime.now().astimezone().isoformat(timespec="seconds"))
        visible: list[list[str]] = []
        with SessionWriter(out, info) as writer:
            for i, f in enumerate(tqdm(plan.frames, desc=f"record-sim seed {config.seed}", unit="frame",
                                       disable=not progress)):
                yaw_deg = _wrap_deg(math.degrees(f.yaw))
                env.agent.pos = np.array([f.x, 0.0, f.z])
                env.agent.dir = math.radians(yaw_deg)
                env.agent.cam_pitch = f.pitch_deg
                for nm, pose in zip(names, f.items):
                    env.items[nm].pos = np.array([pose.x, pose.y, pose.z])
                    env.items[nm].dir = pose.dir
                rgb = env.render_obs().copy()  # the frame buffer's array is reused by the next render
                depth = env.obs_fb.get_depth_map(NEAR_CLIP_M, FAR_CLIP_M)[:, :, 0]  # the same render's depth
                for nm, pose in zip(names, f.items):
                    env.items[nm].pos = np.array([pose.x, HIDDEN_Y_M, pose.z])
                env.render_obs()
                bare = env.obs_fb.get_depth_map(NEAR_CLIP_M, FAR_CLIP_M)[:, :, 0]
                visible.append(visible_items(f, names, heights, radii, depth, bare, hfov, vfov, eye_m))
                writer.add_frame(i / config.fps, rgb, Pose(f.x, float(env.agent.cam_height), f.z,
                                                           yaw_deg, f.pitch_deg))
            for u in utterances:
                writer.add_utterance(u)
            writer.write_audio(audio)
            for name, obj in _truth(layout, plan, visible).items():
                writer.write_truth(name, obj)
            writer.write_truth("shift.json", {"shift": shift.names()})
    finally:
        env.close()
    log.info("recorded %s: seed %d, %d frames (%.1f s of session) in %.1f s", out, config.seed,
             len(plan.frames), plan.duration_s, time.perf_counter() - started)
    return out
