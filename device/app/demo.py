"""The demo: replay the bundled session, print each question with its answer and evidence, score
it, and draw a contact sheet of evidence frames beside the questions."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.files import replace_atomically
from core.paths import DEMO_SESSION
from device.answering.assistant import Assistant
from device.perception.encoder import EncoderRuntime
from device.evaluation.evaluate import evaluate, format_table, write_metrics
from device.app.replay import ReplayConfig, ReplayResult, replay
from device.responses import Response
from device.session import Session, read_session

SHEET_FRAME_PX = 192


def _frame_tile(session: Session, frame: int | None, px: int) -> np.ndarray:
    from PIL import Image

    if frame is None:
        return np.full((px, px, 3), 40, np.uint8)
    im = Image.fromarray(session.load_frame(frame)).resize((px, px), Image.Resampling.NEAREST)
    return np.asarray(im)


Found = dict[tuple[str, int], tuple[int, tuple[int, int]]]  # (item, frame) -> (cell, grid)


def found_cells(session: Session, responses: list[Response], encoder: EncoderRuntime,
                prototypes: dict[str, np.ndarray]) -> Found:
    """For each answer or alert with an evidence frame: the cell of that frame that best matches
    the item's enrollment prototypes, as the assistant's perception saw it."""
    from device.perception.perception import best_match

    found: Found = {}
    for r in responses:
        if r.kind not in ("answer", "alert") or r.evidence is None or r.item not in prototypes:
            continue
        key = (r.item, r.evidence.frame)
        if key not in found and 0 <= r.evidence.frame < len(session.frames):
            enc = encoder.encode(session.load_frame(r.evidence.frame))
            found[key] = (best_match(enc, prototypes[r.item])[0], enc.grid)
    return found


def _mark_found(tile: np.ndarray, r: Response, found: Found) -> np.ndarray:
    """Draw a ring on the evidence frame's cell where the item was found."""
    from PIL import Image, ImageDraw

    if r.evidence is None or r.item is None or (r.item, r.evidence.frame) not in found:
        return tile
    cell, (gh, gw) = found[(r.item, r.evidence.frame)]
    row, col = divmod(cell, gw)
    im = Image.fromarray(tile)
    x, y, rad = (col + 0.5) / gw * im.width, (row + 0.5) / gh * im.height, im.width / 10
    ImageDraw.Draw(im).ellipse((x - rad, y - rad, x + rad, y + rad), outline=(255, 0, 0), width=3)
    return np.asarray(im)


def _frame_at(session: Session, t: float) -> int:
    """Index of the last frame at or before t (the wearer's view when speaking)."""
    ts = np.array([f.t for f in session.frames])
    return int(max(0, np.searchsorted(ts, t, side="right") - 1))


def _wrap(text: str, width: int) -> list[str]:
    import textwrap

    return textwrap.wrap(text, width) or [""]


def contact_sheet(session: Session, responses: list[Response], out: Path, found: Found | None = None) -> Path:
    """PNG: one row per answer or alert: the wearer's view, the evidence frame (a red ring where the
    item was found in it, from `found_cells`), and the words."""
    from PIL import Image, ImageDraw, ImageFont

    rows = [r for r in responses if r.kind in ("answer", "alert")]
    utter = {round(u.t, 3): u.text for u in session.utterances}
    px, text_w, pad = SHEET_FRAME_PX, 520, 8
    row_h = px + 2 * pad + 18
    sheet = Image.new("RGB", (2 * px + text_w + 4 * pad, max(1, len(rows)) * row_h + 40), (250, 250, 250))
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=14)
    draw.text((pad, 10), f"{session.path.name}: what the wearer saw when asking | the evidence "
              "(red ring: where the item was found in it) | the answer",
              fill=(0, 0, 0), font=font)
    for k, r in enumerate(rows):
        y = 40 + k * row_h
        t_view = r.utterance_t if r.utterance_t is not None else r.t
        view = _frame_tile(session, _frame_at(session, t_view), px)
        ev = _mark_found(_frame_tile(session, None if r.evidence is None else r.evidence.frame, px), r, found or {})
        sheet.paste(Image.fromarray(view), (pad, y))
        sheet.paste(Image.fromarray(ev), (2 * pad + px, y))
        draw.text((pad, y + px + 2), f"t={t_view:.1f}s", fill=(60, 60, 60), font=font)
        draw.text((2 * pad + px, y + px + 2),
                  "no evidence" if r.evidence is None else f"evidence t={r.evidence.t:.1f}s frame {r.evidence.frame}",
                  fill=(60, 60, 60), font=font)
        question = utter.get(round(r.utterance_t, 3), "") if r.utterance_t is not None else "(alert)"
        lines = [f"Q: {question}" if r.kind == "answer" else "ALERT"] + _wrap(f"A: {r.text}", 60)
        lines.append(f"confidence {r.confidence:.2f}" + (" (abstained)" if r.abstain else ""))
        colour = (170, 0, 0) if r.kind == "alert" else (0, 0, 0)
        for j, line in enumerate(lines):
            draw.text((3 * pad + 2 * px, y + j * 20), line, fill=colour, font=font)
    replace_atomically(out, sheet.save, suffix=".png")  # the wearer's frames: owner-only, like the memory
    return out


def transcript(session: Session, responses: list[Response]) -> list[str]:
    """The replay as a person reads it: what the wearer said, what the glasses answered and on
    which evidence, and each alert, in time order."""
    utter = {round(u.t, 3): u.text for u in session.utterances}
    lines = []
    for r in responses:
        if r.kind == "alert":
            lines.append(f"[{r.t:6.1f}s] ALERT  {r.text}")
        elif r.utterance_t is not None:
            lines.append(f"[{r.utterance_t:6.1f}s] wearer: {utter.get(round(r.utterance_t, 3), '?')}")
            ev = "" if r.evidence is None else f"  (evidence: frame {r.evidence.frame} at {r.evidence.t:.1f}s)"
            lines.append(f"{'':9}glasses: {r.text}{ev}")
    return lines


def run_demo(out_dir: Path, session_dir: Path = DEMO_SESSION, config: ReplayConfig = ReplayConfig()) -> ReplayResult:
    session = read_session(session_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    seen: dict[str, object] = {}

    def keep(assistant: Assistant) -> None:  # what found_cells needs, before the memory goes
        seen["encoder"] = assistant.encoder
        seen["prototypes"] = {i.name: i.prototypes for i in assistant.store.items()}

    result = replay(session, out_dir / "responses.jsonl", memory_dir=None, config=config, inspect=keep)
    print(f"\nReplayed {result.frames} frames ({result.keyframes} keyframes) in {result.wall_s:.1f} s "
          f"({result.frames_per_s:.1f} frames/s).\n")
    print("\n".join(transcript(session, result.responses)))
    metrics = evaluate(session, result.responses)
    write_metrics(out_dir / "metrics.json", metrics)
    print("\n" + format_table(metrics))
    found = found_cells(session, result.responses, seen["encoder"], seen["prototypes"])  # type: ignore[arg-type]
    sheet = contact_sheet(session, result.responses, out_dir / "contact_sheet.png", found)
    print(f"\nWrote {out_dir / 'responses.jsonl'}, {out_dir / 'metrics.json'} and {sheet}")
    return result
