"""A real Milvus server SIGKILLed in the middle of a stream of lore writes, then restarted on the same port and data.

Every acknowledged write is committed in SQL whatever Milvus does; health says degraded (still serving) while
the server is gone; after the restart the outbox drains on its own, the index holds exactly SQL's live entries,
and retrieval, no longer degraded, finds lore written while the server was dead.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from dungeonmaster.v1 import memory_pb2 as M
from memory_svc.db import Database
from memory_svc.embeddings import Embedder
from memory_svc.kinds import VectorScope
from memory_svc.memory import Memory
from memory_svc.vector_store import VectorStore
from mesh.milvus_server import EmbeddedMilvus, free_port
from tests.memory.conftest import SERVER_CACHE, eventually
from tests.memory.test_service import Stub, serving

pytestmark = pytest.mark.slow

#: A word found nowhere else, in an entry written while the server is dead.
RARE_WORD = "Quillobrandt"
KILL_AFTER_ACKS = 12


def private_server(base: Path) -> EmbeddedMilvus:
    """A server of this test's own (the session's shared one must not be killed) on a fixed port, so that a
    restart comes back at the same URI; the unpacked binary is shared with the session server's cache."""
    from milvus import _initialize_data_files

    _initialize_data_files(str(SERVER_CACHE))  # unpacks once (about a minute); later calls compare hashes
    base.mkdir(parents=True)
    os.symlink(SERVER_CACHE / "bin", base / "bin", target_is_directory=True)
    return EmbeddedMilvus(base, port=free_port())


def lore(i: int, content: str = "") -> M.CreateLoreEntryRequest:
    return M.CreateLoreEntryRequest(
        world_id="marsh",
        entry=M.LoreEntry(
            key=f"notes/{i}",
            category="rumour",
            title=f"Rumour {i}",
            content=content or f"Rumour number {i}: a lantern was seen on the causeway on night {i}.",
        ),
    )


async def write_until(stub: Stub, acked: dict[int, str], stop: asyncio.Event) -> None:
    """Write lore entries one after another until told to stop; records each acknowledged id."""
    i = 0
    while not stop.is_set():
        reply = await stub.CreateLoreEntry(lore(i), timeout=30)
        acked[i] = reply.entry.id
        i += 1


def memory_at(tmp_path: Path, embedder: Embedder, uri: str) -> Memory:
    """A memory on a real SQLite file and the given Milvus server, with short back-offs."""
    vectors = VectorStore(uri, embedder.dim, reconnect_after_s=0.05, reconnect_max_s=0.2)
    memory = Memory(
        Database(f"sqlite:///{tmp_path / 'dm.db'}"),
        embedder,
        vectors,
        backoff_initial_s=0.05,
        backoff_max_s=0.2,
        poll_s=0.1,
    )
    memory.migrate()
    return memory


async def test_sigkilled_milvus_server_during_ingest_then_restart(embedder: Embedder, tmp_path: Path) -> None:
    server = private_server(tmp_path / "milvus-server")
    uri = server.start()
    memory = None
    try:
        memory = memory_at(tmp_path, embedder, uri)
        async with serving(memory) as (srv, stub):
            world = (await stub.CreateWorld(M.CreateWorldRequest(slug="marsh", name="The Marsh"))).world

            async def index_status() -> M.GetIndexStatusResponse:
                return await stub.GetIndexStatus(M.GetIndexStatusRequest(), timeout=30)

            async def indexed() -> bool:
                status = await index_status()
                return status.vector_store_available and status.outbox_pending == 0

            await stub.CreateLoreEntry(lore(-1, "The causeway floods at every spring tide."))
            await eventually(indexed, 60, "the first entry indexed")
            assert srv.monitor.current.ready and srv.monitor.current.degraded == []

            acked: dict[int, str] = {}
            stop = asyncio.Event()
            writer = asyncio.create_task(write_until(stub, acked, stop))

            async def acks_reached() -> bool:
                return len(acked) >= KILL_AFTER_ACKS or writer.done()

            await eventually(acks_reached, 60, f"{KILL_AFTER_ACKS} acknowledged writes")
            server.kill()  # SIGKILL mid-stream: no shutdown hook runs in Milvus
            killed_at = len(acked)

            async def degraded() -> bool:
                return (
                    srv.monitor.current.degraded == ["milvus"]
                    and not (await index_status()).vector_store_available
                )

            await eventually(degraded, 30, "health reporting the vector store degraded")
            assert srv.monitor.current.ready  # degraded, still serving: SQL takes every write

            rare = await stub.CreateLoreEntry(
                lore(
                    10_000,
                    f"The ferryman {RARE_WORD} poles travellers across the black water for a copper and a song.",
                ),
                timeout=30,
            )

            async def more_acks() -> bool:
                return len(acked) >= killed_at + 10 or writer.done()

            await eventually(more_acks, 60, "writes acknowledged while Milvus is dead")
            stop.set()
            await asyncio.wait_for(writer, 60)  # re-raises a failed write: none may fail

            # Every acknowledged write is committed: read back through the service.
            for i, entry_id in [*acked.items(), (10_000, rare.entry.id)]:
                got = (await stub.GetLoreEntry(M.GetLoreEntryRequest(entry_id=entry_id))).entry
                assert got.key == f"notes/{i}" and not got.deleted
            status = await index_status()
            assert not status.vector_store_available and status.outbox_pending > 0 and status.last_error

            query = M.RetrieveContextRequest(
                world_id="marsh", query=f"who is {RARE_WORD}?", token_budget=4096
            )
            meanwhile = await stub.RetrieveContext(query, timeout=30)
            assert meanwhile.degraded  # SQL keyword search stands in

            server.start(timeout_s=120)  # same port, same data directory

            # While the server recovers (it reloads the collection, which takes tens of seconds after a crash)
            # the service stays ready, and retrieval answers in bounded time (a search gives up after 5 s and
            # a collection still loading degrades it at once) instead of waiting for the server.
            async def recovered() -> bool:
                assert srv.monitor.current.ready, srv.monitor.current.reason
                await stub.RetrieveContext(query, timeout=15)
                return await indexed()

            await eventually(recovered, 120, "Milvus back and the outbox drained")

            async def healthy() -> bool:
                return srv.monitor.current.degraded == [] and srv.monitor.current.ready

            await eventually(healthy, 30, "health back to serving without degradation")
            found = await stub.RetrieveContext(query, timeout=30)
            assert not found.degraded
            assert any(RARE_WORD in p.text for p in found.lore)

            # The index caught up with SQL exactly: every acknowledged entry, nothing else.
            store = VectorStore(uri, memory.embedder.dim)
            try:
                ids = await asyncio.to_thread(store.ids, VectorScope.LORE, int(world.id))
            finally:
                store.close()
            assert {int(rare.entry.id), *(int(v) for v in acked.values())} <= ids
            assert len(ids) == len(acked) + 2
    finally:
        if memory is not None:
            memory.close()
        server.stop()
