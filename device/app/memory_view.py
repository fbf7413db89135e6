"""What `ami view` shows of a memory: its items and where they are believed to be, its keyframes by
time with the items seen in each, a map, answers to typed questions, and forgets.

Every answer comes from the same assistant that `ami ask` uses (device/answering/no_camera.py),
so the viewer and the spoken path never disagree. One MemoryView serves one memory folder; its
methods are called from the web server's threads and take turns (one lock), since the memory has
one writer and the assistant is not thread-safe.
"""

from __future__ import annotations

import io
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from device.answering.baseline import where_is
from device.answering.no_camera import memory_assistant
from device.answering.when import when_text
from device.errors import AmiError
from device.perception.encoder import Encoding
from device.perception.perception import best_match
from device.responses import Response
from device.session import Utterance
from memory.store import MemoryStore
from memory.types import ForgetResult, ItemRecord, KeyframeRecord

ForgetKind = Literal["item", "place", "last", "all"]
PLACE_RADIUS_M = 2.5  # a forget by place name covers the keyframes taken this close to where it was named


@dataclass(frozen=True)
class ForgetRequest:
    kind: ForgetKind
    item: str | None = None  # kind "item"
    place: str | None = None  # kind "place": one of the wearer's place names
    minutes: float | None = None  # kind "last": the last N minutes (wall clock)


class MemoryView:
    """The viewer's reads and writes over one open memory (it owns the store and closes it)."""

    def __init__(self, memory_dir: Path) -> None:
        self.folder = Path(memory_dir)
        self.store = MemoryStore.open_existing(self.folder)
        self._lock = threading.Lock()
        self._fresh_assistant()

    def _fresh_assistant(self) -> None:
        """After a forget the assistant's beliefs and item list start again from the memory."""
        self.assistant, self._now_t = memory_assistant(self.store)
        self._started = time.monotonic()

    def close(self) -> None:
        with self._lock:
            self.store.close()

    # ---- the pause (memory/pause.py) ----------------------------------------------------
    def pause(self, on: bool | None = None) -> dict[str, Any]:
        """Pause or resume keeping what the glasses see (None: only read), and the state now."""
        with self._lock:
            if on is not None:
                self.store.pause.set(on)
            return {"paused": self.store.pause.on, "since": self.store.pause.since}

    # ---- reads --------------------------------------------------------------------------
    def items(self) -> list[dict[str, Any]]:
        """Each enrolled item with the assistant's answer to "where is my X?" and its evidence."""
        with self._lock:
            return [self._answer_json(self._ask(where_is(item.name)), item) for item in self.store.items()]

    def ask(self, text: str) -> dict[str, Any]:
        """The assistant's answer to a typed question, as `ami ask` would give it spoken."""
        text = text.strip()
        if not text or len(text) > 500:
            raise AmiError("ask: the question must be 1 to 500 characters")
        with self._lock:
            response = self._ask(text)
            item = None if response.item is None else self.store.item(response.item)
            return self._answer_json(response, item)

    def timeline(self, since_unix: float | None, until_unix: float | None) -> list[dict[str, Any]]:
        """The keyframes stored in [since, until) (wall clock), oldest first, with the items seen and the
        alerts raised on them (an alert's evidence keyframe: where the item was last seen)."""
        with self._lock, self.store.reader() as reader:
            rows = reader.timeline(since_unix, until_unix)
            seen = self._sightings(reader)
            alerts: dict[int, list[dict[str, Any]]] = {}
            for a in reader.alerts():
                alerts.setdefault(a.keyframe_id, []).append({"item": a.item, "text": a.text,
                                                             "recorded_at": a.recorded_at})
        return [{**self._keyframe_json(k), "thumbnail": has, "alerts": alerts.get(k.id, []),
                 "items": sorted(name for name, ids in seen.items() if k.id in ids)} for k, has in rows]

    def keyframe(self, keyframe_id: int) -> dict[str, Any]:
        """One keyframe: when, where (and the nearest place name), the items seen in it."""
        with self._lock, self.store.reader() as reader:
            k = reader.keyframe(keyframe_id)  # KeyframeNotFoundError: the server answers 404
            seen = sorted(i.name for i in reader.items() if (m := self._match(reader, k.id, i)) and m[1] >= i.threshold)
            has = reader.thumbnail(k.id) is not None
            place = self._place_of(k)
        return {**self._keyframe_json(k), "thumbnail": has,
                "when": None if k.recorded_at is None else when_text(k.recorded_at, time.time()),
                "place": place, "items": seen}

    def thumbnail(self, keyframe_id: int) -> bytes | None:
        with self._lock, self.store.reader() as reader:
            return reader.thumbnail(keyframe_id)

    def hypotheses(self, item: str) -> list[dict[str, Any]]:
        """The world model's competing places for `item` (and "carried": x None), lowest energy first,
        as `ami explain` shows them; empty for an item it has no chain for."""
        from device.answering.wm_answerer import WorldModelAnswerer

        with self._lock:
            wm = self.assistant.answerer
            if not isinstance(wm, WorldModelAnswerer) or self.store.item(item) is None:
                return []
            t = self._now()
            self._ask(where_is(item), t)  # builds the item's chain from the memory
            answered = wm.answered_state(item)
            return [{"x": None if h.centre is None else h.centre[0], "z": None if h.centre is None else h.centre[1],
                     "energy": h.energy, "answer": h.state == answered}
                    for h in wm.hypotheses(item, t)[:8]]

    def places(self) -> list[dict[str, Any]]:
        with self._lock:
            return [{"name": p.name, "x": p.position[0], "z": p.position[1]} for p in self.store.place_names()]

    def map_png(self, item: str | None) -> bytes:
        """A top-down map: the wearer's path, the named places, each item's believed place."""
        import matplotlib

        matplotlib.use("Agg")  # no screen: render to bytes
        from matplotlib.figure import Figure

        believed = self.items()
        rivals = self.hypotheses(item) if item else []
        with self._lock, self.store.reader() as reader:
            path = [(k.x, k.z) for k, _ in reader.timeline() if k.x is not None and k.z is not None]
        fig = Figure(figsize=(6.4, 6.4), dpi=100)
        ax = fig.subplots()
        if path:
            xs, zs = np.array(path).T
            ax.plot(xs, zs, "-", color="0.75", lw=1, label="your path")
            ax.plot(xs[-1:], zs[-1:], "o", color="0.3", label="where you were last")
        for p in self.places():
            ax.annotate(p["name"], (p["x"], p["z"]), ha="center", fontsize=10, color="tab:green",
                        bbox={"boxstyle": "round", "fc": "white", "ec": "tab:green"})
        for h in rivals:  # the picked item's competing places, as `ami explain` lists them
            if h["x"] is not None:
                ax.plot(h["x"], h["z"], "o", ms=22, mfc="none", mec="tab:red" if h["answer"] else "tab:blue", mew=2)
                ax.annotate(f"E {h['energy']:.1f}", (h["x"], h["z"]), xytext=(0, -22), textcoords="offset points",
                            ha="center", fontsize=8, color="tab:blue")
        carried = next((h["energy"] for h in rivals if h["x"] is None), None)
        for answer in believed:
            if answer["position"] is None:
                continue
            picked = answer["item"] == item
            ax.plot(answer["position"]["x"], answer["position"]["z"], "*", ms=18 if picked else 12,
                    color="tab:red" if picked else "tab:orange", mec="k")
            ax.annotate(answer["item"], (answer["position"]["x"], answer["position"]["z"]),
                        xytext=(8, 8), textcoords="offset points", fontsize=11 if picked else 9)
        ax.set_aspect("equal", adjustable="datalim")
        ax.invert_yaxis()  # +z is to the right of yaw 0: drawn as seen from above
        ax.set_xlabel("x (m)")
        ax.set_ylabel("z (m)")
        ax.set_title("Where your things are believed to be" + (f": {item}" if item else "")
                     + ("" if carried is None else f"\n(circles: its rival places and their energy, lower fits "
                                                  f"better; carried: {carried:.1f})"), fontsize=10)
        if path:
            ax.legend(loc="best", fontsize=8)
        out = io.BytesIO()
        fig.savefig(out, format="png", bbox_inches="tight")
        return out.getvalue()

    # ---- forget --------------------------------------------------------------------------
    def forget(self, request: ForgetRequest, confirm: bool) -> dict[str, Any]:
        """What the forget covers (confirm False: nothing erased) or what it erased."""
        with self._lock:
            result = self._forget(request, dry_run=not confirm)
            if confirm:
                self._fresh_assistant()
        return {"erased": confirm, "keyframes": result.keyframes, "items": list(result.items),
                "place_names": result.place_names}

    def _forget(self, r: ForgetRequest, dry_run: bool) -> ForgetResult:
        store = self.store
        if r.kind == "item":
            if not r.item:
                raise AmiError("forget by item needs the item's name")
            return store.forget_item(r.item, dry_run=dry_run)
        if r.kind == "place":
            place = next((p for p in store.place_names() if p.name == r.place), None)
            if place is None:
                raise AmiError(f"no place called {r.place!r}; known: {', '.join(self._place_names()) or 'none'}")
            return store.forget_near(*place.position, PLACE_RADIUS_M, dry_run=dry_run)
        if r.kind == "last":
            if r.minutes is None or not 0 < r.minutes <= 60 * 24 * 366:
                raise AmiError("forget the last N minutes needs minutes between 0 and a year")
            return store.forget_recorded_since(time.time() - 60 * r.minutes, dry_run=dry_run)
        return store.forget_all(dry_run=dry_run)

    # ---- helpers --------------------------------------------------------------------------
    def _now(self) -> float:
        """Now on the assistant's session clock, which runs on from when it was made (answers' "ago")."""
        return self._now_t + time.monotonic() - self._started

    def _ask(self, text: str, t: float | None = None) -> Response:
        t = self._now() if t is None else t
        return self.assistant.on_utterance(Utterance(t=t, text=text), t, intent=self.assistant.intents.parse(text))

    def _answer_json(self, r: Response, item: ItemRecord | None) -> dict[str, Any]:
        out: dict[str, Any] = {"item": r.item, "text": r.text, "kind": r.kind, "abstain": r.abstain,
                               "confidence": round(r.confidence, 3),
                               "position": None if r.position is None else {"x": r.position[0], "z": r.position[1]},
                               "keyframe": None, "ring": None, "since": None}
        if r.evidence is None:
            return out
        with self.store.reader() as reader:
            k = reader.keyframe_at(r.evidence.t, r.evidence.frame)
            if k is None:
                return out
            out["keyframe"] = k.id
            out["since"] = k.recorded_at
            if item is not None and (found := self._match(reader, k.id, item)) is not None:
                cell, _ = found
                gh, gw = reader.grid(k.id)
                out["ring"] = {"x": (cell % gw + 0.5) / gw, "y": (cell // gw + 0.5) / gh}  # fractions of the frame
        return out

    def _sightings(self, reader: Any) -> dict[str, set[int]]:
        """Item name -> the keyframes holding a sighting of it (the rule forget by item uses)."""
        return {item.name: {h.keyframe_id for h in reader.search_patches(item.prototypes, min_score=item.threshold)}
                for item in reader.items()}

    @staticmethod
    def _match(reader: Any, keyframe_id: int, item: ItemRecord) -> tuple[int, float] | None:
        """(cell, cosine) of the keyframe's patch most like the item, as sightings are found; None for a
        long-term keyframe (its patches were compacted away)."""
        patches = reader.patches(keyframe_id)
        if not len(patches):
            return None
        return best_match(Encoding(patches, reader.grid(keyframe_id), reader.embedding(keyframe_id)), item.prototypes)

    def _place_names(self) -> list[str]:
        return [p.name for p in self.store.place_names()]

    def _place_of(self, k: KeyframeRecord) -> str | None:
        if k.x is None or k.z is None:
            return None
        named = [(np.hypot(p.position[0] - k.x, p.position[1] - k.z), p.name) for p in self.store.place_names()]
        return min(named)[1] if named else None

    @staticmethod
    def _keyframe_json(k: KeyframeRecord) -> dict[str, Any]:
        return {"id": k.id, "session": k.session, "t": k.t, "frame": k.frame,
                "x": k.x, "z": k.z, "yaw_deg": k.yaw_deg, "recorded_at": k.recorded_at}
