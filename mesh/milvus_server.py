"""A real Milvus server on this machine: the standalone binary shipped in the PyPI ``milvus`` package (2.3.5).

``DM_MILVUS_URI=embedded-server`` makes the memory service start one under ``<data_dir>/milvus-server`` and
stop it on exit; the service then talks to it over ``http://127.0.0.1:<port>`` exactly as to a remote
standalone or cluster. The first start unpacks the binary (about a minute on a 2-core machine); later starts
take about ten seconds. The data directory persists across restarts like Milvus Lite's.
"""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path
from typing import Any

#: The ``milvus_uri`` value that asks for an embedded server.
EMBEDDED_SERVER = "embedded-server"


def free_port() -> int:
    """A loopback port free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _bindable(port: int) -> socket.socket | None:
    """Probe a port the way the server binds it (Go listeners set ``SO_REUSEADDR``); None when it is taken.

    The ``milvus`` package probes without ``SO_REUSEADDR``, so after a crash the port still counts as taken
    while the dead server's connections linger in TIME_WAIT (a minute), and the restarted server silently
    listens on another port than the one its clients know.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen()
    except OSError:
        sock.close()
        return None
    return sock


def _with_etcd_config(template: str, path: Path) -> str:
    """The ``milvus.yaml`` template with ``etcd.config.path`` set (the package's template leaves it out)."""
    anchor = "\n  use:\n    embed: true"
    if anchor not in template:
        raise RuntimeError("unexpected milvus.yaml template: no etcd.use.embed setting")
    return template.replace(anchor, f"\n  config:\n    path: {path}{anchor}", 1)


class EmbeddedMilvus:
    """One Milvus standalone process under ``base_dir`` (binary, config, logs and data)."""

    def __init__(self, base_dir: Path, port: int = 0) -> None:
        self.base_dir = Path(base_dir)
        self.port = port
        self._server: Any = None

    @property
    def uri(self) -> str:
        """Where clients reach it (valid once started)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        """The server process id while it runs."""
        proc = getattr(self._server, "server_proc", None)
        return int(proc.pid) if proc is not None else None

    def start(self, timeout_s: float = 240.0) -> str:
        """Start the server and wait until it answers; returns its URI."""
        from milvus import MilvusServer, MilvusServerConfig

        self.base_dir.mkdir(parents=True, exist_ok=True)
        if not self.port:
            self.port = free_port()
        # The port is given as a fixed setting, not a start to search from: a restart must come back on the
        # same URI or fail, never move elsewhere.
        config = MilvusServerConfig(proxy_port=self.port)
        config.try_bind_port = _bindable
        config.template_text = _with_etcd_config(config.template_text, self._etcd_config())
        server = MilvusServer(config, wait_for_started=False)
        server.set_base_dir(str(self.base_dir))
        server.start()
        self._server = server
        try:
            server.wait_started(timeout=int(timeout_s * 1000))
            self._wait_answers(timeout_s)
        except BaseException:
            self.stop()
            raise
        return self.uri

    def _etcd_config(self) -> Path:
        """The embedded etcd's own configuration: loopback ports of this server's own, chosen at the first start
        and kept for later ones. etcd's defaults (2379, 2380) would let only one server run per machine."""
        path = self.base_dir / "configs" / "embed-etcd.yaml"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            peer, client = f"http://127.0.0.1:{free_port()}", f"http://127.0.0.1:{free_port()}"
            path.write_text(
                f"listen-peer-urls: {peer}\ninitial-advertise-peer-urls: {peer}\n"
                f"initial-cluster: default={peer}\n"
                f"listen-client-urls: {client}\nadvertise-client-urls: {client}\n",
                encoding="utf-8",
            )
        return path

    def _wait_answers(self, timeout_s: float) -> None:
        from pymilvus import MilvusClient

        deadline = time.monotonic() + timeout_s
        while True:
            proc = self._server.server_proc
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(
                    f"Milvus exited with status {proc.returncode} while starting; see {self.base_dir / 'logs'}"
                )
            try:
                client = MilvusClient(uri=self.uri, timeout=5)
                client.list_collections()
                client.close()
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after a grace period)."""
        server, self._server = self._server, None
        if server is not None:
            server.stop()

    def kill(self) -> None:
        """SIGKILL the server process, as a crash would (tests)."""
        pid = self.pid
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
            proc = self._server.server_proc
            proc.wait(timeout=10)
            self._server.server_proc = None
            self._server.stop()
            self._server = None


def available() -> bool:
    """True when the ``milvus`` package (the server binary) is installed."""
    try:
        import milvus  # noqa: F401
    except ImportError:
        return False
    return True
