"""What the narrative domain needs from memory, as a Protocol; ``memory_client`` implements it over gRPC."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from mesh.moderation import Decision
from narrative_svc.models import EventRecord, RetrievedContext


class MemoryPort(Protocol):
    """Campaign memory as the narrative service uses it. Implementations raise ``mesh.errors`` errors."""

    async def retrieve_context(
        self,
        *,
        world_id: str,
        campaign_id: str,
        query: str,
        token_budget: int,
        audience: str,
        character_ids: Sequence[str] = (),
        recent_events: int = 5,
    ) -> RetrievedContext:
        """Lore, campaign facts, character states and recent events for ``query``."""
        ...

    async def record_event(
        self,
        *,
        campaign_id: str,
        session_id: str,
        kind: str,
        actor: str,
        content: str,
        audience: str,
        metadata: dict[str, Any],
        request_id: str,
    ) -> EventRecord:
        """Store an event (idempotent under ``request_id``)."""
        ...

    async def list_events(
        self, *, campaign_id: str, session_id: str = "", kinds: Sequence[str] = (), limit: int = 1000
    ) -> list[EventRecord]:
        """Events, oldest first, DM audience (summaries must see everything)."""
        ...

    async def list_npcs(self, campaign_id: str) -> list[str]:
        """Names of the campaign's non-player characters."""
        ...

    async def list_factions(self, campaign_id: str) -> list[str]:
        """Names of factions the campaign's relationships mention (entities ``faction:<name>``)."""
        ...

    async def log_moderation(self, decision: Decision, campaign_id: str) -> None:
        """Write a moderation decision to the moderation log."""
        ...

    async def close(self) -> None:
        """Release channels."""
        ...
