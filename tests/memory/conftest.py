"""Fixtures for the memory service tests: a real SQLite file and a real Milvus Lite directory per test.

Core tests also run against a real Milvus 2.3 server (``milvus_backend`` parametrised indirectly with
``server``), started once per session; each such test gets collections under a prefix of its own.

The embedding model is loaded once per session and shared; its in-process cache means the sample world is
run through the model once, while every test still writes its own SQL rows and Milvus vectors.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from memory_svc.db import Database
from memory_svc.embeddings import Embedder
from memory_svc.ingest import ensure_world_from_folder, ingest_documents, read_folder
from memory_svc.memory import Memory
from memory_svc.vector_store import VectorStore
from mesh.milvus_server import EmbeddedMilvus

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_WORLD = ROOT / "worlds" / "ashen-reach"


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    return Embedder()


#: The server binary is unpacked once (about a minute) into a cache kept between test sessions; its data,
#: configuration and logs are wiped before each session's start.
SERVER_CACHE = (
    Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "dungeonmaster" / "milvus-test"
)


@pytest.fixture(scope="session")
def milvus_server() -> Iterator[EmbeddedMilvus]:
    """One real Milvus 2.3 standalone server for the whole session, stopped at its end."""
    for sub in ("data", "logs", "configs", "run"):
        shutil.rmtree(SERVER_CACHE / sub, ignore_errors=True)
    server = EmbeddedMilvus(SERVER_CACHE)
    server.start()
    yield server
    server.stop()


@pytest.fixture(params=["lite"])
def milvus_backend(request: pytest.FixtureRequest) -> str:
    """Which Milvus a test's memory uses; tests parametrise it (indirect) over ``lite`` and ``server``."""
    return str(request.param)


_tests_on_server = itertools.count()


def vector_store_for(backend: str, base: Path, dim: int, request: pytest.FixtureRequest) -> VectorStore:
    """A Milvus Lite directory of its own, or the session server with collections of this test's own prefix."""
    if backend == "server":
        server: EmbeddedMilvus = request.getfixturevalue("milvus_server")
        return VectorStore(
            server.uri, dim, reconnect_after_s=0.05, reconnect_max_s=0.2, prefix=f"t{next(_tests_on_server)}"
        )
    return VectorStore(str(base / "milvus.db"), dim, reconnect_after_s=0.05, reconnect_max_s=0.2)


MemoryFactory = Callable[..., Memory]


@pytest.fixture
def make_memory(
    tmp_path: Path, embedder: Embedder, milvus_backend: str, request: pytest.FixtureRequest
) -> Iterator[MemoryFactory]:
    made: list[Memory] = []

    def make(name: str = "m", milvus_uri: str = "", **kwargs: object) -> Memory:
        base = tmp_path / name
        base.mkdir(exist_ok=True)
        db = Database(f"sqlite:///{base / 'dm.db'}")
        if milvus_uri:
            vectors = VectorStore(milvus_uri, embedder.dim, reconnect_after_s=0.05, reconnect_max_s=0.2)
        else:
            vectors = vector_store_for(milvus_backend, base, embedder.dim, request)
        options: dict[str, object] = {"backoff_initial_s": 0.05, "backoff_max_s": 0.2, "poll_s": 0.1}
        options.update(kwargs)
        memory = Memory(db, embedder, vectors, **options)  # type: ignore[arg-type]
        memory.migrate()
        made.append(memory)
        return memory

    yield make
    for memory in made:
        memory.close()


@pytest.fixture
def world_copy(tmp_path: Path) -> Path:
    """A private copy of the sample world that a test may edit."""
    target = tmp_path / "worlds" / SAMPLE_WORLD.name
    shutil.copytree(SAMPLE_WORLD, target)
    return target


def ingest_world(memory: Memory, folder: Path = SAMPLE_WORLD, drain: bool = True) -> str:
    """Ingest a world folder (full sync) and, by default, index it; returns the world slug."""
    world = ensure_world_from_folder(memory.db, folder)
    ingest_documents(memory.db, world.slug, read_folder(folder), delete_missing=True)
    if drain:
        memory.worker.drain()
    return world.slug


async def eventually(
    check: Callable[[], Awaitable[bool]], limit_s: float = 120.0, what: str = "condition"
) -> None:
    """Poll a remote state (there is no event to wait on across gRPC) until ``check`` holds, bounded."""
    deadline = time.monotonic() + limit_s
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not reached in {limit_s}s")
        await asyncio.sleep(0.1)
