"""The fault proxy itself: it forwards faithfully, and each fault does what chaos tests rely on."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from mesh.server import ServiceSpec, start_server
from mesh.settings import Settings
from tests.support.faults import FaultProxy, proxied


@pytest.fixture
async def echo() -> AsyncIterator[int]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass  # the proxy's resets reach this side too
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


async def roundtrip(port: int, payload: bytes, wait_s: float = 2.0) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(payload)
        await writer.drain()
        return await asyncio.wait_for(reader.readexactly(len(payload)), wait_s)
    finally:
        writer.close()


async def test_forwards_latency_black_hole_and_reset(echo: int) -> None:
    proxy = FaultProxy("127.0.0.1", echo)
    await proxy.start()
    try:
        assert await roundtrip(proxy.port, b"x" * 100_000) == b"x" * 100_000

        proxy.latency_s = 0.2
        started = time.perf_counter()
        assert await roundtrip(proxy.port, b"slow") == b"slow"
        assert time.perf_counter() - started >= 0.4  # delayed both ways
        proxy.latency_s = 0.0

        proxy.black_hole = True
        with pytest.raises(asyncio.TimeoutError):
            await roundtrip(proxy.port, b"lost", wait_s=0.3)
        proxy.black_hole = False

        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        writer.write(b"hi")
        assert await reader.readexactly(2) == b"hi"
        assert proxy.reset() >= 1
        with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
            writer.write(b"again")
            await writer.drain()
            await asyncio.wait_for(reader.readexactly(5), 2)
        writer.close()
        assert proxy.connections == 4
    finally:
        await proxy.stop()


def test_grpc_through_threaded_proxy_sees_each_fault() -> None:
    async def serve_and_probe() -> None:
        spec = ServiceSpec(name="probe", service_names=["probe.v1.P"], register=lambda server: None)
        async with start_server(spec, Settings(health_poll_s=0.05, grace_period_s=0.1), port=0) as srv:
            await asyncio.to_thread(probe, srv.port)

    def probe(port: int) -> None:
        with proxied("127.0.0.1", port) as proxy, grpc.insecure_channel(proxy.address) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            ask = health_pb2.HealthCheckRequest(service="liveness")
            assert health.Check(ask, timeout=5).status == health_pb2.HealthCheckResponse.SERVING
            proxy.set_black_hole(True)
            with pytest.raises(grpc.RpcError) as err:
                health.Check(ask, timeout=0.5)
            assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED  # type: ignore[attr-defined]
            proxy.set_black_hole(False)
            proxy.reset()
            deadline = time.monotonic() + 10
            while True:  # the client reconnects after the reset
                try:
                    assert health.Check(ask, timeout=1).status == health_pb2.HealthCheckResponse.SERVING
                    break
                except grpc.RpcError:
                    assert time.monotonic() < deadline
                    time.sleep(0.1)
            assert proxy.proxy.connections >= 2

    asyncio.run(serve_and_probe())
