"""Regression tests for the leaks found by probing the mesh as an attacker: one test per leak.

Every test first shows the data is really there (for its rightful owner), then that the wrong caller does not get
it, so none of them can pass on an empty mesh.
"""

from __future__ import annotations

import json
from typing import Any

import grpc
import pytest

from dungeonmaster.v1 import (
    common_pb2,
    memory_pb2,
    memory_pb2_grpc,
    npc_pb2,
    npc_pb2_grpc,
    visual_pb2,
    visual_pb2_grpc,
)
from tests.gateway.realmesh import RealMesh
from tests.security.conftest import as_service

NPC_NAME = "Mirela Quillfeather"
NPC_DESCRIPTION = "a silver-haired cartographer with ink-stained fingers"
PNG = b"\x89PNG\r\n\x1a\n" + b"leak-regression-image" * 8


def _code(call: Any) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as info:
        call()
    code: grpc.StatusCode = info.value.code()
    return code


def _npc_of_a(mesh: RealMesh, channel: grpc.Channel) -> str:
    memory = memory_pb2_grpc.MemoryServiceStub(channel)
    created = memory.CreateCharacter(
        memory_pb2.CreateCharacterRequest(
            campaign_id=mesh.campaign_a,
            character=memory_pb2.Character(
                name=NPC_NAME,
                is_npc=True,
                description=NPC_DESCRIPTION,
                secrets=["spies for the Quiet Office"],
            ),
        ),
        metadata=mesh.auth("dm-a"),
        timeout=30,
    )
    return str(created.character.id)


def test_build_image_prompt_with_another_campaigns_character_is_not_found(secure_mesh: RealMesh) -> None:
    with grpc.insecure_channel(secure_mesh.gateway) as channel:
        character_id = _npc_of_a(secure_mesh, channel)
        visual = visual_pb2_grpc.VisualServiceStub(channel)

        def prompt(key: str, cid: str) -> visual_pb2.BuildImagePromptResponse:
            request = visual_pb2.BuildImagePromptRequest(
                kind=visual_pb2.IMAGE_KIND_PORTRAIT, character_id=cid
            )
            reply: visual_pb2.BuildImagePromptResponse = visual.BuildImagePrompt(
                request, metadata=secure_mesh.auth(key), timeout=30
            )
            return reply

        assert NPC_NAME in prompt("player-a", character_id).prompt
        assert _code(lambda: prompt("player-b", character_id)) == grpc.StatusCode.NOT_FOUND
        # Exactly what an id that does not exist answers: ids are no oracle for other campaigns' characters.
        assert _code(lambda: prompt("player-b", str(int(character_id) + 10_000))) == grpc.StatusCode.NOT_FOUND
        with pytest.raises(grpc.RpcError) as info:
            prompt("player-b", character_id)
        assert NPC_NAME not in (info.value.details() or "")
        assert NPC_DESCRIPTION not in (info.value.details() or "")


def test_get_asset_of_another_campaign_is_not_found(secure_mesh: RealMesh) -> None:
    with grpc.insecure_channel(secure_mesh.gateway) as channel:
        memory = memory_pb2_grpc.MemoryServiceStub(channel)
        stored = memory.PutAsset(
            memory_pb2.PutAssetRequest(
                campaign_id=secure_mesh.campaign_a,
                asset=memory_pb2.Asset(kind="portrait", mime_type="image/png", data=PNG),
            ),
            metadata=secure_mesh.auth("dm-a"),
            timeout=30,
        )
        sha = stored.asset.sha256
        request = memory_pb2.GetAssetRequest(sha256=sha)
        assert memory.GetAsset(request, metadata=secure_mesh.auth("player-a"), timeout=30).asset.data == PNG
        assert (
            _code(lambda: memory.GetAsset(request, metadata=secure_mesh.auth("player-b"), timeout=30))
            == grpc.StatusCode.NOT_FOUND
        )


def test_npc_options_for_a_player_hide_faiths_of_dm_only_documents(secure_mesh: RealMesh) -> None:
    with grpc.insecure_channel(secure_mesh.gateway) as channel:
        npc = npc_pb2_grpc.NpcServiceStub(channel)
        request = npc_pb2.GetNpcOptionsRequest(world_id="ashen-reach")
        for_dm = npc.GetNpcOptions(request, metadata=secure_mesh.auth("dm-a"), timeout=30)
        for_player = npc.GetNpcOptions(request, metadata=secure_mesh.auth("player-a"), timeout=30)
    dm_faiths = {f.id for f in for_dm.faiths}
    player_faiths = {f.id for f in for_player.faiths}
    assert "the-kindled" in dm_faiths  # defined only in secrets.md (audience: dm)
    assert "the-kindled" not in player_faiths
    assert player_faiths and player_faiths < dm_faiths


def _secrets_in(value: Any) -> list[Any]:
    if isinstance(value, dict):
        found = [value["secrets"]] if "secrets" in value else []
        return found + [s for v in value.values() for s in _secrets_in(v)]
    if isinstance(value, list):
        return [s for v in value for s in _secrets_in(v)]
    return []


def test_lore_entry_metadata_for_players_carries_no_template_secrets(secure_mesh: RealMesh) -> None:
    with grpc.insecure_channel(secure_mesh.gateway) as channel:
        memory = memory_pb2_grpc.MemoryServiceStub(channel)
        listing = memory_pb2.ListLoreEntriesRequest(world_id="ashen-reach", page_size=1000)
        as_player = memory.ListLoreEntries(listing, metadata=secure_mesh.auth("player-a"), timeout=30).entries
        listing.audience = common_pb2.AUDIENCE_DM
        as_dm = memory.ListLoreEntries(listing, metadata=secure_mesh.auth("dm-a"), timeout=30).entries
        templates = [e for e in as_dm if e.source_path.endswith("npc_templates.md") and e.metadata_json]
        assert templates and any(_secrets_in(json.loads(e.metadata_json)) for e in templates)
        assert as_player
        for entry in as_player:
            assert not _secrets_in(json.loads(entry.metadata_json or "{}")), entry.key
        for entry in [e for e in as_player if e.source_path.endswith("npc_templates.md")][:5]:
            one = memory.GetLoreEntry(
                memory_pb2.GetLoreEntryRequest(entry_id=entry.id, world_id="ashen-reach"),
                metadata=secure_mesh.auth("player-a"),
                timeout=30,
            ).entry
            assert not _secrets_in(json.loads(one.metadata_json or "{}")), entry.key


@pytest.mark.parametrize("certificate", [None, "item"], ids=["no-certificate", "item-certificate"])
def test_direct_calls_to_memory_are_nobody_s_dm(secure_mesh: RealMesh, certificate: str | None) -> None:
    """The first leak: with no metadata at all, a direct call read DM secrets and wrote anywhere."""
    address = secure_mesh.procs["memory"].address
    channel = (
        grpc.insecure_channel(address)
        if certificate is None
        else grpc.secure_channel(address, as_service(secure_mesh, certificate))
    )
    expected = grpc.StatusCode.UNAVAILABLE if certificate is None else grpc.StatusCode.UNAUTHENTICATED
    with channel:
        memory = memory_pb2_grpc.MemoryServiceStub(channel)
        calls = {
            "ListModerationDecisions": lambda: memory.ListModerationDecisions(
                memory_pb2.ListModerationDecisionsRequest(campaign_id=secure_mesh.campaign_b), timeout=10
            ),
            "GetCharacter": lambda: memory.GetCharacter(
                memory_pb2.GetCharacterRequest(character_id="1", audience=common_pb2.AUDIENCE_DM), timeout=10
            ),
            "CreateCampaign": lambda: memory.CreateCampaign(
                memory_pb2.CreateCampaignRequest(world_id="ashen-reach", name="Intruder"), timeout=10
            ),
            "RecordEvent": lambda: memory.RecordEvent(
                memory_pb2.RecordEventRequest(
                    campaign_id=secure_mesh.campaign_b, event=memory_pb2.Event(content="forged")
                ),
                timeout=10,
            ),
            "CreateLoreEntry": lambda: memory.CreateLoreEntry(
                memory_pb2.CreateLoreEntryRequest(
                    world_id="ashen-reach", entry=memory_pb2.LoreEntry(key="intruder", title="X", content="X")
                ),
                timeout=10,
            ),
            "DeleteLoreEntry": lambda: memory.DeleteLoreEntry(
                memory_pb2.DeleteLoreEntryRequest(entry_id="1", world_id="ashen-reach"), timeout=10
            ),
        }
        for name, call in calls.items():
            assert _code(call) == expected, name
    # Nothing was written: the campaigns are still the two the mesh made, and the gateway path still works.
    with grpc.insecure_channel(secure_mesh.gateway) as gw:
        campaigns = memory_pb2_grpc.MemoryServiceStub(gw).ListCampaigns(
            memory_pb2.ListCampaignsRequest(), metadata=secure_mesh.auth("admin"), timeout=30
        )
    assert "Intruder" not in {c.name for c in campaigns.campaigns}


def test_npc_service_saves_into_no_foreign_campaign(secure_mesh: RealMesh) -> None:
    """The first leak's write through npc_svc: a direct call is refused, a DM of A cannot save into B."""
    request = npc_pb2.GenerateNpcRequest(
        world_id="ashen-reach", campaign_id=secure_mesh.campaign_b, seed=5, save=True
    )
    with grpc.insecure_channel(secure_mesh.procs["npc"].address) as direct:
        assert (
            _code(lambda: npc_pb2_grpc.NpcServiceStub(direct).GenerateNpc(request, timeout=10))
            == grpc.StatusCode.UNAVAILABLE
        )
    with grpc.insecure_channel(secure_mesh.gateway) as gw:
        npc = npc_pb2_grpc.NpcServiceStub(gw)
        assert (
            _code(lambda: npc.GenerateNpc(request, metadata=secure_mesh.auth("dm-a"), timeout=30))
            == grpc.StatusCode.PERMISSION_DENIED
        )
