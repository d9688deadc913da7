"""What the image domain needs from campaign memory, as a Protocol; ``memory_client`` implements it over gRPC."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from mesh.moderation import Decision
from visual_svc.spec import Subject


@dataclass(frozen=True, slots=True)
class AssetRecord:
    """A generated image as memory stores it (deduplicated by ``sha256``)."""

    png: bytes
    sha256: str
    kind: str
    width: int
    height: int
    metadata_json: str
    campaign_id: str


class MemoryPort(Protocol):
    """Campaign memory as the visual service uses it; implementations raise ``mesh.errors`` errors."""

    async def character_subject(self, character_id: str) -> Subject:
        """A character's public look: name, ancestry, class and description (never its secrets)."""
        ...

    async def location_subject(self, world_id: str, location_id: str) -> Subject:
        """A location's name, kind, terrains and description."""
        ...

    async def put_asset(self, record: AssetRecord) -> bool:
        """Store an image; returns True when identical bytes were already stored."""
        ...

    async def log_moderation(self, decision: Decision, campaign_id: str) -> None:
        """Write a moderation decision to memory's moderation log."""
        ...

    async def close(self) -> None: ...
