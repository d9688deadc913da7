"""Pack retrieved pieces into a token budget by priority, without duplicates.

Priority, highest first: pinned world facts, the current states of the characters involved, the most recent
events, then search hits (lore and campaign together, best fused score first). A piece is counted as its
title plus its text; a piece that does not fit is skipped and smaller later pieces may still fit. A text
already included (same content hash) is not included again, so the higher-priority copy wins.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from memory_svc.kinds import ContextSource
from memory_svc.tokens import TokenCounter


@dataclass
class Piece:
    """One piece of context and what it costs."""

    source: ContextSource
    source_id: str
    citation: str
    title: str
    text: str
    score: float
    audience: int
    dedupe_key: str
    tokens: int = 0

    def rendered(self) -> str:
        """What is counted (and what a prompt would contain)."""
        return f"{self.title}\n{self.text}" if self.title else self.text


@dataclass(frozen=True, slots=True)
class Packed:
    """Pieces kept, in priority order, and the tokens they use."""

    pieces: list[Piece]
    tokens_used: int


def pack(groups: Sequence[Sequence[Piece]], budget: int, counter: TokenCounter) -> Packed:
    """Keep pieces group by group (each group already in its own order) while they fit in ``budget``."""
    ordered = [p for group in groups for p in group]
    counts = counter.count_many([p.rendered() for p in ordered]) if ordered else []
    kept: list[Piece] = []
    seen: set[str] = set()
    used = 0
    for piece, tokens in zip(ordered, counts, strict=True):
        if piece.dedupe_key in seen:
            continue
        if used + tokens > budget:
            continue
        piece.tokens = tokens
        kept.append(piece)
        seen.add(piece.dedupe_key)
        used += tokens
    return Packed(kept, used)
