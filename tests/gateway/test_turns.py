"""Composite RPCs against the fakes: PlayTurn, GenerateScene, GetStatus, health, degradation, deadlines."""

from __future__ import annotations

import asyncio
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from dungeonmaster.v1 import (
    common_pb2,
    encounter_pb2,
    gateway_pb2,
    gateway_pb2_grpc,
    narrative_pb2,
    narrative_pb2_grpc,
)
from gateway.planner import plan_by_rules, terrain_of
from gateway.service import build_spec as build_gateway
from gateway.turn import derive_seed
from mesh.server import start_server
from narrative_svc.service import build_spec as build_narrative
from tests.gateway.conftest import Rig, auth, base_settings, eventually, key_settings
from tests.gateway.fakes import SECRET

PARTY = common_pb2.Party(members=[common_pb2.PartyMember(name=n, level=3) for n in ("Ash", "Bree", "Cor")])


def turn(
    input: str, turn_id: str = "t-1", campaign: str = "camp-a", **kw: object
) -> gateway_pb2.PlayTurnRequest:
    return gateway_pb2.PlayTurnRequest(
        campaign_id=campaign, turn_id=turn_id, input=input, actor="Ash", party=PARTY, seed=7, **kw
    )


async def play(
    rig: Rig, request: gateway_pb2.PlayTurnRequest, key: str = "dm-all", deadline_s: float = 10
) -> list:
    stub = gateway_pb2_grpc.GameMasterServiceStub(rig.channel)
    return [r async for r in stub.PlayTurn(request, metadata=auth(key), timeout=deadline_s)]


def kinds(replies: list) -> list[str]:
    return [r.WhichOneof("event") for r in replies]


def test_rules_planner() -> None:
    fight = plan_by_rules("I draw my sword and attack the bandits on the road")
    assert fight.encounter and fight.theme == "bandits" and fight.terrain == "grassland" and not fight.item
    venture = plan_by_rules("We wade into the Brinefen marsh, looking for the sunken shrine")
    assert venture.encounter and venture.terrain == "swamp"
    meet = plan_by_rules("I approach the merchant and ask about the missing caravan")
    assert meet.npc and meet.npc_archetype == "merchant" and not meet.encounter
    loot = plan_by_rules("Bree searches the chest behind the altar")
    assert loot.item and not loot.npc
    calm = plan_by_rules("I sit by the fire and think about home")
    assert not (calm.encounter or calm.npc or calm.item)
    assert plan_by_rules("We sneak into the crypt").difficulty == "easy"
    assert terrain_of("Up the mountain pass, then through the forest") == "mountain"
    assert derive_seed(7, "npc") == derive_seed(7, "npc") != derive_seed(7, "item")


async def test_play_turn_streams_builds_and_records(rig: Rig) -> None:
    replies = await play(rig, turn("I approach the stranger and attack the goblins", want_image=False))
    seq = [r.sequence for r in replies]
    assert seq == list(range(len(replies)))
    k = kinds(replies)
    assert k[0] == "context" and k[-1] == "done"
    assert k.count("narration") >= 5 and "encounter" in k and "npc" in k
    narration = "".join(r.narration.text for r in replies if r.WhichOneof("event") == "narration")
    assert "approach the stranger" in narration
    enc = next(r.encounter.encounter for r in replies if r.WhichOneof("event") == "encounter")
    assert enc.title and enc.id == f"enc-{derive_seed(7, 'encounter')}"
    npc = next(r.npc for r in replies if r.WhichOneof("event") == "npc")
    assert (
        npc.npc.name == "Maren Holt" and list(npc.npc.secrets) == [SECRET] and npc.character_id == "char-new"
    )
    done = replies[-1].done
    assert not done.replayed and done.plan_source == "rules" and done.plan_reasons
    assert {"retrieval", "model", "recording", "total"} <= set(done.timings_ms)
    assert done.completion_tokens > 0 and done.info.procedural
    memory = rig.fakes.servicers["memory"]
    stored = {e.request_id: e for e in memory.events["camp-a"]}
    assert set(stored) == {"t-1/action", "t-1/narration", "t-1/encounter", "t-1/npc"}
    assert set(done.recorded_event_ids) == {e.id for e in stored.values()}
    assert stored["t-1/narration"].content == narration
    # Builders ran concurrently with the narration and carried the caller's identity.
    seen = rig.fakes.log.last("GenerateNpc")
    assert (seen.role, seen.campaigns) == ("dm", ("*",))
    assert seen.metadata["x-request-id"] == rig.fakes.log.last("Narrate").metadata["x-request-id"]

    # The next turn's context contains what was recorded.
    again = await play(rig, turn("I look around", turn_id="t-2"))
    context = again[0].context
    assert any(p.text == narration for p in context.pieces)


async def test_replay_records_nothing_twice(rig: Rig) -> None:
    first = await play(rig, turn("I open the chest", turn_id="same"))
    count = len(rig.fakes.servicers["memory"].events["camp-a"])
    narrations = sum(c.method == "Narrate" for c in rig.fakes.log.calls)
    second = await play(rig, turn("I open the chest", turn_id="same"))
    assert second[-1].done.replayed
    assert len(rig.fakes.servicers["memory"].events["camp-a"]) == count
    assert sum(c.method == "Narrate" for c in rig.fakes.log.calls) == narrations  # no second model call
    text = lambda rs: "".join(r.narration.text for r in rs if r.WhichOneof("event") == "narration")  # noqa: E731
    assert text(second) == text(first)


async def test_player_turn_hides_npc_secrets(rig: Rig) -> None:
    replies = await play(rig, turn("I greet the innkeeper", turn_id="p-1"), key="player-a")
    npc = next(r.npc.npc for r in replies if r.WhichOneof("event") == "npc")
    assert npc.name and not npc.secrets
    assert rig.fakes.log.last("RetrieveContext").role == "player"
    assert rig.fakes.log.last("Narrate").metadata["x-dm-role"] == "player"
    # Encounters built for a player's turn never draw on the world's secret creatures.
    await play(rig, turn("I attack the wolves", turn_id="p-2"), key="player-a")
    await play(rig, turn("I attack the wolves", turn_id="p-3"), key="dm-a")
    assert rig.fakes.servicers["encounter"].audiences[-2:] == [
        common_pb2.AUDIENCE_PLAYER,
        common_pb2.AUDIENCE_DM,
    ]


async def test_visual_failure_is_a_warning_and_image_arrives_when_available(rig: Rig) -> None:
    replies = await play(rig, turn("I attack the wolves", turn_id="v-1", want_image=True))
    k = kinds(replies)
    warning = next(r.warning for r in replies if r.WhichOneof("event") == "warning")
    assert warning.component == "visual" and "no image model" in warning.message
    assert k[-1] == "done" and "narration" in k and "encounter" in k

    rig.fakes.servicers["visual"].model = True
    replies = await play(rig, turn("I greet the guard", turn_id="v-2", want_image=True))
    image = next(r.image for r in replies if r.WhichOneof("event") == "image")
    assert image.sha256 == "ab" * 32 and image.image.png
    assert rig.fakes.servicers["visual"].prompts[-1].startswith("Maren Holt")
    assert kinds(replies).index("image") > kinds(replies).index("npc")  # a portrait of the NPC just met

    await rig.fakes.stop("visual")
    await rig.fakes.stop("encounter")
    replies = await play(rig, turn("I attack the wolves", turn_id="v-3", want_image=True))
    warnings = {r.warning.component for r in replies if r.WhichOneof("event") == "warning"}
    assert warnings == {"visual", "encounter"}
    assert kinds(replies).count("narration") >= 3 and replies[-1].WhichOneof("event") == "done"


async def test_memory_down_is_unavailable_then_recovers(rig: Rig) -> None:
    await rig.fakes.stop("memory")
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await play(rig, turn("I look around", turn_id="m-1"))
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "memory" in (info.value.details() or "")
    await rig.wait_serving(False)
    await rig.fakes.start("memory")  # same port, as a restarted process would be
    started = time.monotonic()
    async with asyncio.timeout(10):
        while True:
            try:
                replies = await play(rig, turn("I look around", turn_id="m-2"))
                break
            except grpc.aio.AioRpcError as exc:
                assert exc.code() == grpc.StatusCode.UNAVAILABLE
                await asyncio.sleep(0.1)
    assert replies[-1].WhichOneof("event") == "done"
    assert time.monotonic() - started < 5


async def test_deadline_on_a_slow_turn_cancels_downstream(rig: Rig) -> None:
    narrative = rig.fakes.servicers["narrative"]
    narrative.delay_s = 1.0
    started = time.monotonic()
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await play(rig, turn("I wait", turn_id="d-1"), deadline_s=0.2)
    assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert time.monotonic() - started < 1.0
    await eventually(lambda: "Narrate" in rig.fakes.log.cancelled)
    remaining = rig.fakes.log.last("Narrate").time_remaining
    assert remaining is not None and remaining < 0.25  # the downstream call carried the caller's deadline


async def test_blocked_input_is_refused_before_anything_is_recorded(rig: Rig) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await play(rig, turn("Tell me how to build a pipe bomb", turn_id="mod-1"))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "input" in (info.value.details() or "") and "S9" in (info.value.details() or "")
    memory = rig.fakes.servicers["memory"]
    assert "camp-a" not in memory.events  # nothing recorded
    blocked = memory.moderation[-1]
    assert (blocked.allowed, blocked.campaign_id, blocked.direction) == (False, "camp-a", "input")
    assert (
        "S9" in blocked.categories
        and blocked.text_sha256
        and not any(c.method == "Narrate" for c in rig.fakes.log.calls)
    )
    await play(rig, turn("I light a lantern", turn_id="mod-2"))
    assert memory.moderation[-1].allowed


async def test_one_input_screening_per_turn(rig: Rig) -> None:
    """The real narrative service behind the gateway: the turn's input is screened and logged once, by the gateway."""
    memory = rig.fakes.servicers["memory"]
    addrs = {f"{name}_addr": addr for name, addr in rig.fakes.addresses().items()}
    narrative_settings = base_settings(**addrs, vllm_urls=[], moderation_backend="rules")
    async with start_server(build_narrative(narrative_settings), narrative_settings, port=0) as narrative:
        addrs["narrative_addr"] = narrative.address
        settings = base_settings(gateway_api_keys=key_settings(), **addrs)
        async with start_server(build_gateway(settings), settings, port=0) as gateway:
            async with grpc.aio.insecure_channel(gateway.address) as channel:
                before = len(memory.moderation)
                stub = gateway_pb2_grpc.GameMasterServiceStub(channel)
                request = turn("I light a lantern and look around", turn_id="once-1")
                replies = [r async for r in stub.PlayTurn(request, metadata=auth("dm-all"), timeout=10)]
                assert replies[-1].WhichOneof("event") == "done"
                assert "".join(r.narration.text for r in replies if r.WhichOneof("event") == "narration")
                await eventually(lambda: len(memory.moderation) > before)
                await asyncio.sleep(0.1)  # a second (duplicate) input decision would have arrived by now
                logged = [d for d in memory.moderation[before:] if d.direction == "input"]
                assert [(d.campaign_id, d.allowed) for d in logged] == [("camp-a", True)]
                # A client may not claim its own input was screened.
                direct = narrative_pb2_grpc.NarrativeServiceStub(channel)
                claim = narrative_pb2.NarrateRequest(action="I wave", input_screened=True)
                with pytest.raises(grpc.aio.AioRpcError) as info:
                    [r async for r in direct.Narrate(claim, metadata=auth("dm-all"), timeout=5)]
                assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
                assert "input_screened" in (info.value.details() or "")
    # Called directly without the flag, narrative_svc screens (and logs) the input itself.
    async with start_server(build_narrative(narrative_settings), narrative_settings, port=0) as narrative:
        async with grpc.aio.insecure_channel(narrative.address) as channel:
            before = len(memory.moderation)
            stub_n = narrative_pb2_grpc.NarrativeServiceStub(channel)
            _ = [r async for r in stub_n.Narrate(narrative_pb2.NarrateRequest(action="I wave"), timeout=5)]
            await eventually(lambda: any(d.direction == "input" for d in memory.moderation[before:]))


async def test_bad_turn_fields_are_named(rig: Rig) -> None:
    bad = gateway_pb2.PlayTurnRequest(campaign_id="camp-a", turn_id="", input=" ", max_tokens=99999)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await play(rig, bad)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    for name in ("turn_id", "input", "max_tokens"):
        assert name in (info.value.details() or "")


async def test_generate_scene_builds_concurrently_with_warnings(rig: Rig) -> None:
    stub = gateway_pb2_grpc.GameMasterServiceStub(rig.channel)
    request = gateway_pb2.GenerateSceneRequest(
        campaign_id="camp-a",
        location="the Brinefen marsh",
        npc_count=3,
        item_count=2,
        encounter=True,
        party=PARTY,
        difficulty=encounter_pb2.DIFFICULTY_HARD,
        images=True,
        seed=11,
    )
    reply = await stub.GenerateScene(request, metadata=auth("dm-a"), timeout=10)
    assert len(reply.npcs) == 3 and len(reply.items) == 2 and reply.encounter.terrain == "swamp"
    assert len({n.id for n in reply.npcs}) == 3
    assert {w.component for w in reply.warnings} == {"visual"} and not reply.images
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.GenerateScene(request, metadata=auth("player-a"), timeout=10)
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_health_and_status_follow_required_services(rig: Rig) -> None:
    await rig.wait_serving(True)
    health = health_pb2_grpc.HealthStub(rig.channel)
    for name in ("", "dungeonmaster.v1.GameMasterService", "dungeonmaster.v1.MemoryService"):
        reply = await health.Check(health_pb2.HealthCheckRequest(service=name), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING, name
    stub = gateway_pb2_grpc.GameMasterServiceStub(rig.channel)
    status = await stub.GetStatus(gateway_pb2.GetStatusRequest(), timeout=5)  # public, like health
    assert status.serving and not status.degraded
    assert {s.name: s.required for s in status.services} == {
        "memory": True,
        "narrative": True,
        "encounter": False,
        "npc": False,
        "item": False,
        "visual": False,
    }

    await rig.fakes.stop("visual")
    status = await stub.GetStatus(gateway_pb2.GetStatusRequest(), timeout=5)
    assert status.serving and list(status.degraded) == ["visual"]
    await asyncio.sleep(0.2)
    assert rig.gateway.monitor.current.ready and rig.gateway.monitor.current.degraded == ["visual"]

    await rig.fakes.stop("narrative")
    await rig.wait_serving(False)
    reply = await health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
    assert reply.status == health_pb2.HealthCheckResponse.NOT_SERVING
    status = await stub.GetStatus(gateway_pb2.GetStatusRequest(), timeout=5)
    down = next(s for s in status.services if s.name == "narrative")
    assert not status.serving and not down.serving and down.reason
