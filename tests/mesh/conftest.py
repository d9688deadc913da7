"""Fixtures for the mesh runtime tests: fast settings and a JSON log capture."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from mesh.logs import configure_logging
from mesh.settings import Settings


@pytest.fixture
def settings() -> Settings:
    """Settings for in-process servers: quick health polling and a short grace period."""
    return Settings(health_poll_s=0.05, grace_period_s=2.0, default_deadline_s=7.0)


class LogCapture:
    """The JSON lines the mesh's own handler wrote."""

    def __init__(self, stream: io.StringIO) -> None:
        self.stream = stream

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stream.getvalue().splitlines() if line.strip()]

    def text(self) -> str:
        return self.stream.getvalue()


@pytest.fixture
def json_log() -> Iterator[LogCapture]:
    """Install the mesh JSON handler at INFO on a buffer; restore the root logger afterwards."""
    root = logging.getLogger()
    level = root.level
    stream = io.StringIO()
    handler = configure_logging("INFO", "json", stream=stream)
    try:
        yield LogCapture(stream)
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
