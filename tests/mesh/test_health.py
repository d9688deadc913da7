"""grpc.health.v1 follows readiness, goes NOT_SERVING on shutdown; reflection lists the services."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from mesh.channels import wait_for_serving
from mesh.health import Readiness
from mesh.server import start_server
from mesh.settings import Settings
from tests.mesh import echo_service as es

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
OTHER = "test.v1.Other"


async def _status(ch: grpc.aio.Channel, service: str) -> int:
    reply = await health_pb2_grpc.HealthStub(ch).Check(
        health_pb2.HealthCheckRequest(service=service), timeout=2
    )
    return int(reply.status)


async def test_not_serving_until_ready_then_serving(settings: Settings) -> None:
    state = {"ready": False}
    changes: list[Readiness] = []

    async def readiness() -> Readiness:
        if state["ready"]:
            return Readiness(ready=True, degraded=["text-model"], reason="procedural text fallback")
        return Readiness(ready=False, reason="database not migrated")

    spec = es.spec("health", readiness=readiness, health_details=changes.append)
    spec.service_names.append(OTHER)
    async with start_server(spec, settings, port=0) as srv:
        async with grpc.aio.insecure_channel(srv.address) as ch:
            for name in ("", es.SERVICE, OTHER):
                assert await _status(ch, name) == NOT_SERVING
            # Keeps polling and stays NOT_SERVING while the dependency is missing.
            with pytest.raises(TimeoutError, match="NOT_SERVING"):
                await wait_for_serving(srv.address, es.SERVICE, wait_s=0.3)
            state["ready"] = True
            await wait_for_serving(srv.address, "", wait_s=5)
            for name in (es.SERVICE, OTHER):
                assert await _status(ch, name) == SERVING
    assert changes[0].reason == "database not migrated"
    assert changes[-1].ready and changes[-1].degraded == ["text-model"]


async def test_per_service_override_and_failing_check(settings: Settings) -> None:
    calls = {"n": 0}

    async def readiness() -> Readiness:
        calls["n"] += 1
        if calls["n"] == 1:
            raise ConnectionError("milvus refused")
        return Readiness(ready=True, services={OTHER: False}, reason="no image model")

    spec = es.spec("health2", readiness=readiness)
    spec.service_names.append(OTHER)
    async with start_server(spec, settings, port=0) as srv:
        await wait_for_serving(srv.address, es.SERVICE, wait_s=5)
        async with grpc.aio.insecure_channel(srv.address) as ch:
            assert await _status(ch, OTHER) == NOT_SERVING
            assert await _status(ch, "") == NOT_SERVING  # overall only when every service serves
        assert calls["n"] >= 2  # the raising check counted as not ready and polling went on


async def test_all_not_serving_on_shutdown(settings: Settings) -> None:
    service = es.EchoService()
    spec = es.spec("health3", service)
    spec.service_names.append(OTHER)
    srv_cm = start_server(spec, settings, port=0)
    srv = await srv_cm.__aenter__()
    try:
        await wait_for_serving(srv.address, "", wait_s=5)
        async with grpc.aio.insecure_channel(srv.address) as ch:
            stub = health_pb2_grpc.HealthStub(ch)
            watches = {
                n: stub.Watch(health_pb2.HealthCheckRequest(service=n)) for n in ("", es.SERVICE, OTHER)
            }
            for watch in watches.values():
                assert (await watch.read()).status == SERVING
            slow = asyncio.ensure_future(es.unary(ch, "Slow")({"seconds": 0.5}))
            await asyncio.wait_for(service.slow_started.wait(), timeout=5)
            stopping = asyncio.ensure_future(srv.stop(grace=1.0))
            for name, watch in watches.items():
                reply = await asyncio.wait_for(watch.read(), timeout=2)
                assert reply.status == NOT_SERVING, name
            assert await slow == {"slept": 0.5}  # the in-flight call still finished
            await asyncio.wait_for(stopping, timeout=5)
    finally:
        await srv_cm.__aexit__(None, None, None)


async def test_reflection_lists_services(settings: Settings) -> None:
    spec = es.spec("reflect", extra_reflection=["test.v1.Extra"])
    async with start_server(spec, settings, port=0) as srv:
        async with grpc.aio.insecure_channel(srv.address) as ch:
            stub = reflection_pb2_grpc.ServerReflectionStub(ch)
            requests = [
                reflection_pb2.ServerReflectionRequest(list_services=""),
                reflection_pb2.ServerReflectionRequest(file_containing_symbol="grpc.health.v1.Health"),
            ]
            replies = [r async for r in stub.ServerReflectionInfo(iter(requests))]
    listed = {s.name for s in replies[0].list_services_response.service}
    assert listed == {
        es.SERVICE,
        "test.v1.Extra",
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    }
    assert replies[1].file_descriptor_response.file_descriptor_proto  # descriptors are served too
