"""Real frames for calibration and verification: the keyframes of recorded sessions.

The frames that pass the device's keyframe gate are the ones the glasses encode, so they are the
ones the int8 program is calibrated and verified on, resized exactly as on the device
(device/perception/encoder.py to_input).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from device.perception.encoder import to_input
from device.perception.keyframes import KeyframeGate
from device.session import read_session

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class KeyframeSet:
    """Network inputs taken from sessions' keyframes, with where each came from."""

    inputs: list[torch.Tensor]  # each (1, 3, px, px) float32 in [0, 1]
    sources: list[tuple[str, int]]  # (session folder name, frame index)
    sessions: list[str]


def session_keyframes(session_dir: Path) -> list[int]:
    """Frame indices of the session that pass the device's keyframe gate (in order)."""
    session = read_session(session_dir)
    gate = KeyframeGate()
    return [fr.i for fr in session.frames if gate.admit(fr.t, session.load_frame(fr.i), fr.pose)]


def load_keyframes(session_dirs: list[Path], input_px: int, max_frames: int | None = None) -> KeyframeSet:
    """The sessions' keyframes as network inputs; at most max_frames, spread evenly over them."""
    picked: list[tuple[Path, int]] = []
    for d in session_dirs:
        picked += [(d, i) for i in session_keyframes(d)]
    if max_frames is not None and len(picked) > max_frames:
        step = len(picked) / max_frames
        picked = [picked[int(k * step)] for k in range(max_frames)]
    sessions = {d: read_session(d) for d in session_dirs}
    inputs = [to_input(sessions[d].load_frame(i), input_px) for d, i in picked]
    return KeyframeSet(inputs, [(d.name, i) for d, i in picked], [d.name for d in session_dirs])
