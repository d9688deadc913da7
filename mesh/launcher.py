"""`make run`: start all seven services on loopback with the embedded defaults, print their addresses, stop on Ctrl-C.

Each service runs as its own process (as in production), so a crash in one is visible and the others keep going.
The launcher waits on each service's grpc.health.v1 answer, never on sleeps. The console shows a short table of
services, addresses and log files; each service's JSON log goes to ``<data dir>/logs/<service>.log``, not over
the table. Once everything is up, the sample world and a demo campaign with a pregenerated party are created if
missing (``mesh.demo``; ``--no-demo`` skips it), so ``python -m gateway.cli play`` works at once.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from mesh import certs, tls
from mesh.demo import DEMO_LEVEL, DEMO_PARTY, ensure_demo
from mesh.settings import Settings, get_settings

#: Seconds past the grace period a service may take to exit before it is killed: memory finishes the vector
#: batch it is embedding (right after the sample world is ingested that can take a while on two cores).
STOP_MARGIN_S = 60.0

#: Start order: memory first (others depend on it), the gateway last (it checks the others).
ORDER: tuple[tuple[str, str, str], ...] = (
    ("memory", "memory_svc", "dungeonmaster.v1.MemoryService"),
    ("narrative", "narrative_svc", "dungeonmaster.v1.NarrativeService"),
    ("encounter", "encounter_svc", "dungeonmaster.v1.EncounterService"),
    ("npc", "npc_svc", "dungeonmaster.v1.NpcService"),
    ("item", "item_svc", "dungeonmaster.v1.ItemService"),
    ("visual", "visual_svc", "dungeonmaster.v1.VisualService"),
    ("gateway", "gateway", "dungeonmaster.v1.GameMasterService"),
)


#: The gateway's port is public (API keys, not the mesh's mutual TLS): the launcher checks it in plaintext.
PUBLIC = "dungeonmaster.v1.GameMasterService"


def _channel(address: str, service: str) -> grpc.Channel:
    if service == PUBLIC:
        return grpc.insecure_channel(address)
    return tls.sync_channel(address, get_settings())


def _status(address: str, service: str) -> str | None:
    with _channel(address, service) as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=1.0
            )
        except grpc.RpcError:
            return None
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))


def _wait_up(proc: subprocess.Popen[bytes], address: str, service: str, timeout: float) -> str:
    """Wait until the server answers health (any status); raise if the process dies or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{service} exited with code {proc.returncode}")
        status = _status(address, service)
        if status is not None:
            return status
        time.sleep(0.2)
    raise TimeoutError(f"{service} at {address} did not answer health within {timeout:.0f}s")


def _stop(procs: list[tuple[str, subprocess.Popen[bytes]]], grace: float) -> int:
    """SIGTERM the given processes together and wait for each (grace period + margin), killing stragglers."""
    for _, proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    worst = 0
    deadline = time.monotonic() + grace + STOP_MARGIN_S
    for name, proc in procs:
        try:
            code = proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
        if code != 0:
            print(f"  {name} exited with {code}", file=sys.stderr)
            worst = 1
    return worst


def _stop_all(procs: list[tuple[str, subprocess.Popen[bytes]]], grace: float) -> int:
    """Stop the gateway first (it calls everyone else), then the rest together, each draining its calls."""
    front = [(n, p) for n, p in procs if n == "gateway"]
    rest = [(n, p) for n, p in procs if n != "gateway"]
    return max(_stop(front, grace), _stop(rest, grace))


def _wait_serving(address: str, service: str, timeout: float) -> str:
    """Give a server that answers a few seconds to report SERVING (its first readiness poll); return the status."""
    deadline = time.monotonic() + timeout
    status = _status(address, service) or "UNKNOWN"
    while status != "SERVING" and time.monotonic() < deadline:
        time.sleep(0.2)
        status = _status(address, service) or "UNKNOWN"
    return status


def _demo(settings: Settings) -> None:
    """Create the sample world and the demo campaign if missing, and say how to play it (a failure is reported)."""
    print("\npreparing the demo campaign (the first start ingests the sample world)…", flush=True)
    try:
        key = os.environ.get("DM_API_KEY", "")  # needed only when the gateway has API keys configured
        metadata = (("authorization", f"Bearer {key}"),) if key else ()
        with grpc.insecure_channel(
            settings.addr_for("gateway")
        ) as gateway:  # the public port, like any client
            demo = ensure_demo(gateway, Path(settings.worlds_dir) / settings.default_world, metadata)
    except (grpc.RpcError, OSError, ValueError) as exc:
        detail = exc.details() if isinstance(exc, grpc.RpcError) else str(exc)
        print(f"demo campaign not ready: {detail} (see the logs)", file=sys.stderr, flush=True)
        return
    party = ", ".join(f"{name} ({cls} {DEMO_LEVEL})" for name, cls in DEMO_PARTY)
    made = f" — created {', '.join(demo.created)}" if demo.created else ""
    print(f"demo campaign {demo.campaign_id} in {demo.world}: {party}{made}", flush=True)
    print("play it:  python -m gateway.cli play", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for each service")
    parser.add_argument(
        "--check", action="store_true", help="start everything, print the addresses, then stop (a smoke test)"
    )
    parser.add_argument(
        "--no-demo", action="store_true", help="do not create the sample world and demo campaign"
    )
    args = parser.parse_args(argv)
    settings = get_settings()
    Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
    if tls.enabled(settings):  # secure by default: a local CA and a certificate per service, made once
        certs.ensure(tls.tls_dir(settings), hosts=[settings.host])
    log_dir = Path(settings.data_dir) / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    procs: list[tuple[str, subprocess.Popen[bytes]]] = []
    stopping = False

    def _on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    try:
        print(f"{'service':<10} {'address':<21} {'status':<12} log", flush=True)
        for name, package, service in ORDER:
            log_path = log_dir / f"{name}.log"
            with log_path.open("ab") as log:  # the child keeps its own handle
                proc = subprocess.Popen([sys.executable, "-m", package], stdout=log, stderr=subprocess.STDOUT)
            procs.append((name, proc))
            address = settings.addr_for(name)
            _wait_up(proc, address, service, args.timeout)
            status = _wait_serving(address, service, timeout=15.0 if name != "visual" else 2.0)
            print(f"{name:<10} {address:<21} {status.lower():<12} {log_path}", flush=True)
            if stopping:
                break
        if not stopping and not args.no_demo:
            _demo(settings)
        if not stopping:
            print(f"\ngateway ready at {settings.addr_for('gateway')} — press Ctrl-C to stop", flush=True)
        while not stopping and not args.check:
            for name, proc in procs:
                if proc.poll() is not None:
                    print(f"{name} exited with code {proc.returncode}; stopping the mesh", file=sys.stderr)
                    stopping = True
            time.sleep(0.5)
    except (RuntimeError, TimeoutError) as exc:
        print(f"error: {exc} (logs in {log_dir})", file=sys.stderr)
        _stop_all(procs, settings.grace_period_s)
        return 1
    print("stopping…", flush=True)
    return _stop_all(procs, settings.grace_period_s)


if __name__ == "__main__":
    sys.exit(main())
