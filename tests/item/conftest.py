"""Fixtures for the item service tests: the sample world, the generator and forge, item_svc in-process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from dungeonmaster.v1 import item_pb2_grpc
from item_svc.bases import load_bases
from item_svc.forge import ItemForge
from item_svc.generator import ItemGenerator
from item_svc.references import SrdReferences
from item_svc.service import build_spec
from lore import World, load_world
from mesh.server import start_server
from mesh.settings import Settings
from rules.spells import SpellBook, load_spells
from rules.srd import load_srd

ROOT = Path(__file__).resolve().parents[2]
WORLDS = ROOT / "worlds"
WORLD = "ashen-reach"


@pytest.fixture(scope="session")
def world() -> World:
    return load_world(WORLDS / WORLD)


@pytest.fixture(scope="session")
def spells() -> SpellBook:
    return load_spells()


@pytest.fixture(scope="session")
def generator(spells: SpellBook) -> ItemGenerator:
    return ItemGenerator(spells, load_bases())


@pytest.fixture(scope="session")
def forge(generator: ItemGenerator, spells: SpellBook) -> ItemForge:
    return ItemForge(WORLDS, WORLD, generator, references=SrdReferences(load_srd(), spells))


def item_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "worlds_dir": WORLDS,
        "default_world": WORLD,
        "item_metrics_port": 0,
        "health_poll_s": 0.05,
        "grace_period_s": 1.0,
        "vllm_urls": [],
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
async def item_stub() -> AsyncIterator[item_pb2_grpc.ItemServiceStub]:
    settings = item_settings()
    async with start_server(build_spec(settings), settings, port=0) as srv:
        async with grpc.aio.insecure_channel(srv.address) as channel:
            yield item_pb2_grpc.ItemServiceStub(channel)
