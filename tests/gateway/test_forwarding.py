"""Forwarding: every module RPC served, bytes unchanged, metadata/deadlines/cancellation/errors passed through."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_status import rpc_status

from dungeonmaster.v1 import encounter_pb2, memory_pb2, narrative_pb2, visual_pb2
from gateway.access import POLICIES, policy_for
from gateway.routes import MODULES, module_routes, module_service_names
from tests.gateway.conftest import Rig, auth, eventually

DM = auth("dm-all")
#: gRPC rounds a timeout up on the wire, so a server may see slightly more than was sent.
SLACK = 0.2


def test_every_module_rpc_is_routed_and_has_a_policy() -> None:
    routes = module_routes()
    expected = sum(len(m.DESCRIPTOR.services_by_name[s].methods) for m, s in MODULES.values())
    assert len(routes) == expected > 40
    for route in routes.values():
        policy_for(route.full_service, route.name)  # KeyError = an RPC nobody decided on
    assert {k for k in POLICIES if not k.startswith("GameMasterService/")} == {
        f"{r.full_service.rsplit('.', 1)[1]}/{r.name}" for r in routes.values()
    }
    streaming = {r.name for r in routes.values() if r.client_streaming or r.server_streaming}
    assert {"IngestLore", "Narrate", "StreamImage"} <= streaming
    assert routes["/dungeonmaster.v1.MemoryService/GetCampaign"].idempotent
    assert routes["/dungeonmaster.v1.EncounterService/RollDice"].idempotent
    assert not routes["/dungeonmaster.v1.MemoryService/CreateWorld"].idempotent
    assert not routes["/dungeonmaster.v1.NpcService/GenerateNpc"].idempotent


async def test_unary_bytes_are_identical_through_the_gateway(rig: Rig) -> None:
    request = memory_pb2.ListWorldsRequest(page_size=4).SerializeToString()
    path = "/dungeonmaster.v1.MemoryService/ListWorlds"
    via = await rig.raw(path)(request, metadata=DM, timeout=5)
    async with grpc.aio.insecure_channel(rig.fakes.addresses()["memory"]) as direct_channel:
        direct = await direct_channel.unary_unary(path)(request, timeout=5)
    assert isinstance(via, bytes) and via == direct
    assert len(memory_pb2.ListWorldsResponse.FromString(via).worlds) == 4


async def test_server_stream_and_client_stream_forwarded(rig: Rig) -> None:
    spec = visual_pb2.ImageSpec(prompt="a lighthouse", steps=1, seed=9)
    call = rig.raw("/dungeonmaster.v1.VisualService/StreamImage", "unary_stream")(
        visual_pb2.StreamImageRequest(spec=spec).SerializeToString(), metadata=DM, timeout=5
    )
    replies = [visual_pb2.StreamImageResponse.FromString(b) async for b in call]
    assert [r.WhichOneof("event") for r in replies] == ["progress"] * 3 + ["image"]
    assert replies[-1].image.seed == 9

    async def docs():  # type: ignore[no-untyped-def]
        for i in range(3):
            yield memory_pb2.IngestLoreRequest(
                world_id="w", path=f"{i}.md", content="# a\n# b"
            ).SerializeToString()

    reply = await rig.raw("/dungeonmaster.v1.MemoryService/IngestLore", "stream_unary")(
        docs(), metadata=auth("service-all"), timeout=5
    )
    result = memory_pb2.IngestLoreResponse.FromString(reply)
    assert (result.documents, result.chunks) == (3, 6)


async def test_metadata_forwarded_identity_replaced_credentials_dropped(rig: Rig) -> None:
    forged = (
        ("x-request-id", "turn-77"),
        ("x-dm-role", "dm"),
        ("x-dm-campaigns", "camp-b"),
        ("x-dm-key-id", "admin"),
        ("traceparent", "00-abc-def-01"),
    )
    request = memory_pb2.GetCharacterRequest(character_id="char-a").SerializeToString()
    call = rig.raw("/dungeonmaster.v1.MemoryService/GetCharacter")(
        request, metadata=(*auth("player-a"), *forged), timeout=5
    )
    await call
    seen = rig.fakes.log.last("GetCharacter")
    assert seen.metadata["x-request-id"] == "turn-77"
    assert seen.metadata["traceparent"] == "00-abc-def-01"
    assert (seen.metadata["x-dm-role"], seen.metadata["x-dm-campaigns"], seen.metadata["x-dm-key-id"]) == (
        "player",
        "camp-a",
        "player-a",
    )
    assert (seen.role, seen.campaigns) == ("player", ("camp-a",))
    assert "authorization" not in seen.metadata and "x-api-key" not in seen.metadata
    trailing = dict(await call.trailing_metadata())
    assert trailing["x-request-id"] == "turn-77"


async def test_reply_metadata_and_rich_errors_relayed(rig: Rig) -> None:
    path = "/dungeonmaster.v1.MemoryService/ListWorlds"
    call = rig.raw(path)(
        memory_pb2.ListWorldsRequest(page_size=1).SerializeToString(), metadata=DM, timeout=5
    )
    await call
    assert dict(await call.trailing_metadata())["x-fake-trailer"] == "t"

    with pytest.raises(grpc.aio.AioRpcError) as info:
        await rig.raw(path)(
            memory_pb2.ListWorldsRequest(page_size=-1).SerializeToString(), metadata=DM, timeout=5
        )
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = rpc_status.from_call(info.value)
    assert status is not None
    bad = error_details_pb2.BadRequest()
    assert any(d.Unpack(bad) for d in status.details if d.Is(bad.DESCRIPTOR))
    assert bad.field_violations[0].field == "page_size"


async def test_deadline_propagated_and_defaulted(rig: Rig) -> None:
    path = "/dungeonmaster.v1.EncounterService/RollDice"
    request = encounter_pb2.RollDiceRequest(notation="1d20", seed=3).SerializeToString()
    await rig.raw(path)(request, metadata=DM, timeout=1.5)
    remaining = rig.fakes.log.last("RollDice").time_remaining
    assert remaining is not None and 0.5 < remaining <= 1.5 + SLACK
    await rig.raw(path)(request, metadata=DM)  # no deadline: the gateway's default applies
    remaining = rig.fakes.log.last("RollDice").time_remaining
    default = rig.settings.gateway_default_deadline_s
    assert remaining is not None and default - 2 < remaining <= default + SLACK


async def test_cancellation_reaches_the_service(rig: Rig) -> None:
    spec = visual_pb2.ImageSpec(prompt="slow", steps=5000)  # 5 s between progress messages
    call = rig.raw("/dungeonmaster.v1.VisualService/StreamImage", "unary_stream")(
        visual_pb2.StreamImageRequest(spec=spec).SerializeToString(), metadata=DM, timeout=30
    )
    first = await call.read()
    assert visual_pb2.StreamImageResponse.FromString(first).progress.step == 1
    call.cancel()
    await eventually(lambda: "StreamImage" in rig.fakes.log.cancelled)


async def test_retries_only_idempotent_methods(rig: Rig) -> None:
    log = rig.fakes.log
    log.failures["GetWorld"] = 2
    reply = await rig.raw("/dungeonmaster.v1.MemoryService/GetWorld")(
        memory_pb2.GetWorldRequest(world_id="w1").SerializeToString(), metadata=DM, timeout=5
    )
    assert memory_pb2.GetWorldResponse.FromString(reply).world.id == "w1"
    assert sum(c.method == "GetWorld" for c in log.calls) == 3

    log.failures["CreateWorld"] = 1
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await rig.raw("/dungeonmaster.v1.MemoryService/CreateWorld")(
            memory_pb2.CreateWorldRequest(slug="x").SerializeToString(), metadata=DM, timeout=5
        )
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    assert sum(c.method == "CreateWorld" for c in log.calls) == 1


async def test_reflection_lists_every_service(rig: Rig) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(rig.channel)

    async def ask():  # type: ignore[no-untyped-def]
        yield reflection_pb2.ServerReflectionRequest(list_services="")

    # Read the stream to its end: a cancelled reflection stream can stall server shutdown in a second event loop.
    replies = [r async for r in stub.ServerReflectionInfo(ask(), timeout=5)]
    names = {s.name for s in replies[0].list_services_response.service}
    assert set(module_service_names()) | {"dungeonmaster.v1.GameMasterService"} <= names
    assert "grpc.health.v1.Health" in names


async def test_unknown_service_down_is_unavailable_with_status(rig: Rig) -> None:
    await rig.fakes.stop("item")
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await rig.raw("/dungeonmaster.v1.ItemService/AppraiseItem")(b"", metadata=DM, timeout=5)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_pinning_campaign_facts_is_forwarded_for_the_dm_only(rig: Rig) -> None:
    pin = rig.raw("/dungeonmaster.v1.MemoryService/PinFact")
    request = memory_pb2.PinFactRequest(campaign_id="camp-a", text="The oath binds Mira.", request_id="p1")
    with pytest.raises(grpc.aio.AioRpcError) as player:
        await pin(request.SerializeToString(), metadata=auth("player-a"), timeout=5)
    assert player.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert not any(c.method == "PinFact" for c in rig.fakes.log.calls), "refused at the gateway"
    # A DM key reaches memory, with the DM's identity.
    reply = memory_pb2.PinFactResponse.FromString(
        await pin(request.SerializeToString(), metadata=auth("dm-a"), timeout=5)
    )
    assert reply.fact.content == "The oath binds Mira."
    seen = rig.fakes.log.last("PinFact")
    assert (seen.role, seen.campaigns) == ("dm", ("camp-a",))
    for method in ("ListPinnedFacts", "UnpinFact"):
        assert policy_for("dungeonmaster.v1.MemoryService", method).campaign == "required"
    assert "player" not in policy_for("dungeonmaster.v1.MemoryService", "UnpinFact").roles


async def test_ending_a_session_refreshes_its_summary_and_the_arc(rig: Rig) -> None:
    update = rig.raw("/dungeonmaster.v1.MemoryService/UpdateSession")
    narrative = rig.fakes.servicers["narrative"]
    before = len(narrative.summaries)
    await update(memory_pb2.UpdateSessionRequest(session_id="s1", title="x").SerializeToString(), metadata=DM)
    await update(memory_pb2.UpdateSessionRequest(session_id="s1", end=True).SerializeToString(), metadata=DM)
    await eventually(lambda: len(narrative.summaries) >= before + 2)
    made = narrative.summaries[before:]
    assert [(r.campaign_id, r.session_id, r.level) for r in made] == [
        ("camp-a", "s1", narrative_pb2.SUMMARY_LEVEL_SESSION),
        ("camp-a", "s1", narrative_pb2.SUMMARY_LEVEL_ARC),
    ]
    assert rig.fakes.log.last("SummarizeSession").role == "dm"  # with the caller's identity
