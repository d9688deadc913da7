"""``MemoryPort`` over gRPC: calls memory_svc through ``mesh.channels`` and maps protos to domain values.

This is an adapter, like the servicer: it is where grpc meets the domain. gRPC failures become ``mesh.errors``
(NOT_FOUND -> NotFound naming the resource, INVALID_ARGUMENT -> InvalidArgument naming the field, UNAVAILABLE
and others -> Unavailable), so the domain never sees a grpc exception. Reads are declared idempotent and
retried by the channel's service config; writes carry a request id and are idempotent in memory_svc.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Sequence
from typing import Any, TypeVar

import grpc

from dungeonmaster.v1 import common_pb2, memory_pb2, memory_pb2_grpc
from mesh.channels import Channels, memory_error
from mesh.moderation import Decision
from mesh.settings import Settings
from mesh.text import ContextItem
from narrative_svc.models import PRIORITY, EventRecord, RetrievedContext

T = TypeVar("T")
SERVICE = "dungeonmaster.v1.MemoryService"
IDEMPOTENT = tuple(
    f"{SERVICE}/{m}"
    for m in (
        "RetrieveContext",
        "ListEvents",
        "ListCharacters",
        "ListRelationships",
        "RecordEvent",
        "GetCampaign",
    )
)

_AUDIENCE = {"player": common_pb2.AUDIENCE_PLAYER, "dm": common_pb2.AUDIENCE_DM}
_AUDIENCE_NAME = {v: k for k, v in _AUDIENCE.items()}
_KINDS = {
    "player_action": memory_pb2.EVENT_KIND_PLAYER_ACTION,
    "dm_narration": memory_pb2.EVENT_KIND_DM_NARRATION,
    "decision": memory_pb2.EVENT_KIND_DECISION,
    "session_summary": memory_pb2.EVENT_KIND_SESSION_SUMMARY,
    "arc_summary": memory_pb2.EVENT_KIND_ARC_SUMMARY,
    "encounter": memory_pb2.EVENT_KIND_ENCOUNTER,
    "state_change": memory_pb2.EVENT_KIND_STATE_CHANGE,
    "note": memory_pb2.EVENT_KIND_NOTE,
}
_KIND_NAMES = {v: k for k, v in _KINDS.items()}
_SOURCES = {
    memory_pb2.CONTEXT_SOURCE_LORE: "lore",
    memory_pb2.CONTEXT_SOURCE_PINNED: "pinned",
    memory_pb2.CONTEXT_SOURCE_CAMPAIGN: "campaign",
    memory_pb2.CONTEXT_SOURCE_RECENT_EVENT: "recent_event",
    memory_pb2.CONTEXT_SOURCE_CHARACTER_STATE: "character_state",
}
SOURCE_ENUM = {v: k for k, v in _SOURCES.items()}


def audience_enum(name: str) -> int:
    """The proto enum of a domain audience name."""
    return _AUDIENCE.get(name, common_pb2.AUDIENCE_PLAYER)


def item_from_piece(piece: memory_pb2.ContextPiece) -> ContextItem:
    """A retrieved context piece as a domain item."""
    source = _SOURCES.get(piece.source, "lore")
    return ContextItem(
        text=piece.text,
        title=piece.title,
        source=source,
        source_id=piece.source_id,
        citation=piece.citation,
        score=piece.score,
        priority=PRIORITY.get(source, 5),
        audience=_AUDIENCE_NAME.get(piece.audience, "player"),
    )


def event_from_proto(event: memory_pb2.Event) -> EventRecord:
    """A stored event as a domain record."""
    try:
        metadata = json.loads(event.metadata_json) if event.metadata_json else {}
    except json.JSONDecodeError:
        metadata = {}
    return EventRecord(
        id=event.id,
        campaign_id=event.campaign_id,
        session_id=event.session_id,
        kind=_KIND_NAMES.get(event.kind, "note"),
        actor=event.actor,
        content=event.content,
        audience=_AUDIENCE_NAME.get(event.audience, "player"),
        metadata=metadata if isinstance(metadata, dict) else {},
        occur_time=event.occur_time.ToNanoseconds() / 1e9 if event.HasField("occur_time") else 0.0,
        request_id=event.request_id,
    )


def event_to_proto(event: EventRecord) -> memory_pb2.Event:
    """A domain record as the proto memory returns."""
    out = memory_pb2.Event(
        id=event.id,
        campaign_id=event.campaign_id,
        session_id=event.session_id,
        kind=_KINDS.get(event.kind, memory_pb2.EVENT_KIND_NOTE),
        actor=event.actor,
        content=event.content,
        metadata_json=json.dumps(event.metadata),
        audience=audience_enum(event.audience),  # type: ignore[arg-type]
        request_id=event.request_id,
    )
    if event.occur_time:
        out.occur_time.FromNanoseconds(int(event.occur_time * 1e9))
    return out


class GrpcMemory:
    """The memory service, reached through the mesh's shared channels."""

    def __init__(self, settings: Settings, channels: Channels | None = None) -> None:
        self.channels = channels or Channels(settings, idempotent=IDEMPOTENT)

    @property
    def stub(self) -> memory_pb2_grpc.MemoryServiceStub:
        return memory_pb2_grpc.MemoryServiceStub(self.channels.for_service("memory"))

    async def _call(self, call: Awaitable[T], resource: str, name: str, field: str) -> T:
        try:
            return await call
        except grpc.aio.AioRpcError as exc:
            raise memory_error(exc, resource, name, field) from exc

    async def retrieve_context(
        self,
        *,
        world_id: str,
        campaign_id: str,
        query: str,
        token_budget: int,
        audience: str,
        character_ids: Sequence[str] = (),
        recent_events: int = 5,
    ) -> RetrievedContext:
        request = memory_pb2.RetrieveContextRequest(
            world_id=world_id,
            campaign_id=campaign_id,
            query=query[:4000],
            token_budget=token_budget,
            audience=audience_enum(audience),  # type: ignore[arg-type]
            character_ids=list(character_ids),
            recent_events=recent_events,
        )
        reply = await self._call(self.stub.RetrieveContext(request), "campaign", campaign_id, "campaign_id")
        pieces = [*reply.pinned, *reply.character_states, *reply.lore, *reply.campaign, *reply.recent_events]
        return RetrievedContext(tuple(item_from_piece(p) for p in pieces), degraded=reply.degraded)

    async def record_event(
        self,
        *,
        campaign_id: str,
        session_id: str,
        kind: str,
        actor: str,
        content: str,
        audience: str,
        metadata: dict[str, Any],
        request_id: str,
    ) -> EventRecord:
        event = memory_pb2.Event(
            campaign_id=campaign_id,
            session_id=session_id,
            kind=_KINDS[kind],
            actor=actor,
            content=content,
            metadata_json=json.dumps(metadata),
            audience=audience_enum(audience),  # type: ignore[arg-type]
        )
        request = memory_pb2.RecordEventRequest(
            campaign_id=campaign_id, event=event, request_id=request_id[:128]
        )
        reply = await self._call(self.stub.RecordEvent(request), "campaign", campaign_id, "campaign_id")
        return event_from_proto(reply.event)

    async def list_events(
        self, *, campaign_id: str, session_id: str = "", kinds: Sequence[str] = (), limit: int = 1000
    ) -> list[EventRecord]:
        events: list[EventRecord] = []
        token = ""
        while len(events) < limit:
            request = memory_pb2.ListEventsRequest(
                campaign_id=campaign_id,
                session_id=session_id,
                kinds=[_KINDS[k] for k in kinds],
                page_size=min(1000, limit - len(events)),
                page_token=token,
                audience=common_pb2.AUDIENCE_DM,
            )
            reply = await self._call(self.stub.ListEvents(request), "campaign", campaign_id, "campaign_id")
            events.extend(event_from_proto(e) for e in reply.events)
            token = reply.next_page_token
            if not token:
                break
        events.reverse()  # memory lists newest first; summaries read oldest first
        return events

    async def list_npcs(self, campaign_id: str) -> list[str]:
        request = memory_pb2.ListCharactersRequest(
            campaign_id=campaign_id, is_npc=True, page_size=1000, audience=common_pb2.AUDIENCE_DM
        )
        reply = await self._call(self.stub.ListCharacters(request), "campaign", campaign_id, "campaign_id")
        return [c.name for c in reply.characters if c.name]

    async def list_factions(self, campaign_id: str) -> list[str]:
        request = memory_pb2.ListRelationshipsRequest(campaign_id=campaign_id, page_size=1000)
        reply = await self._call(self.stub.ListRelationships(request), "campaign", campaign_id, "campaign_id")
        names: dict[str, None] = {}
        for rel in reply.relationships:
            for entity in (rel.source, rel.target):
                kind, _, name = entity.partition(":")
                if kind == "faction" and name:
                    names[name] = None
        return list(names)

    async def log_moderation(self, decision: Decision, campaign_id: str) -> None:
        request = memory_pb2.LogModerationRequest(
            decision=memory_pb2.ModerationDecision(
                campaign_id=campaign_id,
                direction=decision.direction,
                allowed=decision.allowed,
                categories=list(decision.categories),
                backend=decision.backend,
                reason=decision.reason,
                text_sha256=decision.text_sha256,
            )
        )
        await self._call(self.stub.LogModeration(request), "campaign", campaign_id, "campaign_id")

    async def close(self) -> None:
        await self.channels.close()
