"""Client channels for service-to-service calls.

One ``grpc.aio.Channel`` per target, created lazily on the running event loop (an aio channel is bound to the
loop it was made on) and reused for every call. Channels share the server's keepalive and message-size settings
and carry a gRPC service config: retries (UNAVAILABLE only, exponential backoff with gRPC's built-in jitter) for
the methods the caller declares idempotent, none for the rest. A client interceptor adds the current call's
request id and caller identity to outgoing metadata and bounds each call's timeout by the incoming deadline.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterable, Sequence
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from mesh import errors, tls
from mesh.context import REQUEST_ID_KEY, deadline_var, identity_var, request_id_var
from mesh.settings import Settings, get_settings


def call_metadata() -> tuple[tuple[str, str], ...]:
    """Outgoing metadata for the current context: the request id and the caller's identity headers."""
    out: list[tuple[str, str]] = []
    rid = request_id_var.get()
    if rid:
        out.append((REQUEST_ID_KEY, rid))
    out.extend(identity_var.get().metadata())
    return tuple(out)


def remaining_timeout(cap: float | None = None) -> float:
    """Timeout for a downstream call: the incoming call's remaining time, at most ``cap``.

    ``cap`` defaults to ``settings.default_deadline_s``, which is also used when the incoming call has no
    deadline. Never negative: an expired deadline gives 0 so the downstream call fails fast.
    """
    limit = cap if cap is not None else get_settings().default_deadline_s
    deadline = deadline_var.get()
    if deadline is None:
        return limit
    return max(0.0, min(limit, deadline - time.monotonic()))


def client_options(settings: Settings) -> list[tuple[str, Any]]:
    """Channel arguments matching ``mesh.server.server_options``: message sizes and keepalive."""
    return [
        ("grpc.max_send_message_length", settings.max_message_bytes),
        ("grpc.max_receive_message_length", settings.max_message_bytes),
        ("grpc.keepalive_time_ms", int(settings.keepalive_time_s * 1000)),
        ("grpc.keepalive_timeout_ms", int(settings.keepalive_timeout_s * 1000)),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.max_pings_without_data", 0),
        ("grpc.enable_retries", 1),
    ]


def _method_name(entry: str) -> dict[str, str]:
    """``pkg.Service/Method``, ``/pkg.Service/Method`` or ``pkg.Service`` -> a service config name entry."""
    text = entry.strip().lstrip("/")
    service, _, method = text.partition("/")
    if not service or "/" in method:
        raise ValueError(f"not a method or service name: {entry!r}")
    return {"service": service, "method": method} if method else {"service": service}


def service_config(idempotent: Iterable[str], settings: Settings) -> dict[str, Any]:
    """The gRPC service config: round-robin balancing, and a retry policy for the idempotent methods only."""
    names = [_method_name(e) for e in idempotent]
    config: dict[str, Any] = {"loadBalancingConfig": [{"round_robin": {}}]}
    if names:
        config["methodConfig"] = [
            {
                "name": names,
                "retryPolicy": {
                    "maxAttempts": settings.retry_max_attempts,
                    "initialBackoff": f"{settings.retry_initial_backoff_s:g}s",
                    "maxBackoff": f"{settings.retry_max_backoff_s:g}s",
                    "backoffMultiplier": settings.retry_backoff_multiplier,
                    "retryableStatusCodes": ["UNAVAILABLE"],
                },
            }
        ]
        # Stop retrying when most calls fail, so a dead service is not hammered by every client.
        config["retryThrottling"] = {"maxTokens": 10, "tokenRatio": 0.1}
    return config


class PropagationInterceptor(
    grpc.aio.UnaryUnaryClientInterceptor,  # type: ignore[misc]
    grpc.aio.UnaryStreamClientInterceptor,  # type: ignore[misc]
    grpc.aio.StreamUnaryClientInterceptor,  # type: ignore[misc]
    grpc.aio.StreamStreamClientInterceptor,  # type: ignore[misc]
):
    """Adds request id / identity metadata and a deadline bounded by the incoming call to every outgoing call."""

    def __init__(self, default_deadline_s: float) -> None:
        self._default = default_deadline_s

    def _details(self, details: Any) -> Any:
        extra = call_metadata()
        metadata = details.metadata
        if extra:
            present = {key for key, _ in metadata} if metadata else set()
            missing = tuple((k, v) for k, v in extra if k not in present)
            if missing:
                base = tuple(metadata) if metadata else ()
                metadata = grpc.aio.Metadata(*base, *missing)
        timeout = details.timeout
        bound = remaining_timeout(self._default)
        timeout = bound if timeout is None else min(timeout, bound)
        return grpc.aio.ClientCallDetails(
            details.method, timeout, metadata, details.credentials, details.wait_for_ready
        )

    async def intercept_unary_unary(self, continuation: Any, client_call_details: Any, request: Any) -> Any:
        return await continuation(self._details(client_call_details), request)

    async def intercept_unary_stream(self, continuation: Any, client_call_details: Any, request: Any) -> Any:
        return await continuation(self._details(client_call_details), request)

    async def intercept_stream_unary(
        self, continuation: Any, client_call_details: Any, request_iterator: Any
    ) -> Any:
        return await continuation(self._details(client_call_details), request_iterator)

    async def intercept_stream_stream(
        self, continuation: Any, client_call_details: Any, request_iterator: Any
    ) -> Any:
        return await continuation(self._details(client_call_details), request_iterator)


class Channels:
    """Reused client channels, one per target address, for one calling service.

    ``idempotent`` lists the methods (``pkg.Service/Method``) or whole services (``pkg.Service``) this caller
    may retry; everything else is tried once.
    """

    def __init__(self, settings: Settings | None = None, *, idempotent: Sequence[str] = ()) -> None:
        self.settings = settings or get_settings()
        self.idempotent = tuple(idempotent)
        self.service_config = service_config(self.idempotent, self.settings)
        self.options = [
            *client_options(self.settings),
            ("grpc.service_config", json.dumps(self.service_config)),
        ]
        self._channels: dict[str, tuple[asyncio.AbstractEventLoop, grpc.aio.Channel]] = {}

    def get(self, target: str) -> grpc.aio.Channel:
        """The channel for ``target`` (``host:port`` or ``dns:///name:port``), created on first use.

        Must be called from a coroutine: the channel is bound to the running loop.
        """
        loop = asyncio.get_running_loop()
        hit = self._channels.get(target)
        if hit is not None and hit[0] is loop:
            return hit[1]
        channel = tls.aio_channel(
            target,
            self.settings,
            options=self.options,
            interceptors=[PropagationInterceptor(self.settings.default_deadline_s)],
        )
        self._channels[target] = (loop, channel)
        return channel

    def for_service(self, service: str) -> grpc.aio.Channel:
        """The channel to a mesh service by short name (``"memory"``), at its configured address."""
        return self.get(self.settings.addr_for(service))

    async def close(self, grace: float | None = None) -> None:
        """Close every channel created on the running loop (others belong to dead loops and are dropped)."""
        loop = asyncio.get_running_loop()
        channels, self._channels = self._channels, {}
        for owner, channel in channels.values():
            if owner is loop:
                await channel.close(grace)


async def wait_for_serving(target: str, service: str = "", wait_s: float = 10.0) -> None:
    """Poll grpc.health.v1 Check on ``target`` until ``service`` is SERVING; TimeoutError after ``wait_s``."""
    deadline = time.monotonic() + wait_s
    last = "no answer"
    async with tls.aio_channel(target, get_settings()) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{target} {service or '(server)'} not SERVING after {wait_s:g}s: {last}")
            try:
                reply = await stub.Check(
                    health_pb2.HealthCheckRequest(service=service), timeout=min(1.0, left)
                )
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
                last = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
            except grpc.aio.AioRpcError as exc:
                last = f"{exc.code().name}: {exc.details()}"
            await asyncio.sleep(min(0.05, max(0.0, deadline - time.monotonic())))


def memory_error(exc: grpc.aio.AioRpcError, resource: str, name: str, field: str) -> Exception:
    """The domain error for a failed call to memory_svc about ``resource`` ``name`` (sent as ``field``)."""
    code = exc.code()
    details = exc.details() or code.name
    if code == grpc.StatusCode.NOT_FOUND:
        return errors.NotFound(resource, name)
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return errors.InvalidArgument([(field, f"memory refused it: {details}")])
    if code == grpc.StatusCode.PERMISSION_DENIED:
        return errors.PermissionDenied(details)
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return errors.DeadlineExceeded(f"memory did not answer in time: {details}")
    return errors.Unavailable(
        f"memory service failed: {code.name}: {details}", "MEMORY_UNAVAILABLE", "memory"
    )
