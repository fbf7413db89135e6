"""Verify an exported encoder against eager PyTorch on held-out real frames, before it is written.

On every keyframe of sessions that were not used for calibration, both encoders run through the
same pre- and post-processing (device/perception/encoder.py), and we compare:
- cosine: per frame, the mean over patches of the cosine between the two patch features;
- enrollment: the same prototype cells chosen if the wearer enrolled an item on this frame
  (device/perception/perception.py enrollment_prototypes);
- sightings: for every item the session's wearer enrolls ("this is my X"), each encoder enrolls it
  from its own features of the same glance and calibrates its own threshold on the keyframes
  before, as the assistant does; then, on each later keyframe, the same sighted / not sighted;
- search: the same top-1 keyframe of the session for this keyframe's embedding (exact inner
  product, what memory search ranks by).
A frame agrees when all its decisions agree.

What is gated is what a wearer's answers rest on: the sightings. Eager is run once more, on each
frame with +-1 grey level of pixel noise (`NoisyFrames`, fixed seed), through the same enrollment and
thresholds: how often eager agrees with itself then is its noise floor (`floor_*`). A program passes
when its sightings agree with eager's on VerifyConfig.min_sighting_agreement of the (frame, item)
pairs, or on as many as eager's own under that noise do: a sighting eager itself flips under one grey
level is a near tie, and no runtime can be held closer to eager than eager is to itself. Cosine and
the two rank decisions (enrollment cells, top-1 keyframe) are reported beside their floors, not gated.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from device.perception.encoder import EncoderRuntime, Encoding, NoisyFrames
from device.speech.intents import parse_intent
from device.answering.assistant import ENROLL_BACKGROUND_GAP_S, ENROLL_LEAD_S
from device.perception.perception import (PerceptionConfig, best_match, calibrate_threshold, enrollment_prototypes,
                               glance_prototypes)
from device.session import Session, read_session
from export.frames import session_keyframes

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VerifyConfig:
    # (frame, item) pairs with the same sighted / not sighted (or eager's own agreement under noise, if lower)
    min_sighting_agreement: float = 0.99

    def __post_init__(self) -> None:
        got = self.min_sighting_agreement
        if not 0.0 <= got <= 1.0:
            raise ValueError(f"VerifyConfig.min_sighting_agreement must be in [0, 1], got {got}")


@dataclass(frozen=True)
class VerifyReport:
    frames: int  # held-out keyframes compared
    sessions: tuple[str, ...]
    cosine_mean: float
    cosine_p01: float  # 1st percentile over frames
    cosine_min: float
    enroll_agreement: float  # frames with the same enrollment prototype cells
    sighting_agreement: float  # (frame, item) pairs with the same sighted / not sighted
    sighting_pairs: int
    sightings_reference: int  # pairs the reference (eager) sighted
    search_agreement: float  # frames with the same top-1 keyframe
    frame_agreement: float  # frames where all of the above agree
    # eager on the frame +-1 grey level against eager, the same figures: the noise floor
    floor_cosine_mean: float
    floor_enroll_agreement: float
    floor_sighting_agreement: float
    floor_search_agreement: float
    passed: bool
    reasons: tuple[str, ...]  # why it failed; empty when it passed

    def figures(self) -> dict[str, float]:
        """The numbers, for manifest.json and docs/BENCHMARKS.md."""
        return {k: v for k, v in asdict(self).items() if isinstance(v, (int, float)) and not isinstance(v, bool)}

    def summary(self) -> str:
        return (f"{self.frames} held-out keyframes from {', '.join(self.sessions)}: cosine mean {self.cosine_mean:.4f} "
                f"(p01 {self.cosine_p01:.4f}), decisions agree on {self.frame_agreement:.1%} of frames "
                f"(enrollment {self.enroll_agreement:.1%}, top-1 search {self.search_agreement:.1%}), sightings "
                f"{self.sighting_agreement:.1%} of {self.sighting_pairs} pairs; eager's own under +-1 grey level: "
                f"cosine {self.floor_cosine_mean:.4f}, enrollment {self.floor_enroll_agreement:.1%}, top-1 "
                f"{self.floor_search_agreement:.1%}, sightings {self.floor_sighting_agreement:.1%}")


@dataclass
class _Tally:
    cosines: list[float]
    enroll: list[bool]
    search: list[bool]
    frame_ok: list[bool]
    floor_enroll: list[bool]
    floor_search: list[bool]
    floor_cosines: list[float]
    pairs: list[tuple[bool, bool, bool]]  # sighted by (eager, the candidate, eager on the frame +-1 grey level)


def _prototype_cells(enc: Encoding, config: PerceptionConfig) -> frozenset[int]:
    protos = enrollment_prototypes(enc, config)  # rows of enc.patches
    return frozenset(int(np.argmax(enc.patches @ p)) for p in protos)


def _threshold(protos: np.ndarray, background: list[Encoding], config: PerceptionConfig) -> float:
    if not background:
        return calibrate_threshold(np.zeros(0, np.float32), 0, config)
    patches = np.concatenate([e.patches for e in background])  # (N, D)
    scores = (patches @ protos.T).max(axis=1)
    return calibrate_threshold(scores[scores >= config.threshold_floor], len(patches), config)


def _enrollments(session: Session) -> list[tuple[float, float, list[int]]]:
    """(onset, heard, glance frames) for each "this is my X": as the assistant enrolls, from the
    frames seen from ENROLL_LEAD_S before the onset until the utterance was heard in full."""
    from device.app.replay import heard_times

    ts = np.array([f.t for f in session.frames])
    utts = list(session.utterances)
    out = []
    for u, heard in zip(utts, heard_times(utts)):
        intent = parse_intent(u.text)
        last = int(np.searchsorted(ts, heard, side="right")) - 1
        if intent.kind == "enroll" and intent.item and last >= 0:
            first = int(np.searchsorted(ts, u.t - ENROLL_LEAD_S, side="left"))
            out.append((u.t, heard, [f.i for f in session.frames[min(first, last):last + 1]]))
    return out


def _top1(embeddings: np.ndarray) -> np.ndarray:
    """For each keyframe, the other keyframe of the session with the highest inner product."""
    sim = embeddings @ embeddings.T
    np.fill_diagonal(sim, -np.inf)
    return np.argmax(sim, axis=1)


def _verify_session(session: Session, candidate: EncoderRuntime, reference: EncoderRuntime,
                    config: PerceptionConfig, tally: _Tally) -> None:
    kf = session_keyframes(session.path)
    t_of = {f.i: f.t for f in session.frames}
    noisy_reference = NoisyFrames(reference)
    ref = [reference.encode(session.load_frame(i)) for i in kf]
    noisy = [noisy_reference.encode(session.load_frame(i)) for i in kf]
    cand = [candidate.encode(session.load_frame(i)) for i in kf]
    n = len(kf)
    ok = [True] * n
    for k in range(n):
        tally.cosines.append(float((ref[k].patches * cand[k].patches).sum(axis=1).mean()))
        tally.floor_cosines.append(float((ref[k].patches * noisy[k].patches).sum(axis=1).mean()))
        cells = _prototype_cells(ref[k], config)
        same = cells == _prototype_cells(cand[k], config)
        tally.enroll.append(same)
        tally.floor_enroll.append(cells == _prototype_cells(noisy[k], config))
        ok[k] &= same
    if n >= 2:
        top_r, top_c, top_n = (_top1(np.stack([e.embedding for e in encs])) for encs in (ref, cand, noisy))
        tally.search.extend((top_r == top_c).tolist())
        tally.floor_search.extend((top_r == top_n).tolist())
        ok = [a and bool(b) for a, b in zip(ok, top_r == top_c)]
    keyframe_set = set(kf)
    for onset, heard, glance in _enrollments(session):
        protos, thresholds = [], []
        for enc_rt, encs in ((reference, ref), (candidate, cand), (noisy_reference, noisy)):
            # The glance: its keyframes, and the frame in view when the utterance was heard.
            frames = [i for i in glance if i in keyframe_set] + [glance[-1]] * (glance[-1] not in keyframe_set)
            p = glance_prototypes([enc_rt.encode(session.load_frame(i)) for i in frames], config)
            bg = [e for i, e in zip(kf, encs) if t_of[i] < onset - ENROLL_BACKGROUND_GAP_S]
            protos.append(p)
            thresholds.append(_threshold(p, bg, config))
        for k, i in enumerate(kf):
            if t_of[i] <= heard:
                continue
            seen_r, seen_c, seen_n = (best_match(e[k], p)[1] >= th for e, p, th in zip((ref, cand, noisy), protos,
                                                                                       thresholds))
            tally.pairs.append((seen_r, seen_c, seen_n))
            ok[k] &= seen_r == seen_c
    tally.frame_ok.extend(ok)


def verify_encoder(candidate: EncoderRuntime, reference: EncoderRuntime, session_dirs: list[Path],
                   config: VerifyConfig = VerifyConfig(),
                   perception: PerceptionConfig = PerceptionConfig()) -> VerifyReport:
    """Compare `candidate` with `reference` on every keyframe of the held-out sessions."""
    tally = _Tally([], [], [], [], [], [], [], [])
    for d in session_dirs:
        _verify_session(read_session(d), candidate, reference, perception, tally)
    if not tally.cosines:
        raise ValueError(f"no keyframes to verify on in {[str(d) for d in session_dirs]}")
    cos = np.array(tally.cosines)

    def rate(xs: list[bool]) -> float:
        return float(np.mean(xs)) if xs else 1.0

    report = dict(
        frames=len(cos), sessions=tuple(d.name for d in session_dirs), cosine_mean=float(cos.mean()),
        cosine_p01=float(np.percentile(cos, 1)), cosine_min=float(cos.min()),
        enroll_agreement=rate(tally.enroll),
        sighting_agreement=rate([r == c for r, c, _ in tally.pairs]),
        sighting_pairs=len(tally.pairs), sightings_reference=sum(r for r, _, _ in tally.pairs),
        search_agreement=rate(tally.search), frame_agreement=rate(tally.frame_ok),
        floor_cosine_mean=float(np.mean(tally.floor_cosines)), floor_enroll_agreement=rate(tally.floor_enroll),
        floor_sighting_agreement=rate([r == n for r, _, n in tally.pairs]),
        floor_search_agreement=rate(tally.floor_search))
    reasons = []
    agree, floor = rate([r == c for r, c, _ in tally.pairs]), rate([r == n for r, _, n in tally.pairs])
    if agree < min(config.min_sighting_agreement, floor):
        reasons.append(f"sightings agree on {agree:.1%} of (frame, item) pairs, below "
                       f"{config.min_sighting_agreement:.0%} and below eager's own {floor:.1%} under +-1 grey level")
    return VerifyReport(**report, passed=not reasons, reasons=tuple(reasons))  # type: ignore[arg-type]
