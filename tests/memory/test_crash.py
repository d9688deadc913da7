"""Crash safety: SIGKILL the memory process in the middle of a stream of RecordEvent calls; after a restart
every acknowledged event is there exactly once, and the vector index catches up with SQL."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import grpc
import pytest
import sqlalchemy as sa

from dungeonmaster.v1 import memory_pb2 as M
from dungeonmaster.v1 import memory_pb2_grpc
from memory_svc.kinds import VectorScope
from memory_svc.vector_store import VectorStore
from tests.memory.conftest import eventually
from tests.support.procs import mesh_env, start_service

pytestmark = pytest.mark.slow

SENDERS = 4
KILL_AFTER_ACKS = 40


async def _send_until_killed(
    address: str, campaign_id: str, acked: dict[str, str], kill: asyncio.Event
) -> int:
    """Four concurrent senders; returns how many request ids were sent in total (acked or not)."""
    sent = 0
    next_id = 0

    async def sender(stub: memory_pb2_grpc.MemoryServiceStub) -> None:
        nonlocal sent, next_id
        while True:
            rid = f"req-{next_id:05d}"
            next_id += 1
            sent += 1
            event = M.Event(kind=M.EVENT_KIND_PLAYER_ACTION, actor="Mira", content=f"Mira takes step {rid}.")
            try:
                reply = await stub.RecordEvent(
                    M.RecordEventRequest(campaign_id=campaign_id, request_id=rid, event=event), timeout=10
                )
            except grpc.aio.AioRpcError:
                return  # the server is gone: this call was never acknowledged
            acked[rid] = reply.event.id
            if len(acked) >= KILL_AFTER_ACKS:
                kill.set()

    async with grpc.aio.insecure_channel(address) as channel:
        stub = memory_pb2_grpc.MemoryServiceStub(channel)
        await asyncio.gather(*(sender(stub) for _ in range(SENDERS)))
    return sent


async def test_sigkill_mid_stream_loses_no_acknowledged_event(tmp_path: Path) -> None:
    env = mesh_env(tmp_path / "data", {"DM_MEMORY_OUTBOX_BACKOFF_MAX_S": "1"})
    proc = start_service("memory", env, tmp_path / "logs")
    try:
        async with grpc.aio.insecure_channel(proc.address) as channel:
            stub = memory_pb2_grpc.MemoryServiceStub(channel)
            await stub.CreateWorld(M.CreateWorldRequest(slug="w", name="W"))
            campaign = (await stub.CreateCampaign(M.CreateCampaignRequest(world_id="w", name="C"))).campaign

        acked: dict[str, str] = {}
        kill = asyncio.Event()
        sending = asyncio.create_task(_send_until_killed(proc.address, campaign.id, acked, kill))
        await asyncio.wait_for(kill.wait(), timeout=120)
        proc.proc.send_signal(signal.SIGKILL)  # no shutdown hook runs: only what was committed survives
        proc.proc.wait(timeout=10)
        sent = await asyncio.wait_for(sending, timeout=60)
        assert len(acked) >= KILL_AFTER_ACKS and sent > len(acked) - SENDERS

        proc = start_service("memory", env, tmp_path / "logs2")
        async with grpc.aio.insecure_channel(proc.address) as channel:
            stub = memory_pb2_grpc.MemoryServiceStub(channel)
            events: list[M.Event] = []
            token = ""
            while True:
                page = await stub.ListEvents(
                    M.ListEventsRequest(campaign_id=campaign.id, page_size=1000, page_token=token, audience=2)
                )
                events += page.events
                token = page.next_page_token
                if not token:
                    break
            by_request: dict[str, list[str]] = {}
            for e in events:
                by_request.setdefault(e.request_id, []).append(e.id)
            for rid, event_id in acked.items():
                assert by_request.get(rid) == [event_id], rid
            assert all(len(ids) == 1 for ids in by_request.values())

            # A client retrying every request after the crash gets the stored events back, written once.
            for i in range(sent):
                rid = f"req-{i:05d}"
                reply = await stub.RecordEvent(
                    M.RecordEventRequest(
                        campaign_id=campaign.id, request_id=rid, event=M.Event(content=f"retry {rid}")
                    )
                )
                assert reply.duplicate == (rid in by_request)
                if rid in acked:
                    assert reply.event.id == acked[rid]

            async def drained() -> bool:
                return (await stub.GetIndexStatus(M.GetIndexStatusRequest())).outbox_pending == 0

            await eventually(drained, 120, "an empty outbox after the restart")
        assert proc.stop(signal.SIGTERM) == 0
    finally:
        proc.stop(signal.SIGKILL)

    # The index is derived from SQL and caught up after the crash: the same ids on both sides.
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'data' / 'dungeonmaster.db'}")
    with engine.connect() as conn:
        sql_ids = set(conn.execute(sa.text("SELECT id FROM events")).scalars())
    engine.dispose()
    store = VectorStore(str(tmp_path / "data" / "milvus.db"), 384)
    try:
        assert store.ids(VectorScope.EVENTS, int(campaign.id)) == sql_ids
    finally:
        store.close()
