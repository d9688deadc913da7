"""Every module RPC the gateway forwards, read from the generated descriptors (never listed by hand).

A new RPC added to a module's .proto is forwarded as soon as the stubs are regenerated; only its access policy
(``gateway.access``) may need a line. Descriptors come from protobuf, not grpc, so this table stays transport-free.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from types import ModuleType

from google.protobuf import message as pb_message
from google.protobuf import message_factory
from google.protobuf.descriptor import MethodDescriptor

from dungeonmaster.v1 import (
    encounter_pb2,
    gateway_pb2,
    item_pb2,
    memory_pb2,
    narrative_pb2,
    npc_pb2,
    visual_pb2,
)

#: service short name -> the generated module holding its service descriptor.
MODULES: dict[str, tuple[ModuleType, str]] = {
    "memory": (memory_pb2, "MemoryService"),
    "narrative": (narrative_pb2, "NarrativeService"),
    "encounter": (encounter_pb2, "EncounterService"),
    "npc": (npc_pb2, "NpcService"),
    "item": (item_pb2, "ItemService"),
    "visual": (visual_pb2, "VisualService"),
}

GAME_MASTER_SERVICE: str = gateway_pb2.DESCRIPTOR.services_by_name["GameMasterService"].full_name

#: Method names (without service) that may be retried: reads, pure computations, and calls idempotent by a key.
IDEMPOTENT_PREFIXES: tuple[str, ...] = ("Get", "List", "Evaluate", "Retrieve", "Appraise")
IDEMPOTENT_NAMES: frozenset[str] = frozenset({"RollDice", "BuildImagePrompt", "RecordEvent"})


@dataclass(frozen=True, slots=True)
class Route:
    """One forwarded RPC."""

    service: str
    """Short name of the service that serves it ("memory")."""
    full_service: str
    """Full proto service name ("dungeonmaster.v1.MemoryService")."""
    name: str
    """Method name ("GetCampaign")."""
    client_streaming: bool
    server_streaming: bool
    request_type: type[pb_message.Message]
    response_type: type[pb_message.Message]

    @property
    def path(self) -> str:
        """The HTTP/2 path gRPC uses: ``/dungeonmaster.v1.MemoryService/GetCampaign``."""
        return f"/{self.full_service}/{self.name}"

    @property
    def idempotent(self) -> bool:
        """Whether a failed attempt may be repeated without a second effect."""
        return self.name.startswith(IDEMPOTENT_PREFIXES) or self.name in IDEMPOTENT_NAMES


def _route(service: str, method: MethodDescriptor) -> Route:
    return Route(
        service=service,
        full_service=method.containing_service.full_name,
        name=method.name,
        client_streaming=method.client_streaming,
        server_streaming=method.server_streaming,
        request_type=message_factory.GetMessageClass(method.input_type),
        response_type=message_factory.GetMessageClass(method.output_type),
    )


@functools.cache
def module_routes() -> dict[str, Route]:
    """Every module RPC by path, for every service in ``MODULES``."""
    out: dict[str, Route] = {}
    for short, (module, service_name) in MODULES.items():
        service = module.DESCRIPTOR.services_by_name[service_name]
        for method in service.methods:
            route = _route(short, method)
            out[route.path] = route
    return out


def module_service_names() -> list[str]:
    """Full names of the module services the gateway forwards, in ``MODULES`` order."""
    return [module.DESCRIPTOR.services_by_name[name].full_name for module, name in MODULES.values()]


def idempotent_paths() -> list[str]:
    """``Service/Method`` of every idempotent module RPC (the retry policy's method list)."""
    return [p.lstrip("/") for p, r in module_routes().items() if r.idempotent]
