"""The MemoryService servicer: maps protos to domain calls and back; domain work runs off the event loop.

Every handler converts its request into domain values, runs the (blocking: SQL, embeddings, Milvus) domain
call in a worker thread, and converts the result. Domain errors become status codes in the mesh interceptor.
The caller's audience is the request's, capped at PLAYER when the gateway says the caller is a player.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import grpc
from google.protobuf import json_format

from dungeonmaster.v1 import memory_pb2, memory_pb2_grpc
from memory_svc import (
    assets,
    campaign_log,
    catalog,
    characters,
    ingest,
    lasting,
    lore_entries,
    reindex,
    seats,
)
from memory_svc.columns import parse_json_object
from memory_svc.convert import (
    asset_pb,
    campaign_pb,
    character_pb,
    decision_pb,
    entry_pb,
    event_pb,
    from_ts,
    location_pb,
    piece_pb,
    relationship_pb,
    session_pb,
    state_input,
    state_pb,
    world_pb,
)
from memory_svc.kinds import Audience
from memory_svc.live import LiveHub
from memory_svc.memory import Memory
from memory_svc.models import (
    Event,
)
from memory_svc.retrieval import RetrievalRequest
from memory_svc.table_service import TableRpcs
from mesh import context
from mesh.errors import InvalidArgument, PermissionDenied
from mesh.health import Readiness
from mesh.server import ServiceSpec
from mesh.settings import Settings

SERVICE_NAME = memory_pb2.DESCRIPTOR.services_by_name["MemoryService"].full_name
log = logging.getLogger(__name__)
R = TypeVar("R")


async def off_loop(fn: Callable[..., R], *args: Any, **kwargs: Any) -> R:
    """Run blocking domain work in a thread so the event loop keeps serving."""
    return await asyncio.to_thread(fn, *args, **kwargs)


def audience(requested: int) -> Audience:
    """The audience this call gets (a player role caps it whatever the request says)."""
    return Audience.of_caller(int(requested), context.identity().role)


def _dm_only(method: str) -> None:
    """Pinning shapes every later narration: a player identity may not do it."""
    if context.identity().role == "player":
        raise PermissionDenied(f"{method} is for the DM")


def viewer(requested: int) -> str | None:
    """The key whose whispers this call may see (None: all of them, for the DM audience)."""
    return seats.viewer_of(audience(requested), context.identity().key_id)


class MemoryServicer(TableRpcs, memory_pb2_grpc.MemoryServiceServicer):
    """gRPC adapter over ``Memory``."""

    def __init__(self, memory: Memory) -> None:
        self.memory = memory
        self.db = memory.db
        self.hub = LiveHub()

    def event_message(self, event: Event) -> memory_pb2.Event:
        return event_pb(event)

    # worlds and campaigns

    async def CreateWorld(
        self, request: memory_pb2.CreateWorldRequest, ctx: Any
    ) -> memory_pb2.CreateWorldResponse:
        world, _ = await off_loop(
            catalog.create_world, self.db, request.slug, request.name, request.description
        )
        return memory_pb2.CreateWorldResponse(world=world_pb(world))

    async def GetWorld(self, request: memory_pb2.GetWorldRequest, ctx: Any) -> memory_pb2.GetWorldResponse:
        return memory_pb2.GetWorldResponse(
            world=world_pb(await off_loop(catalog.get_world, self.db, request.world_id))
        )

    async def ListWorlds(
        self, request: memory_pb2.ListWorldsRequest, ctx: Any
    ) -> memory_pb2.ListWorldsResponse:
        page = await off_loop(catalog.list_worlds, self.db, request.page_size, request.page_token)
        return memory_pb2.ListWorldsResponse(
            worlds=[world_pb(w) for w in page.items], next_page_token=page.next_token
        )

    async def CreateCampaign(
        self, request: memory_pb2.CreateCampaignRequest, ctx: Any
    ) -> memory_pb2.CreateCampaignResponse:
        c = await off_loop(
            catalog.create_campaign, self.db, request.world_id, request.name, request.description
        )
        return memory_pb2.CreateCampaignResponse(campaign=campaign_pb(c))

    async def GetCampaign(
        self, request: memory_pb2.GetCampaignRequest, ctx: Any
    ) -> memory_pb2.GetCampaignResponse:
        c = await off_loop(catalog.get_campaign, self.db, request.campaign_id)
        return memory_pb2.GetCampaignResponse(campaign=campaign_pb(c))

    async def ListCampaigns(
        self, request: memory_pb2.ListCampaignsRequest, ctx: Any
    ) -> memory_pb2.ListCampaignsResponse:
        page = await off_loop(
            catalog.list_campaigns, self.db, request.world_id, request.page_size, request.page_token
        )
        return memory_pb2.ListCampaignsResponse(
            campaigns=[campaign_pb(c) for c in page.items], next_page_token=page.next_token
        )

    # sessions

    async def CreateSession(
        self, request: memory_pb2.CreateSessionRequest, ctx: Any
    ) -> memory_pb2.CreateSessionResponse:
        s = await off_loop(catalog.create_session, self.db, request.campaign_id, request.title)
        return memory_pb2.CreateSessionResponse(session=session_pb(s))

    async def GetSession(
        self, request: memory_pb2.GetSessionRequest, ctx: Any
    ) -> memory_pb2.GetSessionResponse:
        return memory_pb2.GetSessionResponse(
            session=session_pb(await off_loop(catalog.get_session, self.db, request.session_id))
        )

    async def ListSessions(
        self, request: memory_pb2.ListSessionsRequest, ctx: Any
    ) -> memory_pb2.ListSessionsResponse:
        page = await off_loop(
            catalog.list_sessions, self.db, request.campaign_id, request.page_size, request.page_token
        )
        return memory_pb2.ListSessionsResponse(
            sessions=[session_pb(s) for s in page.items], next_page_token=page.next_token
        )

    async def UpdateSession(
        self, request: memory_pb2.UpdateSessionRequest, ctx: Any
    ) -> memory_pb2.UpdateSessionResponse:
        s = await off_loop(catalog.update_session, self.db, request.session_id, request.title, request.end)
        return memory_pb2.UpdateSessionResponse(session=session_pb(s))

    # characters

    async def CreateCharacter(
        self, request: memory_pb2.CreateCharacterRequest, ctx: Any
    ) -> memory_pb2.CreateCharacterResponse:
        c = request.character
        data = characters.CharacterInput(
            name=c.name,
            is_npc=c.is_npc,
            ancestry=c.ancestry,
            character_class=c.character_class,
            level=c.level,
            description=c.description,
            secrets=tuple(c.secrets),
            stat_block=(
                json_format.MessageToDict(c.stat_block, preserving_proto_field_name=True)
                if c.HasField("stat_block")
                else None
            ),
            tags=tuple(c.tags),
            owner=c.owner,
            sheet_json=c.sheet_json,
        )
        initial = state_input(request.initial_state) if request.HasField("initial_state") else None
        created = await off_loop(characters.create_character, self.db, request.campaign_id, data, initial)
        return memory_pb2.CreateCharacterResponse(character=character_pb(created, Audience.DM))

    async def GetCharacter(
        self, request: memory_pb2.GetCharacterRequest, ctx: Any
    ) -> memory_pb2.GetCharacterResponse:
        c = await off_loop(characters.get_character, self.db, request.character_id, request.campaign_id)
        return memory_pb2.GetCharacterResponse(character=character_pb(c, audience(request.audience)))

    async def ListCharacters(
        self, request: memory_pb2.ListCharactersRequest, ctx: Any
    ) -> memory_pb2.ListCharactersResponse:
        is_npc = request.is_npc if request.HasField("is_npc") else None
        page = await off_loop(
            characters.list_characters,
            self.db,
            request.campaign_id,
            is_npc,
            request.page_size,
            request.page_token,
        )
        who = audience(request.audience)
        return memory_pb2.ListCharactersResponse(
            characters=[character_pb(c, who) for c in page.items], next_page_token=page.next_token
        )

    async def UpdateCharacterState(
        self, request: memory_pb2.UpdateCharacterStateRequest, ctx: Any
    ) -> memory_pb2.UpdateCharacterStateResponse:
        state, _ = await off_loop(
            characters.update_state,
            self.db,
            request.character_id,
            state_input(request.state),
            request.request_id,
            request.campaign_id,
        )
        return memory_pb2.UpdateCharacterStateResponse(state=state_pb(state))

    async def GetCharacterState(
        self, request: memory_pb2.GetCharacterStateRequest, ctx: Any
    ) -> memory_pb2.GetCharacterStateResponse:
        if request.HasField("as_of"):
            state = await off_loop(
                characters.state_as_of,
                self.db,
                request.character_id,
                from_ts(request.as_of),
                request.campaign_id,
            )
        else:
            state = await off_loop(
                characters.current_state, self.db, request.character_id, request.campaign_id
            )
        return memory_pb2.GetCharacterStateResponse(state=state_pb(state))

    # locations

    async def CreateLocation(
        self, request: memory_pb2.CreateLocationRequest, ctx: Any
    ) -> memory_pb2.CreateLocationResponse:
        loc = request.location
        created = await off_loop(
            catalog.create_location,
            self.db,
            request.world_id,
            name=loc.name,
            kind=loc.kind,
            description=loc.description,
            terrains=list(loc.terrains),
            parent_ref=loc.parent_id,
        )
        return memory_pb2.CreateLocationResponse(location=location_pb(created))

    async def ListLocations(
        self, request: memory_pb2.ListLocationsRequest, ctx: Any
    ) -> memory_pb2.ListLocationsResponse:
        page = await off_loop(
            catalog.list_locations,
            self.db,
            request.world_id,
            request.parent_id,
            request.page_size,
            request.page_token,
        )
        return memory_pb2.ListLocationsResponse(
            locations=[location_pb(loc) for loc in page.items], next_page_token=page.next_token
        )

    # lore

    async def CreateLoreEntry(
        self, request: memory_pb2.CreateLoreEntryRequest, ctx: Any
    ) -> memory_pb2.CreateLoreEntryResponse:
        e = request.entry
        fields = lore_entries.EntryFields(
            title=e.title,
            content=e.content,
            category=e.category,
            keywords=tuple(e.keywords),
            metadata=parse_json_object(e.metadata_json, "entry.metadata_json"),
            audience=int(e.audience),
            pinned=e.pinned,
            source_path=e.source_path,
        )
        created = await off_loop(lore_entries.create_entry, self.db, request.world_id, e.key, fields)
        self.memory.worker.notify()
        return memory_pb2.CreateLoreEntryResponse(entry=entry_pb(created))

    async def GetLoreEntry(
        self, request: memory_pb2.GetLoreEntryRequest, ctx: Any
    ) -> memory_pb2.GetLoreEntryResponse:
        who = audience(request.audience)
        entry = await off_loop(
            lore_entries.get_entry, self.db, request.entry_id, request.world_id, request.version, who
        )
        return memory_pb2.GetLoreEntryResponse(entry=entry_pb(entry, who))

    async def ListLoreEntries(
        self, request: memory_pb2.ListLoreEntriesRequest, ctx: Any
    ) -> memory_pb2.ListLoreEntriesResponse:
        who = audience(request.audience)
        page = await off_loop(
            lore_entries.list_entries,
            self.db,
            request.world_id,
            request.category,
            who,
            request.page_size,
            request.page_token,
        )
        return memory_pb2.ListLoreEntriesResponse(
            entries=[entry_pb(e, who) for e in page.items], next_page_token=page.next_token
        )

    async def UpdateLoreEntry(
        self, request: memory_pb2.UpdateLoreEntryRequest, ctx: Any
    ) -> memory_pb2.UpdateLoreEntryResponse:
        entry, new_version = await off_loop(
            lore_entries.update_entry,
            self.db,
            request.entry_id,
            request.world_id,
            request.content,
            request.title,
            list(request.keywords),
        )
        self.memory.worker.notify()
        return memory_pb2.UpdateLoreEntryResponse(entry=entry_pb(entry), new_version=new_version)

    async def DeleteLoreEntry(
        self, request: memory_pb2.DeleteLoreEntryRequest, ctx: Any
    ) -> memory_pb2.DeleteLoreEntryResponse:
        entry = await off_loop(lore_entries.delete_entry, self.db, request.entry_id, request.world_id)
        self.memory.worker.notify()
        return memory_pb2.DeleteLoreEntryResponse(entry=entry_pb(entry))

    async def IngestLore(
        self, request_iterator: AsyncIterator[memory_pb2.IngestLoreRequest], ctx: Any
    ) -> memory_pb2.IngestLoreResponse:
        run: ingest.Ingestion | None = None
        async for message in request_iterator:
            if run is None:
                if not message.world_id.strip():
                    raise InvalidArgument([("world_id", "is required on the first message")])
                run = await off_loop(
                    ingest.Ingestion,
                    self.db,
                    message.world_id,
                    delete_missing=message.delete_missing,
                    max_document_bytes=self.memory.max_document_bytes,
                )
            await off_loop(run.add, ingest.SourceDocument(message.path, message.content))
            self.memory.worker.notify()
        if run is None:
            raise InvalidArgument([("path", "the stream sent no documents")])
        result = await off_loop(run.finish)
        self.memory.worker.notify()
        return memory_pb2.IngestLoreResponse(
            documents=result.documents,
            chunks=result.chunks,
            created=result.created,
            updated=result.updated,
            unchanged=result.unchanged,
            deleted=result.deleted,
            queued_for_embedding=result.queued_for_embedding,
        )

    # campaign log

    async def RecordEvent(
        self, request: memory_pb2.RecordEventRequest, ctx: Any
    ) -> memory_pb2.RecordEventResponse:
        e = request.event
        data = campaign_log.EventInput(
            kind=int(e.kind),
            content=e.content,
            actor=e.actor,
            metadata=parse_json_object(e.metadata_json, "event.metadata_json"),
            audience=int(e.audience),
            occurred_at=from_ts(e.occur_time) if e.HasField("occur_time") else None,
            session_id=e.session_id,
            recipients=tuple(e.recipients),
        )
        event, duplicate = await off_loop(
            campaign_log.record_event, self.db, request.campaign_id, data, request.request_id
        )
        if not duplicate:
            self.memory.worker.notify()
            self.hub.committed(event.campaign_id)
        return memory_pb2.RecordEventResponse(event=event_pb(event), duplicate=duplicate)

    async def PinFact(self, request: memory_pb2.PinFactRequest, ctx: Any) -> memory_pb2.PinFactResponse:
        _dm_only("PinFact")
        fact, duplicate = await off_loop(
            lasting.pin_fact,
            self.db,
            request.campaign_id,
            request.text,
            request.event_id,
            int(request.audience),
            request.request_id,
        )
        if not duplicate:
            self.memory.worker.notify()
        return memory_pb2.PinFactResponse(fact=event_pb(fact), duplicate=duplicate)

    async def ListPinnedFacts(
        self, request: memory_pb2.ListPinnedFactsRequest, ctx: Any
    ) -> memory_pb2.ListPinnedFactsResponse:
        facts = await off_loop(lasting.list_pinned, self.db, request.campaign_id, audience(request.audience))
        return memory_pb2.ListPinnedFactsResponse(facts=[event_pb(f) for f in facts])

    async def UnpinFact(self, request: memory_pb2.UnpinFactRequest, ctx: Any) -> memory_pb2.UnpinFactResponse:
        _dm_only("UnpinFact")
        event = await off_loop(lasting.unpin_fact, self.db, request.campaign_id, request.fact_id)
        self.memory.worker.notify()
        return memory_pb2.UnpinFactResponse(event=event_pb(event))

    async def ListEvents(
        self, request: memory_pb2.ListEventsRequest, ctx: Any
    ) -> memory_pb2.ListEventsResponse:
        page = await off_loop(
            campaign_log.list_events,
            self.db,
            request.campaign_id,
            request.session_id,
            [int(k) for k in request.kinds],
            audience(request.audience),
            request.page_size,
            request.page_token,
            viewer(request.audience),
        )
        return memory_pb2.ListEventsResponse(
            events=[event_pb(e) for e in page.items], next_page_token=page.next_token
        )

    async def CreateRelationship(
        self, request: memory_pb2.CreateRelationshipRequest, ctx: Any
    ) -> memory_pb2.CreateRelationshipResponse:
        r = request.relationship
        created = await off_loop(
            catalog.create_relationship,
            self.db,
            request.campaign_id,
            source=r.source,
            target=r.target,
            kind=r.kind,
            description=r.description,
            strength=r.strength,
        )
        return memory_pb2.CreateRelationshipResponse(relationship=relationship_pb(created))

    async def ListRelationships(
        self, request: memory_pb2.ListRelationshipsRequest, ctx: Any
    ) -> memory_pb2.ListRelationshipsResponse:
        page = await off_loop(
            catalog.list_relationships,
            self.db,
            request.campaign_id,
            request.entity,
            request.page_size,
            request.page_token,
        )
        return memory_pb2.ListRelationshipsResponse(
            relationships=[relationship_pb(r) for r in page.items], next_page_token=page.next_token
        )

    # assets and moderation

    async def PutAsset(self, request: memory_pb2.PutAssetRequest, ctx: Any) -> memory_pb2.PutAssetResponse:
        a = request.asset
        data = assets.AssetInput(
            data=a.data,
            kind=a.kind,
            mime_type=a.mime_type,
            width=a.width,
            height=a.height,
            metadata=parse_json_object(a.metadata_json, "asset.metadata_json"),
            sha256=a.sha256,
            campaign_id=request.campaign_id,
        )
        stored, duplicate = await off_loop(assets.put_asset, self.db, data)
        return memory_pb2.PutAssetResponse(asset=asset_pb(stored, with_data=False), duplicate=duplicate)

    async def GetAsset(self, request: memory_pb2.GetAssetRequest, ctx: Any) -> memory_pb2.GetAssetResponse:
        return memory_pb2.GetAssetResponse(
            asset=asset_pb(await off_loop(assets.get_asset, self.db, request.sha256), with_data=True)
        )

    async def LogModeration(
        self, request: memory_pb2.LogModerationRequest, ctx: Any
    ) -> memory_pb2.LogModerationResponse:
        d = request.decision
        decision = assets.DecisionInput(
            direction=d.direction,
            allowed=d.allowed,
            categories=tuple(d.categories),
            backend=d.backend,
            reason=d.reason,
            text_sha256=d.text_sha256,
            campaign_id=d.campaign_id,
        )
        stored = await off_loop(assets.log_decision, self.db, decision)
        return memory_pb2.LogModerationResponse(decision=decision_pb(stored))

    async def ListModerationDecisions(
        self, request: memory_pb2.ListModerationDecisionsRequest, ctx: Any
    ) -> memory_pb2.ListModerationDecisionsResponse:
        page = await off_loop(
            assets.list_decisions, self.db, request.campaign_id, request.page_size, request.page_token
        )
        return memory_pb2.ListModerationDecisionsResponse(
            decisions=[decision_pb(d) for d in page.items], next_page_token=page.next_token
        )

    # retrieval and index

    async def RetrieveContext(
        self, request: memory_pb2.RetrieveContextRequest, ctx: Any
    ) -> memory_pb2.RetrieveContextResponse:
        req = RetrievalRequest(
            query=request.query,
            world_id=request.world_id,
            campaign_id=request.campaign_id,
            token_budget=request.token_budget,
            top_k=request.top_k,
            audience=audience(request.audience),
            character_ids=tuple(request.character_ids),
            recent_events=request.recent_events,
            viewer=viewer(request.audience),
        )
        out = await off_loop(self.memory.retriever.retrieve, req)
        return memory_pb2.RetrieveContextResponse(
            pinned=[piece_pb(p) for p in out.pinned],
            lore=[piece_pb(p) for p in out.lore],
            campaign=[piece_pb(p) for p in out.campaign],
            character_states=[piece_pb(p) for p in out.character_states],
            recent_events=[piece_pb(p) for p in out.recent_events],
            tokens_used=out.tokens_used,
            token_budget=out.token_budget,
            tokenizer=out.tokenizer,
            degraded=out.degraded,
        )

    async def Reindex(self, request: memory_pb2.ReindexRequest, ctx: Any) -> memory_pb2.ReindexResponse:
        m = self.memory
        result = await off_loop(
            reindex.reindex, m.db, m.embedder, m.vectors, request.world_id, request.campaign_id
        )
        return memory_pb2.ReindexResponse(vectors=result.vectors, collections=result.collections)

    async def GetIndexStatus(
        self, request: memory_pb2.GetIndexStatusRequest, ctx: Any
    ) -> memory_pb2.GetIndexStatusResponse:
        status = await off_loop(self.memory.index_status)
        return memory_pb2.GetIndexStatusResponse(
            vector_store_available=status.vector_store_available,
            outbox_pending=status.outbox_pending,
            last_error=status.last_error,
            vector_store_uri=status.vector_store_uri,
        )


def build_spec(settings: Settings, memory: Memory | None = None) -> ServiceSpec:
    """The memory service for ``mesh.server``: migrate on start, run the outbox worker, report Milvus health."""
    mem = memory or Memory.from_settings(settings)
    servicer = MemoryServicer(mem)
    stop = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []

    def register(server: grpc.aio.Server) -> None:
        memory_pb2_grpc.add_MemoryServiceServicer_to_server(servicer, server)

    async def startup() -> None:
        await off_loop(mem.migrate)
        stop.clear()
        # Open the vector store before serving so the first health answer is already accurate.
        if await off_loop(mem.vectors.ping):
            await off_loop(mem.migrate_vector_layout)
        tasks.append(asyncio.create_task(mem.worker.run(stop), name="memory-outbox-worker"))
        # Load the embedding models now, beside serving (importing torch can take a minute on a busy host, and
        # health must answer meanwhile): the first RetrieveContext must not pay for it.
        # A daemon thread: a shutdown during a slow first import must not wait for it.
        threading.Thread(target=warm_up, name="memory-model-warm-up", daemon=True).start()

    def warm_up() -> None:
        # Best effort: a model that fails to load here is loaded (and its error reported) by the first call.
        try:
            mem.embedder.warm_up()
        except Exception:
            log.warning(
                "embedding models did not load at start-up; the first call will load them", exc_info=True
            )

    async def shutdown() -> None:
        stop.set()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        tasks.clear()
        await off_loop(mem.close)

    async def readiness() -> Readiness:
        try:
            status = await off_loop(mem.index_status)
        except Exception as exc:  # the database itself is down: not ready
            return Readiness(ready=False, reason=f"database unavailable: {type(exc).__name__}: {exc}")
        if not status.vector_store_available:
            return Readiness(
                ready=True,
                reason=f"vector store unavailable ({status.outbox_pending} changes queued): {status.last_error}",
                degraded=["milvus"],
            )
        return Readiness(ready=True, reason=f"ok ({status.outbox_pending} index changes queued)")

    return ServiceSpec(
        name="memory",
        service_names=[SERVICE_NAME],
        register=register,
        readiness=readiness,
        startup=startup,
        shutdown=shutdown,
    )


__all__ = ["SERVICE_NAME", "MemoryServicer", "build_spec"]
