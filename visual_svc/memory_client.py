"""``MemoryPort`` over gRPC: memory_svc through ``mesh.channels``, protos mapped to the image domain's values.

An adapter (like the servicer, it is where grpc meets the domain): gRPC failures become ``mesh.errors``.
Characters are read with the player audience, so DM-only secrets never reach a prompt (prompts are returned
with every image). ``PutAsset`` is safe to retry: memory deduplicates by SHA-256.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

import grpc

from dungeonmaster.v1 import common_pb2, memory_pb2, memory_pb2_grpc
from mesh.channels import Channels, memory_error
from mesh.errors import NotFound
from mesh.moderation import Decision
from mesh.settings import Settings
from visual_svc.ports import AssetRecord
from visual_svc.spec import Subject

T = TypeVar("T")
SERVICE = "dungeonmaster.v1.MemoryService"
IDEMPOTENT = tuple(f"{SERVICE}/{m}" for m in ("GetCharacter", "ListLocations", "PutAsset"))
PAGE = 1000
#: Location pages read at most while looking for one id (100k locations).
MAX_PAGES = 100


class GrpcMemory:
    """The memory service, reached through the mesh's shared channels."""

    def __init__(self, settings: Settings, channels: Channels | None = None) -> None:
        self.channels = channels or Channels(settings, idempotent=IDEMPOTENT)

    @property
    def stub(self) -> memory_pb2_grpc.MemoryServiceStub:
        return memory_pb2_grpc.MemoryServiceStub(self.channels.for_service("memory"))

    @staticmethod
    async def _call(call: Awaitable[T], resource: str, name: str, field: str) -> T:
        try:
            return await call
        except grpc.aio.AioRpcError as exc:
            raise memory_error(exc, resource, name, field) from exc

    async def character_subject(self, character_id: str) -> Subject:
        request = memory_pb2.GetCharacterRequest(
            character_id=character_id, audience=common_pb2.AUDIENCE_PLAYER
        )
        reply = await self._call(self.stub.GetCharacter(request), "character", character_id, "character_id")
        c = reply.character
        traits = tuple(t for t in (c.ancestry, c.character_class) if t)
        return Subject(c.name, c.description, traits)

    async def location_subject(self, world_id: str, location_id: str) -> Subject:
        token = ""
        for _ in range(MAX_PAGES):
            request = memory_pb2.ListLocationsRequest(world_id=world_id, page_size=PAGE, page_token=token)
            reply = await self._call(self.stub.ListLocations(request), "world", world_id, "world_id")
            for loc in reply.locations:
                if loc.id == location_id:
                    return Subject(
                        loc.name, loc.description, tuple(t for t in (loc.kind, *loc.terrains) if t)
                    )
            token = reply.next_page_token
            if not token:
                break
        raise NotFound("location", location_id)

    async def put_asset(self, record: AssetRecord) -> bool:
        asset = memory_pb2.Asset(
            sha256=record.sha256,
            kind=record.kind,
            mime_type="image/png",
            data=record.png,
            width=record.width,
            height=record.height,
            metadata_json=record.metadata_json,
        )
        request = memory_pb2.PutAssetRequest(asset=asset, campaign_id=record.campaign_id)
        reply = await self._call(self.stub.PutAsset(request), "campaign", record.campaign_id, "campaign_id")
        return bool(reply.duplicate)

    async def log_moderation(self, decision: Decision, campaign_id: str) -> None:
        request = memory_pb2.LogModerationRequest(
            decision=memory_pb2.ModerationDecision(
                campaign_id=campaign_id,
                direction=decision.direction,
                allowed=decision.allowed,
                categories=list(decision.categories),
                backend=decision.backend,
                reason=decision.reason,
                text_sha256=decision.text_sha256,
            )
        )
        await self._call(self.stub.LogModeration(request), "campaign", campaign_id, "campaign_id")

    async def close(self) -> None:
        await self.channels.close()
