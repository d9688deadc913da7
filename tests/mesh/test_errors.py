"""Domain errors become status codes with google.rpc.Status details, for unary and streaming handlers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from mesh import errors
from mesh.context import REQUEST_ID_KEY
from mesh.server import RunningServer, start_server
from mesh.settings import Settings
from mesh.status import unpack_details
from tests.mesh import echo_service as es
from tests.mesh.conftest import LogCapture


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[RunningServer]:
    async with start_server(es.spec("errors"), settings, port=0) as srv:
        yield srv


async def _fail(srv: RunningServer, method: str, request: dict[str, Any]) -> tuple[grpc.aio.Call, Any]:
    """Call a unary method that must fail; returns the call and its decoded google.rpc.Status."""
    async with grpc.aio.insecure_channel(srv.address) as ch:
        call = es.unary(ch, method)(request, metadata=((REQUEST_ID_KEY, "err-1"),))
        with pytest.raises(grpc.aio.AioRpcError):
            await call
        status = await rpc_status.aio.from_call(call)
    return call, status


def _detail(status: Any, cls: type) -> Any:
    found = [d for d in unpack_details(status) if isinstance(d, cls)]
    assert found, f"no {cls.__name__} in {unpack_details(status)}"
    return found[0]


async def test_out_of_range_field_is_invalid_argument_naming_the_field(server: RunningServer) -> None:
    call, status = await _fail(server, "Validate", {"level": 42, "name": "Vex"})
    assert await call.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "party[0].level" in await call.details()
    bad = _detail(status, error_details_pb2.BadRequest)
    assert [(v.field, v.description) for v in bad.field_violations] == [
        ("party[0].level", "must be between 1 and 20")
    ]
    assert _detail(status, error_details_pb2.RequestInfo).request_id == "err-1"


async def test_several_bad_fields_are_reported_together(server: RunningServer) -> None:
    _, status = await _fail(server, "Validate", {"level": 0, "name": "  "})
    bad = _detail(status, error_details_pb2.BadRequest)
    assert [v.field for v in bad.field_violations] == ["party[0].level", "name"]


async def test_valid_input_passes(server: RunningServer) -> None:
    async with grpc.aio.insecure_channel(server.address) as ch:
        assert await es.unary(ch, "Validate")({"level": 20, "name": "Vex"}) == {"ok": True}


async def test_not_found(server: RunningServer) -> None:
    call, status = await _fail(server, "Fail", {"kind": "not_found"})
    assert await call.code() == grpc.StatusCode.NOT_FOUND
    info = _detail(status, error_details_pb2.ResourceInfo)
    assert (info.resource_type, info.resource_name) == ("monster", "tarrasque-2")


async def test_unavailable_carries_error_info(server: RunningServer) -> None:
    call, status = await _fail(server, "Fail", {"kind": "unavailable"})
    assert await call.code() == grpc.StatusCode.UNAVAILABLE
    info = _detail(status, error_details_pb2.ErrorInfo)
    assert (info.reason, info.domain) == ("VLLM_DOWN", "text.dungeonmaster")


async def test_resource_exhausted_carries_retry_info(server: RunningServer) -> None:
    call, status = await _fail(server, "Fail", {"kind": "exhausted"})
    assert await call.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    delay = _detail(status, error_details_pb2.RetryInfo).retry_delay
    assert (delay.seconds, delay.nanos) == (1, 500_000_000)


async def test_failed_precondition(server: RunningServer) -> None:
    call, _ = await _fail(server, "Fail", {"kind": "precondition"})
    assert await call.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert await call.details() == "campaign is archived"


async def test_unexpected_exception_is_internal_without_traceback(
    server: RunningServer, json_log: LogCapture
) -> None:
    call, status = await _fail(server, "Fail", {"kind": "boom"})
    assert await call.code() == grpc.StatusCode.INTERNAL
    details = await call.details()
    assert details == "internal error (request id err-1)"
    assert "hunter2" not in str(status) and "Traceback" not in str(status)
    # The traceback is in the server log instead, under the same request id.
    logged = [r for r in json_log.records() if r["logger"] == "mesh.server" and r["level"] == "ERROR"]
    assert logged and logged[-1]["request_id"] == "err-1"
    assert "Traceback" in logged[-1]["exc"] and "hunter2" in logged[-1]["exc"]


@pytest.mark.parametrize("method", ["Stream", "StreamWrite"])
async def test_server_streaming_error_after_chunks(server: RunningServer, method: str) -> None:
    async with grpc.aio.insecure_channel(server.address) as ch:
        call = es.unary_stream(ch, method)({"count": 2, "fail": True})
        got = []
        with pytest.raises(grpc.aio.AioRpcError) as info:
            async for item in call:
                got.append(item["i"])
        status = await rpc_status.aio.from_call(call)
    assert got == [0, 1]
    if method == "Stream":
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        bad = _detail(status, error_details_pb2.BadRequest)
        assert bad.field_violations[0].field == "count"
    else:
        assert info.value.code() == grpc.StatusCode.NOT_FOUND
        assert _detail(status, error_details_pb2.ResourceInfo).resource_type == "chunk"


async def test_server_streaming_crash_is_internal(server: RunningServer) -> None:
    async with grpc.aio.insecure_channel(server.address) as ch:
        call = es.unary_stream(ch, "Stream")({"count": 1, "crash": True})
        with pytest.raises(grpc.aio.AioRpcError) as info:
            async for _ in call:
                pass
    assert info.value.code() == grpc.StatusCode.INTERNAL
    assert "exploded" not in (info.value.details() or "")


async def test_server_streaming_success(server: RunningServer) -> None:
    async with grpc.aio.insecure_channel(server.address) as ch:
        items = [m["i"] async for m in es.unary_stream(ch, "Stream")({"count": 3})]
    assert items == [0, 1, 2]


async def test_client_streaming_error_names_the_item(server: RunningServer) -> None:
    async with grpc.aio.insecure_channel(server.address) as ch:
        total = ch.stream_unary(
            "/test.v1.Echo/Total", request_serializer=es._dumps, response_deserializer=es._loads
        )
        assert await total(iter([{"n": 2}, {"n": 3}])) == {"total": 5}
        call = total(iter([{"n": 2}, {"n": -1}]))
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await call
        status = await rpc_status.aio.from_call(call)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert _detail(status, error_details_pb2.BadRequest).field_violations[0].field == "items[1].n"


async def test_bidirectional_stream_error_mid_stream(server: RunningServer) -> None:
    async with grpc.aio.insecure_channel(server.address) as ch:
        chat = ch.stream_stream(
            "/test.v1.Echo/Chat", request_serializer=es._dumps, response_deserializer=es._loads
        )
        call = chat(
            iter([{"line": "hail"}, {"line": "!"}, {"line": "never"}]), metadata=((REQUEST_ID_KEY, "bd"),)
        )
        got = []
        with pytest.raises(grpc.aio.AioRpcError) as info:
            async for reply in call:
                got.append(reply)
        status = await rpc_status.aio.from_call(call)
    assert got == [{"line": "HAIL", "request_id": "bd"}]
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    assert _detail(status, error_details_pb2.ErrorInfo).reason == "BARD_GONE"


async def test_sync_handlers_run_in_threads_with_context_and_error_mapping(server: RunningServer) -> None:
    async with grpc.aio.insecure_channel(server.address) as ch:
        lookup = es.unary(ch, "SyncLookup")
        assert await lookup({}, metadata=((REQUEST_ID_KEY, "sync-1"),)) == {"request_id": "sync-1"}
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await lookup({"missing": "dragon"})
        assert info.value.code() == grpc.StatusCode.NOT_FOUND
        count = es.unary_stream(ch, "SyncCount")
        assert [m["i"] async for m in count({"count": 3})] == [0, 1, 2]
        with pytest.raises(grpc.aio.AioRpcError) as bad:
            async for _ in count({"count": 1, "fail": True}):
                pass
        assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_violations_helper() -> None:
    v = errors.Violations()
    assert v.check(True, "a", "fine")
    assert not v.check(False, "b", "bad")
    v.extend([("c", "worse")], prefix="party[1].")
    with pytest.raises(errors.InvalidArgument) as info:
        v.raise_if_any()
    assert info.value.violations == [("b", "bad"), ("party[1].c", "worse")]
    assert "b: bad" in str(info.value) and "party[1].c: worse" in str(info.value)
    errors.Violations().raise_if_any()  # nothing recorded: no error
    with pytest.raises(errors.InvalidArgument, match="level"):
        errors.require_range(25, 1, 20, "level")


def test_errors_module_is_grpc_free() -> None:
    import ast
    import inspect

    for module in (
        errors,
        __import__("mesh.context", fromlist=["x"]),
        __import__("mesh.health", fromlist=["x"]),
    ):
        tree = ast.parse(inspect.getsource(module))
        imported = {
            alias.name.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.Import | ast.ImportFrom)
            for alias in (node.names if isinstance(node, ast.Import) else [ast.alias(node.module or "")])
        }
        assert "grpc" not in imported and "grpc_status" not in imported, module.__name__
