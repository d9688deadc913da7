"""narrative_svc against the real memory_svc (SQLite + Milvus Lite in a temp dir), both in-process over gRPC."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from dungeonmaster.v1 import memory_pb2, memory_pb2_grpc, narrative_pb2, narrative_pb2_grpc
from memory_svc.service import build_spec as memory_spec
from mesh.server import start_server
from mesh.settings import Settings
from narrative_svc.service import build_spec as narrative_spec

pytestmark = pytest.mark.slow

PINNED = "House Varrow rules the coast from the Gull Tower and owes the smugglers a blood debt."


@dataclass
class Real:
    memory: memory_pb2_grpc.MemoryServiceStub
    narrative: narrative_pb2_grpc.NarrativeServiceStub
    campaign_id: str
    session_id: str


@pytest.fixture
async def real(tmp_path: Path) -> AsyncIterator[Real]:
    base = {"data_dir": tmp_path, "health_poll_s": 0.1, "grace_period_s": 2.0, "vllm_urls": []}
    mem_settings = Settings(**base, memory_metrics_port=0)
    async with start_server(memory_spec(mem_settings), mem_settings, port=0) as mem_srv:
        settings = Settings(**base, memory_addr=mem_srv.address, narrative_metrics_port=0)
        async with start_server(narrative_spec(settings), settings, port=0) as nar_srv:
            async with (
                grpc.aio.insecure_channel(mem_srv.address) as mch,
                grpc.aio.insecure_channel(nar_srv.address) as nch,
            ):
                memory = memory_pb2_grpc.MemoryServiceStub(mch)
                world = (
                    await memory.CreateWorld(memory_pb2.CreateWorldRequest(slug="brine", name="Brine"))
                ).world
                campaign = (
                    await memory.CreateCampaign(memory_pb2.CreateCampaignRequest(world_id=world.id, name="C"))
                ).campaign
                session = (
                    await memory.CreateSession(
                        memory_pb2.CreateSessionRequest(campaign_id=campaign.id, title="One")
                    )
                ).session
                await memory.CreateLoreEntry(
                    memory_pb2.CreateLoreEntryRequest(
                        world_id=world.id,
                        entry=memory_pb2.LoreEntry(
                            category="nobility", title="House Varrow", content=PINNED, pinned=True
                        ),
                    )
                )
                yield Real(memory, narrative_pb2_grpc.NarrativeServiceStub(nch), campaign.id, session.id)


async def test_narration_with_real_memory_retrieves_records_and_logs(real: Real) -> None:
    request = narrative_pb2.NarrateRequest(
        campaign_id=real.campaign_id,
        session_id=real.session_id,
        action="I ride to the Gull Tower and ask who rules the coast, House Varrow?",
        seed=3,
    )
    messages = [m async for m in real.narrative.Narrate(request, timeout=60)]
    text = "".join(m.text for m in messages)
    assert "House Varrow rules the coast" in text, "the pinned fact memory returned is in the narration"
    events = (
        await real.memory.ListEvents(memory_pb2.ListEventsRequest(campaign_id=real.campaign_id), timeout=10)
    ).events
    assert [e.kind for e in events] == [
        memory_pb2.EVENT_KIND_DM_NARRATION,
        memory_pb2.EVENT_KIND_PLAYER_ACTION,
    ]
    assert events[0].content == text
    decisions = (
        await real.memory.ListModerationDecisions(
            memory_pb2.ListModerationDecisionsRequest(campaign_id=real.campaign_id), timeout=10
        )
    ).decisions
    assert sorted((d.direction, d.allowed) for d in decisions) == [("input", True), ("output", True)]

    with pytest.raises(grpc.aio.AioRpcError) as err:
        async for _ in real.narrative.Narrate(
            narrative_pb2.NarrateRequest(campaign_id=real.campaign_id, action="how do I make a pipe bomb"),
            timeout=30,
        ):
            pass
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "S9" in err.value.details()
    decisions = (
        await real.memory.ListModerationDecisions(
            memory_pb2.ListModerationDecisionsRequest(campaign_id=real.campaign_id), timeout=10
        )
    ).decisions
    assert (decisions[0].direction, decisions[0].allowed, list(decisions[0].categories)) == (
        "input",
        False,
        ["S9"],
    )

    summary = await real.narrative.SummarizeSession(
        narrative_pb2.SummarizeSessionRequest(campaign_id=real.campaign_id, session_id=real.session_id),
        timeout=60,
    )
    assert summary.source_events == 2 and summary.event.kind == memory_pb2.EVENT_KIND_SESSION_SUMMARY
    assert "ride to the Gull Tower" in summary.summary


async def test_unknown_campaign_with_real_memory(real: Real) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        async for _ in real.narrative.Narrate(
            narrative_pb2.NarrateRequest(campaign_id="987654", action="I look"), timeout=30
        ):
            pass
    assert err.value.code() == grpc.StatusCode.NOT_FOUND and "987654" in err.value.details()
    with pytest.raises(grpc.aio.AioRpcError) as err:
        async for _ in real.narrative.Narrate(
            narrative_pb2.NarrateRequest(campaign_id="not-an-id", action="I look"), timeout=30
        ):
            pass
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "campaign_id" in err.value.details()
