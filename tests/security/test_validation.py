"""The request guard: undecodable, oversized and rule-breaking requests become clean errors naming the field."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from dungeonmaster.v1 import common_pb2, gateway_pb2, memory_pb2
from memory_svc import paging
from mesh.errors import InvalidArgument, ResourceExhausted
from mesh.limits import MAX_VIOLATIONS, Limits
from mesh.server import ServiceSpec, start_server
from mesh.settings import Settings
from mesh.status import to_grpc_status
from mesh.validation import Rejected, RequestGuard, check_message, decode, locate_decode_error
from rules import dice


def guard(**limits: Any) -> Any:
    return RequestGuard(Limits(**limits)).deserializer(memory_pb2.RecordEventRequest.FromString)


def fields_of(rejected: Any) -> list[str]:
    assert isinstance(rejected, Rejected), rejected
    assert isinstance(rejected.error, InvalidArgument)
    return [f for f, _ in rejected.error.violations]


def test_valid_request_passes_unchanged() -> None:
    req = memory_pb2.RecordEventRequest(campaign_id="12", event=memory_pb2.Event(content="The gate opens."))
    assert guard()(req.SerializeToString()) == req


def test_garbage_bytes_are_invalid_argument_without_parser_text() -> None:
    rejected = guard()(b"\xff\xff\xff\xff")
    assert fields_of(rejected) == ["request"]
    assert "Error" not in rejected.error.message and "parsing" not in rejected.error.message


def test_invalid_utf8_names_the_nested_field() -> None:
    good = memory_pb2.RecordEventRequest(event=memory_pb2.Event(actor="ab")).SerializeToString()
    bad = good.replace(b"ab", b"\xc3\x28")
    assert fields_of(guard()(bad)) == ["event.actor"]
    assert locate_decode_error(memory_pb2.RecordEventRequest.DESCRIPTOR, good) is None


def test_string_limits_nul_enum_timestamp_and_repeated() -> None:
    event = memory_pb2.Event(actor="x" * 4097, session_id="a\x00b", kind=99)  # type: ignore[arg-type]
    event.occur_time.seconds = 10**12
    req = memory_pb2.RecordEventRequest(campaign_id="1", event=event)
    assert sorted(fields_of(guard()(req.SerializeToString()))) == [
        "event.actor",
        "event.kind",
        "event.occur_time",
        "event.session_id",
    ]
    many = gateway_pb2.PlayTurnRequest(campaign_id="1", character_ids=["1"] * 1001)
    with pytest.raises(InvalidArgument) as err:
        check_message(many, Limits())
    assert err.value.violations[0][0] == "character_ids"
    nested = gateway_pb2.PlayTurnRequest(
        party=common_pb2.Party(members=[common_pb2.PartyMember(name="\x00")])
    )
    with pytest.raises(InvalidArgument) as err:
        check_message(nested, Limits())
    assert err.value.violations == [("party.members[0].name", "must not contain NUL characters")]


def test_prose_fields_have_larger_bounds_and_overrides_win() -> None:
    limits = Limits(overrides={"dungeonmaster.v1.Event.content": 10})
    check_message(memory_pb2.Event(content="y" * 100_000), Limits())  # documents are allowed to be long
    with pytest.raises(InvalidArgument):
        check_message(memory_pb2.Event(content="y" * 11), limits)
    with pytest.raises(InvalidArgument):
        check_message(memory_pb2.Event(content="y" * (1024 * 1024 + 1)), Limits())


def test_violations_are_capped_and_values_never_echoed() -> None:
    huge = "Z" * 1_000_000
    req = gateway_pb2.PlayTurnRequest(character_ids=[huge[:5000] + str(i) for i in range(50)])
    with pytest.raises(InvalidArgument) as err:
        check_message(req, Limits())
    assert len(err.value.violations) == MAX_VIOLATIONS + 1
    status = to_grpc_status(InvalidArgument([("input", f"bad value {huge}")]), "rid")
    assert len(status.details) <= 1024
    assert sum(len(k) + len(v) for k, v in status.trailing_metadata) < 16 * 1024


def test_size_limit_is_resource_exhausted() -> None:
    rejected = guard(max_request_bytes=100)(b"\x0a\x80\x01" + b"a" * 128)
    assert isinstance(rejected, Rejected) and isinstance(rejected.error, ResourceExhausted)


def test_decode_helper_raises_invalid_argument() -> None:
    with pytest.raises(InvalidArgument) as err:
        decode(memory_pb2.GetCampaignRequest, b"\x0a\x02\xc3\x28")
    assert err.value.violations[0][0] == "campaign_id"


@pytest.mark.parametrize("notation", ["1/0", "1d20%0", "99999999999999999999*99999999999999999999"])
def test_dice_arithmetic_errors_are_invalid_argument(notation: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        dice.roll(notation, 1, "notation")
    assert err.value.violations[0][0] == "notation"


@pytest.mark.parametrize(
    "key", ["[1000000000000000000000000000000]", "[true]", "[1.5]", '["\\u0000"]', "[null]"]
)
def test_tampered_page_tokens_are_refused(key: str) -> None:
    token = base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")
    with pytest.raises(InvalidArgument) as err:
        paging.after_id(token)
    assert err.value.violations == [("page_token", "is not a token this service issued")]
    assert paging.after_id(paging.encode([41])) == 41


# --- through a real server -----------------------------------------------------------------------------------

SERVICE = "test.v1.Guarded"


def _spec(max_request_bytes: int | None = None) -> ServiceSpec:
    async def record(request: memory_pb2.RecordEventRequest, context: Any) -> memory_pb2.RecordEventResponse:
        return memory_pb2.RecordEventResponse(event=request.event)

    async def ingest(requests: AsyncIterator[memory_pb2.IngestLoreRequest], context: Any) -> Any:
        count = 0
        async for _ in requests:
            count += 1
        return memory_pb2.IngestLoreResponse(documents=count)

    handlers = {
        "Record": grpc.unary_unary_rpc_method_handler(
            record,
            request_deserializer=memory_pb2.RecordEventRequest.FromString,
            response_serializer=memory_pb2.RecordEventResponse.SerializeToString,
        ),
        "Ingest": grpc.stream_unary_rpc_method_handler(
            ingest,
            request_deserializer=memory_pb2.IngestLoreRequest.FromString,
            response_serializer=memory_pb2.IngestLoreResponse.SerializeToString,
        ),
    }

    def register(server: grpc.aio.Server) -> None:
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))

    return ServiceSpec(
        name="guarded", service_names=[SERVICE], register=register, max_request_bytes=max_request_bytes
    )


def _violations(exc: grpc.aio.AioRpcError) -> list[str]:
    status = rpc_status.from_call(exc)  # type: ignore[arg-type]
    assert status is not None
    out = []
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            out.extend(v.field for v in bad.field_violations)
    return out


async def test_server_maps_bad_unary_and_streamed_requests_to_invalid_argument() -> None:
    settings = Settings(health_poll_s=0.05, grace_period_s=0.2)
    async with start_server(_spec(max_request_bytes=64 * 1024), settings, port=0, metrics_port=None) as srv:
        async with grpc.aio.insecure_channel(srv.address) as channel:
            record = channel.unary_unary(f"/{SERVICE}/Record")
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await record(b"\x12\x04\x2a\x02\xc3\x28", timeout=5)  # event.actor is not UTF-8
            assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert _violations(err.value) == ["event.actor"]
            assert "Unexpected" not in (err.value.details() or "")
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await record(b"\x0a" + b"\x80" * 11, timeout=5)
            assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await record(
                    memory_pb2.RecordEventRequest(campaign_id="x" * 100_000).SerializeToString(), timeout=5
                )
            assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            ok = await record(memory_pb2.RecordEventRequest(campaign_id="1").SerializeToString(), timeout=5)
            assert memory_pb2.RecordEventResponse.FromString(ok).event == memory_pb2.Event()

            ingest = channel.stream_unary(f"/{SERVICE}/Ingest")
            good = memory_pb2.IngestLoreRequest(path="a.md", content="# A").SerializeToString()

            async def stream() -> AsyncIterator[bytes]:
                yield good
                yield memory_pb2.IngestLoreRequest(path="b\x00.md").SerializeToString()

            with pytest.raises(grpc.aio.AioRpcError) as err:
                await ingest(stream(), timeout=5)
            assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert _violations(err.value) == ["path"]
            reply = memory_pb2.IngestLoreResponse.FromString(await ingest(iter([good, good]), timeout=5))
            assert reply.documents == 2


def test_out_of_range_audience_is_refused_not_stored_as_player() -> None:
    req = memory_pb2.RecordEventRequest(campaign_id="1", event=memory_pb2.Event(content="x", audience=7))  # type: ignore[arg-type]
    assert fields_of(guard()(req.SerializeToString())) == ["event.audience"]
