"""`make run` on a fresh data directory serves mutual TLS between the services, and clients reach the gateway as
the README documents: grpcurl -plaintext and the terminal client on the gateway's port; a module service only
with a certificate from the mesh CA."""

from __future__ import annotations

import json
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2

from dungeonmaster.v1 import memory_pb2, memory_pb2_grpc
from mesh.settings import SERVICES
from tests.support.procs import ROOT, health_status, mesh_env, tls_credentials

GRPCURL = Path(sys.executable).parent / "grpcurl"
MODULES = [s for s in SERVICES if s != "gateway"]


def _run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def test_make_run_serves_mutual_tls_and_clients_reach_the_gateway(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = mesh_env(data, {"DM_TLS_MODE": "mutual"})  # the default, stated: mesh_env turns it off elsewhere
    proc = subprocess.Popen(
        [sys.executable, "-m", "mesh.launcher", "--timeout", "120"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "gateway ready at" in line:
                break
        output = "".join(lines)
        assert "gateway ready at" in output, output
        port = {name: env[f"DM_{name.upper()}_PORT"] for name in SERVICES}

        # The launcher made a CA and a certificate per service; private keys are readable by the owner only.
        tls = data / "tls"
        for name in (*SERVICES, "operator", "ca"):
            assert (tls / f"{name}.pem").is_file(), name
            assert stat.S_IMODE((tls / f"{name}.key").stat().st_mode) == 0o600, name

        # Every module service refuses plaintext and answers a certificate from the mesh CA.
        operator = tls_credentials(env, "operator")
        for name in MODULES:
            address = f"127.0.0.1:{port[name]}"
            assert health_status(address, "liveness", timeout=2) is None, name
            assert health_status(address, "liveness", credentials=operator) == (
                health_pb2.HealthCheckResponse.SERVING
            ), name
        # ... but an operator's certificate is no caller of its RPCs.
        assert operator is not None
        with grpc.secure_channel(f"127.0.0.1:{port['memory']}", operator) as channel:
            try:
                memory_pb2_grpc.MemoryServiceStub(channel).ListWorlds(
                    memory_pb2.ListWorldsRequest(), timeout=10
                )
                raise AssertionError("the operator certificate called memory")
            except grpc.RpcError as err:
                assert err.code() == grpc.StatusCode.UNAUTHENTICATED

        gateway = f"127.0.0.1:{port['gateway']}"
        # README: grpcurl -plaintext against the gateway lists the whole API ...
        listed = _run(str(GRPCURL), "-plaintext", gateway, "list")
        assert listed.returncode == 0, listed.stderr
        assert "dungeonmaster.v1.MemoryService" in listed.stdout and "dungeonmaster.v1.GameMasterService" in (
            listed.stdout
        )
        # ... and GetStatus shows every service reached by the gateway over mutual TLS.
        status = _run(
            str(GRPCURL), "-plaintext", "-d", "{}", gateway, "dungeonmaster.v1.GameMasterService/GetStatus"
        )
        assert status.returncode == 0, status.stderr
        services = {s["name"]: s.get("serving", False) for s in json.loads(status.stdout)["services"]}
        assert all(services[n] for n in MODULES if n != "visual"), services
        # README: a module service with grpcurl needs the operator certificate.
        direct = [str(GRPCURL), "-cacert", str(tls / "ca.pem"), "-cert", str(tls / "operator.pem")]
        direct += ["-key", str(tls / "operator.key"), f"127.0.0.1:{port['encounter']}", "list"]
        listed = _run(*direct)
        assert listed.returncode == 0 and "dungeonmaster.v1.EncounterService" in listed.stdout, listed.stderr
        # The terminal client plays through the gateway.
        cli = [sys.executable, "-m", "gateway.cli", "--gateway", gateway]
        built = [*cli, "encounter", "--party", "Ash:3,Bree:3", "--terrain", "swamp"]
        made = subprocess.run(built, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        assert made.returncode == 0, made.stdout + made.stderr
        assert "XP" in made.stdout, made.stdout
        shown = subprocess.run(
            [*cli, "status"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
        )
        assert shown.returncode == 0, shown.stdout + shown.stderr
        proc.send_signal(signal.SIGINT)
        # Memory first finishes embedding the sample world the demo ingested (the launcher allows it a minute).
        rest, _ = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    assert proc.returncode == 0, "".join(lines) + rest
