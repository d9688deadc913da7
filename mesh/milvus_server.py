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
        server = MilvusServer(self._config(MilvusServerConfig), wait_for_started=False)
        server.set_base_dir(str(self.base_dir))
        server.listen_port = self.port
        server.start()
        self._server = server
        try:
            server.wait_started(timeout=int(timeout_s * 1000))
            self._wait_answers(timeout_s)
        except BaseException:
            self.stop()
            raise
        return self.uri

    def _config(self, config_class: Any) -> Any:
        """The package's configuration with the embedded etcd on free ports of its own.

        Left alone, the embedded etcd listens on the fixed ports 2379 and 2380, so a second server on the same
        machine (another data directory, a test session) fails to start; an etcd configuration file gives it
        free loopback ports instead.
        """
        import milvus

        data = Path(milvus.__file__).parent / "data"
        configs = self.base_dir / "configs"
        configs.mkdir(parents=True, exist_ok=True)
        client, peer = f"http://127.0.0.1:{free_port()}", f"http://127.0.0.1:{free_port()}"
        etcd = configs / "embed-etcd.yaml"
        etcd.write_text(
            f"name: default\nlisten-client-urls: {client}\nadvertise-client-urls: {client}\n"
            f"listen-peer-urls: {peer}\ninitial-advertise-peer-urls: {peer}\n"
            f"initial-cluster: default={peer}\n",
            encoding="utf-8",
        )
        template = (data / "config.yaml.template").read_text(encoding="utf-8")
        template = template.replace("\netcd:\n", f"\netcd:\n  config:\n    path: {etcd}\n", 1)
        path = configs / "milvus.yaml.template"
        path.write_text(template, encoding="utf-8")
        config = config_class(template=str(path))
        config.glog_conf_file = str(data / "glog.conf")
        return config

    def _wait_answers(self, timeout_s: float) -> None:
        from pymilvus import MilvusClient

        deadline = time.monotonic() + timeout_s
        while True:
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
