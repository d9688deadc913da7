"""BuildCharacter and ResolveCheck forwarded by the gateway to real npc, encounter and memory services (in-process,
loopback, SQLite file): a player's key builds and rolls in its own campaign and is refused in any other, by the
campaign it names or by the campaign that owns the character it names; nothing is stored or logged then."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
import pytest_asyncio

from dungeonmaster.v1 import common_pb2, encounter_pb2, encounter_pb2_grpc, memory_pb2, npc_pb2, npc_pb2_grpc
from encounter_svc.service import build_spec as encounter_spec
from gateway.keys import hash_key
from gateway.service import build_spec as gateway_spec
from mesh.server import start_server
from npc_svc.service import build_spec as npc_spec
from rules.sheets import pregenerated
from tests.encounter.test_service import make_settings as encounter_settings
from tests.gateway.conftest import base_settings
from tests.memory.conftest import MemoryFactory, embedder, make_memory, milvus_backend  # noqa: F401 - fixtures
from tests.memory.test_service import serving
from tests.npc.conftest import npc_settings

PLAYER_KEY, DM_KEY = "dmk_test_player_ours", "dmk_test_dm_everything"


def _auth(key: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {key}"),)


@dataclass
class Table:
    npcs: npc_pb2_grpc.NpcServiceStub
    checks: encounter_pb2_grpc.EncounterServiceStub
    memory: Any
    ours: str
    theirs: str
    hero: str
    stranger: str

    async def stored(self, campaign: str) -> tuple[int, int]:
        chars = await self.memory.ListCharacters(memory_pb2.ListCharactersRequest(campaign_id=campaign))
        events = await self.memory.ListEvents(
            memory_pb2.ListEventsRequest(campaign_id=campaign, kinds=[memory_pb2.EVENT_KIND_CHECK])
        )
        return len(chars.characters), len(events.events)


@pytest_asyncio.fixture(loop_scope="package")
async def table(make_memory: MemoryFactory) -> AsyncIterator[Table]:  # noqa: F811 - the fixture
    async with serving(make_memory()) as (memory_srv, memory):
        world = (await memory.CreateWorld(memory_pb2.CreateWorldRequest(slug="w", name="W"))).world
        ours = (
            await memory.CreateCampaign(memory_pb2.CreateCampaignRequest(world_id=world.id, name="A"))
        ).campaign
        theirs = (
            await memory.CreateCampaign(memory_pb2.CreateCampaignRequest(world_id=world.id, name="B"))
        ).campaign
        ids = []
        for campaign, cls in ((ours.id, "rogue"), (theirs.id, "fighter")):
            made = await memory.CreateCharacter(
                memory_pb2.CreateCharacterRequest(
                    campaign_id=campaign,
                    character=memory_pb2.Character(
                        name=cls, sheet_json=json.dumps(pregenerated(cls, 3).to_json())
                    ),
                )
            )
            ids.append(made.character.id)
        n_settings = npc_settings(memory_addr=memory_srv.address)
        e_settings = encounter_settings(memory_addr=memory_srv.address, default_deadline_s=5.0)
        async with (
            start_server(npc_spec(n_settings), n_settings, port=0) as npc_srv,
            start_server(encounter_spec(e_settings), e_settings, port=0) as enc_srv,
        ):
            keys = [
                {"id": "player", "sha256": hash_key(PLAYER_KEY), "role": "player", "campaigns": [ours.id]},
                {"id": "dm", "sha256": hash_key(DM_KEY), "role": "dm", "campaigns": ["*"]},
            ]
            settings = base_settings(
                gateway_api_keys=keys,
                memory_addr=memory_srv.address,
                npc_addr=npc_srv.address,
                encounter_addr=enc_srv.address,
            )
            async with start_server(gateway_spec(settings), settings, port=0) as gateway:
                async with grpc.aio.insecure_channel(gateway.address) as channel:
                    yield Table(
                        npc_pb2_grpc.NpcServiceStub(channel),
                        encounter_pb2_grpc.EncounterServiceStub(channel),
                        memory,
                        ours.id,
                        theirs.id,
                        ids[0],
                        ids[1],
                    )


async def _code(call: Any) -> grpc.StatusCode:
    try:
        await call
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


async def test_a_player_builds_and_rolls_only_in_its_campaign(table: Table) -> None:
    build = npc_pb2.BuildCharacterRequest(character_class="wizard", level=2, pregenerated=True, save=True)
    build.campaign_id = table.ours
    made = await table.npcs.BuildCharacter(build, metadata=_auth(PLAYER_KEY), timeout=10)
    assert made.character_id and made.sheet.character_class == "wizard"
    unsaved = npc_pb2.BuildCharacterRequest(character_class="bard", level=1, pregenerated=True)
    assert (await table.npcs.BuildCharacter(unsaved, metadata=_auth(PLAYER_KEY), timeout=10)).sheet.name
    build.campaign_id = table.theirs
    code = await _code(table.npcs.BuildCharacter(build, metadata=_auth(PLAYER_KEY), timeout=10))
    assert code == grpc.StatusCode.PERMISSION_DENIED

    check = encounter_pb2.ResolveCheckRequest(
        campaign_id=table.ours,
        character_id=table.hero,
        kind=common_pb2.CHECK_KIND_SKILL,
        skill="investigation",
        difficulty=common_pb2.CHECK_DIFFICULTY_MEDIUM,
        check_id="t1",
    )
    rolled = await table.checks.ResolveCheck(check, metadata=_auth(PLAYER_KEY), timeout=10)
    assert rolled.result.dc == 15 and rolled.result.character_id == table.hero and rolled.event_id
    # The character's campaign is not the key's: refused whatever campaign the request names (by the named
    # campaign; or by the owner lookup, which memory answers for a player as if the character did not exist).
    refused = {
        table.theirs: {grpc.StatusCode.PERMISSION_DENIED},
        table.ours: {grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.NOT_FOUND},
    }
    for campaign, codes in refused.items():
        other = encounter_pb2.ResolveCheckRequest()
        other.CopyFrom(check)
        other.campaign_id, other.character_id, other.check_id = campaign, table.stranger, "t2"
        code = await _code(table.checks.ResolveCheck(other, metadata=_auth(PLAYER_KEY), timeout=10))
        assert code in codes, (campaign, code)
    # A key for every campaign passes the gateway; the service still refuses a mismatched character.
    mixed = encounter_pb2.ResolveCheckRequest()
    mixed.CopyFrom(check)
    mixed.character_id, mixed.check_id = table.stranger, "t3"
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await table.checks.ResolveCheck(mixed, metadata=_auth(DM_KEY), timeout=10)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND and "character_id" in (err.value.details() or "")

    assert await table.stored(table.ours) == (2, 1)  # the hero and the saved wizard; one check
    assert await table.stored(table.theirs) == (1, 0)  # the stranger only; nothing rolled there
