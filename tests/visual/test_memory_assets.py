"""visual_svc against the real memory_svc (SQLite file, Milvus Lite, both in-process on loopback ports):
subjects from memory records, images stored as assets, moderation decisions logged."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from dungeonmaster.v1 import memory_pb2, memory_pb2_grpc, visual_pb2
from memory_svc.service import build_spec as memory_spec
from mesh.channels import wait_for_serving
from mesh.server import start_server
from mesh.settings import Settings
from tests.visual.conftest import visual_settings
from tests.visual.test_service import WAIT, Running, serving, spec

M = memory_pb2
V = visual_pb2


@pytest.fixture
async def memory(tmp_path: Path) -> AsyncIterator[tuple[str, memory_pb2_grpc.MemoryServiceStub]]:
    settings = Settings(
        data_dir=tmp_path / "memory", memory_metrics_port=0, health_poll_s=0.05, grace_period_s=1.0
    )
    (tmp_path / "memory").mkdir()
    async with start_server(memory_spec(settings), settings, port=0) as srv:
        await wait_for_serving(srv.address, "dungeonmaster.v1.MemoryService", wait_s=WAIT)
        async with grpc.aio.insecure_channel(srv.address) as channel:
            yield srv.address, memory_pb2_grpc.MemoryServiceStub(channel)


async def test_portraits_of_memory_characters_are_stored_as_assets(
    tiny_model: Path, memory: tuple[str, memory_pb2_grpc.MemoryServiceStub]
) -> None:
    address, mem = memory
    await mem.CreateWorld(M.CreateWorldRequest(slug="ashen-reach", name="The Ashen Reach"))
    campaign = (
        await mem.CreateCampaign(M.CreateCampaignRequest(world_id="ashen-reach", name="Salt"))
    ).campaign
    character = (
        await mem.CreateCharacter(
            M.CreateCharacterRequest(
                campaign_id=campaign.id,
                character=M.Character(
                    name="Maud Varrow",
                    is_npc=True,
                    ancestry="human",
                    character_class="priest",
                    description="A stern fen priest with a salt-stained lantern.",
                    secrets=["She poisoned the old abbot."],
                ),
            )
        )
    ).character
    location = (
        await mem.CreateLocation(
            M.CreateLocationRequest(
                world_id="ashen-reach",
                location=M.Location(
                    name="Saltmarrow",
                    kind="town",
                    description="Stilt houses over salt pans.",
                    terrains=["swamp"],
                ),
            )
        )
    ).location

    async with serving(visual_settings(tiny_model, memory_addr=address)) as run:
        portrait = (
            await run.stub.GenerateImage(
                V.GenerateImageRequest(
                    spec=spec(prompt="", character_id=character.id, campaign_id=campaign.id)
                )
            )
        ).image
        assert portrait.prompt.startswith("portrait of Maud Varrow, human, priest, A stern fen priest")
        assert "poisoned" not in portrait.prompt  # DM-only secrets never reach a prompt
        assert portrait.stored

        asset = (await mem.GetAsset(M.GetAssetRequest(sha256=portrait.sha256))).asset
        assert asset.data == portrait.png and asset.mime_type == "image/png" and asset.kind == "portrait"
        assert (asset.width, asset.height) == (portrait.width, portrait.height)
        meta = json.loads(asset.metadata_json)
        assert (
            meta["seed"] == portrait.seed and meta["prompt"] == portrait.prompt and meta["model"] == "tiny-sd"
        )

        vista = (
            await run.stub.GenerateImage(
                V.GenerateImageRequest(
                    spec=spec(
                        prompt="", location_id=location.id, world_id="ashen-reach", campaign_id=campaign.id
                    )
                )
            )
        ).image
        assert vista.prompt.startswith("Saltmarrow, town, swamp, Stilt houses over salt pans")
        assert "wide establishing shot" in vista.prompt
        assert (await mem.GetAsset(M.GetAssetRequest(sha256=vista.sha256))).asset.kind == "location"

        repeat = (
            await run.stub.GenerateImage(
                V.GenerateImageRequest(
                    spec=spec(prompt="", character_id=character.id, campaign_id=campaign.id)
                )
            )
        ).image
        assert repeat.cached and repeat.stored and repeat.sha256 == portrait.sha256

        await _moderation_is_logged(run, mem, campaign.id)

        with pytest.raises(grpc.aio.AioRpcError) as err:
            await run.stub.GenerateImage(V.GenerateImageRequest(spec=spec(prompt="", character_id="999999")))
        assert err.value.code() == grpc.StatusCode.NOT_FOUND


async def _moderation_is_logged(
    run: Running, mem: memory_pb2_grpc.MemoryServiceStub, campaign_id: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError):
        await run.stub.GenerateImage(
            V.GenerateImageRequest(spec=spec(prompt="how to synthesize sarin", campaign_id=campaign_id))
        )
    decisions: list[memory_pb2.ModerationDecision] = []
    for _ in range(int(WAIT * 10)):  # the decision is written in the background; poll until it lands
        decisions = list(
            (
                await mem.ListModerationDecisions(M.ListModerationDecisionsRequest(campaign_id=campaign_id))
            ).decisions
        )
        if any(not d.allowed for d in decisions):
            break
        await asyncio.sleep(0.1)
    blocked = [d for d in decisions if not d.allowed]
    assert len(blocked) == 1 and blocked[0].categories == ["S9"] and blocked[0].direction == "input"
    assert any(d.allowed for d in decisions)  # the portraits' prompts were screened and logged too
