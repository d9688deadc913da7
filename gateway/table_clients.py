"""The memory calls of the shared table (seats, turn queue, live relay, watch) over the gateway's upstream.

Kept apart from ``gateway.clients`` so the table's transport sits in one place; errors become ``mesh.errors``
exactly as there.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import grpc

from dungeonmaster.v1 import memory_pb2, memory_pb2_grpc
from gateway.clients import domain_error
from gateway.upstream import Upstream
from mesh.channels import call_metadata, remaining_timeout

#: The longest a turn may wait for its place at the table (the caller's deadline usually ends it sooner).
MAX_TURN_WAIT_S = 600.0
#: Time given to hand a lease back, even when the turn's own deadline has passed.
RELEASE_TIMEOUT_S = 5.0


class TableClients:
    """Typed calls to memory's table RPCs, carrying the caller's identity and deadline."""

    def __init__(self, upstream: Upstream) -> None:
        self.upstream = upstream

    def _memory(self) -> Any:
        return memory_pb2_grpc.MemoryServiceStub(self.upstream.channel("memory"))

    async def _call(self, method: str, request: Any, limit_s: float) -> Any:
        try:
            return await getattr(self._memory(), method)(request, metadata=call_metadata(), timeout=limit_s)
        except grpc.aio.AioRpcError as exc:
            raise domain_error("memory", exc) from None

    async def get_character(self, character_id: str) -> memory_pb2.Character:
        reply = await self._call(
            "GetCharacter", memory_pb2.GetCharacterRequest(character_id=character_id), remaining_timeout()
        )
        character: memory_pb2.Character = reply.character
        return character

    async def acquire_turn(self, request: memory_pb2.AcquireTurnRequest) -> memory_pb2.AcquireTurnResponse:
        reply: memory_pb2.AcquireTurnResponse = await self._call(
            "AcquireTurn", request, remaining_timeout(MAX_TURN_WAIT_S)
        )
        return reply

    async def release_turn(self, request: memory_pb2.ReleaseTurnRequest) -> None:
        await self._call("ReleaseTurn", request, RELEASE_TIMEOUT_S)

    async def publish_live(self, request: memory_pb2.PublishLiveRequest) -> None:
        await self._call("PublishLive", request, RELEASE_TIMEOUT_S)

    async def watch_events(
        self, request: memory_pb2.WatchEventsRequest, limit_s: float | None
    ) -> AsyncGenerator[memory_pb2.WatchEventsResponse, None]:
        """Follow memory's log stream; the downstream call ends when the consumer stops."""
        call = self._memory().WatchEvents(request, metadata=call_metadata(), timeout=limit_s)
        try:
            async for reply in call:
                yield reply
        except grpc.aio.AioRpcError as exc:
            raise domain_error("memory", exc) from None
        finally:
            if not call.done():
                call.cancel()
