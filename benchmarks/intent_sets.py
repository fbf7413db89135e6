"""Leave one phrasing set out: how well the intents' embedding stage reads phrasings it was not
trained on, with the patterns switched off.

For each tuned held-out phrasing set of benchmarks/speech_phrasings.py (never the unread ones), the
intent classifier is trained on the example phrasings (device/speech/intent_examples.py) less every example
within a cosine of 0.9 of one of the set's phrasings (near copies: some sets' misses became
examples), and then reads each of the set's phrasings, with the set's own items, by the embedding
stage alone (`IntentParser.guess`). Scored on the intent. Each setting of `--config` is one
column; the first is the shipped one. Rewrites the "intent-sets" section of docs/BENCHMARKS.md.

    .venv/bin/python benchmarks/intent_sets.py             # about a minute on 1 core
    .venv/bin/python benchmarks/intent_sets.py --no-write  # print only
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import itertools
import sys

import numpy as np

from report import ROOT, share, write_section
from speech_phrasings import HELD_OUT, HELD_OUT_B, IN_VOCAB, LATER_SETS, OUT_OF_VOCAB, UNREAD

sys.path.insert(0, str(ROOT))

NEAR_COPY_COS = 0.9
COLUMNS = {"shipped": {}, "no agreement": {"require_agreement": False},
           "probability 0.5": {"min_probability": 0.5}, "L2 0.1": {"regularisation": 0.1}}


def tuned_sets() -> dict[str, tuple[dict[str, tuple[str, ...]], tuple[str, ...]]]:
    sets = {"held-out": (HELD_OUT, IN_VOCAB + OUT_OF_VOCAB), "held-out-b": (HELD_OUT_B, IN_VOCAB + OUT_OF_VOCAB)}
    sets.update({s.name: (s.phrasings, s.in_vocab + s.out_of_vocab) for s in LATER_SETS if s.name not in UNREAD})
    return sets


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--no-write", action="store_true", help="print only; leave docs/BENCHMARKS.md alone")
    args = ap.parse_args(argv)
    import torch

    from device.speech.intent_examples import EXAMPLES
    from device.speech.intents import IntentConfig, IntentParser, SentenceEmbedder, classifier_text

    torch.set_num_threads(1)
    embedder = SentenceEmbedder(threads=1)

    def probes(phrasings: list[str]) -> np.ndarray:
        return embedder.encode([classifier_text(p) for p in phrasings])

    example_vecs = {kind: probes(list(phrasings)) for kind, phrasings in EXAMPLES.items()}  # once, not per set

    right: dict[str, dict[str, list[bool]]] = {c: {"requests": [], "non-requests": []} for c in COLUMNS}
    per_set: dict[str, dict[str, float]] = {c: {} for c in COLUMNS}
    for name, (table, items) in tuned_sets().items():
        cycle = itertools.cycle(items)
        queries = [(kind, p.format(item=next(cycle)) if "{item}" in p else p, p)
                   for kind, phrasings in table.items() for p in phrasings]
        near = probes([p for _, _, p in queries])
        kept = {}
        for kind, phrasings in EXAMPLES.items():
            far = (example_vecs[kind] @ near.T).max(axis=1) <= NEAR_COPY_COS
            kept[kind] = tuple(p for p, ok in zip(phrasings, far) if ok)
        for column, change in COLUMNS.items():
            parser = IntentParser(dataclasses.replace(IntentConfig(threads=1), **change), embedder, examples=kept)
            ok = [(kind, parser.guess(text).kind == kind) for kind, text, _ in queries]
            for kind, good in ok:
                right[column]["non-requests" if kind == "unknown" else "requests"].append(good)
            per_set[column][name] = float(np.mean([g for _, g in ok]))
        print(f"{name}: {len(queries)} phrasings, {sum(map(len, kept.values()))} of "
              f"{sum(map(len, EXAMPLES.values()))} examples kept; " +
              ", ".join(f"{c} {100 * per_set[c][name]:.0f}%" for c in COLUMNS), flush=True)

    names = list(tuned_sets())
    lines = ["| | " + " | ".join(COLUMNS) + " |", "|---" * (len(COLUMNS) + 1) + "|"]
    for row, parts in (("all phrasings", ("requests", "non-requests")), ("requests", ("requests",)),
                       ("non-requests", ("non-requests",))):
        lines.append(f"| {row} | " + " | ".join(share([g for k in parts for g in r[k]]) for r in right.values()) + " |")
    lines += [f"| {n} | " + " | ".join(f"{100 * per_set[c][n]:.0f}%" for c in COLUMNS) + " |" for n in names]
    print("\n".join(lines))
    if args.no_write:
        return 0
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    head = (f"Measured {now} with `.venv/bin/python benchmarks/intent_sets.py`: the intents' embedding stage "
            f"alone (no patterns), trained on the example phrasings less each tuned held-out set's near copies "
            f"(cosine > {NEAR_COPY_COS}) in turn, reading that set's phrasings; scored on the intent. The unread "
            "sets (held-out-J, -K) are never used. Columns: the shipped settings, and one setting changed. With "
            "the nearest of the examples instead of the head (the stage before 2026-11-30, measured once with a "
            "throwaway script): 86% (194/225) with its own 90 examples, 93% (210/225) with these.")
    write_section("intent-sets", "\n".join([head, "", *lines]), "## Intents: leaving one phrasing set out (issue 5)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
