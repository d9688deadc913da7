"""``CheckMemory`` over gRPC: the character, its state and the check event in memory_svc.

An adapter (grpc meets the domain here): the character and its current state are read concurrently, scoped to
the campaign so another campaign's character is NotFound naming ``character_id``; the sheet is parsed once per
distinct sheet (rebuilding it by the rules costs about a millisecond); gRPC failures become ``mesh.errors``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Mapping
from typing import Any, TypeVar

import grpc

from dungeonmaster.v1 import common_pb2, memory_pb2, memory_pb2_grpc
from encounter_svc.checks import RecordedEvent, StoredCharacter
from mesh.channels import Channels, memory_error
from mesh.errors import InvalidArgument, NotFound
from mesh.settings import Settings
from rules.sheets import CharacterSheet

SERVICE = "dungeonmaster.v1.MemoryService"
#: Reads, and RecordEvent (idempotent by its request id), may be retried.
IDEMPOTENT = tuple(f"{SERVICE}/{m}" for m in ("GetCharacter", "GetCharacterState", "RecordEvent"))
MAX_CACHED_SHEETS = 1024
R = TypeVar("R")


async def _attempt(call: Awaitable[R]) -> R | grpc.aio.AioRpcError:
    """The reply, or the call's gRPC error as a value (so two concurrent reads can both be inspected)."""
    try:
        return await call
    except grpc.aio.AioRpcError as exc:
        return exc


class GrpcCheckMemory:
    """The memory service, reached through the mesh's shared channels."""

    def __init__(self, settings: Settings, channels: Channels | None = None) -> None:
        self.channels = channels or Channels(settings, idempotent=IDEMPOTENT)
        self._sheets: dict[str, CharacterSheet] = {}

    @property
    def stub(self) -> memory_pb2_grpc.MemoryServiceStub:
        return memory_pb2_grpc.MemoryServiceStub(self.channels.for_service("memory"))

    def _sheet(self, text: str, character_id: str) -> CharacterSheet:
        sheet = self._sheets.get(text)
        if sheet is None:
            try:
                sheet = CharacterSheet.from_json(json.loads(text))
            except (ValueError, InvalidArgument) as exc:
                raise InvalidArgument([("character_id", f"the stored sheet is unusable: {exc}")]) from None
            if len(self._sheets) >= MAX_CACHED_SHEETS:
                self._sheets.clear()
            self._sheets[text] = sheet
        return sheet

    async def character(self, campaign_id: str, character_id: str) -> StoredCharacter:
        stub = self.stub
        got, state = await asyncio.gather(
            _attempt(
                stub.GetCharacter(
                    memory_pb2.GetCharacterRequest(
                        character_id=character_id,
                        campaign_id=campaign_id,
                        audience=common_pb2.AUDIENCE_PLAYER,
                    )
                )
            ),
            _attempt(
                stub.GetCharacterState(
                    memory_pb2.GetCharacterStateRequest(character_id=character_id, campaign_id=campaign_id)
                )
            ),
        )
        if isinstance(got, grpc.aio.AioRpcError):
            if got.code() == grpc.StatusCode.NOT_FOUND:
                raise NotFound("character", f"{character_id} in campaign {campaign_id}", field="character_id")
            raise memory_error(got, "character", character_id, "character_id") from got
        character = got.character
        if not character.sheet_json:
            raise InvalidArgument(
                [("character_id", "this character has no sheet (build one with NpcService.BuildCharacter)")]
            )
        conditions: tuple[str, ...] = ()
        exhaustion = 0
        if isinstance(state, grpc.aio.AioRpcError):
            if state.code() != grpc.StatusCode.NOT_FOUND:  # NOT_FOUND: no state yet, a rested character
                raise memory_error(state, "character", character_id, "character_id") from state
        else:
            conditions, exhaustion = tuple(state.state.conditions), state.state.exhaustion
        return StoredCharacter(
            id=character.id,
            name=character.name,
            sheet=self._sheet(character.sheet_json, character.id),
            conditions=conditions,
            exhaustion=exhaustion,
        )

    async def record_check(
        self,
        campaign_id: str,
        session_id: str,
        request_id: str,
        actor: str,
        content: str,
        metadata: Mapping[str, Any],
    ) -> RecordedEvent:
        event = memory_pb2.Event(
            campaign_id=campaign_id,
            session_id=session_id,
            kind=memory_pb2.EVENT_KIND_CHECK,
            actor=actor,
            content=content,
            metadata_json=json.dumps(metadata, sort_keys=True),
            audience=common_pb2.AUDIENCE_PLAYER,
        )
        try:
            reply = await self.stub.RecordEvent(
                memory_pb2.RecordEventRequest(campaign_id=campaign_id, event=event, request_id=request_id)
            )
        except grpc.aio.AioRpcError as exc:
            field = "session_id" if session_id else "campaign_id"
            raise memory_error(exc, "campaign", campaign_id, field) from exc
        try:
            recorded = json.loads(reply.event.metadata_json or "{}")
        except ValueError:
            recorded = {}
        return RecordedEvent(
            id=reply.event.id,
            metadata=recorded if isinstance(recorded, dict) else {},
            duplicate=reply.duplicate,
        )

    async def close(self) -> None:
        await self.channels.close()
