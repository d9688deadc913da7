"""A small JSON-over-gRPC service (generic handlers, no protos) that exercises the mesh runtime in tests.

Requests and responses are JSON objects so tests can send real fields (``level``, ``name``) without depending on
the project's protos.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import grpc

from mesh import context, errors
from mesh.channels import Channels
from mesh.health import Readiness
from mesh.server import ServiceSpec
from mesh.settings import Settings

SERVICE = "test.v1.Echo"
log = logging.getLogger("tests.echo")


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj).encode()


def _loads(data: bytes) -> Any:
    return json.loads(data)


def seen() -> dict[str, Any]:
    """What the handler sees of the mesh context."""
    remaining = context.time_remaining()
    ident = context.identity()
    return {
        "request_id": context.request_id(),
        "method": context.method(),
        "remaining": remaining,
        "deadline": context.deadline(),
        "role": ident.role,
        "campaigns": list(ident.campaigns),
        "key_id": ident.key_id,
    }


class EchoService:
    """Handlers for ``test.v1.Echo``; ``channels`` lets Forward call another instance (two-hop tests)."""

    def __init__(self, channels: Channels | None = None) -> None:
        self.channels = channels
        self.flaky_failures: dict[str, int] = {}
        self.calls: dict[str, int] = {}
        self.slow_started = asyncio.Event()

    async def echo(self, request: dict[str, Any], ctx: grpc.aio.ServicerContext) -> dict[str, Any]:
        return {"echo": request, "seen": seen()}

    async def validate(self, request: dict[str, Any], ctx: grpc.aio.ServicerContext) -> dict[str, Any]:
        v = errors.Violations()
        level = request.get("level", 0)
        v.check(isinstance(level, int) and 1 <= level <= 20, "party[0].level", "must be between 1 and 20")
        v.check(bool(str(request.get("name", "")).strip()), "name", "must not be empty")
        v.raise_if_any()
        return {"ok": True}

    async def fail(self, request: dict[str, Any], ctx: grpc.aio.ServicerContext) -> dict[str, Any]:
        kind = request["kind"]
        if kind == "not_found":
            raise errors.NotFound("monster", "tarrasque-2")
        if kind == "unavailable":
            raise errors.Unavailable(
                "text model unreachable", reason="VLLM_DOWN", domain="text.dungeonmaster"
            )
        if kind == "exhausted":
            raise errors.ResourceExhausted("slow down", retry_after_s=1.5)
        if kind == "precondition":
            raise errors.FailedPrecondition("campaign is archived")
        raise RuntimeError("secret internal detail: db password is hunter2")

    async def flaky(self, request: dict[str, Any], ctx: grpc.aio.ServicerContext) -> dict[str, Any]:
        """Fails UNAVAILABLE ``request["failures"]`` times per key, then succeeds; counts attempts."""
        key = request["key"]
        self.calls[key] = self.calls.get(key, 0) + 1
        if self.calls[key] <= request["failures"]:
            raise errors.Unavailable("warming up", reason="WARMING_UP")
        return {"attempts": self.calls[key]}

    async def slow(self, request: dict[str, Any], ctx: grpc.aio.ServicerContext) -> dict[str, Any]:
        log.info("slow call started")
        self.slow_started.set()
        await asyncio.sleep(request["seconds"])
        return {"slept": request["seconds"]}

    async def forward(self, request: dict[str, Any], ctx: grpc.aio.ServicerContext) -> dict[str, Any]:
        assert self.channels is not None
        call = self.channels.get(request["target"]).unary_unary(
            f"/{SERVICE}/Echo", request_serializer=_dumps, response_deserializer=_loads
        )
        downstream = await call({"hop": 2})
        return {"downstream": downstream, "seen": seen()}

    async def stream(
        self, request: dict[str, Any], ctx: grpc.aio.ServicerContext
    ) -> AsyncIterator[dict[str, Any]]:
        for i in range(request["count"]):
            yield {"i": i}
        if request.get("fail"):
            raise errors.InvalidArgument([("count", "too many chunks requested")])
        if request.get("crash"):
            raise ValueError("stream exploded")

    async def stream_write(self, request: dict[str, Any], ctx: grpc.aio.ServicerContext) -> None:
        for i in range(request["count"]):
            await ctx.write({"i": i})
        if request.get("fail"):
            raise errors.NotFound("chunk", "last")

    async def total(
        self, requests: AsyncIterator[dict[str, Any]], ctx: grpc.aio.ServicerContext
    ) -> dict[str, Any]:
        """Client streaming: sums ``n``; a negative value is bad input naming its position."""
        total = 0
        i = 0
        async for item in requests:
            errors.require(item["n"] >= 0, f"items[{i}].n", "must not be negative")
            total += item["n"]
            i += 1
        return {"total": total}

    async def chat(
        self, requests: AsyncIterator[dict[str, Any]], ctx: grpc.aio.ServicerContext
    ) -> AsyncIterator[dict[str, Any]]:
        """Bidirectional: echoes each line; "!" is unavailable mid-stream."""
        async for item in requests:
            if item["line"] == "!":
                raise errors.Unavailable("the bard left", reason="BARD_GONE")
            yield {"line": item["line"].upper(), "request_id": context.request_id()}

    def sync_lookup(self, request: dict[str, Any], ctx: grpc.aio.ServicerContext) -> dict[str, Any]:
        """A plain (blocking) function: runs in a worker thread, still inside the call's context."""
        if request.get("missing"):
            raise errors.NotFound("rumour", request["missing"])
        return {"request_id": context.request_id()}

    def sync_count(self, request: dict[str, Any], ctx: grpc.aio.ServicerContext) -> Iterator[dict[str, Any]]:
        for i in range(request["count"]):
            yield {"i": i}
        if request.get("fail"):
            raise errors.InvalidArgument([("count", "odd request")])

    def handlers(self) -> dict[str, grpc.RpcMethodHandler]:
        unary: dict[str, Callable[..., Any]] = {
            "Echo": self.echo,
            "Validate": self.validate,
            "Fail": self.fail,
            "Flaky": self.flaky,
            "Slow": self.slow,
            "Forward": self.forward,
            "SyncLookup": self.sync_lookup,
        }
        out = {
            name: grpc.unary_unary_rpc_method_handler(
                fn, request_deserializer=_loads, response_serializer=_dumps
            )
            for name, fn in unary.items()
        }
        out["Stream"] = grpc.unary_stream_rpc_method_handler(
            self.stream, request_deserializer=_loads, response_serializer=_dumps
        )
        out["StreamWrite"] = grpc.unary_stream_rpc_method_handler(
            self.stream_write, request_deserializer=_loads, response_serializer=_dumps
        )
        out["SyncCount"] = grpc.unary_stream_rpc_method_handler(
            self.sync_count, request_deserializer=_loads, response_serializer=_dumps
        )
        out["Total"] = grpc.stream_unary_rpc_method_handler(
            self.total, request_deserializer=_loads, response_serializer=_dumps
        )
        out["Chat"] = grpc.stream_stream_rpc_method_handler(
            self.chat, request_deserializer=_loads, response_serializer=_dumps
        )
        return out

    def register(self, server: grpc.aio.Server) -> None:
        server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(SERVICE, self.handlers())])


def spec(
    name: str,
    service: EchoService | None = None,
    readiness: Callable[[], Any] | None = None,
    **kwargs: Any,
) -> ServiceSpec:
    svc = service or EchoService()
    return ServiceSpec(
        name=name, service_names=[SERVICE], register=svc.register, readiness=readiness, **kwargs
    )


def unary(channel: grpc.aio.Channel, method: str) -> Any:
    return channel.unary_unary(
        f"/{SERVICE}/{method}", request_serializer=_dumps, response_deserializer=_loads
    )


def unary_stream(channel: grpc.aio.Channel, method: str) -> Any:
    return channel.unary_stream(
        f"/{SERVICE}/{method}", request_serializer=_dumps, response_deserializer=_loads
    )


def make_spec(settings: Settings) -> ServiceSpec:
    """Spec for the child-process test server (``python -m tests.mesh.slow_server``)."""

    async def ready() -> Readiness:
        return Readiness(ready=True)

    async def broken_startup() -> None:
        raise ConnectionError("database unreachable")

    fail = os.environ.get("DM_TEST_FAIL_STARTUP") == "1"
    return spec("npc", readiness=ready, startup=broken_startup if fail else None)
