"""What mutual TLS between services costs: mesh calls per second with and without it, ratio in one run.

Two servers run the production bootstrap (``mesh.server.start_server``, registered as the encounter service so
the real caller rule applies) in one child process: one plaintext (``tls_mode=off``), one with mutual TLS
(certificates from ``mesh.certs`` in a temporary directory; the client presents the gateway's). A trivial echo
handler makes this the worst case for relative overhead. The client (this process) drives N concurrent calls on
one channel per server, alternating short windows (ABBA) so load from other processes hits both arms alike;
the headline is the median of the paired per-round ratios. It also times new connections (channel, TLS
handshake, first call), which happen once per channel and per reconnect.

    .venv/bin/python bench/tls.py [--concurrency 32] [--rounds 12] [--window 0.25] [--connections 40] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import grpc  # noqa: E402

SERVICE = "bench.v1.Echo"
METHOD = f"/{SERVICE}/Echo"
PAYLOAD = b"x" * 100
ARMS = ("plaintext", "mutual")


async def _echo(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    return request


def _register(server: grpc.aio.Server) -> None:
    server.add_generic_rpc_handlers(
        [grpc.method_handlers_generic_handler(SERVICE, {"Echo": grpc.unary_unary_rpc_method_handler(_echo)})]
    )


def _settings(arm: str, tls_dir: Path) -> object:
    from mesh.settings import Settings

    return Settings(
        tls_mode="off" if arm == "plaintext" else "mutual",
        tls_dir=str(tls_dir),
        log_level="WARNING",
        encounter_metrics_port=0,
    )


async def _serve(tls_dir: Path) -> None:
    """Child process: both arms' servers; prints their addresses, serves until stdin closes."""
    from mesh.server import ServiceSpec, start_server

    servers = []
    for arm in ARMS:
        settings = _settings(arm, tls_dir)
        spec = ServiceSpec(name="encounter", service_names=[SERVICE], register=_register)
        cm = start_server(spec, settings, port=0, metrics_port=0)  # type: ignore[arg-type]
        srv = await cm.__aenter__()
        servers.append(cm)
        print(f"{arm} {srv.address}", flush=True)
    await asyncio.to_thread(sys.stdin.read)
    for cm in servers:
        await cm.__aexit__(None, None, None)


def _channel(arm: str, address: str, tls_dir: Path) -> grpc.aio.Channel:
    from mesh import tls

    return tls.aio_channel(address, _settings(arm, tls_dir), name="gateway")  # type: ignore[arg-type]


async def _window(call: object, concurrency: int, seconds: float) -> int:
    done = 0
    stop = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < stop:
            await call(PAYLOAD, timeout=10)  # type: ignore[operator]
            done += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done


async def _connect_ms(arm: str, address: str, tls_dir: Path, count: int) -> float:
    """Median time of a new channel's first call (connection, handshake, call) in ms."""
    times = []
    for _ in range(count):
        start = time.perf_counter()
        async with _channel(arm, address, tls_dir) as channel:
            await channel.unary_unary(METHOD)(PAYLOAD, timeout=10)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


async def _measure(addresses: dict[str, str], tls_dir: Path, args: argparse.Namespace) -> dict[str, object]:
    channels = {arm: _channel(arm, addresses[arm], tls_dir) for arm in ARMS}
    calls = {arm: channels[arm].unary_unary(METHOD) for arm in ARMS}
    for arm in ARMS:  # connect and warm up
        await _window(calls[arm], args.concurrency, 0.5)
    rates: dict[str, list[float]] = {arm: [] for arm in ARMS}
    ratios: list[float] = []
    costs: list[float] = []  # extra wall time per call at this concurrency, paired per round
    for i in range(args.rounds):
        order = ARMS if i % 2 == 0 else ARMS[::-1]
        got = {}
        for arm in order:
            got[arm] = await _window(calls[arm], args.concurrency, args.window) / args.window
            rates[arm].append(got[arm])
        ratios.append(got["mutual"] / got["plaintext"])
        costs.append(1e6 / got["mutual"] - 1e6 / got["plaintext"])
    for channel in channels.values():
        await channel.close()
    connect = {arm: await _connect_ms(arm, addresses[arm], tls_dir, args.connections) for arm in ARMS}
    return {
        "calls_per_s": {arm: round(statistics.median(rates[arm])) for arm in ARMS},
        "mutual_over_plaintext": round(statistics.median(ratios), 3),
        "per_call_cost_us": round(statistics.median(costs), 1),
        "new_connection_ms": {arm: round(connect[arm], 2) for arm in ARMS},
        "concurrency": args.concurrency,
        "rounds": args.rounds,
        "window_s": args.window,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--window", type=float, default=0.25)
    parser.add_argument("--connections", type=int, default=40)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--serve", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        asyncio.run(_serve(Path(args.serve)))
        return 0
    from mesh import certs

    with tempfile.TemporaryDirectory() as tmp:
        tls_dir = certs.ensure(Path(tmp) / "tls")
        child = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(tls_dir)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert child.stdout is not None
            addresses = dict(child.stdout.readline().split() for _ in ARMS)
            result = asyncio.run(_measure(addresses, tls_dir, args))
        finally:
            if child.stdin is not None:
                child.stdin.close()
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
    if args.json:
        print(json.dumps(result))
        return 0
    rates = result["calls_per_s"]
    connect = result["new_connection_ms"]
    assert isinstance(rates, dict) and isinstance(connect, dict)
    print(
        f"mesh calls/s, {args.concurrency} concurrent, echo handler, median of {args.rounds} paired windows"
    )
    print(f"  plaintext      {rates['plaintext']:>8,}")
    print(f"  mutual TLS     {rates['mutual']:>8,}")
    print(f"  ratio          {result['mutual_over_plaintext']:>8}  (mutual / plaintext, paired per round)")
    print(f"  cost per call  {result['per_call_cost_us']:>8} us  (median of the paired rounds)")
    print(f"new connection + first call (median of {args.connections}):")
    print(f"  plaintext      {connect['plaintext']:>8} ms")
    print(f"  mutual TLS     {connect['mutual']:>8} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
