"""The response format (a contract): one JSON object per line in responses.jsonl.

{"t": 57.0, "kind": "answer"|"alert"|"ack"|"guide", "utterance_t": 56.8|null, "item": "keys",
 "text": "...", "abstain": false, "confidence": 0.93,
 "evidence": {"t": 41.2, "frame": 412}|null, "position": {"x": 3.1, "z": 7.4}|null,
 "energy": 2.7}

"energy" is optional (added within v1, so older readers ignore it): the world model's energy of
the hypothesis the answer gives, lower is better; absent when the answerer has none.
"guide" (added within v1) is a step of live guidance after "take me to my X" (its utterance_t is
that question's); scorers read only answers and alerts.
"session" is optional too: the content id of the session replayed (`Session.content_id`), so
`ami eval` can refuse responses written for another session.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from device.errors import ResponsesError
from device.session import read_jsonl

ResponseKind = Literal["answer", "alert", "ack", "guide"]
KINDS = ("answer", "alert", "ack", "guide")


@dataclass(frozen=True)
class Evidence:
    t: float
    frame: int


@dataclass(frozen=True)
class Response:
    t: float
    kind: ResponseKind
    utterance_t: float | None
    item: str | None
    text: str
    abstain: bool
    confidence: float
    evidence: Evidence | None
    position: tuple[float, float] | None  # (x, z) metres
    energy: float | None = None  # of the answer's hypothesis (world model); None: not an energy answer
    session: str | None = None  # the replayed session's content id; None: live, or an older file

    def to_json(self) -> dict[str, Any]:
        extra: dict[str, Any] = {} if self.energy is None else {"energy": round(self.energy, 3)}
        if self.session is not None:
            extra["session"] = self.session
        return {
            "t": round(self.t, 3), "kind": self.kind,
            "utterance_t": None if self.utterance_t is None else round(self.utterance_t, 3),
            "item": self.item, "text": self.text, "abstain": self.abstain,
            "confidence": round(self.confidence, 3),
            "evidence": (None if self.evidence is None
                         else {"t": round(self.evidence.t, 3), "frame": self.evidence.frame}),
            "position": None if self.position is None else {"x": self.position[0], "z": self.position[1]},
            **extra,
        }


def _num(obj: dict[str, Any], key: str, where: str, or_null: str = "") -> float:
    v = obj.get(key)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise ResponsesError(f"{where}: field '{key}' must be a finite number{or_null}, got {v!r}")
    return float(v)


def _num_or_none(obj: dict[str, Any], key: str, where: str) -> float | None:
    return None if obj.get(key) is None else _num(obj, key, where, " or null")


def parse_response(obj: Any, where: str) -> Response:
    if not isinstance(obj, dict):
        raise ResponsesError(f"{where}: expected a JSON object")
    kind = obj.get("kind")
    if kind not in KINDS:
        raise ResponsesError(f"{where}: field 'kind' must be one of {KINDS}, got {kind!r}")
    ev = obj.get("evidence")
    pos = obj.get("position")
    if ev is not None and not isinstance(ev, dict):
        raise ResponsesError(f"{where}: field 'evidence' must be an object or null")
    if pos is not None and not isinstance(pos, dict):
        raise ResponsesError(f"{where}: field 'position' must be an object or null")
    item = obj.get("item")
    if item is not None and not isinstance(item, str):
        raise ResponsesError(f"{where}: field 'item' must be a string or null")
    return Response(
        t=_num(obj, "t", where), kind=kind, utterance_t=_num_or_none(obj, "utterance_t", where),
        item=item, text=str(obj.get("text", "")), abstain=bool(obj.get("abstain", False)),
        confidence=_num(obj, "confidence", where),
        evidence=None if ev is None else Evidence(t=_num(ev, "t", where + " evidence"),
                                                  frame=int(_num(ev, "frame", where + " evidence"))),
        position=None if pos is None else (_num(pos, "x", where + " position"), _num(pos, "z", where + " position")),
        energy=_num_or_none(obj, "energy", where),
        session=None if obj.get("session") is None else str(obj["session"]),
    )


def read_responses(path: Path) -> list[Response]:
    if not path.is_file():
        raise ResponsesError(f"{path}: no such responses file; write one with `ami replay SESSION --out {path}`")
    return [parse_response(obj, f"{path}:{lineno}") for lineno, obj in read_jsonl(path, ResponsesError)]


def check_same_session(responses: list[Response], content_id: str, path: Path) -> None:
    """Raise ResponsesError when `responses` (read from `path`) were written for another session."""
    other = sorted({r.session for r in responses if r.session is not None and r.session != content_id})
    if other:
        raise ResponsesError(f"{path}: these responses were written for another session (id {other[0]}, this "
                             f"session's is {content_id}); replay this session: `ami replay SESSION --out {path}`")
