"""The gateway's gRPC face: the composite GameMasterService, the byte forwarder, and ``build_spec``.

The servicer validates requests, passes every call through the gate, converts turn events to
``PlayTurnResponse`` messages and scenes to ``GenerateSceneResponse``; the work itself lives in ``gateway.turn``
and ``gateway.scene``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc

from dungeonmaster.v1 import (
    common_pb2,
    encounter_pb2,
    gateway_pb2,
    gateway_pb2_grpc,
    item_pb2,
    npc_pb2,
    visual_pb2,
)
from gateway.access import policy_for
from gateway.clients import ServiceClients
from gateway.forwarding import Forwarder
from gateway.gate import Gate, abort_unauthenticated
from gateway.keys import Principal, Unauthenticated
from gateway.planner import Planner
from gateway.probe import Prober
from gateway.readiness import full_name, summarize
from gateway.routes import GAME_MASTER_SERVICE, module_service_names
from gateway.scene import build_scene, scene_response
from gateway.session_close import UPDATE_SESSION, SessionCloser
from gateway.table import Table
from gateway.table_clients import TableClients
from gateway.turn import (
    Built,
    Checked,
    ContextUsed,
    Done,
    Fought,
    Narration,
    TurnEvent,
    TurnRunner,
    TurnSettings,
    Warning,
)
from gateway.upstream import Upstream
from gateway.watch import watch_campaign
from mesh.errors import Violations
from mesh.health import Readiness
from mesh.moderation import get_moderator
from mesh.server import ServiceSpec
from mesh.settings import Settings

log = logging.getLogger("gateway")


def _check_party(v: Violations, party: common_pb2.Party, prefix: str = "party") -> None:
    v.check(len(party.members) <= 12, f"{prefix}.members", "at most 12 members")
    for i, member in enumerate(party.members):
        v.check(1 <= member.level <= 20, f"{prefix}.members[{i}].level", "must be between 1 and 20")


def validate_turn(req: gateway_pb2.PlayTurnRequest) -> None:
    """Field checks of PlayTurn; every bad field is reported at once."""
    v = Violations()
    v.check(bool(req.campaign_id.strip()), "campaign_id", "must not be empty")
    v.check(1 <= len(req.turn_id) <= 128, "turn_id", "must be 1-128 characters")
    v.check(bool(req.input.strip()), "input", "must not be empty")
    v.check(len(req.input) <= 4000, "input", "at most 4,000 characters")
    v.check(0 <= req.max_tokens <= 4096, "max_tokens", "must be between 1 and 4096 (0 = default 300)")
    v.check(len(req.character_id) <= 64, "character_id", "at most 64 characters")
    _check_party(v, req.party)
    v.raise_if_any()


def validate_scene(req: gateway_pb2.GenerateSceneRequest) -> None:
    """Field checks of GenerateScene."""
    v = Violations()
    v.check(bool(req.campaign_id.strip()), "campaign_id", "must not be empty")
    v.check(0 <= req.npc_count <= 10, "npc_count", "must be between 0 and 10")
    v.check(0 <= req.item_count <= 10, "item_count", "must be between 0 and 10")
    v.check(len(req.location) <= 200, "location", "at most 200 characters")
    _check_party(v, req.party)
    v.raise_if_any()


def turn_response(event: TurnEvent, sequence: int) -> gateway_pb2.PlayTurnResponse:
    """One stream message for one turn event."""
    msg = gateway_pb2.PlayTurnResponse(sequence=sequence)
    if isinstance(event, Narration):
        msg.narration.text, msg.narration.index = event.text, event.index
    elif isinstance(event, ContextUsed):
        msg.context.pieces.extend(event.pieces)
        msg.context.degraded = event.degraded
    elif isinstance(event, Built):
        payload = event.payload
        if isinstance(payload, encounter_pb2.Encounter):
            msg.encounter.encounter.CopyFrom(payload)
        elif isinstance(payload, npc_pb2.Npc):
            msg.npc.npc.CopyFrom(payload)
            msg.npc.character_id = event.ref
        elif isinstance(payload, item_pb2.MagicItem):
            msg.item.item.CopyFrom(payload)
        elif isinstance(payload, visual_pb2.Image):
            msg.image.image.CopyFrom(payload)
            msg.image.sha256 = event.ref
    elif isinstance(event, Checked):
        msg.check.result.CopyFrom(event.result)
        msg.check.event_id, msg.check.reason, msg.check.replayed = (
            event.event_id,
            event.reason,
            event.replayed,
        )
    elif isinstance(event, Fought):
        fight = msg.combat
        fight.combat_id, fight.started, fight.next_actor = event.combat_id, event.started, event.next_actor
        fight.state.CopyFrom(event.state)
        fight.events.extend(event.events)
        fight.fallen.extend(event.fallen)
    elif isinstance(event, Warning):
        msg.warning.component, msg.warning.message = event.component, event.message
    elif isinstance(event, Done):
        done = msg.done
        done.completion_tokens, done.prompt_tokens = event.completion_tokens, event.prompt_tokens
        done.timings_ms.update(event.timings_ms)
        done.recorded_event_ids.extend(event.recorded_event_ids)
        done.replayed = event.replayed
        done.info.CopyFrom(event.info)
        done.plan_reasons.extend(event.plan_reasons)
        done.plan_source = event.plan_source
    return msg


class GameMasterService(gateway_pb2_grpc.GameMasterServiceServicer):
    """PlayTurn, GenerateScene and GetStatus."""

    def __init__(
        self,
        gate: Gate,
        runner: TurnRunner,
        clients: ServiceClients,
        prober: Prober,
        settings: Settings,
        table_clients: TableClients | None = None,
    ) -> None:
        self.gate = gate
        self.runner = runner
        self.clients = clients
        self.prober = prober
        self.settings = settings
        self.table_clients = table_clients or TableClients(clients.upstream)
        self.table = Table(self.table_clients)

    async def _admit(self, context: grpc.aio.ServicerContext, method: str, request: Any) -> Principal:
        """Gate a composite call; binds the caller's verified identity and deadline for the downstream calls."""
        try:
            principal = self.gate.authenticate(context.invocation_metadata(), context.peer())
        except Unauthenticated as exc:
            await abort_unauthenticated(context, exc)
            raise
        self.gate.check_size(request.ByteSize())
        path = f"/{GAME_MASTER_SERVICE}/{method}"
        await self.gate.authorize(policy_for(GAME_MASTER_SERVICE, method), principal, path, request)
        self.gate.bind(principal, self.gate.timeout(path, context.time_remaining()))
        return principal

    async def PlayTurn(
        self, request: gateway_pb2.PlayTurnRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[gateway_pb2.PlayTurnResponse]:
        principal = await self._admit(context, "PlayTurn", request)
        validate_turn(request)
        await self.table.check_seat(principal, request)
        sequence = 0
        async with self.table.turn(principal, request, context.time_remaining()) as relay:
            async with contextlib.aclosing(self.runner.play(request, principal.role)) as events:
                async for event in events:
                    relay.observe(event)
                    yield turn_response(event, sequence)
                    sequence += 1

    async def WatchCampaign(
        self, request: gateway_pb2.WatchCampaignRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[gateway_pb2.WatchCampaignResponse]:
        principal = await self._admit(context, "WatchCampaign", request)
        stream = watch_campaign(
            self.table_clients, principal, request, context.time_remaining(), self.table.local
        )
        async with contextlib.aclosing(stream) as updates:
            async for update in updates:
                yield update

    async def GenerateScene(
        self, request: gateway_pb2.GenerateSceneRequest, context: grpc.aio.ServicerContext
    ) -> gateway_pb2.GenerateSceneResponse:
        principal = await self._admit(context, "GenerateScene", request)
        validate_scene(request)
        world_id = request.world_id or await self.runner.world_of(request.campaign_id)
        scene = await build_scene(
            self.clients, request, world_id, principal.role != "player", self.settings.gateway_default_terrain
        )
        return gateway_pb2.GenerateSceneResponse(**scene_response(scene))

    async def GetStatus(
        self, request: gateway_pb2.GetStatusRequest, context: grpc.aio.ServicerContext
    ) -> gateway_pb2.GetStatusResponse:
        # Public like health, so it is limited per caller address instead of per key.
        peer = context.peer().rsplit(":", 1)[0]
        self.gate.limiter.take(
            f"public:{peer}", self.settings.gateway_rate_per_s, self.settings.gateway_rate_burst
        )
        statuses = await self.prober.check()
        readiness = summarize(statuses)
        return gateway_pb2.GetStatusResponse(
            serving=readiness.ready,
            services=[
                gateway_pb2.ServiceStatus(
                    name=s.name, address=s.address, serving=s.serving, required=s.required, reason=s.reason
                )
                for s in statuses
            ],
            degraded=readiness.degraded,
        )


def server_credentials(settings: Settings) -> grpc.ServerCredentials | None:
    """TLS for the public port when certificate paths are set (client certificates required with a client CA)."""
    cert, key = settings.gateway_tls_cert_file, settings.gateway_tls_key_file
    if not cert and not key:
        if settings.gateway_tls_client_ca_file:
            raise ValueError(
                "gateway_tls_client_ca_file needs gateway_tls_cert_file and gateway_tls_key_file"
            )
        return None
    if not (cert and key):
        raise ValueError("gateway_tls_cert_file and gateway_tls_key_file go together")
    ca = settings.gateway_tls_client_ca_file
    return grpc.ssl_server_credentials(
        [(Path(key).read_bytes(), Path(cert).read_bytes())],
        root_certificates=Path(ca).read_bytes() if ca else None,
        require_client_auth=bool(ca),
    )


def _log_readiness(readiness: Readiness) -> None:
    log.log(
        logging.INFO if readiness.ready and not readiness.degraded else logging.WARNING,
        "gateway %s",
        readiness.reason,
        extra={"service": "gateway", "degraded": list(readiness.degraded)},
    )


def build_spec(settings: Settings) -> ServiceSpec:
    """The gateway: GameMasterService, every module service forwarded, readiness from the services' health."""
    upstream = Upstream(settings)
    gate = Gate(settings)
    clients = ServiceClients(upstream)
    gate.owner_resolver = clients.owner_campaign
    model = None
    if settings.vllm_urls:
        from mesh.text import get_text_model

        model = get_text_model(settings)
    moderator = get_moderator(settings)
    runner = TurnRunner(
        clients,
        Planner(model),
        TurnSettings(
            token_budget=settings.gateway_turn_token_budget,
            recent_events=settings.gateway_turn_recent_events,
            default_terrain=settings.gateway_default_terrain,
        ),
        moderator,
    )
    prober = Prober(upstream, settings)
    servicer = GameMasterService(gate, runner, clients, prober, settings)
    closer = SessionCloser(upstream)
    forwarder = Forwarder(gate, upstream, after={UPDATE_SESSION: closer.after})

    def register(server: grpc.aio.Server) -> None:
        server.add_generic_rpc_handlers((forwarder,))
        gateway_pb2_grpc.add_GameMasterServiceServicer_to_server(servicer, server)

    async def readiness() -> Readiness:
        return summarize(await prober.check())

    async def startup() -> None:
        upstream.warm()
        if model is not None:
            await model.start()

    async def shutdown() -> None:
        await upstream.close()
        if model is not None:
            await model.close()
        if moderator is not None:
            await moderator.close()

    required = [full_name(s) for s in settings.gateway_required_services]
    return ServiceSpec(
        name="gateway",
        service_names=[GAME_MASTER_SERVICE, *required],
        register=register,
        readiness=readiness,
        startup=startup,
        shutdown=shutdown,
        extra_reflection=[n for n in module_service_names() if n not in required],
        health_details=_log_readiness,
        server_credentials=server_credentials(settings),
        max_request_bytes=settings.gateway_max_request_bytes,
    )
