"""Client channels: reuse per loop, retries only for idempotent methods, deadline and metadata propagation."""

from __future__ import annotations

import asyncio
import json

import grpc
import pytest

from mesh import context
from mesh.channels import Channels, call_metadata, client_options, remaining_timeout, service_config
from mesh.server import server_options, start_server
from mesh.settings import Settings
from tests.mesh import echo_service as es


def test_retry_policy_only_for_idempotent_methods(settings: Settings) -> None:
    config = service_config(["/test.v1.Echo/Flaky", "dungeonmaster.v1.MemoryService"], settings)
    [method_config] = config["methodConfig"]
    assert method_config["name"] == [
        {"service": "test.v1.Echo", "method": "Flaky"},
        {"service": "dungeonmaster.v1.MemoryService"},
    ]
    policy = method_config["retryPolicy"]
    assert policy["retryableStatusCodes"] == ["UNAVAILABLE"]
    assert policy["maxAttempts"] == settings.retry_max_attempts
    assert policy["initialBackoff"] == "0.1s" and policy["backoffMultiplier"] == 2.0
    # Nothing else (no default {} entry) carries a retry policy.
    assert all("retryPolicy" not in c or c is method_config for c in config["methodConfig"])
    assert "methodConfig" not in service_config([], settings)
    with pytest.raises(ValueError):
        service_config(["a/b/c"], settings)


def test_channel_options_carry_the_service_config(settings: Settings) -> None:
    channels = Channels(settings, idempotent=["test.v1.Echo/Flaky"])
    options = dict(channels.options)
    assert json.loads(options["grpc.service_config"]) == channels.service_config
    assert options["grpc.max_receive_message_length"] == settings.max_message_bytes


def test_keepalive_and_sizes_match_server(settings: Settings) -> None:
    client = dict(client_options(settings))
    server = dict(server_options(settings))
    # A client pinging more often than the server allows would be sent GOAWAY too_many_pings.
    assert client["grpc.keepalive_time_ms"] >= server["grpc.http2.min_ping_interval_without_data_ms"]
    assert client["grpc.keepalive_permit_without_calls"] == server["grpc.keepalive_permit_without_calls"] == 1
    for key in ("grpc.max_send_message_length", "grpc.max_receive_message_length"):
        assert client[key] == server[key] == settings.max_message_bytes


async def test_idempotent_method_is_retried_on_unavailable(settings: Settings) -> None:
    service = es.EchoService()
    async with start_server(es.spec("retry", service), settings, port=0) as srv:
        retrying = Channels(settings, idempotent=["test.v1.Echo/Flaky"])
        plain = Channels(settings)
        try:
            flaky = es.unary(retrying.get(srv.address), "Flaky")
            assert await flaky({"key": "a", "failures": 2}, timeout=10) == {"attempts": 3}
            once = es.unary(plain.get(srv.address), "Flaky")
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await once({"key": "b", "failures": 2}, timeout=10)
            assert info.value.code() == grpc.StatusCode.UNAVAILABLE
            assert service.calls["b"] == 1  # the non-idempotent call was tried exactly once
        finally:
            await retrying.close()
            await plain.close()


async def test_channels_are_reused_on_the_loop(settings: Settings) -> None:
    channels = Channels(settings)
    first = channels.get("127.0.0.1:1")
    assert channels.get("127.0.0.1:1") is first
    assert channels.for_service("memory") is channels.get(settings.memory_addr)
    await channels.close()


def test_channel_needs_a_running_loop(settings: Settings) -> None:
    with pytest.raises(RuntimeError):
        Channels(settings).get("127.0.0.1:1")


async def test_large_messages_pass_both_ways(settings: Settings) -> None:
    blob = "x" * (6 * 1024 * 1024)  # above gRPC's 4 MiB default, below the 32 MiB setting
    async with start_server(es.spec("big"), settings, port=0) as srv:
        channels = Channels(settings)
        try:
            reply = await es.unary(channels.get(srv.address), "Echo")({"blob": blob}, timeout=20)
        finally:
            await channels.close()
    assert len(reply["echo"]["blob"]) == len(blob)


async def test_remaining_timeout_and_call_metadata(settings: Settings) -> None:
    async def inside_a_call() -> tuple[float, float, tuple[tuple[str, str], ...]]:
        context.bind(
            request_id="rid-9",
            identity=context.Identity(role="dm", campaigns=("c1",), key_id="k1"),
            timeout=2.0,
        )
        return remaining_timeout(cap=30.0), remaining_timeout(cap=0.5), call_metadata()

    bounded, capped, metadata = await asyncio.create_task(inside_a_call())
    assert 1.5 < bounded <= 2.0
    assert capped == 0.5
    assert metadata == (
        ("x-request-id", "rid-9"),
        ("x-dm-role", "dm"),
        ("x-dm-campaigns", "c1"),
        ("x-dm-key-id", "k1"),
    )

    async def expired() -> float:
        context.bind(timeout=-1.0)
        return remaining_timeout(cap=30.0)

    assert await asyncio.create_task(expired()) == 0.0
    # Outside any call: no deadline, so the cap (the default deadline) applies, and no metadata is sent.
    assert remaining_timeout(cap=4.0) == 4.0
    assert call_metadata() == ()
