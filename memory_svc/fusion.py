"""Reciprocal rank fusion of ranked id lists (dense hits from Milvus, keyword hits from SQL).

Each list contributes ``1 / (k + rank)`` (rank from 1) to an id's score, so an id ranked high by either side
comes first and one ranked by both comes before either; scores of different lists need no common scale.
"""

from __future__ import annotations

from collections.abc import Sequence

from memory_svc.vector_store import RRF_K, Hit


def rrf(rankings: Sequence[Sequence[int]], k: int = RRF_K) -> list[Hit]:
    """Fused hits over every id of every ranking, best first (ties by first appearance)."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, rid in enumerate(dict.fromkeys(ranking), start=1):
            scores[rid] = scores.get(rid, 0.0) + 1.0 / (k + rank)
    order = {rid: i for i, rid in enumerate(scores)}
    return [Hit(rid, sc) for rid, sc in sorted(scores.items(), key=lambda kv: (-kv[1], order[kv[0]]))]
