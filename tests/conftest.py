"""Fixtures shared by every test package."""

from __future__ import annotations

import os

import pytest

# In-process servers and clients in this suite talk plaintext on loopback (the debugging mode); the security
# tests turn mutual TLS on explicitly (Settings(tls_mode="mutual") or DM_TLS_MODE in a process's environment).
os.environ["DM_TLS_MODE"] = "off"

from mesh.text.local_vllm import LocalVLLM
from tests.text.vllm_support import shared_vllm


@pytest.fixture(scope="session")
def vllm_server(request: pytest.FixtureRequest) -> LocalVLLM:
    """The tiny vLLM server, started once for the whole session (building .vllm-venv first if missing)."""
    return shared_vllm(request)
