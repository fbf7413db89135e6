"""Benchmark the spoken path: espeak-ng queries -> VAD -> Whisper -> intent -> answer, on 1 thread.

Reports intent-and-item accuracy (development and held-out phrasings, items inside and outside
the ASR vocabulary prompt), transcript WER, the latency from the end of the audio handed over to
the answer text (median, p90; all queries and queries of 1.5-2.5 s), and Whisper's real-time
factor. Rewrites the "speech" section of docs/BENCHMARKS.md with the figures, command and date.

Split: DEV phrasings were used to write and tune the intent rules and examples; each held-out set
was written in one go and committed before its first run (benchmarks/speech_phrasings.py says
which have been tuned on since). Run:

    .venv/bin/python benchmarks/speech.py            # about 12 minutes on 1 core
    .venv/bin/python benchmarks/speech.py --quick    # a smoke run; writes nothing
    .venv/bin/python benchmarks/speech.py --dev      # development phrasings only, every voice and speed;
                                                     # for tuning (prints the misses); writes nothing
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import itertools
import re
import sys
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from report import BENCH_MD, ROOT, share, write_section
from speech_phrasings import (ALL_ITEMS, DEV, DEV_ITEMS, HELD_OUT, HELD_OUT_B, IN_VOCAB, LATER_SETS, OUT_OF_VOCAB,
                              SPEEDS_WPM, VOICES, LaterSet)

if TYPE_CHECKING:
    from memory.store import MemoryStore

sys.path.insert(0, str(ROOT))


@dataclass(frozen=True)
class Query:
    split: str  # "dev" | "held-out"
    kind: str
    item: str | None
    text: str
    voice: str
    wpm: int


def queries(quick: bool, dev: bool = False) -> list[Query]:
    """Held-out phrasings in every voice and speed, held-out-B in every voice at 140 wpm, the later held-out
    sets in every voice at 170 wpm (each with its own items), dev in two; dev: only the development phrasings, in
    every voice and speed."""
    out: list[Query] = []
    items = itertools.cycle(IN_VOCAB + OUT_OF_VOCAB)
    own_items = {s.name: itertools.cycle(s.in_vocab + s.out_of_vocab) for s in LATER_SETS}
    every = list(itertools.product(VOICES, SPEEDS_WPM))
    splits = (("held-out", HELD_OUT, every), ("held-out-b", HELD_OUT_B, every[::2]),
              *((s.name, s.phrasings, [(v, 170) for v in VOICES]) for s in LATER_SETS),
              ("dev", DEV, [("en-us", 170), ("en-gb-x-rp", 200)]))
    for split, table, combos in (("dev", DEV, every),) if dev else splits:
        for kind, phrasings in table.items():
            for phrasing in phrasings:
                # a development phrasing's items follow from the phrasing alone, so that adding one
                # changes no other query
                start = zlib.crc32(phrasing.encode()) % len(DEV_ITEMS)
                dev_items = itertools.islice(itertools.cycle(DEV_ITEMS), start, None)
                for voice, wpm in combos:
                    pool = dev_items if split == "dev" else own_items.get(split, items)
                    item = next(pool) if "{item}" in phrasing else None
                    out.append(Query(split, kind, item, phrasing.format(item=item), voice, wpm))
    return out[::25] if quick else out


def words(text: str) -> list[str]:
    return re.sub(r"[^a-z' ]", " ", text.lower().replace("-", " ")).split()


def edit_distance(a: list[str], b: list[str]) -> int:
    d = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        prev, d[0] = d[0], i
        for j, y in enumerate(b, 1):
            prev, d[j] = d[j], min(d[j] + 1, d[j - 1] + 1, prev + (x != y))
    return d[-1]


def same_item(a: str | None, b: str | None) -> bool:
    """The same name up to a plural and spacing ("key" for "keys", "key card" for "keycard"), as the
    assistant itself matches names (`device.intents.item_key`)."""
    from device.speech.intents import item_key

    if a is None or b is None:
        return a == b
    return item_key(a) == item_key(b)


def correct(q: Query, kind: str, item: str | None) -> bool:
    if kind != q.kind:
        return False
    return q.kind in ("unknown", "left_items") or same_item(item, q.item)


def synth(q: Query, tmp: Path) -> np.ndarray:
    from device.speech.asr import load_wav
    from device.speech.tts import Speaker, SpeakerConfig

    path = tmp / "q.wav"
    Speaker(SpeakerConfig(voice=q.voice, words_per_min=q.wpm)).to_wav(q.text, str(path))
    pad = np.zeros(4000, np.float32)  # 0.25 s either side, as a VAD segment carries
    return np.concatenate([pad, load_wav(path), pad])


def enroll_all(store: MemoryStore) -> None:
    """Enroll every benchmark item that the memory lacks (random prototypes: only the names matter)."""
    rng = np.random.default_rng(0)
    for name in ALL_ITEMS:
        if store.item(name) is None:
            p = rng.standard_normal((1, store.patch_dim)).astype(np.float32)
            store.enroll_item(name, 0.0, p / np.linalg.norm(p), 0.99)


def text_only() -> int:
    """Intents alone on every development phrasing with every development item; prints the misses."""
    from device.speech.intents import IntentParser

    parser, ok = IntentParser(), []
    for kind, phrasings in DEV.items():
        for phrasing in phrasings:
            for item in DEV_ITEMS if "{item}" in phrasing else (None,):
                q = Query("dev", kind, item, phrasing.format(item=item), "text", 0)
                got = parser.parse(q.text)
                ok.append(correct(q, got.kind, got.item))
                if not ok[-1]:
                    print(f"  miss {q.text!r} -> {got.kind} {got.item} ({got.source}, {got.confidence:.2f})")
    print(f"development phrasings, intents alone on the text: {share(ok)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="every 25th query; print only")
    ap.add_argument("--dev", action="store_true", help="development phrasings only, in every voice and speed "
                    "(1632 queries, about 16 minutes): for tuning; print only")
    ap.add_argument("--text", action="store_true", help="development phrasings with every development item, "
                    "intents alone on the reference text (no audio, seconds): for tuning; print only")
    ap.add_argument("--enrolled", action="store_true", help="every benchmark item is enrolled in the memory first "
                    "(as on a wearer's glasses: its name joins the ASR vocabulary), and the item scored is the one "
                    "the assistant answered about; writes the 'speech-enrolled' section")
    ap.add_argument("--no-enrolled-reading", action="store_true", help="with --enrolled: never read a name heard "
                    "as an enrolled one (device.speech.enrolled_reading), to measure what it adds; print only")
    ap.add_argument("--asr-model", default="tiny.en", help="Whisper model: tiny.en (default, shipped) or base "
                    "(optional packages); a run with another model prints only")
    args = ap.parse_args(argv)
    import torch

    from device.speech.asr import AsrConfig
    from device.app.spoken import SpeechConfig, SpokenAssistant

    torch.set_num_threads(1)
    if args.text:
        return text_only()
    qs = queries(args.quick, args.dev)
    rows = []
    config = SpeechConfig(asr=AsrConfig(model=args.asr_model))
    if args.no_enrolled_reading:  # no reading can lead the next one by more than 50 (log-prob)
        config = dataclasses.replace(config, enrolled_min_lead=50.0)
    with tempfile.TemporaryDirectory() as tmp, SpokenAssistant(None, config) as spoken:
        spoken.assistant.intents.parse("warm up the embedding model, please")
        for n, q in enumerate(qs):
            if args.enrolled:
                enroll_all(spoken.store)  # again each time: a spoken forget may have removed one
            audio = synth(q, Path(tmp))
            ex = spoken.handle(audio, spoken.clock0)
            kind = ex.intent.kind if ex.intent is not None else "unknown"
            item = ex.intent.item if ex.intent is not None else None
            if args.enrolled and ex.response is not None and item is not None:
                item = ex.response.item  # the enrolled item the assistant took it to mean
            ok = correct(q, kind, item)
            t_int = spoken.assistant.intents.parse(q.text)
            text_ok = correct(q, t_int.kind, t_int.item)
            ref, hyp = words(q.text), words(ex.heard.text)
            tr = ex.heard.transcript
            rows.append({"q": q, "ok": ok, "text_ok": text_ok, "heard": ex.heard.text, "kind": kind, "item": item,
                         "errors": edit_distance(ref, hyp), "ref_words": len(ref), "latency_s": ex.latency_s,
                         "audio_s": len(audio) / 16_000, "asr_s": tr.wall_s if tr else 0.0})
            if not ok:
                print(f"  miss [{q.split}/{q.voice}/{q.wpm}] {q.text!r} -> heard {ex.heard.text!r} -> {kind} {item}")
            if n % 20 == 0:
                print(f"{n}/{len(qs)}", flush=True)

    def acc(pred: object) -> str:
        return share([r["ok"] for r in rows if pred(r)])  # type: ignore[operator]

    def later_line(s: LaterSet) -> str:
        mine = [r for r in rows if r["q"].split == s.name]
        groups = (("items in the prompt", s.in_vocab),
                  ("outside it" if s.in_vocab else "items outside the prompt", s.out_of_vocab))
        return (f"- {s.title} ({s.about}; 4 voices at 170 wpm): {share([r['ok'] for r in mine])}; "
                "with the reference text: "
                f"{share([r['text_ok'] for r in mine])}; "
                + ", ".join(f"{label} {share([r['ok'] for r in mine if r['q'].item in names])}"
                            for label, names in groups if names)
                + f", no item {share([r['ok'] for r in mine if r['q'].item is None])}.")

    wer = sum(r["errors"] for r in rows) / max(1, sum(r["ref_words"] for r in rows))
    lat = np.array([r["latency_s"] for r in rows])
    two = np.array([r["latency_s"] for r in rows if 1.5 <= r["audio_s"] - 0.5 <= 2.5])
    asr_audio = sum(r["audio_s"] for r in rows if r["asr_s"] > 0)
    rtf = asr_audio / max(1e-9, sum(r["asr_s"] for r in rows))
    lines = [
        f"- Queries: {len(rows)} spoken by espeak-ng ({len(VOICES)} voices: {', '.join(VOICES)}; "
        f"{len(SPEEDS_WPM)} speeds for held-out: {SPEEDS_WPM} wpm; held-out-B at 140 wpm only, "
        f"held-out-C to -{LATER_SETS[-1].name[-1].upper()} at 170; "
        f"dev in en-us at 170 and en-gb-x-rp at 200 wpm), Whisper {args.asr_model} int8, beam 5, 1 thread.",
        f"- Intent-and-item accuracy, **held-out phrasings: {acc(lambda r: r['q'].split == 'held-out')}**, "
        f"**held-out-B: {acc(lambda r: r['q'].split == 'held-out-b')}** (goal 95%); development phrasings: "
        f"{acc(lambda r: r['q'].split == 'dev')}.",
        "- The same with the reference text instead of Whisper's transcript (intents alone): held-out "
        f"{share([r['text_ok'] for r in rows if r['q'].split == 'held-out'])}, held-out-B "
        f"{share([r['text_ok'] for r in rows if r['q'].split == 'held-out-b'])}, dev "
        f"{share([r['text_ok'] for r in rows if r['q'].split == 'dev'])}.",
        *(later_line(s) for s in LATER_SETS),
        f"- Held-out-B, items in the ASR vocabulary prompt: "
        f"{acc(lambda r: r['q'].split == 'held-out-b' and r['q'].item in IN_VOCAB)}; outside it: "
        f"{acc(lambda r: r['q'].split == 'held-out-b' and r['q'].item in OUT_OF_VOCAB)}.",
        f"- Held-out, items in the ASR vocabulary prompt: "
        f"{acc(lambda r: r['q'].split == 'held-out' and r['q'].item in IN_VOCAB)}; items outside it: "
        f"{acc(lambda r: r['q'].split == 'held-out' and r['q'].item in OUT_OF_VOCAB)}; "
        f"no item: {acc(lambda r: r['q'].split == 'held-out' and r['q'].item is None)}.",
        "- Held-out by intent: " + "; ".join(
            f"{k} {acc(lambda r, k=k: r['q'].split == 'held-out' and r['q'].kind == k)}" for k in HELD_OUT) + ".",
        "- Held-out by voice: " + "; ".join(
            f"{v} {acc(lambda r, v=v: r['q'].split == 'held-out' and r['q'].voice == v)}" for v in VOICES) + ".",
        f"- Transcript WER (all queries): {100 * wer:.1f}%.",
        f"- Latency, audio handed over -> answer text (VAD + Whisper + intent + answer), 1 thread: "
        f"median {np.median(lat):.2f} s, p90 {np.percentile(lat, 90):.2f} s; queries of 1.5-2.5 s "
        f"({len(two)}): median {np.median(two) if len(two) else float('nan'):.2f} s, "
        f"p90 {np.percentile(two, 90) if len(two) else float('nan'):.2f} s (goal: median <= 1.0 s). The live "
        "loop adds the end-of-speech wait: VadConfig.min_silence_s - pad_s = 0.4 s.",
        f"- ASR speed: {rtf:.1f} s of audio per wall second (real-time factor {1 / rtf:.2f}).",
    ]
    if args.dev:
        print(f"development phrasings, every voice and speed: {acc(lambda r: True)}; with the reference text: "
              f"{share([r['text_ok'] for r in rows])}")
        return 0
    print("\n".join(lines))
    if args.quick or args.asr_model != "tiny.en" or args.no_enrolled_reading:
        return 0
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    if args.enrolled:
        head = (f"Measured {now} with `.venv/bin/python benchmarks/speech.py --enrolled`: the queries of the "
                f"section above, with all {len(ALL_ITEMS)} benchmark items enrolled in the memory first "
                "(their names join "
                "the ASR vocabulary, as the items a wearer asks about are on the glasses), scored on the item the "
                "assistant answered about. \"Items outside the prompt\" below are outside `COMMON_ITEMS` only. "
                "More enrolled names cost accuracy on the same held-out queries: with the ten items of held-out and "
                "held-out-B enrolled (2026-11-29) held-out was 88.5% (177/200), with held-out-C's eight more 87.0% "
                "(174/200, nothing else changed), with held-out-D's eight more (2026-11-30 04:39 UTC; the intents on "
                "the held-out reference texts unchanged) 84.5% (169/200), and with held-out-E's eight more (04:54 "
                "UTC, after the rules for held-out-D) 84.5% again: each name in the prompt is one more that "
                "Whisper may hear, and that a misheard name may sound like (\"bag\" -> \"mug\"). Since 2026-11-30 "
                "07:0x UTC a name heard that is not enrolled is read as the enrolled name Whisper finds nearly as "
                "likely for the audio (`device.speech.enrolled_reading`); `--no-enrolled-reading` measures without it. "
                "It acts rarely: on the run of 07:15 UTC (42 names, before held-out-G and the intent changes), without "
                "it held-out-C was 83.0% instead of 84.0% and every other figure the same. First runs with their "
                "items enrolled: held-out-G 78.0% (07:56 UTC; 50.0% with its names outside the prompt), held-out-H "
                "70.0% (09:16 UTC; 53.0%), held-out-I 70.0% and the helper-written, unread held-out-J 85.0% (09:44 "
                "UTC, before the rules for I's misses), the second helper's held-out-K 83.0% (10:44 UTC, on the final "
                "code of the day; its eight names took held-out from 90.0% to 88.5%). The intents' logistic head "
                "(2026-11-30 12:0x UTC, the section above says how it was chosen) took held-out from 88.5% to "
                "90.0%, the unread held-out-J from 86.0% to 91.0% and held-out-K from 83.0% to 95.0%.")
        write_section("speech-enrolled", "\n".join([head, "", *lines]), "## Speech, items enrolled (issue 5)")
    else:
        body = "\n".join([f"Measured {now} with `.venv/bin/python benchmarks/speech.py` on this 2-core CPU "
                          "(shared with other jobs: the ratios hold better than the absolute times).", "",
                          *lines])
        write_section("speech", body, "## Speech (issue 5)")
    print(f"wrote {BENCH_MD}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
