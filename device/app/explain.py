"""`ami explain`: why the world model answers what it does about an item at a moment of a session.

Replays the session causally up to T (`device.app.replay`, so the assistant knows only what came
before T), asks "where is my X?" at T, and shows the competing hypotheses of the item's chain
(each place near its sightings, and "carried") with their energies: as a text table, and as a
picture: a top-down map (the wearer's path, the sightings, each hypothesis' place with its energy,
the winner ringed) beside the evidence keyframe.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.files import replace_atomically
from device.errors import AmiError, OutputError
from device.app.replay import ReplayConfig, replay
from device.answering.baseline import where_is
from device.responses import Response
from device.session import Session, Utterance
from worldmodel.belief import CARRIED, Observation
from worldmodel.chain import Hypothesis

log = logging.getLogger(__name__)

MAP_PX = 520  # the map's side
FRAME_PX = 256  # the evidence keyframe's side
TEXT_H_PX = 150  # the answer and the table's head under them


@dataclass(frozen=True)
class ExplainConfig:
    replay: ReplayConfig = field(default_factory=ReplayConfig)
    hypotheses: int = 8  # rows of the table and places drawn with their energy

    def __post_init__(self) -> None:
        if self.hypotheses < 1:
            raise ValueError(f"ExplainConfig.hypotheses must be >= 1, got {self.hypotheses}")


@dataclass(frozen=True)
class Explanation:
    session: str
    item: str
    t: float
    answer: Response
    hypotheses: tuple[Hypothesis, ...]  # lowest energy first
    evidence: tuple[Observation, ...]  # what the answer rested on: sightings, misses, enrollment
    path: np.ndarray  # (M, 2) the wearer's path up to t, (x, z) metres
    place_names: dict[int, str] = field(default_factory=dict)  # place id -> how answers name it
    state: int | None = None  # the state the answer gives (a place id, or CARRIED); None: no answer

    @property
    def winner(self) -> Hypothesis | None:
        """The hypothesis the answer gives (the lowest energy, unless the answer had to point at a
        place while "carried" was lower)."""
        return next((h for h in self.hypotheses if h.state == self.state), None)


def explain(session: Session, t: float, item: str, memory_dir: Path | None = None,
            config: ExplainConfig = ExplainConfig()) -> Explanation:
    """Replay `session` up to t, ask where `item` is at t, and read the belief behind the answer."""
    if not 0.0 <= t <= session.duration_s:
        raise AmiError(f"--t {t}: outside the session {session.path} (0 to {session.duration_s:.1f} s)")
    if config.replay.assistant.answerer != "world-model":
        raise AmiError("ami explain shows the world model's hypotheses; it needs --answerer world-model")
    found: list[Explanation] = []

    def ask(assistant: object) -> None:
        from device.answering.assistant import Assistant
        from device.answering.wm_answerer import WorldModelAnswerer

        assert isinstance(assistant, Assistant), "replay hands over its assistant"
        wm = assistant.answerer
        assert isinstance(wm, WorldModelAnswerer), "checked above: the world model answers"
        name = assistant.resolve_item(item)
        answer = assistant.on_utterance(Utterance(t=t, text=where_is(name), audio=None), t)
        every = wm.hypotheses(name, t)
        carried = [h for h in every if h.state == CARRIED]  # always shown: the rival of every place
        top = [h for h in every if h.state != CARRIED][:config.hypotheses - len(carried)]
        hyps = tuple(sorted(top + carried, key=lambda h: h.energy))
        names = {h.state: wm.place_name(h.state) for h in hyps if h.state != CARRIED}
        found.append(Explanation(session.path.name, name, t, answer, hyps, tuple(wm.asked_evidence(name)),
                                 wm.path(), {k: v for k, v in names.items() if v}, wm.answered_state(name)))

    replay(session, None, memory_dir=memory_dir, config=config.replay, until_t=t, inspect=ask)
    return found[0]


def format_table(ex: Explanation) -> str:
    """The answer, then one row per hypothesis: energy, how much worse than the best, since when."""
    a = ex.answer
    lines = [f"{ex.session}, t={ex.t:.1f} s, \"{where_is(ex.item)}?\"",
             f"answer: {a.text}",
             f"confidence {a.confidence:.2f}" + ("" if a.energy is None else f", energy {a.energy:.2f}")
             + (" (abstained)" if a.abstain else "")]
    if a.evidence is not None:
        lines.append(f"evidence: frame {a.evidence.frame} at t={a.evidence.t:.1f} s"
                     + ("" if a.position is None else f", position ({a.position[0]:.2f}, {a.position[1]:.2f})"))
    seen = sum(1 for o in ex.evidence if not o.miss)
    lines.append(f"evidence chain: {seen} sightings, {len(ex.evidence) - seen} looks that did not see it")
    if not ex.hypotheses:
        return "\n".join(lines + ["no hypotheses: the item was never seen"])
    best, win = ex.hypotheses[0].energy, ex.winner
    lines += ["", f"{'':2}{'hypothesis':<34}{'centre (x, z)':>16}{'energy':>9}{'+ best':>9}{'since (s)':>11}"]
    for h in ex.hypotheses:
        label = "carried" if h.state == CARRIED else f"place {h.state}"
        if h.state in ex.place_names:
            label += f" ({ex.place_names[h.state]})"
        centre = "" if h.centre is None else f"({h.centre[0]:.2f}, {h.centre[1]:.2f})"
        mark = "> " if h is win else "  "
        lines.append(f"{mark}{label[:34]:<34}{centre:>16}{h.energy:>9.2f}{h.energy - best:>9.2f}{h.since_t:>11.1f}")
    lines.append("(> the answer's hypothesis; energy: lower fits the evidence better)")
    return "\n".join(lines)


def _to_px(points: np.ndarray, lo: np.ndarray, scale: float, pad: int) -> np.ndarray:
    """(N, 2) metres (x, z) -> pixels; +x right, +z down, as seen from above."""
    return (points - lo) * scale + pad


def draw(ex: Explanation, session: Session, out: Path) -> Path:
    """PNG: the top-down map of the hypotheses beside the evidence keyframe, owner-only."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default(size=13)
    pts = [ex.path] + [np.array([o.position]) for o in ex.evidence if o.position is not None]
    pts += [np.array([h.centre]) for h in ex.hypotheses if h.centre is not None]
    allp = np.concatenate([p.reshape(-1, 2) for p in pts]) if pts else np.zeros((1, 2))
    lo, hi = allp.min(axis=0) - 0.5, allp.max(axis=0) + 0.5
    pad = 20
    scale = (MAP_PX - 2 * pad) / float(max(hi - lo))
    im = Image.new("RGB", (MAP_PX + FRAME_PX + 3 * pad, MAP_PX + TEXT_H_PX), (250, 250, 250))
    d = ImageDraw.Draw(im)
    if len(ex.path) > 1:
        d.line([tuple(p) for p in _to_px(ex.path, lo, scale, pad)], fill=(170, 170, 190), width=2)
    if len(ex.path):
        x, y = _to_px(ex.path[-1:], lo, scale, pad)[0]
        d.polygon([(x, y - 7), (x - 6, y + 5), (x + 6, y + 5)], fill=(40, 40, 200))  # the wearer at t
    for o in ex.evidence:
        if o.position is None:
            continue
        x, y = _to_px(np.array([o.position]), lo, scale, pad)[0]
        if o.miss:
            d.line((x - 3, y - 3, x + 3, y + 3), fill=(150, 150, 150))
            d.line((x - 3, y + 3, x + 3, y - 3), fill=(150, 150, 150))
        else:
            d.ellipse((x - 2, y - 2, x + 2, y + 2), fill=(0, 140, 0) if not o.enroll else (0, 90, 200))
    best = ex.hypotheses[0].energy if ex.hypotheses else 0.0
    for h in ex.hypotheses:
        if h.centre is None:
            continue
        x, y = _to_px(np.array([h.centre]), lo, scale, pad)[0]
        warm = min(1.0, (h.energy - best) / 6.0)  # 0 for the best, 1 for far worse
        colour = (int(230 * warm), int(160 * (1 - warm)), 60)
        d.ellipse((x - 5, y - 5, x + 5, y + 5), fill=colour)
        right = 15 if h is ex.winner else 7  # clear of the answer's ring
        d.text((x + right, y - 7), f"{h.energy:.1f}", fill=(0, 0, 0), font=font)
    win = ex.winner
    if win is not None and win.centre is not None:
        x, y = _to_px(np.array([win.centre]), lo, scale, pad)[0]
        d.ellipse((x - 12, y - 12, x + 12, y + 12), outline=(220, 0, 0), width=3)
    if ex.answer.position is not None:  # where the answer puts it (on the resting surface its views agree on)
        x, y = _to_px(np.array([ex.answer.position]), lo, scale, pad)[0]
        d.line((x - 6, y - 6, x + 6, y + 6), fill=(220, 0, 0), width=2)
        d.line((x - 6, y + 6, x + 6, y - 6), fill=(220, 0, 0), width=2)
    d.line((pad, MAP_PX - 8, pad + scale, MAP_PX - 8), fill=(0, 0, 0), width=2)  # a 1 m scale bar
    d.text((pad + scale + 6, MAP_PX - 16), "1 m", fill=(0, 0, 0), font=font)
    fx = MAP_PX + 2 * pad
    a = ex.answer
    if a.evidence is not None:
        frame = Image.fromarray(session.load_frame(a.evidence.frame)).resize((FRAME_PX, FRAME_PX),
                                                                          Image.Resampling.NEAREST)
        im.paste(frame, (fx, pad))
        d.text((fx, FRAME_PX + pad + 4), f"evidence: frame {a.evidence.frame}, t={a.evidence.t:.1f} s",
               fill=(0, 0, 0), font=font)
    carried = next((h for h in ex.hypotheses if h.state == CARRIED), None)
    legend = ["path: grey line; wearer at t: blue triangle", "sightings: green dots (blue: enrollment)",
              "looked, not seen: grey crosses", "places: energy (green best, red worse)",
              "red ring: the answer's place", "red cross: the answer's position"]
    if carried is not None:
        legend.append(f"carried: energy {carried.energy:.1f}")
    for k, line in enumerate(legend):
        d.text((fx, FRAME_PX + pad + 26 + 17 * k), line, fill=(60, 60, 60), font=font)
    import textwrap

    words = [f"{ex.session} t={ex.t:.1f} s: {where_is(ex.item)}?"] + textwrap.wrap(f"A: {a.text}", 110)
    words.append(f"confidence {a.confidence:.2f}" + ("" if a.energy is None else f", energy {a.energy:.2f}"))
    for k, line in enumerate(words[:7]):
        d.text((pad, MAP_PX + 6 + 18 * k), line, fill=(0, 0, 0), font=font)
    try:
        replace_atomically(out, im.save, suffix=".png")  # the wearer's frames: owner-only, like the memory
    except OSError as e:
        raise OutputError(f"{out}: could not write the picture ({e.strerror}); choose another --out") from e
    return out
