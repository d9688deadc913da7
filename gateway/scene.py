"""A scene for a location: NPCs, items, an encounter and pictures, all built at the same time.

Every part is optional: a part that fails is reported as a warning and the rest is returned. Portraits wait only
for their own NPC, and the vista starts at once, so the slowest part alone sets the scene's latency.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, Protocol

from dungeonmaster.v1 import (
    encounter_pb2,
    gateway_pb2,
    item_pb2,
    npc_pb2,
    visual_pb2,
)
from gateway.builds import audience_for, image_request, item_request
from gateway.planner import terrain_of
from gateway.turn import derive_seed, player_safe_npc
from mesh import errors

log = logging.getLogger("gateway.scene")


class SceneServices(Protocol):
    """What a scene needs from the mesh."""

    async def generate_encounter(
        self, request: encounter_pb2.GenerateEncounterRequest
    ) -> encounter_pb2.GenerateEncounterResponse: ...
    async def generate_npc(self, request: npc_pb2.GenerateNpcRequest) -> npc_pb2.GenerateNpcResponse: ...
    async def generate_item(self, request: item_pb2.GenerateItemRequest) -> item_pb2.GenerateItemResponse: ...
    async def generate_image(
        self, request: visual_pb2.GenerateImageRequest
    ) -> visual_pb2.GenerateImageResponse: ...


@dataclass
class Scene:
    """What was built, in request order, and what failed."""

    npcs: list[npc_pb2.Npc | None] = field(default_factory=list)
    items: list[item_pb2.MagicItem | None] = field(default_factory=list)
    encounter: encounter_pb2.Encounter | None = None
    images: list[visual_pb2.Image] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)


async def build_scene(
    services: SceneServices,
    req: gateway_pb2.GenerateSceneRequest,
    world_id: str,
    dm: bool,
    default_terrain: str,
) -> Scene:
    """Build everything ``req`` asks for concurrently (``req`` is validated by the servicer)."""
    seed = req.seed or secrets.randbelow(2**31 - 1) + 1
    scene = Scene(npcs=[None] * req.npc_count, items=[None] * req.item_count)
    portraits: list[visual_pb2.Image | None] = [None] * req.npc_count
    vista: list[visual_pb2.Image | None] = [None]

    async def optional(component: str, work: Awaitable[None]) -> None:
        try:
            await work
        except errors.DomainError as exc:
            scene.warnings.append((component, exc.message))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("scene part %s failed", component)
            scene.warnings.append((component, f"{component} failed: {type(exc).__name__}"))

    async def image(kind: visual_pb2.ImageKind.ValueType, prompt: str, part: str) -> visual_pb2.Image:
        reply = await services.generate_image(
            image_request(kind, prompt, world_id, req.campaign_id, derive_seed(seed, part))
        )
        return reply.image

    async def npc(i: int) -> None:
        reply = await services.generate_npc(
            npc_pb2.GenerateNpcRequest(
                world_id=world_id,
                region=req.location,
                seed=derive_seed(seed, f"npc{i}"),
                campaign_id=req.campaign_id,
                save=True,
            )
        )
        scene.npcs[i] = reply.npc if dm else player_safe_npc(reply.npc)
        if req.images:
            await optional("visual", portrait(i, reply.npc))

    async def portrait(i: int, built: npc_pb2.Npc) -> None:
        portraits[i] = await image(
            visual_pb2.IMAGE_KIND_PORTRAIT, f"{built.name}, {built.description}", f"portrait{i}"
        )

    async def item(i: int) -> None:
        part_seed = derive_seed(seed, f"item{i}")
        reply = await services.generate_item(item_request(world_id, req.party, part_seed))
        scene.items[i] = reply.item

    async def encounter() -> None:
        if not req.party.members:
            raise errors.FailedPrecondition("an encounter needs the party (GenerateSceneRequest.party)")
        terrain = terrain_of(req.location)
        reply = await services.generate_encounter(
            encounter_pb2.GenerateEncounterRequest(
                party=req.party,
                terrain=terrain or ("" if req.location else default_terrain),
                region="" if terrain else req.location,
                world_id=world_id,
                difficulty=req.difficulty or encounter_pb2.DIFFICULTY_MEDIUM,
                seed=derive_seed(seed, "encounter"),
                audience=audience_for(dm),
            )
        )
        scene.encounter = reply.encounter

    async def location_image() -> None:
        vista[0] = await image(visual_pb2.IMAGE_KIND_LOCATION, req.location or "a wide vista", "vista")

    parts: list[Awaitable[None]] = [optional("npc", npc(i)) for i in range(req.npc_count)]
    parts += [optional("item", item(i)) for i in range(req.item_count)]
    if req.encounter:
        parts.append(optional("encounter", encounter()))
    if req.images:
        parts.append(optional("visual", location_image()))
    await asyncio.gather(*parts)
    scene.images = [img for img in (vista[0], *portraits) if img is not None]
    return scene


def scene_response(scene: Scene) -> dict[str, Any]:
    """Keyword arguments of ``GenerateSceneResponse`` (built parts only; failed ones are in warnings)."""
    return {
        "npcs": [n for n in scene.npcs if n is not None],
        "items": [i for i in scene.items if i is not None],
        "encounter": scene.encounter,
        "images": scene.images,
        "warnings": [gateway_pb2.WarningEvent(component=c, message=m) for c, m in scene.warnings],
    }
