"""Fixtures shared by every test package."""

from __future__ import annotations

import pytest

from mesh.text.local_vllm import LocalVLLM
from tests.text.vllm_support import shared_vllm


@pytest.fixture(scope="session")
def vllm_server(request: pytest.FixtureRequest) -> LocalVLLM:
    """The tiny vLLM server, started once for the whole session (building .vllm-venv first if missing)."""
    return shared_vllm(request)
