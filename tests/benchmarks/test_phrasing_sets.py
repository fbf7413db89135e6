"""The speech benchmark's phrasing sets (benchmarks/speech_phrasings.py): a held-out set only
measures phrasings that nothing was written from. The held-out sets share no phrasing, and the
unread sets share none with the intent classifier's example phrasings (an older set's misses
may have become examples after its first run; BENCHMARKS.md says which)."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import speech_phrasings as P  # noqa: E402


def lower(table: dict[str, tuple[str, ...]]) -> set[str]:
    return {p.lower() for phrasings in table.values() for p in phrasings}


def test_held_out_sets_share_no_phrasing() -> None:
    tables = [P.HELD_OUT, P.HELD_OUT_B, *(s.phrasings for s in P.LATER_SETS)]
    seen = Counter(p for table in tables for p in lower(table))
    assert [p for p, n in seen.items() if n > 1] == []


def test_unread_sets_share_no_phrasing_with_the_examples() -> None:
    unread = [s for s in P.LATER_SETS if s.name in P.UNREAD]
    assert [s.name for s in unread] == list(P.UNREAD)
    for s in unread:
        assert not lower(s.phrasings) & lower(P.DEV), s.name


def test_later_sets_bring_their_own_items() -> None:
    older = set(P.IN_VOCAB + P.OUT_OF_VOCAB)
    for s in P.LATER_SETS:
        mine = set(s.in_vocab + s.out_of_vocab)
        assert len(mine) == 8 and not mine & older, s.name
        older |= mine
