"""Start mesh services as real processes for tests: free ports, health-gated start, always stopped.

Shared by every test that needs a service as a process (e2e, interop, crash tests), so each one does not
reinvent port picking and health waiting.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

ROOT = Path(__file__).resolve().parents[2]

#: short name -> (python package, full proto service name)
SERVICES: dict[str, tuple[str, str]] = {
    "memory": ("memory_svc", "dungeonmaster.v1.MemoryService"),
    "narrative": ("narrative_svc", "dungeonmaster.v1.NarrativeService"),
    "encounter": ("encounter_svc", "dungeonmaster.v1.EncounterService"),
    "npc": ("npc_svc", "dungeonmaster.v1.NpcService"),
    "item": ("item_svc", "dungeonmaster.v1.ItemService"),
    "visual": ("visual_svc", "dungeonmaster.v1.VisualService"),
    "gateway": ("gateway", "dungeonmaster.v1.GameMasterService"),
}


def free_port() -> int:
    """A currently free loopback TCP port (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def mesh_env(data_dir: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for a whole mesh on free ports, with its data under ``data_dir`` and metrics disabled."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DM_")}
    env.update(
        {
            "DM_HOST": "127.0.0.1",
            "DM_DATA_DIR": str(data_dir),
            "DM_WORLDS_DIR": str(ROOT / "worlds"),
            "DM_LOG_LEVEL": "WARNING",
            "DM_GRACE_PERIOD_S": "5",
            "DM_HEALTH_POLL_S": "0.2",
            # Plaintext unless a test asks for mutual TLS through ``extra`` (tests/security does).
            "DM_TLS_MODE": "off",
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
        }
    )
    for name in SERVICES:
        env[f"DM_{name.upper()}_PORT"] = str(free_port())
        env[f"DM_{name.upper()}_METRICS_PORT"] = "0"
    env.update(extra or {})
    return env


@dataclass
class ServiceProcess:
    """A running service process and where to reach it."""

    name: str
    port: int
    proc: subprocess.Popen[bytes]
    log_path: Path
    env: dict[str, str] = field(repr=False)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def service_name(self) -> str:
        return SERVICES[self.name][1]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        """Signal the process and wait; kill it if it does not exit in time. Returns its exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        return int(self.proc.returncode)


def tls_credentials(env: Mapping[str, str], name: str = "operator") -> grpc.ChannelCredentials | None:
    """Client credentials presenting ``name``'s certificate when ``env`` runs mutual TLS, else None."""
    if env.get("DM_TLS_MODE", "mutual") != "mutual":
        return None
    tls_dir = Path(env.get("DM_TLS_DIR") or Path(env["DM_DATA_DIR"]) / "tls")
    return grpc.ssl_channel_credentials(
        root_certificates=(tls_dir / "ca.pem").read_bytes(),
        private_key=(tls_dir / f"{name}.key").read_bytes(),
        certificate_chain=(tls_dir / f"{name}.pem").read_bytes(),
    )


def channel(address: str, credentials: grpc.ChannelCredentials | None = None) -> grpc.Channel:
    """A blocking channel: TLS with ``credentials``, else plaintext."""
    if credentials is None:
        return grpc.insecure_channel(address)
    return grpc.secure_channel(address, credentials)


def health_status(
    address: str,
    service: str = "",
    timeout: float = 2.0,
    credentials: grpc.ChannelCredentials | None = None,
) -> int | None:
    """The health status of ``service`` at ``address``, or None when the server does not answer."""
    with channel(address, credentials) as channel_:
        stub = health_pb2_grpc.HealthStub(channel_)
        try:
            reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
        except grpc.RpcError:
            return None
        return int(reply.status)


def wait_health(
    address: str,
    service: str,
    want_serving: bool = True,
    timeout: float = 60.0,
    credentials: grpc.ChannelCredentials | None = None,
) -> int:
    """Poll health until the server answers (and, if ``want_serving``, says SERVING); bounded by ``timeout``."""
    deadline = time.monotonic() + timeout
    last: int | None = None
    while time.monotonic() < deadline:
        last = health_status(address, service, credentials=credentials)
        if last is not None and (not want_serving or last == health_pb2.HealthCheckResponse.SERVING):
            return last
        time.sleep(0.1)
    raise TimeoutError(
        f"{service or 'server'} at {address} not {'SERVING' if want_serving else 'up'}: {last}"
    )


def start_service(
    name: str, env: Mapping[str, str], log_dir: Path, want_serving: bool = True, timeout: float = 90.0
) -> ServiceProcess:
    """Start ``python -m <package>`` for ``name`` and wait for its health; on failure show its log."""
    package, service_name = SERVICES[name]
    port = int(env[f"DM_{name.upper()}_PORT"])
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", package], cwd=ROOT, env=dict(env), stdout=log, stderr=subprocess.STDOUT
        )
    sp = ServiceProcess(name, port, proc, log_path, dict(env))
    # The gateway's public port is not part of the mesh's mutual TLS (clients use API keys).
    credentials = None if name == "gateway" else tls_credentials(env)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}:\n{sp.log()[-4000:]}")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{name} did not become healthy in {timeout}s:\n{sp.log()[-4000:]}")
            try:
                wait_health(
                    sp.address,
                    service_name,
                    want_serving,
                    timeout=min(1.0, remaining),
                    credentials=credentials,
                )
                return sp
            except TimeoutError:
                continue
    except BaseException:
        sp.stop(signal.SIGKILL)
        raise


@contextlib.contextmanager
def running(
    names: list[str], env: Mapping[str, str], log_dir: Path, not_serving_ok: tuple[str, ...] = ()
) -> Iterator[dict[str, ServiceProcess]]:
    """Start several services (in order) and stop them all, whatever happens."""
    procs: dict[str, ServiceProcess] = {}
    try:
        for name in names:
            procs[name] = start_service(name, env, log_dir, want_serving=name not in not_serving_ok)
        yield procs
    finally:
        for sp in reversed(list(procs.values())):
            sp.stop()
