"""An in-memory MemoryService speaking the real contract over real gRPC, for narrative_svc's tests.

Implements the RPCs narrative_svc calls (RetrieveContext, RecordEvent, ListEvents, ListCharacters,
ListRelationships, LogModeration, ListModerationDecisions) with memory_svc's documented behaviour: NOT_FOUND for
an unknown campaign, idempotent RecordEvent, events newest first. Retrieval is a plain keyword overlap, enough
to check that narration uses what memory returns; memory_svc's own tests cover real retrieval.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field

import grpc

from dungeonmaster.v1 import common_pb2, memory_pb2, memory_pb2_grpc

_WORD = re.compile(r"[a-z]+")


@dataclass
class CampaignData:
    """What the fake stores for one campaign."""

    world_id: str
    lore: list[memory_pb2.ContextPiece] = field(default_factory=list)
    events: list[memory_pb2.Event] = field(default_factory=list)
    characters: list[memory_pb2.Character] = field(default_factory=list)
    relationships: list[memory_pb2.Relationship] = field(default_factory=list)


class FakeMemory(memory_pb2_grpc.MemoryServiceServicer):
    """The subset of MemoryService that narrative_svc uses."""

    def __init__(self) -> None:
        self.campaigns: dict[str, CampaignData] = {}
        self.moderation: list[memory_pb2.ModerationDecision] = []
        self.retrievals: list[memory_pb2.RetrieveContextRequest] = []
        self._ids = itertools.count(1)
        self._by_request: dict[tuple[str, str], memory_pb2.Event] = {}

    # --- test set-up ------------------------------------------------------------------------------------------
    def add_campaign(self, campaign_id: str, world_id: str = "ashen-reach") -> CampaignData:
        data = CampaignData(world_id)
        self.campaigns[campaign_id] = data
        return data

    def add_lore(self, campaign_id: str, title: str, text: str, pinned: bool = False) -> None:
        source = memory_pb2.CONTEXT_SOURCE_PINNED if pinned else memory_pb2.CONTEXT_SOURCE_LORE
        self.campaigns[campaign_id].lore.append(
            memory_pb2.ContextPiece(
                source=source,
                source_id=f"lore-{next(self._ids)}",
                citation=f"{title}.md",
                title=title,
                text=text,
            )
        )

    def add_npc(self, campaign_id: str, name: str) -> None:
        self.campaigns[campaign_id].characters.append(
            memory_pb2.Character(id=f"c{next(self._ids)}", campaign_id=campaign_id, name=name, is_npc=True)
        )

    def add_relationship(self, campaign_id: str, source: str, target: str, kind: str) -> None:
        self.campaigns[campaign_id].relationships.append(
            memory_pb2.Relationship(
                id=f"r{next(self._ids)}", campaign_id=campaign_id, source=source, target=target, kind=kind
            )
        )

    async def _campaign(self, campaign_id: str, context: grpc.aio.ServicerContext) -> CampaignData:
        data = self.campaigns.get(campaign_id)
        if data is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"campaign {campaign_id!r} not found")
        assert data is not None
        return data

    # --- RPCs -------------------------------------------------------------------------------------------------
    async def RetrieveContext(self, request, context):  # type: ignore[no-untyped-def]
        self.retrievals.append(request)
        if not request.query.strip():
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "query: must not be empty")
        data = await self._campaign(request.campaign_id, context) if request.campaign_id else CampaignData("")
        words = set(_WORD.findall(request.query.lower()))
        pinned = [p for p in data.lore if p.source == memory_pb2.CONTEXT_SOURCE_PINNED]
        hits = []
        for piece in data.lore:
            if piece.source == memory_pb2.CONTEXT_SOURCE_PINNED:
                continue
            overlap = len(words & set(_WORD.findall((piece.title + " " + piece.text).lower())))
            if overlap:
                hits.append(memory_pb2.ContextPiece(**{**_fields(piece), "score": float(overlap)}))
        hits.sort(key=lambda p: -p.score)
        recent = [
            memory_pb2.ContextPiece(
                source=memory_pb2.CONTEXT_SOURCE_RECENT_EVENT, source_id=e.id, title="event", text=e.content
            )
            for e in list(reversed(data.events))[: request.recent_events or 5]
            if e.audience != common_pb2.AUDIENCE_DM or request.audience == common_pb2.AUDIENCE_DM
        ]
        return memory_pb2.RetrieveContextResponse(
            pinned=pinned,
            lore=hits[: request.top_k or 8],
            recent_events=recent,
            token_budget=request.token_budget,
        )

    async def RecordEvent(self, request, context):  # type: ignore[no-untyped-def]
        data = await self._campaign(request.campaign_id, context)
        key = (request.campaign_id, request.request_id)
        if request.request_id and key in self._by_request:
            return memory_pb2.RecordEventResponse(event=self._by_request[key], duplicate=True)
        event = memory_pb2.Event()
        event.CopyFrom(request.event)
        event.id = f"e{next(self._ids)}"
        event.campaign_id = request.campaign_id
        event.request_id = request.request_id
        event.occur_time.GetCurrentTime()
        data.events.append(event)
        self._by_request[key] = event
        return memory_pb2.RecordEventResponse(event=event)

    async def ListEvents(self, request, context):  # type: ignore[no-untyped-def]
        data = await self._campaign(request.campaign_id, context)
        events = [
            e
            for e in reversed(data.events)
            if (not request.session_id or e.session_id == request.session_id)
            and (not request.kinds or e.kind in request.kinds)
        ]
        return memory_pb2.ListEventsResponse(events=events[: request.page_size or 100])

    async def ListCharacters(self, request, context):  # type: ignore[no-untyped-def]
        data = await self._campaign(request.campaign_id, context)
        chars = [c for c in data.characters if not request.HasField("is_npc") or c.is_npc == request.is_npc]
        return memory_pb2.ListCharactersResponse(characters=chars)

    async def ListRelationships(self, request, context):  # type: ignore[no-untyped-def]
        data = await self._campaign(request.campaign_id, context)
        return memory_pb2.ListRelationshipsResponse(relationships=data.relationships)

    async def LogModeration(self, request, context):  # type: ignore[no-untyped-def]
        decision = memory_pb2.ModerationDecision()
        decision.CopyFrom(request.decision)
        decision.id = f"m{next(self._ids)}"
        decision.create_time.GetCurrentTime()
        self.moderation.append(decision)
        return memory_pb2.LogModerationResponse(decision=decision)

    async def ListModerationDecisions(self, request, context):  # type: ignore[no-untyped-def]
        decisions = [
            d
            for d in reversed(self.moderation)
            if not request.campaign_id or d.campaign_id == request.campaign_id
        ]
        return memory_pb2.ListModerationDecisionsResponse(decisions=decisions)


def _fields(piece: memory_pb2.ContextPiece) -> dict[str, object]:
    return {f.name: getattr(piece, f.name) for f in piece.DESCRIPTOR.fields}
