"""Fixtures: an in-memory MemoryService on a free port and narrative_svc in-process, called through stubs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import grpc
import pytest

from dungeonmaster.v1 import memory_pb2_grpc, narrative_pb2_grpc
from mesh.server import start_server
from mesh.settings import Settings
from mesh.text.local_vllm import LocalVLLM
from narrative_svc.service import build_spec
from tests.narrative.fake_memory import FakeMemory
from tests.text.vllm_support import shared_vllm


@dataclass
class Mesh:
    """A running narrative service and the memory behind it."""

    memory: FakeMemory
    stub: narrative_pb2_grpc.NarrativeServiceStub
    settings: Settings
    address: str


@pytest.fixture
async def memory() -> AsyncIterator[tuple[FakeMemory, str]]:
    """The fake memory service on a free loopback port."""
    fake = FakeMemory()
    server = grpc.aio.server()
    memory_pb2_grpc.add_MemoryServiceServicer_to_server(fake, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield fake, f"127.0.0.1:{port}"
    finally:
        await server.stop(0)


def mesh_settings(memory_addr: str, **overrides: Any) -> Settings:
    """Settings for an in-process narrative service: no metrics port, fast health polling."""
    values: dict[str, Any] = {
        "memory_addr": memory_addr,
        "narrative_metrics_port": 0,
        "health_poll_s": 0.05,
        "grace_period_s": 2.0,
        "vllm_urls": [],
        "moderation_backend": "rules",
    }
    values.update(overrides)
    return Settings(**values)


@asynccontextmanager
async def running(memory: tuple[FakeMemory, str], **overrides: Any) -> AsyncIterator[Mesh]:
    """narrative_svc started in-process on a free port against ``memory``."""
    fake, address = memory
    settings = mesh_settings(address, **overrides)
    async with start_server(build_spec(settings), settings, port=0) as srv:
        async with grpc.aio.insecure_channel(srv.address) as channel:
            yield Mesh(fake, narrative_pb2_grpc.NarrativeServiceStub(channel), settings, srv.address)


@pytest.fixture
def start_narrative(
    memory: tuple[FakeMemory, str],
) -> Callable[..., AbstractAsyncContextManager[Mesh]]:
    """``async with start_narrative(**settings) as mesh`` starts narrative_svc against the fake memory."""
    return lambda **overrides: running(memory, **overrides)


@pytest.fixture
async def mesh(start_narrative: Callable[..., AbstractAsyncContextManager[Mesh]]) -> AsyncIterator[Mesh]:
    """narrative_svc with the procedural backend and rule moderation."""
    async with start_narrative() as m:
        yield m


@pytest.fixture(scope="session")
def vllm_server(request: pytest.FixtureRequest) -> LocalVLLM:
    """The tiny vLLM server shared by the whole test session (see tests/text/vllm_support.py)."""
    return shared_vllm(request)
