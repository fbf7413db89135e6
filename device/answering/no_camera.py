"""An assistant over a memory alone, without a camera: what `ami ask`, `ami listen` and `ami view`
answer with. It has seen no frame of its own, so every answer comes from the memory; "now" is the
wearer's wall clock, which session time just after the memory's last keyframe stands for."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np

from device.answering.assistant import Assistant, AssistantConfig
from device.errors import AmiError
from device.perception.encoder import EncoderConfig, Encoding
from device.session import SessionInfo

if TYPE_CHECKING:
    from device.navigation.companion_client import CompanionClient
    from memory.store import MemoryStore

ASK_SESSION_INFO = SessionInfo(fps=10.0, width=128, height=128)  # `ami record-sim`'s camera


class NoCamera:
    """The encoder of an assistant without frames: enrolling needs a camera."""

    dim = 0
    config = EncoderConfig()
    space = "none: no camera"

    def encode(self, rgb: np.ndarray) -> Encoding:
        raise AmiError("no camera: enrolling an item needs frames; use `ami replay` on a session")


def memory_assistant(store: MemoryStore, config: AssistantConfig = AssistantConfig(),
                     companion: CompanionClient | None = None) -> tuple[Assistant, float]:
    """(the assistant, its session time "now"), with "now" on the wearer's wall clock now, or just
    after the memory's last keyframe when a replay stored that ahead of now (a replay runs faster
    than its session, on a clock that starts when the replay does)."""
    last = store.last_keyframe()
    now_t = 0.0 if last is None else last.t + 0.1
    now_unix = time.time() if last is None or last.recorded_at is None else max(time.time(), last.recorded_at + 0.1)
    assistant = Assistant(store, NoCamera(), ASK_SESSION_INFO, session_id="listen", config=config,
                          companion=companion, clock_origin_unix=now_unix - now_t)
    return assistant, now_t
