"""The embedded Milvus server keeps off fixed ports, so two can run on one machine."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from mesh import milvus_server
from mesh.milvus_server import EmbeddedMilvus

pytestmark = pytest.mark.skipif(not milvus_server.available(), reason="the milvus package is not installed")


@pytest.fixture
def etcd_default_ports_taken() -> Iterator[None]:
    """Hold etcd's default client and peer ports, as another embedded server would (if one already does, fine)."""
    held = []
    for port in (2379, 2380):
        sock = socket.socket()
        try:
            sock.bind(("127.0.0.1", port))
            sock.listen()
            held.append(sock)
        except OSError:
            sock.close()  # someone else holds it: the condition under test holds all the same
    yield
    for sock in held:
        sock.close()


def test_server_starts_while_etcd_default_ports_are_taken(
    tmp_path: Path, etcd_default_ports_taken: None
) -> None:
    from pymilvus import MilvusClient

    server = EmbeddedMilvus(tmp_path / "milvus-server")
    try:
        uri = server.start(timeout_s=180)
        client = MilvusClient(uri=uri, timeout=10)
        assert client.list_collections() == []
        client.close()
        config = (tmp_path / "milvus-server" / "configs" / "embed-etcd.yaml").read_text()
        assert ":2379\n" not in config and ":2380\n" not in config
    finally:
        server.stop()
    assert server.pid is None
