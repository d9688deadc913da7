"""Regressions through a real in-process gateway: the public GetStatus obeys the size limit, failed
authentication is limited per address (by the forwarder and the composite RPCs alike), and bad input to the
gateway's own RPCs is a clean INVALID_ARGUMENT naming the field."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest

from dungeonmaster.v1 import gateway_pb2
from gateway.keys import hash_key
from gateway.service import build_spec
from mesh.server import RunningServer, start_server
from mesh.settings import SERVICES, Settings

KEY = "dmk_limits_dm"


@pytest.fixture
async def gateway() -> AsyncIterator[RunningServer]:
    values: dict[str, object] = {f"{name}_metrics_port": 0 for name in SERVICES}
    values.update(
        health_poll_s=0.05,
        grace_period_s=0.2,
        gateway_api_keys=[{"id": "dm", "sha256": hash_key(KEY), "role": "dm", "campaigns": ["*"]}],
        gateway_auth_failure_burst=3,
        gateway_auth_failure_rate_per_s=0.01,
        gateway_max_request_bytes=1024 * 1024,
    )
    settings = Settings(**values)  # type: ignore[arg-type]
    async with start_server(build_spec(settings), settings, port=0) as srv:
        yield srv


async def test_get_status_refuses_a_message_over_the_gateway_limit(gateway: RunningServer) -> None:
    async with grpc.aio.insecure_channel(gateway.address) as channel:
        status = channel.unary_unary("/dungeonmaster.v1.GameMasterService/GetStatus")
        huge = b"\x0a\x80\x80\x80\x01" + b"x" * (2 * 1024 * 1024)  # unknown field 1, 2 MiB
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await status(huge, timeout=10)
        assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert len(err.value.details() or "") < 1024


async def test_failed_authentication_is_limited_per_address(gateway: RunningServer) -> None:
    async with grpc.aio.insecure_channel(gateway.address) as channel:
        roll = channel.unary_unary("/dungeonmaster.v1.EncounterService/RollDice")
        play = channel.unary_stream("/dungeonmaster.v1.GameMasterService/PlayTurn")
        wrong = (("authorization", "Bearer dmk_guess"),)
        codes = []
        for _ in range(3):
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await roll(b"", metadata=wrong, timeout=5)
            codes.append(err.value.code())
        assert codes == [grpc.StatusCode.UNAUTHENTICATED] * 3
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await roll(b"", metadata=wrong, timeout=5)
        assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        with pytest.raises(grpc.aio.AioRpcError) as err:  # the composite RPCs share the limit
            async for _ in play(b"", metadata=(("authorization", f"Bearer {KEY}"),), timeout=5):
                pass
        assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_bad_play_turn_is_invalid_argument_naming_the_field(gateway: RunningServer) -> None:
    async with grpc.aio.insecure_channel(gateway.address) as channel:
        play = channel.unary_stream("/dungeonmaster.v1.GameMasterService/PlayTurn")
        good = gateway_pb2.PlayTurnRequest(campaign_id="1", turn_id="t", input="go").SerializeToString()
        bad_utf8 = good + b"\x22\x02\xc3\x28"  # field 4 (input) again, not UTF-8
        for raw, field in ((bad_utf8, "input"), (good + b"\x0a\x01\x00", "campaign_id")):
            with pytest.raises(grpc.aio.AioRpcError) as err:
                async for _ in play(raw, metadata=(("authorization", f"Bearer {KEY}"),), timeout=5):
                    pass
            assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert field in (err.value.details() or "")
