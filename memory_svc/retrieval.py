"""Context retrieval for RAG: hybrid search in Milvus, joined back to SQL, packed into a token budget.

The query is embedded once. Milvus returns the dense hits of the world's lore and the campaign's events,
filtered to the caller's audience, with pinned entries excluded so they never take a ``top_k`` place; SQL
full-text search (SQLite FTS5 or SQL Server ``CONTAINSTABLE``) returns the keyword hits, and the two rankings
are fused by reciprocal rank. Pinned entries join the same fusion (their vectors come from the SQL embedding
cache), so they are packed most relevant first. Hits are joined back to SQL, which drops anything superseded,
deleted or not visible to the caller (the index may lag). The characters' current states and the recent events
come straight from SQL. When Milvus cannot be searched, the keyword side stands alone and the result says
``degraded``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy.orm import Session

from memory_svc import keyword_search, refs
from memory_svc.campaign_log import recent_events, visible_events
from memory_svc.characters import StateView, current_states
from memory_svc.db import Database
from memory_svc.embeddings import Embedder
from memory_svc.fusion import rrf
from memory_svc.kinds import Audience, ContextSource, EventKind, VectorScope
from memory_svc.lasting import latest_summaries, pinned_facts
from memory_svc.lore_entries import live_entries, pinned_entries
from memory_svc.models import Campaign, Character, Event, LoreEntry
from memory_svc.outbox import lore_embedding_text
from memory_svc.packing import Piece, pack
from memory_svc.tokens import TokenCounter
from memory_svc.vector_store import Hit, VectorStore, VectorStoreUnavailable
from mesh.errors import InvalidArgument, NotFound, Violations

MAX_QUERY_CHARS = 4000
DEFAULT_BUDGET = 2048
MAX_BUDGET = 32768
DEFAULT_TOP_K = 8
MAX_TOP_K = 100
DEFAULT_RECENT = 5
MAX_RECENT = 50


@dataclass(frozen=True, slots=True)
class RetrievalRequest:
    """What to retrieve; zero values mean the documented defaults."""

    query: str
    world_id: str = ""
    campaign_id: str = ""
    token_budget: int = 0
    top_k: int = 0
    audience: Audience = Audience.PLAYER
    character_ids: tuple[str, ...] = ()
    recent_events: int = 0
    viewer: str | None = None
    """The caller's key id, whose whispers it may see; None: every whisper (the DM)."""

    def checked(self) -> RetrievalRequest:
        """The request with defaults applied; InvalidArgument names every bad field."""
        v = Violations()
        if not self.query.strip():
            v.add("query", "must not be empty")
        elif len(self.query) > MAX_QUERY_CHARS:
            v.add("query", f"must be at most {MAX_QUERY_CHARS} characters, got {len(self.query)}")
        v.check(
            0 <= self.token_budget <= MAX_BUDGET,
            "token_budget",
            f"must be between 1 and {MAX_BUDGET} (0 = {DEFAULT_BUDGET}), got {self.token_budget}",
        )
        v.check(0 <= self.top_k <= MAX_TOP_K, "top_k", f"must be between 1 and {MAX_TOP_K}, got {self.top_k}")
        v.check(
            0 <= self.recent_events <= MAX_RECENT,
            "recent_events",
            f"must be between 0 and {MAX_RECENT}, got {self.recent_events}",
        )
        v.check(
            bool(self.world_id.strip() or self.campaign_id.strip()),
            "world_id",
            "world_id or campaign_id is required",
        )
        v.check(
            not self.character_ids or bool(self.campaign_id.strip()),
            "character_ids",
            "need a campaign_id",
        )
        for i, cid in enumerate(self.character_ids):
            text = cid.strip()
            v.check(
                text.isascii() and text.isdigit() and len(text) <= 18,
                f"character_ids[{i}]",
                "must be a numeric id",
            )
        v.raise_if_any()
        return RetrievalRequest(
            query=self.query,
            world_id=self.world_id.strip(),
            campaign_id=self.campaign_id.strip(),
            token_budget=self.token_budget or DEFAULT_BUDGET,
            top_k=self.top_k or DEFAULT_TOP_K,
            audience=self.audience,
            character_ids=tuple(dict.fromkeys(c.strip() for c in self.character_ids)),
            recent_events=self.recent_events or DEFAULT_RECENT,
            viewer=self.viewer,
        )


@dataclass
class RetrievedContext:
    """The packed context, grouped as the contract returns it."""

    pinned: list[Piece] = field(default_factory=list)
    lore: list[Piece] = field(default_factory=list)
    campaign: list[Piece] = field(default_factory=list)
    character_states: list[Piece] = field(default_factory=list)
    recent_events: list[Piece] = field(default_factory=list)
    tokens_used: int = 0
    token_budget: int = 0
    tokenizer: str = ""
    degraded: bool = False
    #: Seconds spent per stage (embed, vector, sql, pack), for benchmarks and logs.
    timings: dict[str, float] = field(default_factory=dict)


def lore_piece(entry: LoreEntry, source: ContextSource, score: float) -> Piece:
    """A lore entry as a context piece, cited by file, heading path and version."""
    return Piece(
        source=source,
        source_id=str(entry.id),
        citation=f"{entry.source_path or entry.key} > {entry.title} (v{entry.version})",
        title=entry.title,
        text=entry.text.content,
        score=score,
        audience=entry.audience,
        dedupe_key=f"text:{entry.text.sha256}",
    )


def event_piece(event: Event, source: ContextSource, score: float) -> Piece:
    """A campaign event as a context piece."""
    known = {int(k) for k in EventKind}
    kind = EventKind(event.kind).name.lower().replace("_", " ") if event.kind in known else "event"
    title = f"{kind} ({event.actor})" if event.actor else kind
    return Piece(
        source=source,
        source_id=str(event.id),
        citation=f"event {event.id} at {event.occurred_at:%Y-%m-%d %H:%M:%S}",
        title=title,
        text=event.content,
        score=score,
        audience=event.audience,
        dedupe_key=f"event:{event.content_sha256}",
    )


def describe_state(character: Character, state: StateView | None) -> str:
    """A character's current state as one line of prose-like facts."""
    role = "NPC" if character.is_npc else "PC"
    who = " ".join(p for p in (character.ancestry, character.character_class) if p)
    level = f" level {character.level}" if character.level else ""
    head = f"{character.name} ({role}{', ' + who if who else ''}{level})"
    if state is None:
        return f"{head}: no recorded state."
    parts = [f"HP {state.hit_points}/{state.max_hit_points}"]
    if state.temporary_hit_points:
        parts[0] += f" (+{state.temporary_hit_points} temporary)"
    parts.append("conditions: " + (", ".join(state.conditions) if state.conditions else "none"))
    if state.inventory:
        parts.append("carrying: " + ", ".join(state.inventory))
    if state.location_id is not None:
        parts.append(f"location id {state.location_id}")
    if state.notes:
        parts.append(state.notes)
    return f"{head}: " + "; ".join(parts) + "."


class Retriever:
    """Runs RetrieveContext against one database, embedder and vector store."""

    def __init__(self, db: Database, embedder: Embedder, vectors: VectorStore, counter: TokenCounter) -> None:
        self.db = db
        self.embedder = embedder
        self.vectors = vectors
        self.counter = counter

    def retrieve(self, request: RetrievalRequest) -> RetrievedContext:
        """Retrieve and pack the context for one query."""
        req = request.checked()
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        with self.db.read() as session:
            world_id, campaign = self._scope(session, req)
            pinned = pinned_entries(session, world_id, req.audience)
            pinned_texts = [lore_embedding_text(e.title, e.text.content) for e in pinned]
            pinned_ids = [e.id for e in pinned]
        t1 = time.perf_counter()
        vector = self.embedder.embed_query(req.query)
        # Pinned vectors come from the SQL embedding cache: a pinned entry competes on relevance like a hit.
        pinned_cos = (
            self.embedder.embed_documents(self.db, pinned_texts) @ vector if pinned_texts else np.zeros(0)
        )
        t2 = time.perf_counter()
        degraded = False
        dense_lore: list[Hit] = []
        dense_events: list[Hit] = []
        try:
            dense_lore = self.vectors.dense_search(
                VectorScope.LORE, world_id, vector[None, :], req.top_k, req.audience, exclude_ids=pinned_ids
            )[0]
            if campaign is not None:
                dense_events = self.vectors.dense_search(
                    VectorScope.EVENTS, campaign.id, vector[None, :], req.top_k, req.audience
                )[0]
        except VectorStoreUnavailable:
            degraded = True
        t3 = time.perf_counter()
        with self.db.read() as session:
            keyword_lore = keyword_search.lore_hits(
                session, self.db.dialect, world_id, req.query, req.top_k + len(pinned_ids), req.audience
            )
            keyword_events: list[Hit] = []
            if campaign is not None:
                keyword_events = keyword_search.event_hits(
                    session, self.db.dialect, campaign.id, req.query, req.top_k, req.audience
                )
        t4 = time.perf_counter()
        dense_ranked = sorted(
            [*(Hit(i, float(c)) for i, c in zip(pinned_ids, pinned_cos, strict=True)), *dense_lore],
            key=lambda h: -h.score,
        )
        fused_lore = rrf([[h.id for h in dense_ranked], [h.id for h in keyword_lore]])
        pinned_set = set(pinned_ids)
        pinned_scores = {h.id: h.score for h in fused_lore if h.id in pinned_set}
        lore_hits = [h for h in fused_lore if h.id not in pinned_set][: req.top_k]
        event_hits = rrf([[h.id for h in dense_events], [h.id for h in keyword_events]])[: req.top_k]
        with self.db.read() as session:
            groups = self._pieces(session, req, world_id, campaign, pinned_scores, lore_hits, event_hits)
        t5 = time.perf_counter()
        packed = pack(groups, req.token_budget, self.counter)
        t6 = time.perf_counter()
        out = RetrievedContext(
            tokens_used=packed.tokens_used,
            token_budget=req.token_budget,
            tokenizer=self.counter.name,
            degraded=degraded,
        )
        buckets = {
            ContextSource.PINNED: out.pinned,
            ContextSource.LORE: out.lore,
            ContextSource.CAMPAIGN: out.campaign,
            ContextSource.CHARACTER_STATE: out.character_states,
            ContextSource.RECENT_EVENT: out.recent_events,
        }
        for piece in packed.pieces:
            buckets[piece.source].append(piece)
        out.lore.sort(key=lambda p: -p.score)
        out.campaign.sort(key=lambda p: -p.score)
        timings.update(
            sql_scope=t1 - t0,
            embed=t2 - t1,
            vector=t3 - t2,
            sql_keyword=t4 - t3,
            sql_join=t5 - t4,
            pack=t6 - t5,
        )
        out.timings = timings
        return out

    def _scope(self, session: Session, req: RetrievalRequest) -> tuple[int, Campaign | None]:
        campaign = refs.campaign(session, req.campaign_id) if req.campaign_id else None
        if req.world_id:
            world = refs.world(session, req.world_id)
            if campaign is not None and campaign.world_id != world.id:
                raise InvalidArgument([("world_id", "the campaign is played in another world")])
            return world.id, campaign
        assert campaign is not None
        return campaign.world_id, campaign

    def _pieces(
        self,
        session: Session,
        req: RetrievalRequest,
        world_id: int,
        campaign: Campaign | None,
        pinned_scores: dict[int, float],
        lore_hits: Sequence[Hit],
        event_hits: Sequence[Hit],
    ) -> list[list[Piece]]:
        # Most relevant pinned entries first: packing gives them the pinned share in this order.
        pinned = sorted(
            (
                lore_piece(e, ContextSource.PINNED, pinned_scores.get(e.id, 0.0))
                for e in pinned_entries(session, world_id, req.audience)
            ),
            key=lambda p: -p.score,
        )
        summaries: list[Piece] = []
        if campaign is not None:
            # The campaign's pinned facts come first of all: never dropped, however long the log grows.
            facts = [
                event_piece(e, ContextSource.PINNED, 0.0)
                for e in pinned_facts(session, campaign.id, req.audience)
            ]
            pinned = [*facts, *pinned]
            summaries = [
                event_piece(e, ContextSource.CAMPAIGN, 0.0)
                for e in latest_summaries(session, campaign.id, req.audience)
            ]
        states: list[Piece] = []
        recent: list[Piece] = []
        campaign_hits: list[Piece] = []
        if campaign is not None:
            ids = [int(c) for c in req.character_ids]
            found = current_states(session, ids)
            for cid in ids:
                if cid not in found or found[cid][0].campaign_id != campaign.id:
                    raise NotFound("character", f"{cid} in campaign {campaign.id}")
                character, state = found[cid]
                states.append(
                    Piece(
                        source=ContextSource.CHARACTER_STATE,
                        source_id=str(cid),
                        citation=f"character {cid} state"
                        + (f" since {state.valid_from:%Y-%m-%d %H:%M:%S}" if state else ""),
                        title=character.name,
                        text=describe_state(character, state),
                        score=0.0,
                        audience=int(Audience.PLAYER),
                        dedupe_key=f"character:{cid}",
                    )
                )
            recent = [
                event_piece(e, ContextSource.RECENT_EVENT, 0.0)
                for e in recent_events(session, campaign.id, req.audience, req.recent_events, req.viewer)
            ]
            events = visible_events(
                session, campaign.id, [h.id for h in event_hits], req.audience, req.viewer
            )
            campaign_hits = [
                event_piece(events[h.id], ContextSource.CAMPAIGN, h.score)
                for h in event_hits
                if h.id in events
            ]
        entries = live_entries(session, world_id, [h.id for h in lore_hits], req.audience)
        lore = [lore_piece(entries[h.id], ContextSource.LORE, h.score) for h in lore_hits if h.id in entries]
        hits = sorted([*lore, *campaign_hits], key=lambda p: -p.score)
        return [pinned, states, summaries, recent, hits]
