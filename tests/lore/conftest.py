"""Fixtures for the lore tests: the real sample world, and throwaway copies of it to break or edit."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from lore import World, clear_world_cache, load_world

WORLD_DIR = Path(__file__).resolve().parents[2] / "worlds" / "ashen-reach"


@pytest.fixture(scope="session")
def world() -> World:
    return load_world(WORLD_DIR)


@pytest.fixture
def world_copy(tmp_path: Path) -> Iterator[Path]:
    """A private copy of the sample world that a test may edit; the cache is cleared around it."""
    target = tmp_path / "ashen-reach"
    shutil.copytree(WORLD_DIR, target)
    clear_world_cache()
    yield target
    clear_world_cache()
