"""`ami replay --speech` on the bundled demo session gives the same answers as the text replay.

"Same": the same responses in the same order, with the same kind, item, abstention and wording;
numbers in the wording (metres, seconds, frame) and the evidence may differ by a few frames,
because the utterance is heard when the VAD finds its end, not at the span's recorded end, and
the glance that enrolls an item ends there. utterance_t is the detected speech onset.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pytest

from device.perception.encoder import EncoderConfig, Encoding, make_encoder
from device.app.replay import ReplayConfig, replay
from device.session import read_session
from device.app.spoken import SpeechConfig

DEMO = Path(__file__).resolve().parents[2] / "demo" / "session"


class CachedEncoder:
    """The eager encoder, memoised by frame bytes: the second replay re-encodes nothing."""

    def __init__(self) -> None:
        self._inner = make_encoder(EncoderConfig(threads=1))  # the device's default path
        self.dim, self.space = self._inner.dim, self._inner.space
        self._cache: dict[bytes, Encoding] = {}

    def encode(self, rgb: np.ndarray) -> Encoding:
        key = hashlib.blake2b(rgb.tobytes(), digest_size=16).digest()
        if key not in self._cache:
            self._cache[key] = self._inner.encode(rgb)
        return self._cache[key]


@pytest.mark.slow
def test_speech_replay_gives_the_text_replays_answers() -> None:
    session = read_session(DEMO)
    encoder = CachedEncoder()
    text = replay(session, None, config=ReplayConfig(progress=False), encoder=encoder).responses
    speech = replay(session, None, config=ReplayConfig(progress=False, speech=SpeechConfig()),
                    encoder=encoder).responses
    assert len(speech) == len(text) and len(text) >= len(session.utterances)
    digits = re.compile(r"\d+(\.\d+)?")
    for a, b in zip(text, speech):
        assert (a.kind, a.item, a.abstain) == (b.kind, b.item, b.abstain), (a, b)
        assert digits.sub("N", a.text) == digits.sub("N", b.text), (a.text, b.text)
        if a.utterance_t is not None:
            assert b.utterance_t is not None and abs(b.utterance_t - a.utterance_t) < 0.3
        assert (a.evidence is None) == (b.evidence is None)
        if a.evidence is not None and b.evidence is not None:
            assert abs(a.evidence.frame - b.evidence.frame) <= 10, (a, b)
