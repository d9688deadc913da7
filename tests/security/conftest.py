"""One mesh for the security tests: every service its own process, mutual TLS between them as deployed.

Two campaigns (A and B) and keys for the matrix's callers: a DM of A, a player of A, a player of B and an
administrator (a DM key over every campaign). Started once for the package; always stopped.
"""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest

from tests.gateway.realmesh import RealMesh, start_mesh
from tests.support.procs import tls_credentials

#: Generous rates: these tests make hundreds of calls per key and are about access, not rate limits.
FAST = {"rate_per_s": 10_000.0, "burst": 10_000}
KEYS = {
    "dm-a": ("dm", ["A"], FAST),
    "player-a": ("player", ["A"], FAST),
    "player-b": ("player", ["B"], FAST),
    "admin": ("dm", None, FAST),
}


@pytest.fixture(scope="session")
def secure_mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealMesh]:
    # Refused calls are these tests' subject: the per-peer budget of failed authentications must not end them.
    relaxed = {"DM_GATEWAY_AUTH_FAILURE_RATE_PER_S": "100000", "DM_GATEWAY_AUTH_FAILURE_BURST": "100000"}
    started = start_mesh(tmp_path_factory.mktemp("secure-mesh"), KEYS, mutual_tls=True, gateway_env=relaxed)
    try:
        yield started
    finally:
        started.stop_all()


def as_service(mesh: RealMesh, name: str) -> grpc.ChannelCredentials:
    """Client credentials presenting the certificate of ``name`` (a service, or "operator")."""
    credentials = tls_credentials(mesh.env, name)
    assert credentials is not None
    return credentials
