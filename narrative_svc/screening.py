"""Content moderation around generation: screen the input, guard the output stream, log every decision.

Decisions are written to memory's moderation log in the background, and only once the first chunk is out
(``start_writes()``), so logging never delays the first chunk; ``drain()`` waits for the writes before a call
ends, so every decision is logged (a failed write is logged
as an error and counted, never silently dropped and never fatal to the narration).
"""

from __future__ import annotations

import asyncio
import logging

from mesh import metrics
from mesh.errors import DomainError, InvalidArgument
from mesh.moderation import Decision, Moderator, StreamGuard
from narrative_svc.ports import MemoryPort

log = logging.getLogger("narrative_svc.screening")


class Screening:
    """Moderation for one call."""

    def __init__(self, moderator: Moderator | None, memory: MemoryPort, campaign_id: str) -> None:
        self.moderator = moderator
        self.memory = memory
        self.campaign_id = campaign_id
        self._writes: list[asyncio.Task[None]] = []
        self._held: list[Decision] | None = []

    async def check_input(self, text: str, field: str) -> Decision | None:
        """Screen player input; a blocked input raises InvalidArgument naming ``field`` with the reason."""
        if self.moderator is None:
            return None
        decision = await self.moderator.screen(text, "input")
        self.record(decision)
        if not decision.allowed:
            await self.drain()
            raise InvalidArgument([(field, decision.reason)])
        return decision

    def guard(self, prompt: str) -> StreamGuard | None:
        """An output guard for one stream, or None when moderation is off."""
        return self.moderator.guard(prompt) if self.moderator is not None else None

    def record(self, decision: Decision) -> None:
        """Log ``decision`` to memory in the background."""
        metrics.counter(
            "dm_moderation_decisions_total",
            "Moderation decisions, by direction, outcome and backend.",
            ("direction", "allowed", "backend"),
        ).labels(decision.direction, str(decision.allowed).lower(), decision.backend).inc()
        if self._held is not None:
            self._held.append(decision)
        else:
            self._writes.append(asyncio.create_task(self._write(decision)))

    def start_writes(self) -> None:
        """Start writing the decisions held so far, and write later ones at once."""
        held, self._held = self._held or [], None
        for decision in held:
            self._writes.append(asyncio.create_task(self._write(decision)))

    async def _write(self, decision: Decision) -> None:
        try:
            await self.memory.log_moderation(decision, self.campaign_id)
        except Exception as exc:  # a log write must not break the narration; it is reported loudly instead
            metrics.counter(
                "dm_moderation_log_failures_total",
                "Moderation decisions that could not be written to memory.",
            ).inc()
            if isinstance(exc, DomainError):
                log.error("could not write a moderation decision to memory: %s", exc)
            else:
                log.exception("could not write a moderation decision to memory")

    async def drain(self) -> None:
        """Wait until every decision of this call is written."""
        self.start_writes()
        writes, self._writes = self._writes, []
        if writes:
            await asyncio.gather(*writes)
