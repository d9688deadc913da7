"""One real mesh (every service as its own process) shared by the interop tests of this package."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.procs import SERVICES, ServiceProcess, mesh_env, running

ORDER = ["memory", "narrative", "encounter", "npc", "item", "visual", "gateway"]


@pytest.fixture(scope="package")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, ServiceProcess]]:
    root: Path = tmp_path_factory.mktemp("mesh")
    env = mesh_env(root / "data")
    assert set(ORDER) == set(SERVICES)
    with running(ORDER, env, root / "logs", not_serving_ok=("visual",)) as procs:
        yield procs
