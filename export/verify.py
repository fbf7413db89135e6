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
A frame agrees when all its decisions agree. The thresholds are in VerifyConfig.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from device.perception.encoder import EncoderRuntime, Encoding
from device.speech.intents import parse_intent
from device.answering.assistant import ENROLL_BACKGROUND_GAP_S, ENROLL_LEAD_S
from device.perception.perception import (PerceptionConfig, best_match, calibrate_threshold, enrollment_prototypes,
                               glance_prototypes)
from device.session import Session, read_session
from export.frames import session_keyframes

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VerifyConfig:
    min_cosine_mean: float = 0.99  # mean over frames of the per-frame patch cosine
    min_frame_agreement: float = 0.99  # fraction of frames whose decisions all agree

    def __post_init__(self) -> None:
        for name in ("min_cosine_mean", "min_frame_agreement"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"VerifyConfig.{name} must be in [0, 1], got {value}")


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
    passed: bool
    reasons: tuple[str, ...]  # why it failed; empty when it passed

    def figures(self) -> dict[str, float]:
        """The numbers, for manifest.json and docs/BENCHMARKS.md."""
        return {k: v for k, v in asdict(self).items() if isinstance(v, (int, float)) and not isinstance(v, bool)}

    def summary(self) -> str:
        return (f"{self.frames} held-out keyframes from {', '.join(self.sessions)}: cosine mean {self.cosine_mean:.4f} "
                f"(p01 {self.cosine_p01:.4f}), decisions agree on {self.frame_agreement:.1%} of frames "
                f"(enrollment {self.enroll_agreement:.1%}, sightings {self.sighting_agreement:.1%} of "
                f"{self.sighting_pairs} pairs, top-1 search {self.search_agreement:.1%})")


@dataclass
class _Tally:
    cosines: list[float]
    enroll: list[bool]
    search: list[bool]
    frame_ok: list[bool]
    pairs: int = 0
    pairs_agree: int = 0
    ref_sighted: int = 0


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


def _verify_session(session: Session, candidate: EncoderRuntime, reference: EncoderRuntime,
                    config: PerceptionConfig, tally: _Tally) -> None:
    kf = session_keyframes(session.path)
    t_of = {f.i: f.t for f in session.frames}
    ref = [reference.encode(session.load_frame(i)) for i in kf]
    cand = [candidate.encode(session.load_frame(i)) for i in kf]
    n = len(kf)
    ok = [True] * n
    for k in range(n):
        tally.cosines.append(float((ref[k].patches * cand[k].patches).sum(axis=1).mean()))
        same = _prototype_cells(ref[k], config) == _prototype_cells(cand[k], config)
        tally.enroll.append(same)
        ok[k] &= same
    emb_r = np.stack([e.embedding for e in ref])  # (n, D)
    emb_c = np.stack([e.embedding for e in cand])
    if n >= 2:
        sim_r, sim_c = emb_r @ emb_r.T, emb_c @ emb_c.T
        np.fill_diagonal(sim_r, -np.inf)
        np.fill_diagonal(sim_c, -np.inf)
        for k in range(n):
            same = int(np.argmax(sim_r[k])) == int(np.argmax(sim_c[k]))
            tally.search.append(same)
            ok[k] &= same
    keyframe_set = set(kf)
    for onset, heard, glance in _enrollments(session):
        protos, thresholds = [], []
        for enc_rt, encs in ((reference, ref), (candidate, cand)):
            # The glance: its keyframes, and the frame in view when the utterance was heard.
            frames = [i for i in glance if i in keyframe_set] + [glance[-1]] * (glance[-1] not in keyframe_set)
            p = glance_prototypes([enc_rt.encode(session.load_frame(i)) for i in frames], config)
            bg = [e for i, e in zip(kf, encs) if t_of[i] < onset - ENROLL_BACKGROUND_GAP_S]
            protos.append(p)
            thresholds.append(_threshold(p, bg, config))
        for k, i in enumerate(kf):
            if t_of[i] <= heard:
                continue
            seen_r = best_match(ref[k], protos[0])[1] >= thresholds[0]
            seen_c = best_match(cand[k], protos[1])[1] >= thresholds[1]
            tally.pairs += 1
            tally.pairs_agree += int(seen_r == seen_c)
            tally.ref_sighted += int(seen_r)
            ok[k] &= seen_r == seen_c
    tally.frame_ok.extend(ok)


def verify_encoder(candidate: EncoderRuntime, reference: EncoderRuntime, session_dirs: list[Path],
                   config: VerifyConfig = VerifyConfig(),
                   perception: PerceptionConfig = PerceptionConfig()) -> VerifyReport:
    """Compare `candidate` with `reference` on every keyframe of the held-out sessions."""
    tally = _Tally([], [], [], [])
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
        sighting_agreement=tally.pairs_agree / tally.pairs if tally.pairs else 1.0,
        sighting_pairs=tally.pairs, sightings_reference=tally.ref_sighted,
        search_agreement=rate(tally.search), frame_agreement=rate(tally.frame_ok))
    reasons = []
    if report["cosine_mean"] < config.min_cosine_mean:
        reasons.append(f"cosine mean {report['cosine_mean']:.4f} < {config.min_cosine_mean}")
    if report["frame_agreement"] < config.min_frame_agreement:
        reasons.append(f"decisions agree on {report['frame_agreement']:.1%} of frames < "
                       f"{config.min_frame_agreement:.0%}")
    return VerifyReport(**report, passed=not reasons, reasons=tuple(reasons))  # type: ignore[arg-type]
