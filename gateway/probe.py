"""Health probes of the services behind the gateway (grpc.health.v1 over the gateway's own channels).

Probing over the same channels the forwarder uses means a probe also nudges a channel to reconnect to a service
that has just restarted, and reports what a forwarded call would actually meet (TLS included).
"""

from __future__ import annotations

import asyncio

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from gateway.readiness import ServiceHealth, full_name
from gateway.upstream import Upstream
from mesh.settings import Settings

_SERVING = health_pb2.HealthCheckResponse.SERVING


class Prober:
    """Asks every required and optional service for its health, concurrently, each bounded by a timeout."""

    def __init__(self, upstream: Upstream, settings: Settings) -> None:
        self.upstream = upstream
        self.required = list(settings.gateway_required_services)
        self.optional = [s for s in settings.gateway_optional_services if s not in self.required]
        self.timeout = settings.gateway_status_timeout_s

    async def check(self) -> list[ServiceHealth]:
        """The health of each service, required ones first."""
        names = [*self.required, *self.optional]
        return list(await asyncio.gather(*(self._one(n, n in self.required) for n in names)))

    async def _one(self, service: str, required: bool) -> ServiceHealth:
        address = self.upstream.address(service)
        stub = health_pb2_grpc.HealthStub(self.upstream.channel(service))
        try:
            reply = await stub.Check(
                health_pb2.HealthCheckRequest(service=full_name(service)), timeout=self.timeout
            )
        except grpc.aio.AioRpcError as exc:
            return ServiceHealth(service, address, False, required, f"{exc.code().name}: {exc.details()}")
        if reply.status == _SERVING:
            return ServiceHealth(service, address, True, required)
        status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
        return ServiceHealth(service, address, False, required, status)
