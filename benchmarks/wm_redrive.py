"""Judge world-model changes on development houses in seconds: replay once, re-drive many times.

A replay spends nearly all its time seeing (decode, encoder, memory); the world model only hears
what perception told it. `capture` replays each session once (the shipped encoder, 1 thread) and
keeps every call into `WorldModelAnswerer` (enrollments, sightings, each frame's pose, each
question with memory's sightings) in CAPDIR/<label>__<session>.pkl. `score` feeds those calls to a
fresh answerer built from today's code and `--set` overrides, puts its answers and alerts in place
of the replay's, and scores them as `ami eval` does, per label and pooled. A change to perception
needs a new capture; a change to the world model does not.

    .venv/bin/python benchmarks/wm_redrive.py capture out/dev/sessions/* --out out/dev/capture
    .venv/bin/python benchmarks/wm_redrive.py score out/dev/capture --set carry_unseen=false

The label is the session folder's name without its trailing "-N" (hidden-12 -> hidden), or the parent
folder's name for `ami bench shift`'s AXIS/seed-N. Capture development seeds (0-99) only: a
capture is for choosing, and nothing may be chosen on held-out houses.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import json  # noqa: E402
import pickle  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from device.answering import wm_answerer  # noqa: E402
from device.answering.assistant import AssistantConfig  # noqa: E402
from device.answering.place_names import PlaceNames  # noqa: E402
from device.answering.wm_config import WorldModelConfig  # noqa: E402
from device.app.replay import ReplayConfig, _with_encoder_margin, replay  # noqa: E402
from device.app.shift_bench import Job, pool, scored, table  # noqa: E402
from device.perception.encoder import EncoderConfig  # noqa: E402
from device.responses import Response  # noqa: E402
from device.session import read_session  # noqa: E402

CALLS = ("on_enroll", "on_sighting", "alerts", "locate")  # what the answerer hears, in order


def label_of(folder: Path) -> str:
    stem = re.sub(r"-\d+$", "", folder.name)
    return folder.parent.name if stem in ("seed", folder.name) else stem


def capture(sessions: list[Path], out: Path) -> None:
    import torch

    torch.set_num_threads(1)
    out.mkdir(parents=True, exist_ok=True)
    log: list[tuple[str, tuple[Any, ...]]] = []
    plain = {name: getattr(wm_answerer.WorldModelAnswerer, name) for name in CALLS}

    def heard(name: str):  # noqa: ANN202 - a method wrapper
        def call(self: wm_answerer.WorldModelAnswerer, *args: Any) -> Any:
            log.append((name, args))
            return plain[name](self, *args)
        return call

    for name in CALLS:
        setattr(wm_answerer.WorldModelAnswerer, name, heard(name))
    try:
        for folder in sessions:
            dest = out / f"{label_of(folder)}__{folder.name}.pkl"
            session, log[:] = read_session(folder), []
            result = replay(session, None, config=ReplayConfig(progress=False))
            tmp = dest.with_suffix(".tmp")
            tmp.write_bytes(pickle.dumps({"session": str(folder.resolve()), "calls": list(log),
                                          "camera": (session.info.hfov_deg, session.info.height / session.info.width),
                                          "responses": result.responses}))
            tmp.replace(dest)
            print(f"captured {folder} ({len(log)} calls) -> {dest}", flush=True)
    finally:
        for name, method in plain.items():
            setattr(wm_answerer.WorldModelAnswerer, name, method)


def redrive(cap: dict[str, Any], config: WorldModelConfig) -> list[Response]:
    """The replay's responses with the answers and alerts of a fresh answerer fed the same calls."""
    answerer = wm_answerer.WorldModelAnswerer(config, PlaceNames(AssistantConfig().place_names), cap["camera"])
    alerts, answers = [], {}
    for name, args in cap["calls"]:
        got = getattr(answerer, name)(*args)
        if name == "alerts":
            alerts += got
        elif name == "locate":
            answers[(args[0], round(args[1], 3))] = got
    out = []
    for r in cap["responses"]:
        if r.kind == "alert":
            continue
        new = answers.get((r.item, round(r.utterance_t, 3))) if r.kind == "answer" and r.utterance_t else None
        if new is not None:
            r = dataclasses.replace(r, position=new.position, abstain=new.abstain, evidence=new.evidence,
                                    confidence=new.confidence, text=new.text)
        out.append(r)
    return sorted(out + alerts, key=lambda r: r.t)


def config_with(overrides: list[str]) -> WorldModelConfig:
    """The replay's world-model config (belief.margin_scale from the encoder) with FIELD=VALUE
    overrides (belief.FIELD for the belief's); VALUE is JSON (true, 0.5)."""
    base = _with_encoder_margin(AssistantConfig(), EncoderConfig()).world_model
    top, belief = {}, {}
    for item in overrides:
        field, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--set {item}: expected FIELD=VALUE")
        (belief if field.startswith("belief.") else top)[field.removeprefix("belief.")] = json.loads(value)
    try:
        return dataclasses.replace(base, belief=dataclasses.replace(base.belief, **belief), **top)
    except (TypeError, ValueError) as e:
        raise SystemExit(f"--set: {e}") from e


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("capture", help="replay sessions once, keeping what the world model hears")
    c.add_argument("sessions", type=Path, nargs="+")
    c.add_argument("--out", type=Path, required=True)
    s = sub.add_parser("score", help="re-drive captures through today's world model and score them")
    s.add_argument("captures", type=Path)
    s.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="a WorldModelConfig override")
    args = ap.parse_args(argv)
    if args.cmd == "capture":
        capture(args.sessions, args.out)
        return 0
    config, results = config_with(args.set), []
    for path in sorted(args.captures.glob("*__*.pkl")):
        cap = pickle.loads(path.read_bytes())
        label = path.name.split("__")[0]
        results.append(scored(Job(label, 0), read_session(Path(cap["session"])), redrive(cap, config)))
    if not results:
        print(f"{args.captures}: no captures; run `capture` first", file=sys.stderr)
        return 2
    print(table(pool(results)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
