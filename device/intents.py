"""Intents v0: turn an utterance's text into (kind, item) with simple, explicit patterns.

Handles enrollment ("this is my keys", "these are my glasses") and locate ("where are my keys?",
"where is my phone", "where did I put / leave my wallet"). Anything else is "unknown", which the
assistant answers with "Sorry, I didn't catch that". The sentence-embedding intents of issue 5
replace these patterns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

IntentKind = Literal["enroll", "locate", "unknown"]

_ITEM = r"(?:my|the)\s+(?P<item>[a-z][a-z \-']*?)"
_PATTERNS: tuple[tuple[IntentKind, re.Pattern[str]], ...] = (
    ("enroll", re.compile(rf"^(?:remember,?\s+)?(?:this|these|that|those)\s+(?:is|are)\s+{_ITEM}$")),
    ("locate", re.compile(rf"^where\s+(?:is|are|'s|did i (?:put|leave))\s+{_ITEM}(?:\s+again)?$")),
)


@dataclass(frozen=True)
class Intent:
    kind: IntentKind
    item: str | None
    text: str


def normalise_item(name: str) -> str:
    """Lower-case, single-spaced item name ("My  Keys" -> "keys")."""
    return " ".join(name.lower().split())


def parse_intent(text: str) -> Intent:
    clean = re.sub(r"[^a-z' \-]", " ", text.lower())
    clean = " ".join(clean.replace("where's", "where is").split())
    for kind, pattern in _PATTERNS:
        m = pattern.match(clean)
        if m:
            return Intent(kind=kind, item=normalise_item(m.group("item")), text=text)
    return Intent(kind="unknown", item=None, text=text)
