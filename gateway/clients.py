"""Typed calls from the gateway's composite RPCs to the services, with gRPC failures turned into domain errors.

Each call carries the current request id and the caller's verified identity (set by the gate in
``mesh.context``) and a timeout bounded by the incoming call's deadline. A failure becomes the matching
``mesh.errors`` exception naming the service, so the turn logic can tell "memory is down" (fail the turn) from
"visual is down" (warn and go on) without knowing about gRPC.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Any

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from dungeonmaster.v1 import (
    encounter_pb2,
    encounter_pb2_grpc,
    item_pb2,
    item_pb2_grpc,
    memory_pb2,
    memory_pb2_grpc,
    narrative_pb2,
    narrative_pb2_grpc,
    npc_pb2,
    npc_pb2_grpc,
    visual_pb2,
    visual_pb2_grpc,
)
from gateway.keys import Principal
from gateway.table import stamp_event
from gateway.upstream import Upstream
from mesh import errors
from mesh.channels import call_metadata, remaining_timeout
from mesh.context import REQUEST_ID_KEY, request_id_var


def domain_error(service: str, exc: grpc.aio.AioRpcError) -> BaseException:
    """The domain error for a failed call to ``service`` (short name)."""
    code = exc.code()
    details = exc.details() or code.name
    message = f"{service}: {details}"
    status = None
    try:
        status = rpc_status.from_call(exc)
    except ValueError:
        status = None
    if code == grpc.StatusCode.UNAVAILABLE:
        return errors.Unavailable(
            f"{service} is unavailable: {details}",
            reason=f"{service.upper()}_UNAVAILABLE",
            domain=f"{service}.dungeonmaster",
        )
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return errors.DeadlineExceeded(f"{service} did not answer before the deadline")
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        violations = _violations(status) or [(service, details)]
        return errors.InvalidArgument(violations)
    if code == grpc.StatusCode.NOT_FOUND:
        resource, name = _resource(status) or (service, details)
        return errors.NotFound(resource, name)
    simple: dict[grpc.StatusCode, type[errors.DomainError]] = {
        grpc.StatusCode.PERMISSION_DENIED: errors.PermissionDenied,
        grpc.StatusCode.FAILED_PRECONDITION: errors.FailedPrecondition,
        grpc.StatusCode.UNIMPLEMENTED: errors.Unimplemented,
        grpc.StatusCode.ALREADY_EXISTS: errors.FailedPrecondition,
    }
    if code in simple:
        return simple[code](message)
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        return errors.ResourceExhausted(message)
    if code == grpc.StatusCode.CANCELLED:
        return asyncio.CancelledError(message)
    return RuntimeError(f"{service} failed with {code.name}: {details}")


def _violations(status: Any) -> list[tuple[str, str]]:
    if status is None:
        return []
    for holder in status.details:
        if holder.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            holder.Unpack(bad)
            return [(v.field, v.description) for v in bad.field_violations]
    return []


def _resource(status: Any) -> tuple[str, str] | None:
    if status is None:
        return None
    for holder in status.details:
        if holder.Is(error_details_pb2.ResourceInfo.DESCRIPTOR):
            info = error_details_pb2.ResourceInfo()
            holder.Unpack(info)
            return info.resource_type, info.resource_name
    return None


class ServiceClients:
    """The typed calls the composite RPCs make, over the gateway's upstream channels."""

    def __init__(self, upstream: Upstream) -> None:
        self.upstream = upstream

    def _stub(self, service: str, stub_type: Any) -> Any:
        return stub_type(self.upstream.channel(service))

    @staticmethod
    def _kw(cap: float | None = None) -> dict[str, Any]:
        return {"metadata": call_metadata(), "timeout": remaining_timeout(cap)}

    async def _unary(
        self, service: str, stub_type: Any, method: str, request: Any, cap: float | None = None
    ) -> Any:
        rpc = getattr(self._stub(service, stub_type), method)
        try:
            return await rpc(request, **self._kw(cap))
        except grpc.aio.AioRpcError as exc:
            raise domain_error(service, exc) from None

    # --- memory --------------------------------------------------------------------------------------------

    async def get_campaign(self, campaign_id: str) -> memory_pb2.Campaign:
        reply = await self._unary(
            "memory",
            memory_pb2_grpc.MemoryServiceStub,
            "GetCampaign",
            memory_pb2.GetCampaignRequest(campaign_id=campaign_id),
        )
        campaign: memory_pb2.Campaign = reply.campaign
        return campaign

    async def get_world(self, world_id: str) -> memory_pb2.World:
        reply = await self._unary(
            "memory",
            memory_pb2_grpc.MemoryServiceStub,
            "GetWorld",
            memory_pb2.GetWorldRequest(world_id=world_id),
        )
        world: memory_pb2.World = reply.world
        return world

    async def retrieve(
        self, request: memory_pb2.RetrieveContextRequest
    ) -> memory_pb2.RetrieveContextResponse:
        reply: memory_pb2.RetrieveContextResponse = await self._unary(
            "memory", memory_pb2_grpc.MemoryServiceStub, "RetrieveContext", request
        )
        return reply

    async def record_event(self, request: memory_pb2.RecordEventRequest) -> memory_pb2.RecordEventResponse:
        stamp_event(request)  # a private turn's events reach only its audience
        reply: memory_pb2.RecordEventResponse = await self._unary(
            "memory", memory_pb2_grpc.MemoryServiceStub, "RecordEvent", request
        )
        return reply

    async def list_events(self, request: memory_pb2.ListEventsRequest) -> memory_pb2.ListEventsResponse:
        reply: memory_pb2.ListEventsResponse = await self._unary(
            "memory", memory_pb2_grpc.MemoryServiceStub, "ListEvents", request
        )
        return reply

    async def get_character(self, request: memory_pb2.GetCharacterRequest) -> memory_pb2.Character:
        reply = await self._unary("memory", memory_pb2_grpc.MemoryServiceStub, "GetCharacter", request)
        character: memory_pb2.Character = reply.character
        return character

    async def list_characters(
        self, request: memory_pb2.ListCharactersRequest
    ) -> memory_pb2.ListCharactersResponse:
        reply: memory_pb2.ListCharactersResponse = await self._unary(
            "memory", memory_pb2_grpc.MemoryServiceStub, "ListCharacters", request
        )
        return reply

    async def log_moderation(self, decision: memory_pb2.ModerationDecision) -> None:
        await self._unary(
            "memory",
            memory_pb2_grpc.MemoryServiceStub,
            "LogModeration",
            memory_pb2.LogModerationRequest(decision=decision),
        )

    async def owner_campaign(self, kind: str, owned_id: str, principal: Principal) -> str:
        """The campaign owning a character or session (the gate's owner lookup), asked as that principal."""
        metadata = ((REQUEST_ID_KEY, request_id_var.get()), *principal.identity().metadata())
        stub = self._stub("memory", memory_pb2_grpc.MemoryServiceStub)
        try:
            if kind == "character":
                reply = await stub.GetCharacter(
                    memory_pb2.GetCharacterRequest(character_id=owned_id),
                    metadata=metadata,
                    timeout=remaining_timeout(),
                )
                return str(reply.character.campaign_id)
            reply = await stub.GetSession(
                memory_pb2.GetSessionRequest(session_id=owned_id),
                metadata=metadata,
                timeout=remaining_timeout(),
            )
            return str(reply.session.campaign_id)
        except grpc.aio.AioRpcError as exc:
            raise domain_error("memory", exc) from None

    # --- narrative -----------------------------------------------------------------------------------------

    async def narrate(
        self, request: narrative_pb2.NarrateRequest
    ) -> AsyncGenerator[narrative_pb2.NarrateResponse, None]:
        """Stream the narration; the downstream call is cancelled if the consumer stops early."""
        stub = self._stub("narrative", narrative_pb2_grpc.NarrativeServiceStub)
        call = stub.Narrate(request, **self._kw())
        try:
            async for reply in call:
                yield reply
        except grpc.aio.AioRpcError as exc:
            raise domain_error("narrative", exc) from None
        finally:
            if not call.done():
                call.cancel()

    # --- builders ------------------------------------------------------------------------------------------

    async def generate_encounter(
        self, request: encounter_pb2.GenerateEncounterRequest
    ) -> encounter_pb2.GenerateEncounterResponse:
        reply: encounter_pb2.GenerateEncounterResponse = await self._unary(
            "encounter", encounter_pb2_grpc.EncounterServiceStub, "GenerateEncounter", request
        )
        return reply

    async def resolve_check(
        self, request: encounter_pb2.ResolveCheckRequest
    ) -> encounter_pb2.ResolveCheckResponse:
        reply: encounter_pb2.ResolveCheckResponse = await self._unary(
            "encounter", encounter_pb2_grpc.EncounterServiceStub, "ResolveCheck", request
        )
        return reply

    async def start_combat(
        self, request: encounter_pb2.StartCombatRequest
    ) -> encounter_pb2.StartCombatResponse:
        reply: encounter_pb2.StartCombatResponse = await self._unary(
            "encounter", encounter_pb2_grpc.EncounterServiceStub, "StartCombat", request
        )
        return reply

    async def take_action(self, request: encounter_pb2.TakeActionRequest) -> encounter_pb2.TakeActionResponse:
        reply: encounter_pb2.TakeActionResponse = await self._unary(
            "encounter", encounter_pb2_grpc.EncounterServiceStub, "TakeAction", request
        )
        return reply

    async def get_combat(self, request: encounter_pb2.GetCombatRequest) -> encounter_pb2.GetCombatResponse:
        reply: encounter_pb2.GetCombatResponse = await self._unary(
            "encounter", encounter_pb2_grpc.EncounterServiceStub, "GetCombat", request
        )
        return reply

    async def generate_npc(self, request: npc_pb2.GenerateNpcRequest) -> npc_pb2.GenerateNpcResponse:
        reply: npc_pb2.GenerateNpcResponse = await self._unary(
            "npc", npc_pb2_grpc.NpcServiceStub, "GenerateNpc", request
        )
        return reply

    async def generate_item(self, request: item_pb2.GenerateItemRequest) -> item_pb2.GenerateItemResponse:
        reply: item_pb2.GenerateItemResponse = await self._unary(
            "item", item_pb2_grpc.ItemServiceStub, "GenerateItem", request
        )
        return reply

    async def generate_image(
        self, request: visual_pb2.GenerateImageRequest
    ) -> visual_pb2.GenerateImageResponse:
        reply: visual_pb2.GenerateImageResponse = await self._unary(
            "visual", visual_pb2_grpc.VisualServiceStub, "GenerateImage", request
        )
        return reply
