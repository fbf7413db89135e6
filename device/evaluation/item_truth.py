"""Where every item is in every frame of a recorded session, from its truth/ files and poses.

Perception is scored and trained against this: the recorder's truth says which items are visible
per frame (truth/frames.jsonl) and where they rest between pickups and putdowns
(truth/events.jsonl); a carried item sits in front of the wearer as the simulator places it
(docs/session-format.md). `item_tracks` turns that into per-frame item centres, camera distances
and grid cells, using the same camera model as device/perception/perception.py.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from device.errors import SessionError
from device.perception.perception import project_point
from device.session import Session

CARRY_AHEAD_M = 0.6  # docs/session-format.md: a carried item is held 0.6 m ahead of the wearer
CARRY_BELOW_EYE_M = 0.3  # ... with its top 0.3 m below the eye


@dataclass(frozen=True)
class ItemTrack:
    """One item over a session. Arrays are per frame (F frames)."""

    name: str
    mesh: str
    height_m: float
    centre: np.ndarray  # (F, 3) float: the item's centre (base + half its height), metres
    visible: np.ndarray  # (F,) bool: truth/frames.jsonl says the item is seen at its centre
    uv: np.ndarray  # (F, 2) float: image position of the centre in [0, 1]^2 (v down); nan if behind
    distance_m: np.ndarray  # (F,) float: camera to centre, metres
    enroll_t: float | None  # when the wearer said "this is my <name>", None if never


def _read_jsonl(path: Path) -> list[dict]:
    if not path.is_file():
        raise SessionError(f"{path}: missing; perception is scored against truth/ (record with `ami record-sim`)")
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise SessionError(f"{path}:{n}: not JSON ({e.msg}); re-record the session") from e
    return out


def item_tracks(session: Session) -> list[ItemTrack]:
    """Per-frame positions, visibility and projections of the items whose place truth/ records.

    An item that is never enrolled, picked up or put down has no position in truth/ (short
    sessions have one); it is left out.
    """
    truth = session.truth_dir
    items = _read_jsonl(truth / "items.jsonl")
    events = _read_jsonl(truth / "events.jsonl")
    frames = _read_jsonl(truth / "frames.jsonl")
    if len(frames) != len(session.frames):
        raise SessionError(f"{truth / 'frames.jsonl'}: {len(frames)} lines for {len(session.frames)} frames; "
                           "re-record the session")
    times = np.array([f.t for f in session.frames])
    aspect = session.info.height / session.info.width
    tracks = []
    for it in items:
        name, h = it["name"], float(it["height_m"])
        mine = [e for e in events if e["item"] == name and e["type"] in ("enroll", "pickup", "putdown")]
        if not mine:  # never enrolled nor moved: truth/ does not say where it is (short sessions)
            continue
        if mine[0]["position"] is None:
            raise SessionError(f"{truth / 'events.jsonl'}: {mine[0]['type']} of {name!r} has no position")
        # Where it rests at each frame: the latest enroll/pickup/putdown position at or before t.
        rest = np.zeros((len(times), 3))
        first = mine[0]["position"]
        rest[:] = (first["x"], first["y"], first["z"])
        for e in mine:
            p = e["position"]
            rest[times >= e["t"]] = (p["x"], p["y"], p["z"])
        centre = rest + np.array([0.0, h / 2, 0.0])
        uv = np.full((len(times), 2), np.nan)
        dist = np.zeros(len(times))
        for i, (fr, tf) in enumerate(zip(session.frames, frames)):
            if fr.pose is None:
                raise SessionError(f"{session.path}: frame {i} has no pose; perception truth needs poses")
            if tf.get("carrying") == name:
                yaw = math.radians(fr.pose.yaw_deg)
                base_y = max(fr.pose.y - h - CARRY_BELOW_EYE_M, 0.0)
                centre[i] = (fr.pose.x + CARRY_AHEAD_M * math.cos(yaw), base_y + h / 2,
                             fr.pose.z - CARRY_AHEAD_M * math.sin(yaw))
            p = project_point(fr.pose, session.info.hfov_deg, aspect, tuple(centre[i]))
            if p is not None:
                uv[i] = p
            dist[i] = float(np.linalg.norm(centre[i] - (fr.pose.x, fr.pose.y, fr.pose.z)))
        visible = np.array([name in f["visible"] for f in frames])
        enroll = next((e["t"] for e in events if e["item"] == name and e["type"] == "enroll"), None)
        tracks.append(ItemTrack(name, it.get("look", it["mesh"]), h, centre, visible, uv, dist, enroll))
    return tracks


def uv_cell(uv: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """(..., 2) image positions in [0, 1]^2 -> (...,) row-major grid cells (clipped to the grid)."""
    gh, gw = grid
    col = np.clip(np.floor(uv[..., 0] * gw), 0, gw - 1).astype(int)
    row = np.clip(np.floor(uv[..., 1] * gh), 0, gh - 1).astype(int)
    return row * gw + col


def cell_distance(a: np.ndarray, b: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """Chebyshev distance in cells between row-major cells a and b."""
    ra, ca = np.divmod(a, grid[1])
    rb, cb = np.divmod(b, grid[1])
    return np.maximum(np.abs(ra - rb), np.abs(ca - cb))
