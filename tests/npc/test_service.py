"""NpcService over gRPC: an in-process server on a free port called through the generated stub, and one real
process; bad input is INVALID_ARGUMENT with BadRequest field violations that list the valid values."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from google.protobuf import json_format
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from dungeonmaster.v1 import common_pb2, npc_pb2, npc_pb2_grpc
from lore import World
from mesh.status import unpack_details
from tests.support.procs import mesh_env, running


def _without_latency(msg: npc_pb2.GenerateNpcResponse) -> dict[str, object]:
    data = json_format.MessageToDict(msg)
    data["info"].pop("latencyMs", None)
    return data


async def test_generate_npc(npc_stub: npc_pb2_grpc.NpcServiceStub, world: World) -> None:
    req = npc_pb2.GenerateNpcRequest(archetype="knight", rank="Countess", challenge_rating=4, seed=11)
    reply = await npc_stub.GenerateNpc(req)
    npc = reply.npc
    assert npc.archetype == "knight" and npc.rank == "earl" and npc.title in ("Earl", "Countess")
    assert world.culture(npc.culture) and world.faith(npc.faith)
    assert npc.target_challenge_rating == 4 == npc.rated_challenge_rating and npc.rating_note == ""
    sb = npc.stat_block
    assert sb.challenge.display == "4" and sb.challenge.xp == 1100 and sb.proficiency_bonus == 2
    assert sb.hit_points > 0 and "d8" in sb.hit_dice and sb.armor_class >= 13
    assert sb.size == common_pb2.CREATURE_SIZE_MEDIUM and sb.source == "world:knight"
    assert any(a.HasField("attack_bonus") for a in sb.actions)
    assert npc.secrets and npc.traits and npc.ideals and npc.bonds and npc.flaws and npc.voice
    assert reply.info.procedural and reply.info.backend == "procedural" and reply.info.seed == 11
    again = await npc_stub.GenerateNpc(req)
    assert _without_latency(again) == _without_latency(reply)


async def test_seed_zero_picks_one_and_echoes_it(npc_stub: npc_pb2_grpc.NpcServiceStub) -> None:
    reply = await npc_stub.GenerateNpc(npc_pb2.GenerateNpcRequest())
    assert reply.info.seed > 0
    same = await npc_stub.GenerateNpc(npc_pb2.GenerateNpcRequest(seed=reply.info.seed))
    assert same.npc.name == reply.npc.name and same.npc.archetype == reply.npc.archetype


async def _violations(call: grpc.aio.UnaryUnaryCall) -> dict[str, str]:  # type: ignore[type-arg]
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = await rpc_status.aio.from_call(call)
    bad = [d for d in unpack_details(status) if isinstance(d, error_details_pb2.BadRequest)]
    assert bad, "a BadRequest detail names the fields"
    return {v.field: v.description for v in bad[0].field_violations}


@pytest.mark.parametrize(
    ("fields", "field", "listed"),
    [
        ({"archetype": "dragon-lord"}, "archetype", "hedge-witch"),
        ({"archetype": "guard", "rank": "Emperor"}, "rank", "marquess"),
        ({"archetype": "guard", "faith": "Sun Cult"}, "faith", "old-tide"),
        ({"archetype": "guard", "culture": "Elvish"}, "culture", "brinefolk"),
        ({"archetype": "merchant", "challenge_rating": 3}, "challenge_rating", "1/4"),
        ({"archetype": "guard", "challenge_rating": 40}, "challenge_rating", "30"),
        ({"archetype": "guard", "level": 21}, "level", "1-20"),
        ({"world_id": "middle-earth"}, "world_id", "ashen-reach"),
    ],
)
async def test_bad_input_lists_valid_values(
    npc_stub: npc_pb2_grpc.NpcServiceStub, fields: dict[str, object], field: str, listed: str
) -> None:
    found = await _violations(npc_stub.GenerateNpc(npc_pb2.GenerateNpcRequest(**fields)))  # type: ignore[arg-type]
    assert field in found and listed in found[field], found


async def test_save_needs_a_campaign_and_a_reachable_memory(npc_stub: npc_pb2_grpc.NpcServiceStub) -> None:
    found = await _violations(npc_stub.GenerateNpc(npc_pb2.GenerateNpcRequest(save=True, seed=1)))
    assert "campaign_id" in found
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await npc_stub.GenerateNpc(npc_pb2.GenerateNpcRequest(save=True, campaign_id="c-1", seed=1))
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE  # memory is a closed port in this fixture


async def test_options(npc_stub: npc_pb2_grpc.NpcServiceStub, world: World) -> None:
    opts = await npc_stub.GetNpcOptions(npc_pb2.GetNpcOptionsRequest())
    assert [r.id for r in opts.ranks] == [r.id for r in world.ranked()] and opts.ranks[0].id == "monarch"
    assert {a.id for a in opts.archetypes} == set(world.archetypes.ids())
    assert {t.id for t in opts.templates} == {"undead", "fey-touched", "aberrant", "fiendish", "celestial"}
    assert {c.id for c in opts.cultures} == set(world.cultures.ids())


async def test_build_creature(npc_stub: npc_pb2_grpc.NpcServiceStub) -> None:
    reply = await npc_stub.BuildCreature(
        npc_pb2.BuildCreatureRequest(base_monster="wolf", template="undead", seed=3)
    )
    sb = reply.stat_block
    assert sb.creature_type == "undead" and "poison" in sb.damage_immunities
    assert {"exhaustion", "poisoned"} <= set(sb.condition_immunities)
    assert any(s.name == "darkvision" and s.range_ft >= 60 for s in sb.senses)
    assert sb.challenge.value == reply.rated_challenge_rating
    assert any("poison" in c for c in reply.changes)
    target = await npc_stub.BuildCreature(
        npc_pb2.BuildCreatureRequest(base_monster="wolf", template="fey-touched", challenge_rating=6, seed=3)
    )
    assert target.stat_block.challenge.value == 6 and target.rated_challenge_rating == 6
    found = await _violations(
        npc_stub.BuildCreature(npc_pb2.BuildCreatureRequest(base_monster="wolf", template="x"))
    )
    assert "aberrant" in found["template"]


@pytest.mark.slow
def test_as_a_real_process(tmp_path: Path) -> None:
    env = mesh_env(tmp_path / "data")
    with running(["npc"], env, tmp_path / "logs") as procs:
        with grpc.insecure_channel(procs["npc"].address) as channel:
            stub = npc_pb2_grpc.NpcServiceStub(channel)
            reply = stub.GenerateNpc(npc_pb2.GenerateNpcRequest(archetype="sage", seed=9), timeout=30)
            assert reply.npc.archetype == "sage" and reply.npc.stat_block.hit_points > 0
