"""Request id, context propagation over two real hops, JSON access log and Prometheus metrics."""

from __future__ import annotations

import asyncio
import logging
import re

import grpc
import httpx
import pytest

from mesh import errors
from mesh.channels import Channels
from mesh.context import REQUEST_ID_KEY
from mesh.interceptors import ServerInterceptor
from mesh.logs import FLUSH_INTERVAL_S, AccessLog
from mesh.server import start_server
from mesh.settings import Settings
from tests.mesh import echo_service as es
from tests.mesh.conftest import LogCapture

#: gRPC rounds the wire timeout (grpc-timeout header) up, so a server may see a few ms more than was sent.
SLACK = 0.05


def _trailing(call_md: object) -> dict[str, str]:
    return {k: v for k, v in call_md}  # type: ignore[attr-defined]


async def test_request_id_generated_and_echoed(settings: Settings) -> None:
    async with start_server(es.spec("rid"), settings, port=0) as srv:
        async with grpc.aio.insecure_channel(srv.address) as ch:
            call = es.unary(ch, "Echo")({"x": 1})
            reply = await call
            trailing = _trailing(await call.trailing_metadata())
    rid = trailing[REQUEST_ID_KEY]
    assert re.fullmatch(r"[0-9a-f]{32}", rid)
    assert reply["seen"]["request_id"] == rid
    assert reply["seen"]["method"] == "/test.v1.Echo/Echo"
    assert reply["seen"]["remaining"] is None  # the client set no deadline


async def test_request_id_from_caller_is_kept(settings: Settings) -> None:
    async with start_server(es.spec("rid2"), settings, port=0) as srv:
        async with grpc.aio.insecure_channel(srv.address) as ch:
            call = es.unary(ch, "Echo")({}, metadata=((REQUEST_ID_KEY, "turn-42"),), timeout=5)
            reply = await call
            trailing = _trailing(await call.trailing_metadata())
    assert trailing[REQUEST_ID_KEY] == "turn-42"
    assert reply["seen"]["request_id"] == "turn-42"
    assert 0 < reply["seen"]["remaining"] <= 5 + SLACK


async def test_two_hops_propagate_request_id_identity_and_deadline(settings: Settings) -> None:
    channels = Channels(settings)
    front = es.EchoService(channels)
    async with (
        start_server(es.spec("back"), settings, port=0) as back,
        start_server(es.spec("front", front), settings, port=0) as srv,
    ):
        async with grpc.aio.insecure_channel(srv.address) as ch:
            metadata = (
                (REQUEST_ID_KEY, "req-abc"),
                ("x-dm-role", "player"),
                ("x-dm-campaigns", "c1,c2"),
                ("x-dm-key-id", "key-7"),
            )
            reply = await es.unary(ch, "Forward")({"target": back.address}, metadata=metadata, timeout=3.0)
            # No caller deadline and no caller request id: the front generates one and caps the downstream call.
            call = es.unary(ch, "Forward")({"target": back.address})
            unbounded = await call
            generated = _trailing(await call.trailing_metadata())[REQUEST_ID_KEY]
        await channels.close()
    down = reply["downstream"]["seen"]
    assert down["request_id"] == "req-abc"
    assert (down["role"], down["campaigns"], down["key_id"]) == ("player", ["c1", "c2"], "key-7")
    # Without propagation the downstream call would get the 7 s default; with it, the caller's 3 s budget.
    assert 0 < down["remaining"] <= 3.0 + SLACK
    # Both servers share this process's monotonic clock: the downstream deadline is the front's, plus transit.
    assert down["deadline"] <= reply["seen"]["deadline"] + SLACK
    assert unbounded["downstream"]["seen"]["request_id"] == generated
    assert 3.0 + SLACK < unbounded["downstream"]["seen"]["remaining"] <= settings.default_deadline_s + SLACK
    assert unbounded["downstream"]["seen"]["role"] == ""


async def test_access_log_line_has_method_code_latency(settings: Settings, json_log: LogCapture) -> None:
    async with start_server(es.spec("logged"), settings, port=0) as srv:
        async with grpc.aio.insecure_channel(srv.address) as ch:
            await es.unary(ch, "Echo")({}, metadata=((REQUEST_ID_KEY, "log-me"),))
            try:
                await es.unary(ch, "Fail")({"kind": "not_found"}, metadata=((REQUEST_ID_KEY, "log-me-2"),))
            except grpc.aio.AioRpcError:
                pass
    access = [r for r in json_log.records() if r["logger"] == "mesh.access"]
    ok = next(r for r in access if r.get("request_id") == "log-me")
    assert ok["method"] == "/test.v1.Echo/Echo"
    assert ok["code"] == "OK"
    assert ok["level"] == "INFO"
    assert isinstance(ok["latency_ms"], float) and ok["latency_ms"] >= 0
    assert ok["service"] == "logged" and ok["ts"].endswith("Z")
    bad = next(r for r in access if r.get("request_id") == "log-me-2")
    assert bad["code"] == "NOT_FOUND" and bad["method"] == "/test.v1.Echo/Fail"


async def test_metrics_endpoint_counts_calls(settings: Settings) -> None:
    async with start_server(es.spec("metered"), settings, port=0, metrics_port=0) as srv:
        assert srv.metrics_port
        async with grpc.aio.insecure_channel(srv.address) as ch:
            for _ in range(3):
                await es.unary(ch, "Echo")({})
            try:
                await es.unary(ch, "Fail")({"kind": "unavailable"})
            except grpc.aio.AioRpcError:
                pass
        async with httpx.AsyncClient() as http:
            text = (await http.get(f"http://127.0.0.1:{srv.metrics_port}/metrics", timeout=5)).text
    assert 'dm_rpc_server_handled_total{code="OK",method="/test.v1.Echo/Echo",service="metered"} 3.0' in text
    assert (
        'dm_rpc_server_handled_total{code="UNAVAILABLE",method="/test.v1.Echo/Fail",service="metered"} 1.0'
        in text
    )
    assert 'dm_rpc_server_handling_seconds_count{method="/test.v1.Echo/Echo",service="metered"} 3.0' in text
    assert (
        'dm_rpc_server_handling_seconds_bucket{le="+Inf",method="/test.v1.Echo/Echo",service="metered"} 3.0'
        in text
    )
    assert (
        'dm_rpc_server_handling_seconds_bucket{le="120.0",method="/test.v1.Echo/Echo",service="metered"} 3.0'
        in text
    )
    assert 'dm_service_ready{service="metered"} 1.0' in text


async def test_context_does_not_leak_between_calls(settings: Settings) -> None:
    async with start_server(es.spec("leak"), settings, port=0) as srv:
        async with grpc.aio.insecure_channel(srv.address) as ch:
            echo = es.unary(ch, "Echo")
            first = await echo({}, metadata=(("x-dm-role", "dm"), (REQUEST_ID_KEY, "one")), timeout=5)
            second = await echo({})
    assert first["seen"]["role"] == "dm" and first["seen"]["remaining"] is not None
    assert second["seen"]["role"] == "" and second["seen"]["remaining"] is None
    assert second["seen"]["request_id"] not in ("", "one")


async def test_unsafe_request_id_is_replaced(settings: Settings) -> None:
    async with start_server(es.spec("unsafe"), settings, port=0) as srv:
        async with grpc.aio.insecure_channel(srv.address) as ch:
            reply = await es.unary(ch, "Echo")({}, metadata=((REQUEST_ID_KEY, 'x"}, "level": "ERROR'),))
    assert re.fullmatch(r"[0-9a-f]{32}", reply["seen"]["request_id"])


async def test_interceptor_works_as_a_plain_grpc_interceptor(json_log: LogCapture) -> None:
    """ServerInterceptor on an ordinary grpc.aio server (mesh.server wraps handlers up front instead)."""
    server = grpc.aio.server(interceptors=[ServerInterceptor("plain")])
    es.EchoService().register(server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as ch:
            call = es.unary(ch, "Validate")({"level": 99, "name": "x"})
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await call
            assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert REQUEST_ID_KEY in _trailing(await call.trailing_metadata())
            for _ in range(2):  # the second call uses the cached wrapped handler
                assert (await es.unary(ch, "Echo")({"n": 1}))["echo"] == {"n": 1}
    finally:
        await server.stop(None)
    codes = [
        r["code"] for r in json_log.records() if r["logger"] == "mesh.access" and r["service"] == "plain"
    ]
    assert codes == ["INVALID_ARGUMENT", "OK", "OK"]


async def test_opaque_generic_handlers_are_wrapped_too(settings: Settings) -> None:
    """A generic handler that is not a plain method dict is still served through the mesh layer."""

    class Opaque(grpc.GenericRpcHandler):
        def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
            if details.method == "/test.v1.Opaque/Get":  # type: ignore[attr-defined]
                return grpc.unary_unary_rpc_method_handler(self.get)
            return None

        async def get(self, request: bytes, context: grpc.aio.ServicerContext) -> bytes:
            raise errors.NotFound("thing", request.decode())

    spec = es.spec("opaque")
    register = spec.register

    def both(server: grpc.aio.Server) -> None:
        register(server)
        server.add_generic_rpc_handlers([Opaque()])

    spec.register = both
    async with start_server(spec, settings, port=0) as srv:
        async with grpc.aio.insecure_channel(srv.address) as ch:
            for _ in range(2):
                with pytest.raises(grpc.aio.AioRpcError) as info:
                    await ch.unary_unary("/test.v1.Opaque/Get")(b"orb")
                assert info.value.code() == grpc.StatusCode.NOT_FOUND
            with pytest.raises(grpc.aio.AioRpcError) as missing:
                await ch.unary_unary("/test.v1.Opaque/Nope")(b"")
            assert missing.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_register_may_only_add_handlers(settings: Settings) -> None:
    def greedy(server: grpc.aio.Server) -> None:
        server.add_insecure_port("127.0.0.1:0")

    async def go() -> None:
        spec = es.spec("greedy")
        spec.register = greedy
        async with start_server(spec, settings, port=0):
            pass

    with pytest.raises(RuntimeError, match="only add handlers"):
        asyncio.run(go())


async def test_access_log_fast_path_writes_the_same_fields(json_log: LogCapture) -> None:
    """With the mesh handler as the only root handler (production), lines are built directly and batched."""
    root = logging.getLogger()
    others = [h for h in root.handlers if not getattr(h, "_dm_mesh_handler", False)]
    for h in others:  # pytest's capture handlers; put back below
        root.removeHandler(h)
    try:
        access = AccessLog("fast")
        access.emit(logging.INFO, "/a.B/C", "OK", 0.0012345, "rid-1", 'ipv6:[::1]:5"0')
        assert json_log.text() == ""  # batched: nothing written until the flush
        # The flush timer was scheduled first with the same delay, so it has run when this event fires.
        flushed = asyncio.Event()
        asyncio.get_running_loop().call_later(FLUSH_INTERVAL_S, flushed.set)
        await asyncio.wait_for(flushed.wait(), timeout=5)
        fast = json_log.records()
    finally:
        for h in others:
            root.addHandler(h)
    access.emit(logging.INFO, "/a.B/C", "OK", 0.0012345, "rid-1", 'ipv6:[::1]:5"0')  # slow path now
    slow = json_log.records()[-1]
    assert len(fast) == 1
    line = fast[0]
    assert line == {**slow, "ts": line["ts"]}
    assert line["latency_ms"] == 1.234 and line["peer"] == 'ipv6:[::1]:5"0' and line["msg"] == "/a.B/C OK"
