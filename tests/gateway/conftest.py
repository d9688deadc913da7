"""Fixtures for the gateway's fast tests: the fakes, API keys, and an in-process gateway in front of them.

All async tests of this package share one event loop: grpc.aio's poller keeps every loop it has served and
hands each completion to its call's loop, so a late completion for a closed per-test loop is an error in the
poller's callback; one loop for the package avoids that and saves a loop per test.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
import pytest_asyncio
from pytest_asyncio import is_async_test

from gateway.keys import hash_key
from gateway.service import build_spec
from mesh.server import RunningServer, start_server
from mesh.settings import SERVICES, Settings
from tests.gateway.fakes import FakeMesh

#: key id -> (key, role, campaigns, rate_per_s, burst)
KEYS: dict[str, tuple[str, str, list[str], float | None, int | None]] = {
    "dm-all": ("dmk_test_dm_all", "dm", ["*"], None, None),
    "dm-a": ("dmk_test_dm_a", "dm", ["camp-a"], None, None),
    "player-a": ("dmk_test_player_a", "player", ["camp-a"], None, None),
    "service-all": ("dmk_test_service", "service", ["*"], None, None),
    "slow": ("dmk_test_slow", "dm", ["*"], 1.0, 2),
}


def key_settings() -> list[dict[str, Any]]:
    return [
        {
            "id": kid,
            "sha256": hash_key(key),
            "role": role,
            "campaigns": camps,
            "rate_per_s": rate,
            "burst": burst,
        }
        for kid, (key, role, camps, rate, burst) in KEYS.items()
    ]


def auth(key_id: str) -> tuple[tuple[str, str], ...]:
    """Metadata presenting the test key ``key_id``."""
    return (("authorization", f"Bearer {KEYS[key_id][0]}"),)


def base_settings(**extra: Any) -> Settings:
    values: dict[str, Any] = {f"{name}_metrics_port": 0 for name in SERVICES}
    values.update(health_poll_s=0.05, grace_period_s=0.5, gateway_rate_per_s=1000.0, gateway_rate_burst=1000)
    values.update(extra)
    return Settings(**values)


@dataclass
class Rig:
    """The fakes, the gateway in front of them, and a channel to the gateway."""

    fakes: FakeMesh
    gateway: RunningServer
    channel: grpc.aio.Channel
    settings: Settings

    def raw(self, method: str, kind: str = "unary_unary") -> Any:
        """A bytes-in, bytes-out callable for ``/pkg.Service/Method`` on the gateway."""
        return getattr(self.channel, kind)(method)

    async def wait_serving(self, want: bool = True, wait_s: float = 5.0) -> None:
        await eventually(lambda: self.gateway.monitor.current.ready == want, wait_s)


async def eventually(condition: Callable[[], bool], wait_s: float = 3.0) -> None:
    """Poll ``condition`` every 20 ms; AssertionError if it is still false after ``wait_s``."""
    for _ in range(max(1, int(wait_s / 0.02))):
        if condition():
            return
        await asyncio.sleep(0.02)
    assert condition(), f"condition still false after {wait_s} s"


HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run this package's async tests in the package's one event loop (see the module docstring)."""
    marker = pytest.mark.asyncio(loop_scope="package")
    for item in items:
        if is_async_test(item) and HERE in Path(str(item.path)).parents:
            item.add_marker(marker, append=False)


@pytest_asyncio.fixture(loop_scope="package")
async def rig() -> AsyncIterator[Rig]:
    fake_settings = base_settings()
    async with FakeMesh(fake_settings) as fakes:
        addrs = {f"{name}_addr": addr for name, addr in fakes.addresses().items()}
        settings = base_settings(gateway_api_keys=key_settings(), **addrs)
        async with start_server(build_spec(settings), settings, port=0) as gateway:
            async with grpc.aio.insecure_channel(gateway.address) as channel:
                yield Rig(fakes, gateway, channel, settings)
