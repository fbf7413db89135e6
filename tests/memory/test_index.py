"""The patch index's range search and its k-NN fallback (memory/index.py)."""

from __future__ import annotations

import faiss
import numpy as np

from memory.index import range_search, range_search_by_knn

DP = 16  # patch dims


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_knn_fallback_agrees_with_range_search() -> None:
    """The k-NN fallback (for index types without range_search) finds exactly what range_search does,
    including when k must double past its first guess."""
    rng = np.random.default_rng(1)
    index = faiss.IndexIDMap2(faiss.IndexFlatIP(DP))
    vectors = unit(rng.standard_normal((500, DP)))
    index.add_with_ids(vectors, np.arange(500, dtype=np.int64) * 256 + 7)
    queries = unit(rng.standard_normal((4, DP)))
    for min_score, at_least in ((-0.2, 4 * 64), (0.3, 20), (0.7, 1)):  # -0.2: k doubles to 512
        ids, scores = range_search(index, queries, min_score)
        knn_ids, knn_scores = range_search_by_knn(index, queries, min_score)
        assert len(ids) >= at_least and (scores >= min_score).all()
        assert sorted(ids.tolist()) == sorted(knn_ids.tolist())
        np.testing.assert_allclose(np.sort(scores), np.sort(knn_scores), atol=1e-6)
