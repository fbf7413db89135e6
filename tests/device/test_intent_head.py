"""The intents' head is trained once per set of phrasings and cached; a damaged cache is rebuilt."""

from __future__ import annotations

import numpy as np

from core.paths import cache_dir
from device.speech.intent_head import trained_head

PAIRS = [("where is my thing", "locate"), ("where did i put my thing", "locate"),
         ("this is my thing", "enroll"), ("remember this thing", "enroll")]


class CountingEmbedder:
    """Bag of letters, unit-norm: separable enough for four phrasings; counts what it embeds."""

    model_id = "letters"

    def __init__(self) -> None:
        self.embedded = 0

    def encode(self, texts: list[str]) -> np.ndarray:
        self.embedded += len(texts)
        v = np.array([[t.count(c) for c in "abcdefghijklmnopqrstuvwxyz"] for t in texts], np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_trained_once_then_loaded_and_rebuilt_when_damaged(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("AMI_CACHE", str(tmp_path / "cache"))
    emb = CountingEmbedder()
    head, vecs, kinds = trained_head(PAIRS, 0.01, emb)  # type: ignore[arg-type]
    assert emb.embedded == 4 and kinds == ["locate", "locate", "enroll", "enroll"]
    files = list(cache_dir().glob("intent-head-*.joblib"))
    assert len(files) == 1
    again, vecs2, _ = trained_head(PAIRS, 0.01, emb)  # type: ignore[arg-type]
    assert emb.embedded == 4 and np.array_equal(vecs, vecs2)  # from the cache: nothing embedded
    assert list(again.predict(vecs)) == list(head.predict(vecs))
    trained_head(PAIRS[:3] + [("keep this thing", "enroll")], 0.01, emb)  # type: ignore[arg-type]
    assert emb.embedded == 8 and len(list(cache_dir().glob("intent-head-*.joblib"))) == 2  # other phrasings
    files[0].write_bytes(b"not a head")
    trained_head(PAIRS, 0.01, emb)  # type: ignore[arg-type]
    assert emb.embedded == 12  # rebuilt
