"""The shared-table RPCs of MemoryService over real gRPC: the log as a live stream, whispers, the turn queue."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import pytest

from dungeonmaster.v1 import common_pb2, memory_pb2
from memory_svc.memory import Memory
from tests.memory.conftest import MemoryFactory
from tests.memory.test_service import Stub, bad_fields, serving

M = memory_pb2


def who(role: str, key: str) -> tuple[tuple[str, str], ...]:
    return (("x-dm-role", role), ("x-dm-key-id", key), ("x-dm-campaigns", "*"))


P1, P2, DM = who("player", "p1"), who("player", "p2"), who("dm", "dm")


async def campaign(stub: Stub, name: str = "C") -> str:
    await stub.CreateWorld(M.CreateWorldRequest(slug="w", name="W"))
    return (await stub.CreateCampaign(M.CreateCampaignRequest(world_id="w", name=name))).campaign.id


async def record(stub: Stub, cid: str, rid: str, text: str, **event: Any) -> M.Event:
    reply = await stub.RecordEvent(
        M.RecordEventRequest(
            campaign_id=cid, request_id=rid, event=M.Event(kind=M.EVENT_KIND_NOTE, content=text, **event)
        )
    )
    return reply.event


async def take(stream: Any, count: int, limit_s: float = 10.0) -> list[M.WatchEventsResponse]:
    out: list[M.WatchEventsResponse] = []
    async with asyncio.timeout(limit_s):
        while len(out) < count:
            out.append(await stream.read())
    return out


def texts(items: list[M.WatchEventsResponse]) -> list[str]:
    return [i.event.content if i.HasField("event") else f"live:{i.live.text}" for i in items]


async def test_log_sequence_whispers_and_watch_resume(make_memory: MemoryFactory) -> None:
    memory: Memory = make_memory()
    async with serving(memory) as (_, stub):
        cid = await campaign(stub)
        other = (await stub.CreateCampaign(M.CreateCampaignRequest(world_id="w", name="D"))).campaign.id
        e1 = await record(stub, cid, "r1", "public one")
        e2 = await record(stub, cid, "r2", "whisper to p1", recipients=["p1"])
        e3 = await record(stub, cid, "r3", "dm only", audience=common_pb2.AUDIENCE_DM)
        d1 = await record(stub, other, "r1", "other campaign")
        assert [e1.sequence, e2.sequence, e3.sequence, d1.sequence] == [1, 2, 3, 1]
        assert list(e2.recipients) == ["p1"]
        again = await record(stub, cid, "r2", "whisper to p1", recipients=["p1"])
        assert again.sequence == 2  # a retry is the same log entry

        async def listed(md: Any) -> list[str]:
            page = await stub.ListEvents(
                M.ListEventsRequest(campaign_id=cid, audience=common_pb2.AUDIENCE_DM), metadata=md
            )
            return sorted(e.content for e in page.events)

        assert await listed(P1) == ["public one", "whisper to p1"]
        assert await listed(P2) == ["public one"]
        assert await listed(DM) == ["dm only", "public one", "whisper to p1"]

        # A player's watch: the backlog it may see, then live events and updates as they come.
        p2 = stub.WatchEvents(M.WatchEventsRequest(campaign_id=cid), metadata=P2)
        p1 = stub.WatchEvents(M.WatchEventsRequest(campaign_id=cid), metadata=P1)
        dm = stub.WatchEvents(
            M.WatchEventsRequest(campaign_id=cid, audience=common_pb2.AUDIENCE_DM), metadata=DM
        )
        assert texts(await take(p2, 1)) == ["public one"]
        assert texts(await take(p1, 2)) == ["public one", "whisper to p1"]
        assert texts(await take(dm, 3)) == ["public one", "whisper to p1", "dm only"]
        base = dict(kind=M.LIVE_KIND_NARRATION, turn_id="t1", after_sequence=3)
        await stub.PublishLive(
            M.PublishLiveRequest(
                campaign_id=cid, update=M.LiveUpdate(text="secret", recipients=["p1"], **base)
            )
        )
        await stub.PublishLive(
            M.PublishLiveRequest(campaign_id=cid, update=M.LiveUpdate(text="hello", **base))
        )
        await record(stub, cid, "r4", "public two")
        assert texts(await take(p2, 2)) == ["live:hello", "public two"]
        assert texts(await take(p1, 3)) == ["live:secret", "live:hello", "public two"]
        assert texts(await take(dm, 3)) == ["live:secret", "live:hello", "public two"]
        for call in (p1, p2, dm):
            call.cancel()

        # Resuming after sequence 1 gives exactly what came later, in order.
        resumed = stub.WatchEvents(M.WatchEventsRequest(campaign_id=cid, after_sequence=1), metadata=P1)
        got = await take(resumed, 2)
        assert [(i.event.sequence, i.event.content) for i in got] == [(2, "whisper to p1"), (4, "public two")]
        with pytest.raises(TimeoutError):
            await take(resumed, 1, limit_s=0.5)  # nothing twice
        resumed.cancel()


async def test_turn_queue_is_first_come_first_served_per_campaign(make_memory: MemoryFactory) -> None:
    memory: Memory = make_memory()
    async with serving(memory) as (_, stub):
        cid = await campaign(stub)
        other = (await stub.CreateCampaign(M.CreateCampaignRequest(world_id="w", name="D"))).campaign.id
        first = await stub.AcquireTurn(M.AcquireTurnRequest(campaign_id=cid, turn_id="a"), timeout=5)
        assert first.after_sequence == 0
        order: list[str] = []

        async def take_turn(turn: str) -> None:
            await stub.AcquireTurn(M.AcquireTurnRequest(campaign_id=cid, turn_id=turn), timeout=10)
            order.append(turn)

        b = asyncio.create_task(take_turn("b"))
        await asyncio.sleep(0.2)
        c = asyncio.create_task(take_turn("c"))
        await asyncio.sleep(0.2)
        # Another campaign never waits for this one.
        await stub.AcquireTurn(M.AcquireTurnRequest(campaign_id=other, turn_id="x"), timeout=2)
        # A caller whose deadline passes while waiting leaves the queue.
        with pytest.raises(grpc.aio.AioRpcError) as late:
            await stub.AcquireTurn(M.AcquireTurnRequest(campaign_id=cid, turn_id="late"), timeout=0.3)
        assert late.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert order == []
        await record(stub, cid, "r1", "during a")
        assert (await stub.ReleaseTurn(M.ReleaseTurnRequest(campaign_id=cid, turn_id="a"))).released
        await asyncio.wait_for(b, 5)
        assert order == ["b"] and not c.done()
        await stub.ReleaseTurn(M.ReleaseTurnRequest(campaign_id=cid, turn_id="b"))
        await asyncio.wait_for(c, 5)
        assert order == ["b", "c"]
        assert not (await stub.ReleaseTurn(M.ReleaseTurnRequest(campaign_id=cid, turn_id="b"))).released
        # The lease records where the log stood when it was granted.
        await stub.ReleaseTurn(M.ReleaseTurnRequest(campaign_id=cid, turn_id="c"))
        again = await stub.AcquireTurn(M.AcquireTurnRequest(campaign_id=cid, turn_id="d"), timeout=5)
        assert again.after_sequence == 1


async def test_expired_lease_frees_the_table(make_memory: MemoryFactory) -> None:
    memory: Memory = make_memory()
    async with serving(memory) as (_, stub):
        cid = await campaign(stub)
        await stub.AcquireTurn(
            M.AcquireTurnRequest(campaign_id=cid, turn_id="crashed", lease_ms=300), timeout=5
        )
        started = asyncio.get_running_loop().time()
        await stub.AcquireTurn(M.AcquireTurnRequest(campaign_id=cid, turn_id="next"), timeout=5)
        assert 0.2 <= asyncio.get_running_loop().time() - started < 3.0


async def test_table_rpcs_name_bad_fields(make_memory: MemoryFactory) -> None:
    memory: Memory = make_memory()
    async with serving(memory) as (_, stub):
        cid = await campaign(stub)
        cases: list[tuple[Any, set[str]]] = [
            (
                stub.AcquireTurn(M.AcquireTurnRequest(campaign_id=cid, turn_id="", lease_ms=-1)),
                {"turn_id", "lease_ms"},
            ),
            (stub.ReleaseTurn(M.ReleaseTurnRequest(campaign_id="", turn_id="t")), {"campaign_id"}),
            (
                stub.PublishLive(
                    M.PublishLiveRequest(campaign_id=cid, update=M.LiveUpdate(recipients=["a,b"]))
                ),
                {"update.kind", "update.recipients[0]"},
            ),
            (
                stub.RecordEvent(
                    M.RecordEventRequest(
                        campaign_id=cid, request_id="r", event=M.Event(content="x", recipients=["a,b"])
                    )
                ),
                {"event.recipients[0]"},
            ),
        ]
        for call, fields in cases:
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await call
            assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert fields <= bad_fields(err.value), (fields, bad_fields(err.value))
        stream = stub.WatchEvents(M.WatchEventsRequest(campaign_id="", after_sequence=-1))
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stream.read()
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert {"campaign_id", "after_sequence"} <= bad_fields(err.value)


async def test_table_rpcs_hide_other_campaigns(make_memory: MemoryFactory) -> None:
    memory: Memory = make_memory()
    async with serving(memory) as (_, stub):
        cid = await campaign(stub)
        await stub.PublishLive(  # resolves (and caches) the campaign for a caller who may see it
            M.PublishLiveRequest(campaign_id=cid, update=M.LiveUpdate(kind=M.LIVE_KIND_NARRATION)),
            metadata=DM,
        )
        elsewhere = (("x-dm-role", "player"), ("x-dm-key-id", "p9"), ("x-dm-campaigns", "999999"))
        stream = stub.WatchEvents(M.WatchEventsRequest(campaign_id=cid), metadata=elsewhere)
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stream.read()
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.AcquireTurn(M.AcquireTurnRequest(campaign_id=cid, turn_id="t"), metadata=elsewhere)
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
