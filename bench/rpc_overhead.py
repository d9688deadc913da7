"""Unary RPC throughput and latency through the ``mesh`` stack versus a bare grpc.aio server.

Both servers run in this process and serve the same trivial servicer (echo of a 100-byte payload: the worst
case for relative overhead, since real handlers do far more work per call). The mesh server is the production
bootstrap (``mesh.server.start_server``): request id, context, error mapping, Prometheus metrics, the JSON access
log at the default level (INFO, so every call writes a line, here to a log file), health, reflection and a live
metrics endpoint. The bare server is ``grpc.aio.server()`` with the servicer and nothing else.

Load comes from a separate client process (N concurrent coroutines, one channel per server), so client work
does not run on the server's core. The arms alternate in many short windows (ABBA order), and each round's
mesh/bare ratio is computed from two windows measured back to back, so load from other processes on the
machine hits both arms alike; the median of those paired ratios is the headline figure. The server process's
CPU time per call is measured as well: it does not depend on whether the client or the server was the
bottleneck, so bare/mesh CPU per call is the ratio a CPU-bound server would see.

    .venv/bin/python bench/rpc_overhead.py [--concurrency 32] [--rounds 16] [--window 0.25] [--json]

On a machine shared with other work, throughput swings from run to run. ``--instructions`` measures instead
what neither the client nor other processes can disturb: the CPU instructions the server process executes per
call (valgrind's callgrind, counting only while the measured calls run; needs ``valgrind`` installed). Each arm
runs alone in its own process, and bare/mesh instructions per call is the throughput ratio of a CPU-bound server.

    .venv/bin/python bench/rpc_overhead.py --instructions [--calls 2000]

Target: mesh keeps >= 0.85 of bare throughput.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, TextIO

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import grpc  # noqa: E402

SERVICE = "bench.v1.Echo"
METHOD = f"/{SERVICE}/Echo"
PAYLOAD = b"x" * 100
TARGET = 0.85


async def _echo(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    return request


def _register(server: grpc.aio.Server) -> None:
    server.add_generic_rpc_handlers(
        [grpc.method_handlers_generic_handler(SERVICE, {"Echo": grpc.unary_unary_rpc_method_handler(_echo)})]
    )


# --- client (runs in its own process) --------------------------------------------------------------------------


async def _client(
    targets: dict[str, str], concurrency: int, window: float, warmup: float, rounds: int
) -> None:
    """Measure the arms in ABBA order; print ``begin <arm>`` before and a JSON result after each window."""
    channels = {arm: grpc.aio.insecure_channel(address) for arm, address in targets.items()}
    try:
        calls = {arm: ch.unary_unary(METHOD) for arm, ch in channels.items()}
        for call in calls.values():
            await call(PAYLOAD, timeout=10)
        arms = list(targets)
        for r in range(rounds):
            for arm in arms if r % 2 == 0 else arms[::-1]:
                await _window(r, arm, calls[arm], concurrency, window, warmup)
    finally:
        for ch in channels.values():
            await ch.close()


async def _window(round_no: int, arm: str, call: Any, concurrency: int, window: float, warmup: float) -> None:
    latencies: list[float] = []
    state = {"recording": False}
    stop_at = time.perf_counter() + warmup + window

    async def worker() -> None:
        while True:
            start = time.perf_counter()
            if start >= stop_at:
                return
            await call(PAYLOAD, timeout=10)
            if state["recording"]:
                latencies.append(time.perf_counter() - start)

    workers = [asyncio.ensure_future(worker()) for _ in range(concurrency)]
    await asyncio.sleep(warmup)
    print(f"begin {arm}", flush=True)
    state["recording"] = True
    began = time.perf_counter()
    await asyncio.gather(*workers)
    elapsed = time.perf_counter() - began
    result = {
        "round": round_no,
        "arm": arm,
        "calls": len(latencies),
        "seconds": elapsed,
        "latencies": latencies,
    }
    print(json.dumps(result), flush=True)


async def _drive(targets: dict[str, str], args: argparse.Namespace) -> list[dict[str, Any]]:
    """Run the client process and attribute this (server) process's CPU time to each measured window."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--client",
        json.dumps(targets),
        "--concurrency",
        str(args.concurrency),
        "--window",
        str(args.window),
        "--warmup",
        str(args.warmup),
        "--rounds",
        str(args.rounds),
        stdout=asyncio.subprocess.PIPE,
        limit=1 << 26,
    )
    assert proc.stdout is not None
    windows: list[dict[str, Any]] = []
    cpu_start = 0.0
    while line := await proc.stdout.readline():
        if line.startswith(b"begin "):
            cpu_start = time.process_time()
            continue
        cpu = time.process_time() - cpu_start
        window: dict[str, Any] = json.loads(line)
        window["server_cpu_s"] = cpu
        windows.append(window)
    if await proc.wait() != 0:
        raise RuntimeError(f"client process failed with code {proc.returncode}")
    return windows


# --- servers ---------------------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def _server(arm: str, log_stream: TextIO) -> AsyncIterator[str]:
    """Start one arm's server in this process; yields its address."""
    from mesh.logs import configure_logging
    from mesh.server import ServiceSpec, start_server
    from mesh.settings import Settings

    if arm == "bare":
        bare = grpc.aio.server()
        _register(bare)
        port = bare.add_insecure_port("127.0.0.1:0")
        await bare.start()
        try:
            yield f"127.0.0.1:{port}"
        finally:
            await bare.stop(None)
        return
    # Production defaults (log level INFO, JSON format) but plaintext like the bare arm: bench/tls.py prices TLS.
    settings = Settings(tls_mode="off")
    configure_logging(settings.log_level, settings.log_format, stream=log_stream)
    spec = ServiceSpec(name="bench", service_names=[SERVICE], register=_register)
    async with start_server(spec, settings, port=0, metrics_port=0) as srv:
        yield srv.address


async def _serve_forever(arm: str, log_stream: TextIO) -> None:
    """``--serve ARM``: print the address, serve until killed (the process the instruction count watches)."""
    async with _server(arm, log_stream) as address:
        print(address, flush=True)
        await asyncio.Event().wait()


async def _fixed_calls(address: str, calls: int, concurrency: int) -> None:
    async with grpc.aio.insecure_channel(address) as channel:
        call = channel.unary_unary(METHOD)
        left = [calls]

        async def worker() -> None:
            while left[0] > 0:
                left[0] -= 1
                await call(PAYLOAD, timeout=60)

        await asyncio.gather(*(worker() for _ in range(concurrency)))


async def _count_instructions(arm: str, args: argparse.Namespace, workdir: Path) -> float:
    """Instructions the ``arm`` server process executes per call, counted by callgrind over ``args.calls`` calls."""
    out = workdir / f"callgrind.{arm}"
    proc = await asyncio.create_subprocess_exec(
        "valgrind",
        "--tool=callgrind",
        "--instr-atstart=no",
        f"--callgrind-out-file={out}.%p",
        sys.executable,
        __file__,
        "--serve",
        arm,
        "--log-file",
        str(workdir / f"{arm}.log"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None
        address = (await asyncio.wait_for(proc.stdout.readline(), timeout=300)).decode().strip()
        if not address:
            raise RuntimeError(f"{arm} server under valgrind did not start")
        await _fixed_calls(address, 200, args.concurrency)  # warm up, not counted
        await _callgrind_control("-i", "on", proc.pid)
        await _fixed_calls(address, args.calls, args.concurrency)
        await _callgrind_control("-i", "off", proc.pid)
        await _callgrind_control("-d", proc.pid)
    finally:
        proc.kill()
        await proc.wait()
    calls: int = args.calls
    return _callgrind_total(workdir, arm) / calls


def _callgrind_total(workdir: Path, arm: str) -> int:
    """The largest instruction total among ``arm``'s dumps (the one written while the calls were counted)."""
    totals = [
        int(line.split()[1])
        for dump in workdir.glob(f"callgrind.{arm}.*")
        for line in dump.read_text(errors="replace").splitlines()
        if line.startswith(("summary:", "totals:"))
    ]
    if not totals or max(totals) == 0:
        raise RuntimeError(f"no instruction counts for {arm} in {workdir}")
    return max(totals)


async def _callgrind_control(*argv: object) -> None:
    proc = await asyncio.create_subprocess_exec(
        "callgrind_control",
        *map(str, argv),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    if await asyncio.wait_for(proc.wait(), timeout=120) != 0:
        raise RuntimeError(f"callgrind_control {' '.join(map(str, argv))} failed")


def _instructions(args: argparse.Namespace) -> None:
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        sys.exit("--instructions needs valgrind (apt-get install valgrind)")
    with tempfile.TemporaryDirectory(prefix="rpc_overhead_") as tmp:
        per_call = {arm: asyncio.run(_count_instructions(arm, args, Path(tmp))) for arm in ("bare", "mesh")}
    ratio = per_call["bare"] / per_call["mesh"]
    if args.json:
        print(json.dumps({"calls": args.calls, "instructions_per_call": per_call, "ratio": ratio}, indent=2))
        return
    print(
        f"server-process instructions per unary call (callgrind, {args.calls} calls, {args.concurrency} concurrent)"
    )
    for arm in ("bare", "mesh"):
        print(f"{arm:<6} {per_call[arm]:>12,.0f}")
    verdict = "meets" if ratio >= TARGET else "MISSES"
    print(f"ratio bare/mesh instructions per call: {ratio:.3f} ({verdict} the {TARGET} target)")


async def _bench(args: argparse.Namespace, log_stream: TextIO) -> dict[str, Any]:
    from mesh.settings import Settings

    async with _server("bare", log_stream) as bare, _server("mesh", log_stream) as mesh:
        windows = await _drive({"bare": bare, "mesh": mesh}, args)
    return _summarise(windows, args, Settings().log_level)


def _summarise(windows: list[dict[str, Any]], args: argparse.Namespace, log_level: str) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "concurrency": args.concurrency,
        "rounds": args.rounds,
        "window_s": args.window,
        "log_level": log_level,
    }
    for arm in ("bare", "mesh"):
        mine = [w for w in windows if w["arm"] == arm]
        calls = sum(w["calls"] for w in mine)
        lat = sorted(x for w in mine for x in w["latencies"])
        summary[arm] = {
            "calls": calls,
            "calls_per_s": calls / sum(w["seconds"] for w in mine),
            "p50_ms": 1000 * statistics.median(lat),
            "p99_ms": 1000 * lat[min(len(lat) - 1, int(0.99 * len(lat)))],
            "server_cpu_us_per_call": 1e6 * sum(w["server_cpu_s"] for w in mine) / calls,
        }
    rate = {(w["round"], w["arm"]): w["calls"] / w["seconds"] for w in windows}
    paired = sorted(rate[(r, "mesh")] / rate[(r, "bare")] for r in range(args.rounds))
    summary["paired_ratios"] = [round(x, 3) for x in paired]
    summary["ratio"] = statistics.median(paired)
    summary["aggregate_ratio"] = summary["mesh"]["calls_per_s"] / summary["bare"]["calls_per_s"]
    summary["cpu_ratio"] = (
        summary["bare"]["server_cpu_us_per_call"] / summary["mesh"]["server_cpu_us_per_call"]
    )
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, default=32, help="concurrent client coroutines")
    parser.add_argument(
        "--rounds", type=int, default=16, help="rounds, each measuring both arms back to back"
    )
    parser.add_argument("--window", type=float, default=0.25, help="measured seconds per arm per round")
    parser.add_argument("--warmup", type=float, default=0.05, help="unmeasured seconds before each window")
    parser.add_argument(
        "--log-file", default="", help="where the mesh server's JSON log goes (default: a temp file)"
    )
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument(
        "--instructions", action="store_true", help="count server instructions per call instead"
    )
    parser.add_argument("--calls", type=int, default=2000, help="measured calls per arm with --instructions")
    parser.add_argument("--client", metavar="TARGETS_JSON", help=argparse.SUPPRESS)
    parser.add_argument("--serve", choices=("bare", "mesh"), help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.serve:
        with open(args.log_file or os.devnull, "a", encoding="utf-8") as log_stream:
            asyncio.run(_serve_forever(args.serve, log_stream))
        return
    if args.instructions:
        _instructions(args)
        return

    if args.client:
        asyncio.run(_client(json.loads(args.client), args.concurrency, args.window, args.warmup, args.rounds))
        return

    log_path = Path(args.log_file or tempfile.mkstemp(prefix="rpc_overhead_", suffix=".log")[1])
    with log_path.open("a", encoding="utf-8") as log_stream:
        s = asyncio.run(_bench(args, log_stream))
    s["log_file"] = str(log_path)
    with log_path.open(encoding="utf-8") as lines:
        s["access_log_lines"] = sum(1 for line in lines if '"mesh.access"' in line)
    if args.json:
        print(json.dumps(s, indent=2))
        return
    print(
        f"unary echo, {s['concurrency']} concurrent callers in a separate process, {s['rounds']} rounds x "
        f"{s['window_s']:g} s per arm; mesh log level {s['log_level']} ({s['access_log_lines']} access lines "
        f"written to {s['log_file']})"
    )
    print(f"{'server':<6} {'calls/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'server CPU us/call':>19}")
    for arm in ("bare", "mesh"):
        r = s[arm]
        print(
            f"{arm:<6} {r['calls_per_s']:>9.0f} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} "
            f"{r['server_cpu_us_per_call']:>19.1f}"
        )
    verdict = "meets" if s["ratio"] >= TARGET else "MISSES"
    print(
        f"ratio mesh/bare throughput: {s['ratio']:.3f} (median of {s['rounds']} back-to-back pairs; "
        f"{verdict} the {TARGET} target); over all windows: {s['aggregate_ratio']:.3f}"
    )
    print(f"ratio bare/mesh server CPU per call: {s['cpu_ratio']:.3f}")


if __name__ == "__main__":
    main()
