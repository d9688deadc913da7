"""Small in-process services behind the real mesh runtime, for the gateway's fast tests.

Each is a real grpc.aio server (``mesh.server.start_server``, loopback, free port) serving the generated servicer
of one module service, with just enough behaviour to exercise the gateway: memory keeps events idempotently,
narration streams and can be slow, builders return fixed things, visual can refuse. They also record what
reached them (metadata, deadlines, cancellations) so a test can see what the gateway forwarded. The real services
are exercised as processes by ``test_mesh_e2e.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import grpc

from dungeonmaster.v1 import (
    common_pb2,
    encounter_pb2,
    encounter_pb2_grpc,
    item_pb2,
    item_pb2_grpc,
    memory_pb2,
    memory_pb2_grpc,
    narrative_pb2,
    narrative_pb2_grpc,
    npc_pb2,
    npc_pb2_grpc,
    visual_pb2,
    visual_pb2_grpc,
)
from mesh import context as mctx
from mesh import errors
from mesh.server import RunningServer, ServiceSpec, start_server
from mesh.settings import Settings

SECRET = "The innkeeper poisoned the well"


@dataclass
class Seen:
    """What one call looked like when it reached a fake."""

    method: str
    metadata: dict[str, str]
    time_remaining: float | None
    role: str
    campaigns: tuple[str, ...]


@dataclass
class Log:
    """Shared record of calls and cancellations across the fakes."""

    calls: list[Seen] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    failures: dict[str, int] = field(default_factory=dict)

    def see(self, method: str, context: grpc.aio.ServicerContext) -> None:
        md = {k: (v if isinstance(v, str) else repr(v)) for k, v in context.invocation_metadata() or ()}
        ident = mctx.identity()
        self.calls.append(Seen(method, md, context.time_remaining(), ident.role, ident.campaigns))

    def last(self, method: str) -> Seen:
        return [c for c in self.calls if c.method == method][-1]

    def flaky(self, method: str) -> None:
        """Fail UNAVAILABLE while ``failures[method]`` is positive."""
        left = self.failures.get(method, 0)
        if left > 0:
            self.failures[method] = left - 1
            raise errors.Unavailable("warming up", reason="WARMING_UP")


class Memory(memory_pb2_grpc.MemoryServiceServicer):
    def __init__(self, log: Log) -> None:
        self.log = log
        self.campaigns = {
            "camp-a": memory_pb2.Campaign(id="camp-a", world_id="world-1", name="A"),
            "camp-b": memory_pb2.Campaign(id="camp-b", world_id="world-1", name="B"),
        }
        self.characters = {
            "char-a": memory_pb2.Character(id="char-a", campaign_id="camp-a", name="Ada", secrets=[SECRET]),
            "char-b": memory_pb2.Character(id="char-b", campaign_id="camp-b", name="Bo", secrets=[SECRET]),
        }
        self.events: dict[str, list[memory_pb2.Event]] = {}
        self.by_request: dict[tuple[str, str], memory_pb2.Event] = {}
        self.moderation: list[memory_pb2.ModerationDecision] = []
        self.turn_locks: dict[str, asyncio.Lock] = {}
        self.turn_holders: dict[str, str] = {}
        self.live: list[memory_pb2.LiveUpdate] = []

    async def GetWorld(self, request: Any, context: Any) -> memory_pb2.GetWorldResponse:
        self.log.see("GetWorld", context)
        self.log.flaky("GetWorld")
        return memory_pb2.GetWorldResponse(
            world=memory_pb2.World(id=request.world_id, slug="w", name="World")
        )

    async def CreateWorld(self, request: Any, context: Any) -> memory_pb2.CreateWorldResponse:
        self.log.see("CreateWorld", context)
        self.log.flaky("CreateWorld")
        return memory_pb2.CreateWorldResponse(world=memory_pb2.World(id="w-new", slug=request.slug))

    async def ListWorlds(self, request: Any, context: Any) -> memory_pb2.ListWorldsResponse:
        self.log.see("ListWorlds", context)
        if request.page_size < 0:
            raise errors.InvalidArgument([("page_size", "must be between 1 and 1000")])
        worlds = [
            memory_pb2.World(id=f"w{i}", slug=f"w{i}", name="Ä" * i) for i in range(request.page_size or 3)
        ]
        context.set_trailing_metadata((("x-request-id", mctx.request_id()), ("x-fake-trailer", "t")))
        return memory_pb2.ListWorldsResponse(worlds=worlds, next_page_token="next")

    async def CreateCampaign(self, request: Any, context: Any) -> memory_pb2.CreateCampaignResponse:
        self.log.see("CreateCampaign", context)
        cid = f"camp-{len(self.campaigns) + 1}"
        self.campaigns[cid] = memory_pb2.Campaign(id=cid, world_id=request.world_id, name=request.name)
        return memory_pb2.CreateCampaignResponse(campaign=self.campaigns[cid])

    async def GetCampaign(self, request: Any, context: Any) -> memory_pb2.GetCampaignResponse:
        self.log.see("GetCampaign", context)
        if request.campaign_id not in self.campaigns:
            raise errors.NotFound("campaign", request.campaign_id)
        return memory_pb2.GetCampaignResponse(campaign=self.campaigns[request.campaign_id])

    async def GetCharacter(self, request: Any, context: Any) -> memory_pb2.GetCharacterResponse:
        self.log.see("GetCharacter", context)
        if request.character_id not in self.characters:
            raise errors.NotFound("character", request.character_id)
        character = memory_pb2.Character()
        character.CopyFrom(self.characters[request.character_id])
        dm = request.audience == common_pb2.AUDIENCE_DM and mctx.identity().role != "player"
        if not dm:
            del character.secrets[:]
        return memory_pb2.GetCharacterResponse(character=character)

    async def AcquireTurn(self, request: Any, context: Any) -> memory_pb2.AcquireTurnResponse:
        """One holder per campaign, first come first served (asyncio.Lock is FIFO)."""
        self.log.see("AcquireTurn", context)
        await self.turn_locks.setdefault(request.campaign_id, asyncio.Lock()).acquire()
        self.turn_holders[request.campaign_id] = request.turn_id
        return memory_pb2.AcquireTurnResponse(after_sequence=len(self.events.get(request.campaign_id, [])))

    async def ReleaseTurn(self, request: Any, context: Any) -> memory_pb2.ReleaseTurnResponse:
        self.log.see("ReleaseTurn", context)
        if self.turn_holders.get(request.campaign_id) != request.turn_id:
            return memory_pb2.ReleaseTurnResponse(released=False)
        del self.turn_holders[request.campaign_id]
        self.turn_locks[request.campaign_id].release()
        return memory_pb2.ReleaseTurnResponse(released=True)

    async def PublishLive(self, request: Any, context: Any) -> memory_pb2.PublishLiveResponse:
        self.log.see("PublishLive", context)
        self.live.append(request.update)
        return memory_pb2.PublishLiveResponse(watchers=0)

    async def UpdateSession(self, request: Any, context: Any) -> memory_pb2.UpdateSessionResponse:
        self.log.see("UpdateSession", context)
        session = memory_pb2.Session(
            id=request.session_id, campaign_id="camp-a", number=1, title=request.title
        )
        return memory_pb2.UpdateSessionResponse(session=session)

    async def PinFact(self, request: Any, context: Any) -> memory_pb2.PinFactResponse:
        self.log.see("PinFact", context)
        fact = memory_pb2.Event(id="pin-1", campaign_id=request.campaign_id, content=request.text)
        return memory_pb2.PinFactResponse(fact=fact)

    async def IngestLore(self, request_iterator: Any, context: Any) -> memory_pb2.IngestLoreResponse:
        self.log.see("IngestLore", context)
        docs = chunks = 0
        async for doc in request_iterator:
            docs += 1
            chunks += doc.content.count("#")
        return memory_pb2.IngestLoreResponse(documents=docs, chunks=chunks, created=chunks)

    async def RecordEvent(self, request: Any, context: Any) -> memory_pb2.RecordEventResponse:
        self.log.see("RecordEvent", context)
        key = (request.campaign_id, request.request_id)
        if key in self.by_request:
            return memory_pb2.RecordEventResponse(event=self.by_request[key], duplicate=True)
        event = memory_pb2.Event()
        event.CopyFrom(request.event)
        event.id = f"ev{len(self.by_request) + 1}"
        event.campaign_id = request.campaign_id
        event.request_id = request.request_id
        self.by_request[key] = event
        self.events.setdefault(request.campaign_id, []).insert(0, event)
        return memory_pb2.RecordEventResponse(event=event)

    async def LogModeration(self, request: Any, context: Any) -> memory_pb2.LogModerationResponse:
        self.log.see("LogModeration", context)
        self.moderation.append(request.decision)
        return memory_pb2.LogModerationResponse(decision=request.decision)

    async def ListEvents(self, request: Any, context: Any) -> memory_pb2.ListEventsResponse:
        self.log.see("ListEvents", context)
        events = [
            e
            for e in self.events.get(request.campaign_id, [])
            if not request.kinds or e.kind in request.kinds
        ]
        return memory_pb2.ListEventsResponse(events=events[: request.page_size or 100])

    async def RetrieveContext(self, request: Any, context: Any) -> memory_pb2.RetrieveContextResponse:
        self.log.see("RetrieveContext", context)
        recent = self.events.get(request.campaign_id, [])[: request.recent_events]
        return memory_pb2.RetrieveContextResponse(
            recent_events=[
                memory_pb2.ContextPiece(
                    source=memory_pb2.CONTEXT_SOURCE_RECENT_EVENT, source_id=e.id, text=e.content
                )
                for e in recent
            ],
            token_budget=request.token_budget,
        )


class Narrative(narrative_pb2_grpc.NarrativeServiceServicer):
    def __init__(self, log: Log) -> None:
        self.log = log
        self.delay_s = 0.0
        self.started = asyncio.Event()
        self.summaries: list[narrative_pb2.SummarizeSessionRequest] = []

    async def SummarizeSession(self, request: Any, context: Any) -> narrative_pb2.SummarizeSessionResponse:
        self.log.see("SummarizeSession", context)
        self.summaries.append(request)
        return narrative_pb2.SummarizeSessionResponse(summary="In this session: things happened.")

    async def Narrate(self, request: Any, context: Any) -> AsyncIterator[narrative_pb2.NarrateResponse]:
        self.log.see("Narrate", context)
        self.started.set()
        words = f"You {request.action.lower()} and the world answers.".split()
        try:
            for i, word in enumerate(words):
                if self.delay_s:
                    await asyncio.sleep(self.delay_s)
                yield narrative_pb2.NarrateResponse(text=word + " ", index=i)
        except asyncio.CancelledError:
            self.log.cancelled.append("Narrate")
            raise
        yield narrative_pb2.NarrateResponse(
            index=len(words),
            done=True,
            finish_reason="stop",
            info=common_pb2.GenerationInfo(
                backend="procedural", procedural=True, seed=request.seed, completion_tokens=len(words)
            ),
        )


class Encounter(encounter_pb2_grpc.EncounterServiceServicer):
    def __init__(self, log: Log) -> None:
        self.log = log
        self.audiences: list[int] = []

    async def GenerateEncounter(self, request: Any, context: Any) -> encounter_pb2.GenerateEncounterResponse:
        self.log.see("GenerateEncounter", context)
        self.audiences.append(request.audience)
        return encounter_pb2.GenerateEncounterResponse(
            encounter=encounter_pb2.Encounter(
                id=f"enc-{request.seed}", title=f"Ambush in the {request.terrain}", terrain=request.terrain
            )
        )

    async def RollDice(self, request: Any, context: Any) -> encounter_pb2.RollDiceResponse:
        self.log.see("RollDice", context)
        return encounter_pb2.RollDiceResponse(
            total=request.seed % 20 + 1, detail=request.notation, seed=request.seed
        )


class Npc(npc_pb2_grpc.NpcServiceServicer):
    def __init__(self, log: Log) -> None:
        self.log = log

    async def GenerateNpc(self, request: Any, context: Any) -> npc_pb2.GenerateNpcResponse:
        self.log.see("GenerateNpc", context)
        if request.archetype == "unknown":
            raise errors.InvalidArgument([("archetype", "unknown archetype")])
        npc = npc_pb2.Npc(
            id=f"npc-{request.seed}", name="Maren Holt", archetype=request.archetype, secrets=[SECRET]
        )
        return npc_pb2.GenerateNpcResponse(npc=npc, character_id="char-new" if request.save else "")


class Item(item_pb2_grpc.ItemServiceServicer):
    def __init__(self, log: Log) -> None:
        self.log = log

    async def GenerateItem(self, request: Any, context: Any) -> item_pb2.GenerateItemResponse:
        self.log.see("GenerateItem", context)
        return item_pb2.GenerateItemResponse(
            item=item_pb2.MagicItem(id=f"item-{request.seed}", name="Lantern of Tides", rarity=request.rarity)
        )


class Visual(visual_pb2_grpc.VisualServiceServicer):
    def __init__(self, log: Log) -> None:
        self.log = log
        self.model = False
        self.prompts: list[str] = []

    async def GenerateImage(self, request: Any, context: Any) -> visual_pb2.GenerateImageResponse:
        self.log.see("GenerateImage", context)
        self.prompts.append(request.spec.prompt)
        if not self.model:
            raise errors.FailedPrecondition("no image model configured")
        return visual_pb2.GenerateImageResponse(
            image=visual_pb2.Image(png=b"\x89PNG fake", sha256="ab" * 32, prompt=request.spec.prompt)
        )

    async def StreamImage(self, request: Any, context: Any) -> AsyncIterator[visual_pb2.StreamImageResponse]:
        self.log.see("StreamImage", context)
        try:
            for step in range(1, 4):
                yield visual_pb2.StreamImageResponse(
                    progress=visual_pb2.ImageProgress(step=step, total_steps=3)
                )
                await asyncio.sleep(float(request.spec.steps) / 1000.0)
        except asyncio.CancelledError:
            self.log.cancelled.append("StreamImage")
            raise
        yield visual_pb2.StreamImageResponse(image=visual_pb2.Image(sha256="cd" * 32, seed=request.spec.seed))


REGISTER: dict[str, tuple[type[Any], Any, str]] = {
    "memory": (Memory, memory_pb2_grpc.add_MemoryServiceServicer_to_server, "dungeonmaster.v1.MemoryService"),
    "narrative": (
        Narrative,
        narrative_pb2_grpc.add_NarrativeServiceServicer_to_server,
        "dungeonmaster.v1.NarrativeService",
    ),
    "encounter": (
        Encounter,
        encounter_pb2_grpc.add_EncounterServiceServicer_to_server,
        "dungeonmaster.v1.EncounterService",
    ),
    "npc": (Npc, npc_pb2_grpc.add_NpcServiceServicer_to_server, "dungeonmaster.v1.NpcService"),
    "item": (Item, item_pb2_grpc.add_ItemServiceServicer_to_server, "dungeonmaster.v1.ItemService"),
    "visual": (Visual, visual_pb2_grpc.add_VisualServiceServicer_to_server, "dungeonmaster.v1.VisualService"),
}


def spec_for(
    name: str, servicer: Any, server_credentials: grpc.ServerCredentials | None = None
) -> ServiceSpec:
    """A ServiceSpec serving one fake under the mesh runtime (health, reflection, error mapping)."""
    _, add, full = REGISTER[name]
    return ServiceSpec(
        name=name,
        service_names=[full],
        register=lambda server: add(servicer, server),
        server_credentials=server_credentials,
    )


class FakeMesh:
    """The six fakes, each on its own loopback port; ``stop``/``start`` one to simulate an outage."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.log = Log()
        self.servicers: dict[str, Any] = {name: cls(self.log) for name, (cls, _, _) in REGISTER.items()}
        self.servers: dict[str, RunningServer] = {}
        self.ports: dict[str, int] = {}
        self._stack = contextlib.AsyncExitStack()

    async def start(self, name: str) -> None:
        port = self.ports.get(name, 0)
        cm = start_server(spec_for(name, self.servicers[name]), self.settings, port=port, metrics_port=None)
        server = await self._stack.enter_async_context(cm)
        self.servers[name] = server
        self.ports[name] = server.port

    async def stop(self, name: str) -> None:
        await self.servers.pop(name).stop(grace=0)

    async def __aenter__(self) -> FakeMesh:
        for name in REGISTER:
            await self.start(name)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()

    def addresses(self) -> dict[str, str]:
        return {name: f"127.0.0.1:{port}" for name, port in self.ports.items()}
