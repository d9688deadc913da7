"""Milvus unavailable during ingest: SQL still commits, health says degraded, the outbox drains once it returns.

Two kinds of outage, both real: the Milvus Lite directory locked by another process (a second process holding
its flock), and a URI nobody answers at.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

from dungeonmaster.v1 import memory_pb2 as M
from memory_svc.kinds import VectorScope
from memory_svc.models import OutboxRow
from memory_svc.retrieval import RetrievalRequest
from memory_svc.vector_store import VectorStoreUnavailable
from tests.memory.conftest import MemoryFactory, eventually, ingest_world
from tests.memory.test_service import ingest_sample, serving

HOLDER = "import sys; from milvus_lite import MilvusLite; db = MilvusLite(sys.argv[1]); print('locked', flush=True); sys.stdin.read()"


def hold_lock(path: Path) -> subprocess.Popen[str]:
    path.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "locked"
    return proc


async def test_locked_milvus_during_ingest_then_recovery(make_memory: MemoryFactory, tmp_path: Path) -> None:
    milvus = tmp_path / "shared" / "milvus.db"
    holder = hold_lock(milvus)
    try:
        memory = make_memory(milvus_uri=str(milvus))
        async with serving(memory) as (srv, stub):
            await stub.CreateWorld(M.CreateWorldRequest(slug="ashen-reach", name="The Ashen Reach"))
            result = await ingest_sample(stub, "ashen-reach")
            assert result.created > 0
            with memory.db.read() as session:  # acknowledged = committed in SQL
                assert session.scalar(sa.text("SELECT count(*) FROM lore_entries")) == result.created

            status = await stub.GetIndexStatus(M.GetIndexStatusRequest())
            assert not status.vector_store_available and status.outbox_pending >= result.created
            assert "locked by another process" in status.last_error
            await srv.monitor.check_once()
            assert srv.monitor.current.ready and srv.monitor.current.degraded == ["milvus"]

            query = M.RetrieveContextRequest(
                world_id="ashen-reach", query="the salt roads of the Brinefen", token_budget=32768
            )
            degraded = await stub.RetrieveContext(query)
            assert degraded.degraded and degraded.lore  # SQL full-text stands in

            # Failed batches stay queued with their error and a back-off; the worker retries on its own.
            async def attempted() -> bool:
                with memory.db.read() as session:
                    rows = list(session.scalars(sa.select(OutboxRow)))
                return len(rows) >= result.created and any(
                    r.attempts >= 1 and "locked by another process" in r.last_error for r in rows
                )

            await eventually(attempted, 60, "a failed, rescheduled outbox batch")

            holder.send_signal(signal.SIGKILL)
            holder.wait(timeout=10)

            async def recovered_index() -> bool:
                status = await stub.GetIndexStatus(M.GetIndexStatusRequest())
                return status.vector_store_available and status.outbox_pending == 0

            await eventually(recovered_index, 120, "Milvus back and the outbox drained")
            await srv.monitor.check_once()
            assert srv.monitor.current.degraded == []
            recovered = await stub.RetrieveContext(query)
            assert not recovered.degraded
            assert any("Brinefen" in p.title for p in recovered.lore)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(timeout=10)


def test_unreachable_milvus_uri_keeps_sql_and_queues(make_memory: MemoryFactory) -> None:
    memory = make_memory(milvus_uri="http://127.0.0.1:9")
    slug = ingest_world(memory, drain=False)
    pending = memory.outbox_pending()
    assert pending > 0
    try:
        memory.worker.drain()
        raise AssertionError("drain should fail while Milvus is unreachable")
    except VectorStoreUnavailable as exc:
        assert exc.reason == "VECTOR_STORE_UNAVAILABLE"
    assert memory.outbox_pending() == pending
    status = memory.index_status()
    assert not status.vector_store_available and status.vector_store_uri == "http://127.0.0.1:9"
    ctx = memory.retriever.retrieve(RetrievalRequest(query="Queen Maelis Dunmarrow", world_id=slug))
    assert ctx.degraded


def test_reindex_rebuilds_the_collection_from_sql(make_memory: MemoryFactory) -> None:
    from memory_svc.reindex import reindex

    memory = make_memory()
    slug = ingest_world(memory)
    with memory.db.read() as session:
        wid = session.scalar(sa.text("SELECT id FROM worlds WHERE slug = :s"), {"s": slug})
        live = set(
            session.scalars(sa.text("SELECT id FROM lore_entries WHERE superseded = 0 AND deleted = 0"))
        )
    memory.vectors.drop(VectorScope.LORE, wid)
    assert memory.vectors.count(VectorScope.LORE, wid) == 0
    embedded = memory.embedder.documents_embedded
    result = reindex(memory.db, memory.embedder, memory.vectors, world_ref=slug)
    assert result.vectors == len(live) and result.collections == [f"dm_lore_d384 (lore {wid})"]
    assert memory.vectors.ids(VectorScope.LORE, wid) == live
    assert memory.embedder.documents_embedded == embedded  # every vector came from the SQL cache
