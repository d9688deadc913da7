"""Fixtures for the NPC service tests: the sample world, the SRD, a generator, and npc_svc in-process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from dungeonmaster.v1 import npc_pb2_grpc
from lore import World, load_world
from mesh.server import RunningServer, start_server
from mesh.settings import Settings
from npc_svc.builder import CreatureBuilder, NpcGenerator, Worlds
from npc_svc.service import build_spec
from rules.spells import SpellBook, load_spells
from rules.srd import Srd, load_srd
from tests.support.procs import free_port

ROOT = Path(__file__).resolve().parents[2]
WORLDS = ROOT / "worlds"
WORLD = "ashen-reach"


@pytest.fixture(scope="session")
def world() -> World:
    return load_world(WORLDS / WORLD)


@pytest.fixture(scope="session")
def srd() -> Srd:
    return load_srd()


@pytest.fixture(scope="session")
def spells() -> SpellBook:
    return load_spells()


@pytest.fixture(scope="session")
def generator(srd: Srd, spells: SpellBook) -> NpcGenerator:
    return NpcGenerator(Worlds(WORLDS, WORLD), srd, spells)


@pytest.fixture(scope="session")
def creatures(srd: Srd) -> CreatureBuilder:
    return CreatureBuilder(Worlds(WORLDS, WORLD), srd)


def npc_settings(**overrides: Any) -> Settings:
    """Settings for an in-process npc_svc: the repository's worlds, no metrics port, quick health polling.
    Memory points at a closed port unless a test gives one (only saving and campaign reads use it)."""
    values: dict[str, Any] = {
        "worlds_dir": WORLDS,
        "default_world": WORLD,
        "npc_metrics_port": 0,
        "health_poll_s": 0.05,
        "grace_period_s": 1.0,
        "vllm_urls": [],
        "memory_addr": f"127.0.0.1:{free_port()}",
        "default_deadline_s": 5.0,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
async def npc_server() -> AsyncIterator[RunningServer]:
    settings = npc_settings()
    async with start_server(build_spec(settings), settings, port=0) as srv:
        yield srv


@pytest.fixture
async def npc_stub(npc_server: RunningServer) -> AsyncIterator[npc_pb2_grpc.NpcServiceStub]:
    async with grpc.aio.insecure_channel(npc_server.address) as channel:
        yield npc_pb2_grpc.NpcServiceStub(channel)
