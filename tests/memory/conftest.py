"""Fixtures for the memory service tests: a real SQLite file and a real Milvus Lite directory per test.

The embedding model is loaded once per session and shared; its in-process cache means the sample world is
run through the model once, while every test still writes its own SQL rows and Milvus vectors.
"""

from __future__ import annotations

import asyncio
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

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_WORLD = ROOT / "worlds" / "ashen-reach"


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    return Embedder()


MemoryFactory = Callable[..., Memory]


@pytest.fixture
def make_memory(tmp_path: Path, embedder: Embedder) -> Iterator[MemoryFactory]:
    made: list[Memory] = []

    def make(name: str = "m", milvus_uri: str = "", **kwargs: object) -> Memory:
        base = tmp_path / name
        base.mkdir(exist_ok=True)
        db = Database(f"sqlite:///{base / 'dm.db'}")
        vectors = VectorStore(
            milvus_uri or str(base / "milvus.db"), embedder.dim, reconnect_after_s=0.05, reconnect_max_s=0.2
        )
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
