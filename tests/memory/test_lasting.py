"""Memory that lasts: after 300 recorded turns, an event from turn 3 that the DM pinned is in the context of turn
300 (and was not before it was pinned); session summaries reach the context; pinning is DM only and validated."""

from __future__ import annotations

import grpc
import pytest

from dungeonmaster.v1 import memory_pb2 as M
from tests.memory.conftest import MemoryFactory
from tests.memory.test_service import PLAYER_ROLE, bad_fields, serving

OATH = "Mira swears a blood oath to the river spirit Nhal: she will return the drowned bell before midwinter."
PLACES = ["the market", "the mill", "the old bridge", "the chapel", "the docks", "the orchard", "the forge"]


def texts(reply: M.RetrieveContextResponse) -> dict[str, list[str]]:
    return {
        "pinned": [p.text for p in reply.pinned],
        "campaign": [p.text for p in reply.campaign],
        "recent": [p.text for p in reply.recent_events],
        "lore": [p.text for p in reply.lore],
    }


async def test_an_event_pinned_at_turn_three_is_in_the_context_of_turn_three_hundred(
    make_memory: MemoryFactory,
) -> None:
    async with serving(make_memory()) as (_, stub):
        await stub.CreateWorld(M.CreateWorldRequest(slug="w", name="W"))
        campaign = (await stub.CreateCampaign(M.CreateCampaignRequest(world_id="w", name="C"))).campaign
        oath_id = ""
        for turn in range(1, 301):
            place = PLACES[turn % len(PLACES)]
            action = OATH if turn == 3 else f"Turn {turn}: Mira walks to {place} and looks around."
            reply = await stub.RecordEvent(
                M.RecordEventRequest(
                    campaign_id=campaign.id,
                    request_id=f"t{turn}/action",
                    event=M.Event(kind=M.EVENT_KIND_PLAYER_ACTION, actor="Mira", content=action),
                )
            )
            if turn == 3:
                oath_id = reply.event.id
            await stub.RecordEvent(
                M.RecordEventRequest(
                    campaign_id=campaign.id,
                    request_id=f"t{turn}/narration",
                    event=M.Event(
                        kind=M.EVENT_KIND_DM_NARRATION,
                        actor="dm",
                        content=f"At {place}, nothing much happens on turn {turn}; the day goes on.",
                    ),
                )
            )
            if turn == 150:  # the first session closes with its summary (as SummarizeSession writes it)
                await stub.RecordEvent(
                    M.RecordEventRequest(
                        campaign_id=campaign.id,
                        request_id="summary-1",
                        event=M.Event(
                            kind=M.EVENT_KIND_SESSION_SUMMARY,
                            content="In this session: Mira wandered the town and made an oath to a river spirit.",
                        ),
                    )
                )

        turn_300 = M.RetrieveContextRequest(
            campaign_id=campaign.id,
            query="Mira walks to the market and looks around",
            token_budget=512,
            recent_events=8,
        )
        before = texts(await stub.RetrieveContext(turn_300))
        assert not any(OATH in t for group in before.values() for t in group), (
            f"not in context before pinning: {before}"
        )
        assert any("river spirit" in t for t in before["campaign"]), "the session summary is used"

        pinned = await stub.PinFact(M.PinFactRequest(campaign_id=campaign.id, event_id=oath_id))
        again = await stub.PinFact(M.PinFactRequest(campaign_id=campaign.id, event_id=oath_id))
        assert pinned.fact.kind == M.EVENT_KIND_PINNED_FACT and pinned.fact.content == OATH
        assert again.duplicate and again.fact.id == pinned.fact.id

        after = await stub.RetrieveContext(turn_300)
        assert [p.text for p in after.pinned][:1] == [OATH], "pinned campaign facts come first"
        assert after.tokens_used <= 512
        # Even a budget that holds little else keeps it.
        tight = await stub.RetrieveContext(
            M.RetrieveContextRequest(
                campaign_id=campaign.id, query="Mira walks to the market and looks around", token_budget=80
            )
        )
        assert OATH in [p.text for p in tight.pinned]

        listed = await stub.ListPinnedFacts(M.ListPinnedFactsRequest(campaign_id=campaign.id))
        assert [f.id for f in listed.facts] == [pinned.fact.id]
        await stub.UnpinFact(M.UnpinFactRequest(campaign_id=campaign.id, fact_id=pinned.fact.id))
        assert not (await stub.ListPinnedFacts(M.ListPinnedFactsRequest(campaign_id=campaign.id))).facts
        gone = texts(await stub.RetrieveContext(turn_300))
        assert OATH not in gone["pinned"]


async def test_pinning_is_for_the_dm_and_checks_its_input(make_memory: MemoryFactory) -> None:
    async with serving(make_memory()) as (_, stub):
        await stub.CreateWorld(M.CreateWorldRequest(slug="w", name="W"))
        campaign = (await stub.CreateCampaign(M.CreateCampaignRequest(world_id="w", name="C"))).campaign
        with pytest.raises(grpc.aio.AioRpcError) as denied:
            await stub.PinFact(
                M.PinFactRequest(campaign_id=campaign.id, text="x", request_id="p1"), metadata=PLAYER_ROLE
            )
        assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
        with pytest.raises(grpc.aio.AioRpcError) as both:
            await stub.PinFact(M.PinFactRequest(campaign_id=campaign.id, text="x", event_id="1"))
        assert both.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "text" in bad_fields(both.value)
        with pytest.raises(grpc.aio.AioRpcError) as bad_id:
            await stub.PinFact(M.PinFactRequest(campaign_id=campaign.id, event_id="abc"))
        assert "event_id" in bad_fields(bad_id.value)
        with pytest.raises(grpc.aio.AioRpcError) as missing:
            await stub.PinFact(M.PinFactRequest(campaign_id=campaign.id, event_id="999"))
        assert missing.value.code() == grpc.StatusCode.NOT_FOUND
        with pytest.raises(grpc.aio.AioRpcError) as no_key:
            await stub.PinFact(M.PinFactRequest(campaign_id=campaign.id, text="The king is a fraud."))
        assert "request_id" in bad_fields(no_key.value)
        secret = await stub.PinFact(
            M.PinFactRequest(
                campaign_id=campaign.id, text="The king is a fraud.", request_id="p2", audience=2
            )
        )
        player = await stub.ListPinnedFacts(
            M.ListPinnedFactsRequest(campaign_id=campaign.id, audience=2), metadata=PLAYER_ROLE
        )
        dm = await stub.ListPinnedFacts(M.ListPinnedFactsRequest(campaign_id=campaign.id, audience=2))
        assert not player.facts and [f.id for f in dm.facts] == [secret.fact.id]
        with pytest.raises(grpc.aio.AioRpcError) as unknown:
            await stub.UnpinFact(M.UnpinFactRequest(campaign_id=campaign.id, fact_id="12345"))
        assert unknown.value.code() == grpc.StatusCode.NOT_FOUND


async def test_fact_and_entry_ids_beyond_64_bits_or_not_ascii_are_invalid_argument(
    make_memory: MemoryFactory,
) -> None:
    async with serving(make_memory()) as (_, stub):
        await stub.CreateWorld(M.CreateWorldRequest(slug="w", name="W"))
        campaign = (await stub.CreateCampaign(M.CreateCampaignRequest(world_id="w", name="C"))).campaign
        for bad in ("1" * 30, "²"):
            with pytest.raises(grpc.aio.AioRpcError) as unpin:
                await stub.UnpinFact(M.UnpinFactRequest(campaign_id=campaign.id, fact_id=bad))
            assert unpin.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "fact_id" in bad_fields(
                unpin.value
            )
            with pytest.raises(grpc.aio.AioRpcError) as pin:
                await stub.PinFact(M.PinFactRequest(campaign_id=campaign.id, event_id=bad, request_id="p"))
            assert pin.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "event_id" in bad_fields(
                pin.value
            )
            with pytest.raises(grpc.aio.AioRpcError) as entry:
                await stub.GetLoreEntry(M.GetLoreEntryRequest(entry_id=bad))
            assert entry.value.code() in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND)
