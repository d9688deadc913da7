"""MemoryService over real gRPC: the servicer in-process on a free loopback port, called through the stub."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import timestamp_pb2
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from dungeonmaster.v1 import common_pb2, memory_pb2, memory_pb2_grpc
from memory_svc.ingest import read_folder
from memory_svc.memory import Memory
from memory_svc.service import build_spec
from mesh.server import RunningServer, start_server
from mesh.settings import Settings
from mesh.status import unpack_details
from tests.memory.conftest import SAMPLE_WORLD, MemoryFactory, eventually

M = memory_pb2
Stub = memory_pb2_grpc.MemoryServiceStub
#: A player of every campaign: the audience cap is the point here (campaign scoping: tests/security).
PLAYER_ROLE = (("x-dm-role", "player"), ("x-dm-campaigns", "*"))


@asynccontextmanager
async def serving(memory: Memory) -> AsyncIterator[tuple[RunningServer, Stub]]:
    settings = Settings(memory_metrics_port=0, health_poll_s=0.05, grace_period_s=1.0)
    async with start_server(build_spec(settings, memory=memory), settings, port=0) as srv:
        async with grpc.aio.insecure_channel(srv.address) as channel:
            yield srv, Stub(channel)


def bad_fields(err: grpc.aio.AioRpcError) -> set[str]:
    status = rpc_status.from_call(err)  # type: ignore[arg-type]
    assert status is not None
    out: set[str] = set()
    for detail in unpack_details(status):
        if isinstance(detail, error_details_pb2.BadRequest):
            out |= {v.field for v in detail.field_violations}
    return out


async def wait_indexed(stub: Stub, limit_s: float = 120.0) -> None:
    async def drained() -> bool:
        status = await stub.GetIndexStatus(M.GetIndexStatusRequest())
        return status.outbox_pending == 0 and status.vector_store_available

    await eventually(drained, limit_s, "an empty outbox")


async def ingest_sample(stub: Stub, world: str) -> M.IngestLoreResponse:
    async def stream() -> AsyncIterator[M.IngestLoreRequest]:
        for i, doc in enumerate(read_folder(SAMPLE_WORLD)):
            yield M.IngestLoreRequest(
                world_id=world if i == 0 else "", path=doc.path, content=doc.content, delete_missing=i == 0
            )

    return await stub.IngestLore(stream())


async def test_records_round_trip(make_memory: MemoryFactory) -> None:
    async with serving(make_memory()) as (_, stub):
        world = (
            await stub.CreateWorld(M.CreateWorldRequest(slug="ashen-reach", name="The Ashen Reach"))
        ).world
        again = (await stub.CreateWorld(M.CreateWorldRequest(slug="ashen-reach", name="Other"))).world
        assert again.id == world.id and again.name == "The Ashen Reach"
        assert (await stub.GetWorld(M.GetWorldRequest(world_id="ashen-reach"))).world.id == world.id
        assert [w.slug for w in (await stub.ListWorlds(M.ListWorldsRequest())).worlds] == ["ashen-reach"]

        campaign = (
            await stub.CreateCampaign(M.CreateCampaignRequest(world_id=world.slug, name="Smoke"))
        ).campaign
        s1 = (await stub.CreateSession(M.CreateSessionRequest(campaign_id=campaign.id, title="One"))).session
        s2 = (await stub.CreateSession(M.CreateSessionRequest(campaign_id=campaign.id, title="Two"))).session
        assert (s1.number, s2.number) == (1, 2)
        ended = (await stub.UpdateSession(M.UpdateSessionRequest(session_id=s1.id, end=True))).session
        assert ended.HasField("end_time") and not s2.HasField("end_time")
        listed = await stub.ListSessions(M.ListSessionsRequest(campaign_id=campaign.id, page_size=1))
        assert [s.number for s in listed.sessions] == [1] and listed.next_page_token
        rest = await stub.ListSessions(
            M.ListSessionsRequest(campaign_id=campaign.id, page_size=1, page_token=listed.next_page_token)
        )
        assert [s.number for s in rest.sessions] == [2] and not rest.next_page_token

        region = (
            await stub.CreateLocation(
                M.CreateLocationRequest(
                    world_id=world.id, location=M.Location(name="Brinefen", kind="region", terrains=["swamp"])
                )
            )
        ).location
        inn = (
            await stub.CreateLocation(
                M.CreateLocationRequest(
                    world_id=world.id,
                    location=M.Location(name="The Drowned Bell", kind="tavern", parent_id=region.id),
                )
            )
        ).location
        children = await stub.ListLocations(M.ListLocationsRequest(world_id=world.id, parent_id=region.id))
        assert [loc.id for loc in children.locations] == [inn.id]

        npc = (
            await stub.CreateCharacter(
                M.CreateCharacterRequest(
                    campaign_id=campaign.id,
                    character=M.Character(
                        name="Old Tamsin",
                        is_npc=True,
                        secrets=["She is a Kindled spy."],
                        stat_block=common_pb2.StatBlock(name="Spy", armor_class=12, hit_points=27),
                        tags=["ferryman"],
                    ),
                    initial_state=M.CharacterState(hit_points=27, max_hit_points=27, location_id=inn.id),
                )
            )
        ).character
        assert list(npc.secrets) == ["She is a Kindled spy."] and npc.stat_block.armor_class == 12
        as_player = await stub.GetCharacter(M.GetCharacterRequest(character_id=npc.id, audience=1))
        as_dm = await stub.GetCharacter(M.GetCharacterRequest(character_id=npc.id, audience=2))
        capped = await stub.GetCharacter(
            M.GetCharacterRequest(character_id=npc.id, audience=2), metadata=PLAYER_ROLE
        )
        assert (
            not as_player.character.secrets and list(as_dm.character.secrets) and not capped.character.secrets
        )
        npcs = await stub.ListCharacters(M.ListCharactersRequest(campaign_id=campaign.id, is_npc=True))
        pcs = await stub.ListCharacters(M.ListCharactersRequest(campaign_id=campaign.id, is_npc=False))
        assert [c.id for c in npcs.characters] == [npc.id] and not pcs.characters

        first = (await stub.GetCharacterState(M.GetCharacterStateRequest(character_id=npc.id))).state
        hurt = (
            await stub.UpdateCharacterState(
                M.UpdateCharacterStateRequest(
                    character_id=npc.id,
                    state=M.CharacterState(hit_points=9, max_hit_points=27, conditions=["prone"]),
                    request_id="hit-1",
                )
            )
        ).state
        assert hurt.hit_points == 9 and not hurt.HasField("valid_to")
        past = (
            await stub.GetCharacterState(
                M.GetCharacterStateRequest(character_id=npc.id, as_of=first.valid_from)
            )
        ).state
        assert past.hit_points == 27 and past.location_id == inn.id and past.valid_to == hurt.valid_from

        rel = (
            await stub.CreateRelationship(
                M.CreateRelationshipRequest(
                    campaign_id=campaign.id,
                    relationship=M.Relationship(
                        source=f"character:{npc.id}", target="faction:kindled", kind="spy-for", strength=80
                    ),
                )
            )
        ).relationship
        found = await stub.ListRelationships(
            M.ListRelationshipsRequest(campaign_id=campaign.id, entity="faction:kindled")
        )
        assert [r.id for r in found.relationships] == [rel.id]
        injected = await stub.ListRelationships(
            M.ListRelationshipsRequest(campaign_id=campaign.id, entity="faction:x' OR '1'='1")
        )
        assert not injected.relationships

        png = b"\x89PNG\r\n\x1a\nfake"
        put = await stub.PutAsset(
            M.PutAssetRequest(asset=M.Asset(kind="portrait", mime_type="image/png", data=png))
        )
        dup = await stub.PutAsset(
            M.PutAssetRequest(asset=M.Asset(kind="portrait", mime_type="image/png", data=png))
        )
        assert not put.duplicate and dup.duplicate and put.asset.sha256 == hashlib.sha256(png).hexdigest()
        got = await stub.GetAsset(M.GetAssetRequest(sha256=put.asset.sha256))
        assert got.asset.data == png and not put.asset.data

        decision = await stub.LogModeration(
            M.LogModerationRequest(
                decision=M.ModerationDecision(
                    campaign_id=campaign.id,
                    direction="input",
                    allowed=False,
                    categories=["S1"],
                    backend="rules",
                    text_sha256="ab" * 32,
                )
            )
        )
        listed_decisions = await stub.ListModerationDecisions(
            M.ListModerationDecisionsRequest(campaign_id=campaign.id)
        )
        assert [d.id for d in listed_decisions.decisions] == [decision.decision.id]


async def test_record_event_is_idempotent_and_lists_newest_first(make_memory: MemoryFactory) -> None:
    async with serving(make_memory()) as (_, stub):
        await stub.CreateWorld(M.CreateWorldRequest(slug="w", name="W"))
        campaign = (await stub.CreateCampaign(M.CreateCampaignRequest(world_id="w", name="C"))).campaign
        ids = []
        for i in range(5):
            reply = await stub.RecordEvent(
                M.RecordEventRequest(
                    campaign_id=campaign.id,
                    request_id=f"req-{i}",
                    event=M.Event(
                        kind=M.EVENT_KIND_PLAYER_ACTION,
                        actor="Mira",
                        content=f"Mira does thing {i}.",
                        audience=2 if i == 3 else 1,
                    ),
                )
            )
            assert not reply.duplicate
            ids.append(reply.event.id)
        again = await stub.RecordEvent(
            M.RecordEventRequest(
                campaign_id=campaign.id, request_id="req-1", event=M.Event(content="different text")
            )
        )
        assert again.duplicate and again.event.id == ids[1] and again.event.content == "Mira does thing 1."

        seen: list[str] = []
        token = ""
        while True:
            page = await stub.ListEvents(
                M.ListEventsRequest(campaign_id=campaign.id, page_size=2, page_token=token, audience=2)
            )
            seen += [e.id for e in page.events]
            token = page.next_page_token
            if not token:
                break
        assert seen == ids[::-1]
        player = await stub.ListEvents(M.ListEventsRequest(campaign_id=campaign.id, audience=1))
        assert ids[3] not in {e.id for e in player.events} and len(player.events) == 4
        await wait_indexed(stub)


async def test_ingest_stream_then_retrieve(make_memory: MemoryFactory) -> None:
    memory = make_memory()
    async with serving(memory) as (srv, stub):
        await stub.CreateWorld(M.CreateWorldRequest(slug="ashen-reach", name="The Ashen Reach"))
        result = await ingest_sample(stub, "ashen-reach")
        assert result.documents == len(list(read_folder(SAMPLE_WORLD)))
        assert result.created == result.chunks == result.queued_for_embedding > 0
        await wait_indexed(stub)
        assert "milvus" not in srv.monitor.current.degraded

        again = await ingest_sample(stub, "ashen-reach")
        assert (again.created, again.updated, again.deleted, again.unchanged) == (0, 0, 0, again.chunks)

        request = M.RetrieveContextRequest(
            world_id="ashen-reach",
            query="Who rules the Kingdom of Veyr from Cindermoot?",
            token_budget=32768,
            audience=2,
        )
        dm = await stub.RetrieveContext(request)
        assert dm.lore and dm.pinned and not dm.degraded
        assert dm.tokenizer.startswith("all-MiniLM-L6-v2") and 0 < dm.tokens_used <= dm.token_budget == 32768
        assert all(p.citation and p.tokens > 0 for p in [*dm.pinned, *dm.lore])
        secret = M.RetrieveContextRequest(
            world_id="ashen-reach",
            query="Ithrax the Cinder Sleeper beneath the Emberspine",
            token_budget=32768,
            top_k=50,
            audience=2,
        )
        assert any(p.audience == 2 for p in (await stub.RetrieveContext(secret)).lore)
        capped = await stub.RetrieveContext(secret, metadata=PLAYER_ROLE)
        assert capped.lore and all(p.audience == 1 for p in [*capped.pinned, *capped.lore])

        entry = (
            await stub.CreateLoreEntry(
                M.CreateLoreEntryRequest(
                    world_id="ashen-reach",
                    entry=M.LoreEntry(
                        key="notes/bell",
                        category="rumour",
                        title="The Drowned Bell",
                        content="A bronze bell tolls under the Brinefen at every spring tide.",
                        keywords=["bell"],
                        metadata_json='{"source": "tavern"}',
                    ),
                )
            )
        ).entry
        assert (entry.version, entry.content_hash) == (1, hashlib.sha256(entry.content.encode()).hexdigest())
        updated = await stub.UpdateLoreEntry(
            M.UpdateLoreEntryRequest(
                entry_id="notes/bell",
                world_id="ashen-reach",
                content="A bronze bell tolls under the Brinefen at every neap tide.",
            )
        )
        same = await stub.UpdateLoreEntry(
            M.UpdateLoreEntryRequest(entry_id=updated.entry.id, content=updated.entry.content)
        )
        assert updated.new_version and updated.entry.version == 2 and not same.new_version
        v1 = await stub.GetLoreEntry(
            M.GetLoreEntryRequest(entry_id="notes/bell", world_id="ashen-reach", version=1)
        )
        assert v1.entry.superseded and "spring tide" in v1.entry.content
        await wait_indexed(stub)
        bell = M.RetrieveContextRequest(
            world_id="ashen-reach", query="bronze bell under the Brinefen tide", token_budget=32768
        )
        hits = {p.source_id for p in (await stub.RetrieveContext(bell)).lore}
        assert updated.entry.id in hits and entry.id not in hits
        await stub.DeleteLoreEntry(M.DeleteLoreEntryRequest(entry_id=updated.entry.id))
        assert updated.entry.id not in {p.source_id for p in (await stub.RetrieveContext(bell)).lore}
        listed = await stub.ListLoreEntries(
            M.ListLoreEntriesRequest(world_id="ashen-reach", category="rumour")
        )
        assert not listed.entries
        injected = await stub.ListLoreEntries(
            M.ListLoreEntriesRequest(world_id="ashen-reach", category='geography" or "1"=="1')
        )
        assert not injected.entries


async def test_bad_input_gets_field_named_errors(make_memory: MemoryFactory) -> None:
    memory = make_memory(max_document_bytes=4096)
    async with serving(memory) as (_, stub):
        await stub.CreateWorld(M.CreateWorldRequest(slug="w", name="W"))
        cases: list[tuple[Any, Any, grpc.StatusCode, str]] = [
            (
                stub.RetrieveContext,
                M.RetrieveContextRequest(campaign_id="424242", query="hello"),
                grpc.StatusCode.NOT_FOUND,
                "",
            ),
            (
                stub.RecordEvent,
                M.RecordEventRequest(campaign_id="424242", request_id="r", event=M.Event(content="x")),
                grpc.StatusCode.NOT_FOUND,
                "",
            ),
            (
                stub.RetrieveContext,
                M.RetrieveContextRequest(world_id="w", query=""),
                grpc.StatusCode.INVALID_ARGUMENT,
                "query",
            ),
            (
                stub.RetrieveContext,
                M.RetrieveContextRequest(world_id="w", query="q", token_budget=-5),
                grpc.StatusCode.INVALID_ARGUMENT,
                "token_budget",
            ),
            (
                stub.RetrieveContext,
                M.RetrieveContextRequest(world_id="w", query="q", top_k=-1),
                grpc.StatusCode.INVALID_ARGUMENT,
                "top_k",
            ),
            (
                stub.GetWorld,
                M.GetWorldRequest(world_id='w" or "1"=="1'),
                grpc.StatusCode.INVALID_ARGUMENT,
                "world_id",
            ),
            (
                stub.GetCampaign,
                M.GetCampaignRequest(campaign_id="1 OR 1=1"),
                grpc.StatusCode.INVALID_ARGUMENT,
                "campaign_id",
            ),
            (
                stub.ListEvents,
                M.ListEventsRequest(campaign_id="1", page_token="garbage!"),
                grpc.StatusCode.INVALID_ARGUMENT,
                "page_token",
            ),
            (
                stub.CreateLoreEntry,
                M.CreateLoreEntryRequest(world_id="w", entry=M.LoreEntry(content="x", metadata_json="[1]")),
                grpc.StatusCode.INVALID_ARGUMENT,
                "entry.metadata_json",
            ),
        ]
        for method, request, code, field in cases:
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await method(request)
            assert err.value.code() == code, (request, err.value.details())
            if field:
                assert field in bad_fields(err.value), err.value.details()
                assert field in (err.value.details() or "")

        async def oversized() -> AsyncIterator[M.IngestLoreRequest]:
            yield M.IngestLoreRequest(
                world_id="w", path="big.md", content="---\nkind: lore\n---\n" + "x" * 5000
            )

        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.IngestLore(oversized())
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "content" in bad_fields(err.value)


def test_timestamps_are_utc() -> None:
    from memory_svc.convert import from_ts, ts

    stamp = timestamp_pb2.Timestamp(seconds=1_700_000_000, nanos=123_000)
    assert ts(from_ts(stamp)) == stamp


def test_package_main_is_thin() -> None:
    text = (Path(__file__).resolve().parents[2] / "memory_svc" / "__main__.py").read_text()
    assert "run(build_spec)" in text


async def test_embedding_model_is_loaded_at_start_up(make_memory: MemoryFactory) -> None:
    """A fresh embedder (nothing loaded) is loaded by start-up itself, before any retrieval asks for it."""
    from memory_svc.embeddings import Embedder

    memory = make_memory()
    memory.embedder = Embedder()
    memory.retriever.embedder = memory.embedder
    assert not memory.embedder.loaded
    async with serving(memory) as (_, stub):

        async def loaded() -> bool:
            return memory.embedder.loaded

        await eventually(loaded, 120, "the embedding models loaded without any call")
        assert (await stub.GetIndexStatus(M.GetIndexStatusRequest())).vector_store_available
