"""Verification by consequence: the answers an exported program gives, against eager's, on whole replays.

`ami export` asks this of every program before it is written (`export.run.ExportConfig.answers`):
each development session (never one used for calibration) is replayed three times in this process,
through eager, through eager with +-1 grey level of pixel noise on every frame (eager's own noise
floor, `device.perception.encoder.NoisyFrames`), and through the candidate program, then scored against the
session's truth (device/evaluation). A program passes when

- its answers name the same room as eager's for `min_same_room` of the questions, or for as many as
  eager's own answers under one grey level of noise do (the world model's answers rest on a few
  sightings near their thresholds, so a grey level moves some of them; no runtime can be held
  closer to eager than eager is to itself);
- it alerts for the same left-behind events, up to the events eager's noise itself changes;
- its room accuracy and left-item F1 are no more than `max_drop` below eager's (or eager's own drop
  under the noise, when that is larger). Being better than eager is no failure.
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass
from pathlib import Path

from device.answering.assistant import AssistantConfig
from device.app.replay import ReplayConfig, replay
from device.evaluation.evaluate import score_alerts, score_queries
from device.perception.encoder import EncoderRuntime, NoisyFrames
from device.session import read_session


@dataclass(frozen=True)
class AnswerCheckConfig:
    min_same_room: float = 0.98  # questions answered in eager's room (or eager's own floor, if lower)
    max_drop: float = 0.01  # room accuracy and left-item F1 at most this far below eager's (or eager's floor)

    def __post_init__(self) -> None:
        for name in ("min_same_room", "max_drop"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"AnswerCheckConfig.{name} must be in [0, 1], got {getattr(self, name)}")


@dataclass(frozen=True)
class Answers:
    """One runtime's answers over the sessions: per question its room (None: abstained), per
    left-behind event whether an alert matched it."""

    rooms: tuple[object, ...]
    true_rooms: tuple[object, ...]
    alerted: tuple[bool, ...]
    alerts: int

    @property
    def room_accuracy(self) -> float:
        scored = [(a, t) for a, t in zip(self.rooms, self.true_rooms) if t is not None]
        return sum(a == t for a, t in scored) / len(scored) if scored else 1.0

    @property
    def f1(self) -> float:
        matched = sum(self.alerted)
        return 2 * matched / (len(self.alerted) + self.alerts) if self.alerted or self.alerts else 1.0


@dataclass(frozen=True)
class AnswerReport:
    sessions: int
    questions: int
    events: int
    same_room: float  # candidate against eager
    floor_same_room: float  # eager under +-1 grey level against eager
    same_alerts: float  # events alerted by both or by neither
    floor_same_alerts: float
    room_accuracy: float  # candidate
    reference_room_accuracy: float  # eager
    f1: float
    reference_f1: float
    passed: bool
    reasons: tuple[str, ...]

    def figures(self) -> dict[str, float]:
        return {k: v for k, v in asdict(self).items() if isinstance(v, (int, float)) and not isinstance(v, bool)}

    def summary(self) -> str:
        return (f"answers on {self.sessions} development sessions ({self.questions} questions, {self.events} "
                f"left-behind events): same room as eager {self.same_room:.1%} (eager's own under +-1 grey level "
                f"{self.floor_same_room:.1%}), same alerts {self.same_alerts:.1%} ({self.floor_same_alerts:.1%}); "
                f"room accuracy {self.room_accuracy:.1%} against eager's {self.reference_room_accuracy:.1%}, "
                f"left-item F1 {self.f1:.2f} against {self.reference_f1:.2f}")


def answers_of(session_dirs: list[Path], encoder: EncoderRuntime, config: ReplayConfig) -> Answers:
    """Replay each session through `encoder` (no memory kept) and score it."""
    rooms: list[object] = []
    true_rooms: list[object] = []
    alerted: list[bool] = []
    alerts = 0
    for d in session_dirs:
        session = read_session(d)
        responses = replay(session, None, None, config, encoder=encoder).responses
        for q in score_queries(session, responses):
            if q.seen:
                rooms.append(q.answered_room)
                true_rooms.append(q.true_room)
        result = score_alerts(session, responses)
        alerted += list(result.matched_events)
        alerts += result.alerts
    return Answers(tuple(rooms), tuple(true_rooms), tuple(alerted), alerts)


def _agree(a: tuple[object, ...], b: tuple[object, ...]) -> float:
    return sum(x == y for x, y in zip(a, b)) / len(a) if a else 1.0


def compare_answers(reference: Answers, noisy: Answers, candidate: Answers,
                    config: AnswerCheckConfig = AnswerCheckConfig(), sessions: int = 0) -> AnswerReport:
    """The verdict of module docstring on three runtimes' answers over the same sessions."""
    same_room, floor_room = _agree(candidate.rooms, reference.rooms), _agree(noisy.rooms, reference.rooms)
    same_alerts, floor_alerts = _agree(candidate.alerted, reference.alerted), _agree(noisy.alerted, reference.alerted)
    reasons = []
    if same_room < min(config.min_same_room, floor_room):
        reasons.append(f"{same_room:.1%} of answers in eager's room, below {config.min_same_room:.0%} and below "
                       f"eager's own {floor_room:.1%} under +-1 grey level")
    if same_alerts < min(1.0, floor_alerts):
        reasons.append(f"alerts for the same events on {same_alerts:.1%}, eager's own {floor_alerts:.1%}")
    for name, ref, cand, floor in (("room accuracy", reference.room_accuracy, candidate.room_accuracy,
                                    noisy.room_accuracy), ("left-item F1", reference.f1, candidate.f1, noisy.f1)):
        if cand < ref - max(config.max_drop, ref - floor):
            reasons.append(f"{name} {cand:.1%} against eager's {ref:.1%} (its own under noise {floor:.1%})")
    return AnswerReport(
        sessions=sessions, questions=len(reference.rooms), events=len(reference.alerted), same_room=same_room,
        floor_same_room=floor_room, same_alerts=same_alerts, floor_same_alerts=floor_alerts,
        room_accuracy=candidate.room_accuracy, reference_room_accuracy=reference.room_accuracy,
        f1=candidate.f1, reference_f1=reference.f1, passed=not reasons, reasons=tuple(reasons))


class AnswerChecker:
    """The answer check over fixed sessions, for each program of one export (`ExportConfig.answers`):
    eager's answers and eager's under noise are replayed once, for the first program, and compared
    with every program's, not replayed again per program."""

    def __init__(self, session_dirs: list[Path], config: AnswerCheckConfig = AnswerCheckConfig()) -> None:
        self.session_dirs, self.config = list(session_dirs), config
        self._replay = ReplayConfig(assistant=dataclasses.replace(AssistantConfig(), thumbnails=None), progress=False)
        self._reference: tuple[EncoderRuntime, Answers, Answers] | None = None  # eager, its answers, under noise

    def __call__(self, candidate: EncoderRuntime, reference: EncoderRuntime) -> AnswerReport:
        """Replay the sessions through the candidate (and, once per reference, through eager and eager
        under noise), and compare."""
        if self._reference is None or self._reference[0] is not reference:
            self._reference = (reference, answers_of(self.session_dirs, reference, self._replay),
                               answers_of(self.session_dirs, NoisyFrames(reference), self._replay))
        _, eager, noisy = self._reference
        program = answers_of(self.session_dirs, candidate, self._replay)
        return compare_answers(eager, noisy, program, config=self.config, sessions=len(self.session_dirs))
