"""Saving an NPC into the real memory service (both services as real processes): the character is retrievable,
its secrets are returned to the DM only, and a player-audience RetrieveContext never contains them."""

from __future__ import annotations

import time
from pathlib import Path

import grpc
import pytest

from dungeonmaster.v1 import common_pb2, memory_pb2, memory_pb2_grpc, npc_pb2, npc_pb2_grpc
from tests.support.procs import mesh_env, running

pytestmark = pytest.mark.slow

DM, PLAYER = common_pb2.AUDIENCE_DM, common_pb2.AUDIENCE_PLAYER


def _texts(reply: memory_pb2.RetrieveContextResponse) -> list[str]:
    groups = (reply.pinned, reply.lore, reply.campaign, reply.character_states, reply.recent_events)
    return [p.text for group in groups for p in group]


def _wait_indexed(memory: memory_pb2_grpc.MemoryServiceStub, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = memory.GetIndexStatus(memory_pb2.GetIndexStatusRequest(), timeout=10)
        if status.outbox_pending == 0:
            return
        time.sleep(0.2)
    raise TimeoutError("memory's outbox did not drain")


def test_saved_npc_is_retrievable_and_its_secrets_stay_dm_only(tmp_path: Path) -> None:
    env = mesh_env(tmp_path / "data")
    with running(["memory", "npc"], env, tmp_path / "logs") as procs:
        with (
            grpc.insecure_channel(procs["memory"].address) as mch,
            grpc.insecure_channel(procs["npc"].address) as nch,
        ):
            memory = memory_pb2_grpc.MemoryServiceStub(mch)
            npcs = npc_pb2_grpc.NpcServiceStub(nch)
            memory.CreateWorld(
                memory_pb2.CreateWorldRequest(slug="ashen-reach", name="The Ashen Reach"), timeout=30
            )
            campaign = memory.CreateCampaign(
                memory_pb2.CreateCampaignRequest(world_id="ashen-reach", name="Salt and Ash"), timeout=30
            ).campaign
            maud = memory.CreateCharacter(
                memory_pb2.CreateCharacterRequest(
                    campaign_id=campaign.id,
                    character=memory_pb2.Character(
                        name="Maud Thatcher", is_npc=True, description="A ferrywoman."
                    ),
                ),
                timeout=30,
            ).character

            reply = npcs.GenerateNpc(
                npc_pb2.GenerateNpcRequest(archetype="spy", campaign_id=campaign.id, save=True, seed=31),
                timeout=60,
            )
            npc, cid = reply.npc, reply.character_id
            assert cid and npc.id == cid and npc.secrets
            # The relationship to the campaign's existing NPC came from memory and was recorded there.
            assert any(r.target_id == maud.id for r in npc.relationships)
            links = memory.ListRelationships(
                memory_pb2.ListRelationshipsRequest(campaign_id=campaign.id, entity=f"character:{cid}"),
                timeout=30,
            ).relationships
            assert any(link.target == f"character:{maud.id}" for link in links)

            as_dm = memory.GetCharacter(
                memory_pb2.GetCharacterRequest(character_id=cid, audience=DM), timeout=30
            )
            as_player = memory.GetCharacter(
                memory_pb2.GetCharacterRequest(character_id=cid, audience=PLAYER), timeout=30
            )
            assert list(as_dm.character.secrets) == list(npc.secrets)
            assert list(as_player.character.secrets) == []
            assert as_player.character.name == npc.name and as_player.character.stat_block.hit_points > 0

            _wait_indexed(memory)
            query = f"{npc.name} " + " ".join(npc.secrets)
            player_ctx = memory.RetrieveContext(
                memory_pb2.RetrieveContextRequest(
                    campaign_id=campaign.id, query=query, audience=PLAYER, character_ids=[cid], top_k=20
                ),
                timeout=60,
            )
            player_text = "\n".join(_texts(player_ctx))
            assert npc.name in player_text, "the saved NPC is retrievable"
            for secret in npc.secrets:
                assert secret not in player_text, "a player-audience retrieval must never contain a secret"
            dm_ctx = memory.RetrieveContext(
                memory_pb2.RetrieveContextRequest(
                    campaign_id=campaign.id, query=query, audience=DM, top_k=20
                ),
                timeout=60,
            )
            assert any(secret in "\n".join(_texts(dm_ctx)) for secret in npc.secrets), "the DM does see them"
