"""Pack retrieved pieces into a token budget by priority, without duplicates.

Priority, highest first: pinned world facts, the current states of the characters involved, the most recent
events, then search hits (lore and campaign together, best fused score first). Pinned facts come most relevant
to the query first and may take only a quarter of the budget before everything else has had its turn (a
campaign's own pinned facts go in before that share, never dropped while the budget holds them), so a
world that pins long documents cannot crowd out what the query asks for or what just happened in the campaign;
pinned facts that did not fit get what is left after the search hits. A piece is counted as its title plus its
text; a piece that does not fit is skipped and smaller later pieces may still fit. A text already included
(same content hash) is not included again, so the higher-priority copy wins.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from memory_svc.kinds import ContextSource
from memory_svc.tokens import TokenCounter

#: Share of the budget pinned facts may use before the other groups have had their turn (at the default turn
#: budget of 1,024 tokens, one or two of the most relevant pinned chunks; measured on tests/memory/questions.yaml).
PINNED_SHARE = 0.25


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
    """Keep pieces while they fit in ``budget``; groups are pinned facts, campaign state groups..., search hits."""
    ordered = [p for group in groups for p in group]
    counts = counter.count_many([p.rendered() for p in ordered]) if ordered else []
    for piece, tokens in zip(ordered, counts, strict=True):
        piece.tokens = tokens
    kept: list[Piece] = []
    seen: set[str] = set()
    used = 0

    def offer(piece: Piece, limit: int) -> bool:
        nonlocal used
        if piece.dedupe_key in seen or used + piece.tokens > limit:
            return False
        kept.append(piece)
        seen.add(piece.dedupe_key)
        used += piece.tokens
        return True

    pinned = list(groups[0]) if groups else []
    state = [p for group in groups[1:-1] for p in group]
    hits = list(groups[-1]) if len(groups) > 1 else []
    # A campaign's pinned facts (pinned events) are never dropped for the share: they go in first, whole budget.
    facts = [p for p in pinned if p.dedupe_key.startswith("event:")]
    for piece in facts:
        offer(piece, budget)
    world_pinned = [p for p in pinned if not p.dedupe_key.startswith("event:")]
    deferred = [p for p in world_pinned if not offer(p, int(budget * PINNED_SHARE))]
    for piece in state:
        offer(piece, budget)
    for piece in [*hits, *deferred]:
        offer(piece, budget)
    order = {id(p): i for i, p in enumerate(ordered)}
    kept.sort(key=lambda p: order[id(p)])
    return Packed(kept, used)
