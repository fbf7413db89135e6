"""The intents' logistic head on the sentence embedding, trained once per set of example
phrasings and kept in the user cache folder (versioned by a hash of everything it was trained
from), so a cold `ami ask` does not embed ~210 phrasings and fit again.

The file is a cache, never a source of truth: a missing, stale or unreadable one is rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from core.files import write_bytes_atomic
from core.paths import cache_dir

if TYPE_CHECKING:
    from device.speech.intents import IntentKind, SentenceEmbedder

log = logging.getLogger(__name__)

Head = tuple[Any, np.ndarray, list["IntentKind"]]  # (classifier, example vectors, their intents)


def head_path(pairs: list[tuple[str, IntentKind]], regularisation: float, model: str) -> Path:
    """The cache file for a head trained on `pairs` with this regularisation and sentence model."""
    import sklearn

    key = json.dumps({"pairs": pairs, "c": regularisation, "model": model, "sklearn": sklearn.__version__})
    return cache_dir() / f"intent-head-{hashlib.sha256(key.encode()).hexdigest()[:16]}.joblib"


def trained_head(pairs: list[tuple[str, IntentKind]], regularisation: float, embedder: SentenceEmbedder) -> Head:
    """The head for these (phrasing, intent) pairs: from the cache, or trained and cached."""
    import io

    import joblib

    path = head_path(pairs, regularisation, embedder.model_id)
    if path.exists():
        try:
            head, vecs, kinds = joblib.load(path)
            return head, np.asarray(vecs, np.float32), list(kinds)
        except Exception as e:  # noqa: BLE001 (a cache: any damage means rebuild, said in the log)
            log.warning("%s: unreadable (%s); training the intent head again", path, e)
    from sklearn.linear_model import LogisticRegression

    vecs = embedder.encode([p for p, _ in pairs])
    kinds = [k for _, k in pairs]
    head = LogisticRegression(C=1.0 / regularisation, max_iter=5000).fit(vecs, kinds)
    buffer = io.BytesIO()
    joblib.dump((head, vecs, kinds), buffer)
    try:
        write_bytes_atomic(path, buffer.getvalue())
    except OSError as e:
        log.warning("%s: could not cache the intent head (%s); it is trained again next time", path, e)
    return head, vecs, kinds
