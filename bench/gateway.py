"""Gateway overhead and turn latency, on a real mesh (every service its own process), in one run.

1. Forwarding: a small unary RPC (``EncounterService/RollDice``, ~20-byte request) sent straight to the
   encounter service versus through the gateway (key check, rate limit, policy, forwarded bytes). Latency is
   measured one call at a time (p50/p99); throughput with ``--concurrency`` calls in flight, in short windows
   that alternate between the two arms (ABBA), so load from other processes hits both alike. The headline
   ratio is the median of the paired per-round ratios. Client, gateway and services share this machine's cores,
   so the gateway's own CPU is taken from the same budget as the load generator's.
2. Turns: ``PlayTurn`` with the offline procedural writer, one at a time and 32 at once, with the phase
   timings each turn reports (retrieval, model, recording, ...) and the end-to-end latency the client sees.

    .venv/bin/python bench/gateway.py [--concurrency 32] [--rounds 12] [--window 0.5] [--turns 10] [--json]
        [--milvus lite|server|URI]

``--milvus`` picks memory's vector store for the turns: ``lite`` (the default: Milvus Lite under the run's data
directory), ``server`` (``DM_MILVUS_URI=embedded-server``: memory starts the Milvus 2.3 standalone server under
its data directory and stops it on exit) or the URI of an existing server.

On a machine shared with other work, throughput swings from run to run. ``--instructions`` counts instead the
CPU instructions per forwarded call (valgrind's callgrind, counting only while the measured calls run) of three
processes: the encounter service answering directly, the gateway forwarding to it, and a bare grpc.aio proxy
(a generic handler awaiting a cached multicallable, nothing else) as the floor any Python gRPC proxy pays.

    .venv/bin/python bench/gateway.py --instructions [--calls 400]

Target: forwarding keeps at least 70% of direct throughput and adds under 2 ms at p50.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import grpc  # noqa: E402

from dungeonmaster.v1 import (  # noqa: E402
    common_pb2,
    encounter_pb2,
    gateway_pb2,
    gateway_pb2_grpc,
    memory_pb2,
    memory_pb2_grpc,
)
from gateway.keys import hash_key  # noqa: E402
from mesh.milvus_server import EMBEDDED_SERVER  # noqa: E402
from tests.gateway.realmesh import ingest_world  # noqa: E402
from tests.support.procs import ServiceProcess, mesh_env, start_service  # noqa: E402

METHOD = "/dungeonmaster.v1.EncounterService/RollDice"
REQUEST = encounter_pb2.RollDiceRequest(notation="1d20+5", seed=7).SerializeToString()
KEY = "dmk_bench_gateway"
TARGET_RATIO = 0.70
TARGET_P50_MS = 2.0
PARTY = common_pb2.Party(
    members=[common_pb2.PartyMember(name=n, level=3) for n in ("Ash", "Bree", "Cor", "Dov")]
)
ACTIONS = (
    "We wade into the Brinefen marsh looking for the drowned shrine",
    "I approach the old fisherman and ask about the shrine",
    "Bree searches the chest behind the altar",
    "I listen to the tide and wait for nightfall",
)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def latencies(
    channel: grpc.aio.Channel, metadata: tuple[tuple[str, str], ...], calls: int
) -> list[float]:
    call = channel.unary_unary(METHOD)
    out = []
    for _ in range(calls):
        t0 = time.perf_counter()
        await call(REQUEST, metadata=metadata, timeout=10)
        out.append((time.perf_counter() - t0) * 1000)
    return out


async def window(
    channel: grpc.aio.Channel, metadata: tuple[tuple[str, str], ...], concurrency: int, seconds: float
) -> float:
    """Calls per second with ``concurrency`` callers for ``seconds``."""
    call = channel.unary_unary(METHOD)
    stop = time.perf_counter() + seconds
    done = 0

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < stop:
            await call(REQUEST, metadata=metadata, timeout=10)
            done += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done / (time.perf_counter() - t0)


async def forwarding(direct: str, gateway: str, args: argparse.Namespace) -> dict[str, Any]:
    md = (("authorization", f"Bearer {KEY}"),)
    async with grpc.aio.insecure_channel(direct) as d, grpc.aio.insecure_channel(gateway) as g:
        await latencies(d, (), 200)  # warm both paths
        await latencies(g, md, 200)
        lat_d: list[float] = []
        lat_g: list[float] = []
        for _ in range(args.rounds):  # interleave so drift hits both arms
            lat_d += await latencies(d, (), args.latency_calls // args.rounds)
            lat_g += await latencies(g, md, args.latency_calls // args.rounds)
        ratios, rate_d, rate_g = [], [], []
        for i in range(args.rounds):
            order = ((d, ()), (g, md)) if i % 2 == 0 else ((g, md), (d, ()))
            rates = {}
            for channel, metadata in order:
                rates[channel is g] = await window(channel, metadata, args.concurrency, args.window)
            rate_d.append(rates[False])
            rate_g.append(rates[True])
            ratios.append(rates[True] / rates[False])
    return {
        "direct": {
            "p50_ms": pct(lat_d, 0.5),
            "p99_ms": pct(lat_d, 0.99),
            "calls_per_s": statistics.median(rate_d),
        },
        "gateway": {
            "p50_ms": pct(lat_g, 0.5),
            "p99_ms": pct(lat_g, 0.99),
            "calls_per_s": statistics.median(rate_g),
        },
        "throughput_ratio": statistics.median(ratios),
        "added_p50_ms": pct(lat_g, 0.5) - pct(lat_d, 0.5),
        "added_p99_ms": pct(lat_g, 0.99) - pct(lat_d, 0.99),
        "concurrency": args.concurrency,
    }


async def turns(gateway: str, campaign: str, count: int, concurrency: int, tag: str) -> dict[str, Any]:
    md = (("authorization", f"Bearer {KEY}"),)
    phases: dict[str, list[float]] = {}
    totals: list[float] = []
    async with grpc.aio.insecure_channel(gateway) as channel:
        stub = gateway_pb2_grpc.GameMasterServiceStub(channel)

        async def one(i: int) -> None:
            request = gateway_pb2.PlayTurnRequest(
                campaign_id=campaign,
                turn_id=f"{tag}-{i}",
                input=ACTIONS[i % len(ACTIONS)],
                actor="Ash",
                party=PARTY,
                seed=i + 1,
            )
            t0 = time.perf_counter()
            first_chunk = None
            async for reply in stub.PlayTurn(request, metadata=md, timeout=300):
                kind = reply.WhichOneof("event")
                if kind == "narration" and first_chunk is None:
                    first_chunk = (time.perf_counter() - t0) * 1000
                if kind == "done":
                    for name, ms in reply.done.timings_ms.items():
                        phases.setdefault(name, []).append(ms)
            totals.append((time.perf_counter() - t0) * 1000)
            phases.setdefault("first_chunk_at_client", []).append(first_chunk or 0.0)

        started = time.perf_counter()
        for batch in range(0, count, concurrency):
            await asyncio.gather(*(one(i) for i in range(batch, min(count, batch + concurrency))))
        wall = time.perf_counter() - started
    summary = {name: {"p50_ms": pct(v, 0.5), "p95_ms": pct(v, 0.95)} for name, v in sorted(phases.items())}
    return {
        "turns": count,
        "concurrency": concurrency,
        "turns_per_s": count / wall,
        "end_to_end": {"p50_ms": pct(totals, 0.5), "p95_ms": pct(totals, 0.95)},
        "phases": summary,
    }


def milvus_env(choice: str) -> dict[str, str]:
    """``DM_MILVUS_URI`` for ``--milvus``: nothing for Lite (memory's default), ``embedded-server`` or a URI."""
    if choice == "lite":
        return {}
    return {"DM_MILVUS_URI": EMBEDDED_SERVER if choice == "server" else choice}


def start(root: Path, milvus: str = "lite") -> tuple[dict[str, ServiceProcess], str]:
    env = mesh_env(root / "data", milvus_env(milvus))
    record = {
        "id": "bench",
        "sha256": hash_key(KEY),
        "role": "service",
        "campaigns": ["*"],
        "rate_per_s": 1e6,
        "burst": 1000000,
    }
    procs: dict[str, ServiceProcess] = {}
    # An embedded Milvus server starts inside memory's start-up (about ten seconds, more under load).
    procs["memory"] = start_service("memory", env, root / "logs", timeout=180 if milvus == "lite" else 420)
    import grpc as sync_grpc

    with sync_grpc.insecure_channel(procs["memory"].address) as channel:
        ingest_world(channel)
        memory = memory_pb2_grpc.MemoryServiceStub(channel)
        campaign = memory.CreateCampaign(
            memory_pb2.CreateCampaignRequest(world_id="ashen-reach", name="bench"), timeout=30
        ).campaign.id
        memory.RetrieveContext(
            memory_pb2.RetrieveContextRequest(campaign_id=campaign, query="warm up"), timeout=180
        )
        # Let the outbox worker finish embedding the ingested lore, so it does not load the measured windows.
        deadline = time.monotonic() + 600
        while memory.GetIndexStatus(memory_pb2.GetIndexStatusRequest(), timeout=30).outbox_pending:
            if time.monotonic() > deadline:
                raise TimeoutError("memory's outbox did not drain in 600 s")
            time.sleep(0.5)
    for name in ("narrative", "encounter", "npc", "item"):
        procs[name] = start_service(name, env, root / "logs")
    procs["visual"] = start_service("visual", env, root / "logs", want_serving=False)
    procs["gateway"] = start_service(
        "gateway", dict(env, DM_GATEWAY_API_KEYS=json.dumps([record])), root / "logs"
    )
    return procs, campaign


async def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-gateway-") as tmp:
        procs, campaign = start(Path(tmp), args.milvus)
        try:
            result: dict[str, Any] = {"cpus": os.cpu_count(), "milvus": args.milvus}
            result["forwarding"] = await forwarding(
                procs["encounter"].address, procs["gateway"].address, args
            )
            await turns(procs["gateway"].address, campaign, 4, 1, "warm")
            result["turns_1"] = await turns(procs["gateway"].address, campaign, args.turns, 1, "one")
            result["turns_32"] = await turns(procs["gateway"].address, campaign, 32, 32, "many")
            return result
        finally:
            for sp in reversed(list(procs.values())):
                sp.stop()


def report(result: dict[str, Any]) -> None:
    f = result["forwarding"]
    print(
        f"machine: {result['cpus']} CPUs (client, gateway and services share them); memory's Milvus: "
        f"{result.get('milvus', 'lite')}"
    )
    print(f"\nforwarding {METHOD} (latency: 1 call at a time; throughput: {f['concurrency']} in flight)")
    print(f"{'':10} {'p50 ms':>8} {'p99 ms':>8} {'calls/s':>9}")
    for arm in ("direct", "gateway"):
        a = f[arm]
        print(f"{arm:10} {a['p50_ms']:8.2f} {a['p99_ms']:8.2f} {a['calls_per_s']:9.0f}")
    ok_ratio = f["throughput_ratio"] >= TARGET_RATIO
    ok_p50 = f["added_p50_ms"] < TARGET_P50_MS
    print(
        f"gateway/direct throughput {f['throughput_ratio']:.2f} (target >= {TARGET_RATIO}: {'met' if ok_ratio else 'NOT met'}); "
        f"added p50 {f['added_p50_ms']:.2f} ms (target < {TARGET_P50_MS}: {'met' if ok_p50 else 'NOT met'}), "
        f"added p99 {f['added_p99_ms']:.2f} ms"
    )
    for key in ("turns_1", "turns_32"):
        t = result[key]
        print(
            f"\nPlayTurn x{t['turns']}, {t['concurrency']} at once (procedural writer): {t['turns_per_s']:.1f} turns/s, "
            f"end to end p50 {t['end_to_end']['p50_ms']:.0f} ms, p95 {t['end_to_end']['p95_ms']:.0f} ms"
        )
        for name, v in t["phases"].items():
            print(f"  {name:22} p50 {v['p50_ms']:8.1f} ms   p95 {v['p95_ms']:8.1f} ms")


# --- instruction counts -----------------------------------------------------------------------------------


async def bare_proxy(target: str, port: int) -> None:
    """``--serve-bare``: the least a Python grpc.aio proxy can do per call (no auth, no interceptor)."""
    from grpc_health.v1 import health, health_pb2_grpc

    channel = grpc.aio.insecure_channel(target)
    forward = channel.unary_unary(METHOD)

    async def handler(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        reply: bytes = await forward(request, timeout=30)
        return reply

    class Handler(grpc.GenericRpcHandler):  # type: ignore[misc]
        def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
            return grpc.unary_unary_rpc_method_handler(handler)

    server = grpc.aio.server()
    server.add_generic_rpc_handlers((Handler(),))
    health_pb2_grpc.add_HealthServicer_to_server(health.aio.HealthServicer(), server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


async def fixed_calls(
    address: str, metadata: tuple[tuple[str, str], ...], calls: int, concurrency: int
) -> None:
    async with grpc.aio.insecure_channel(address) as channel:
        call = channel.unary_unary(METHOD)

        async def worker(n: int) -> None:
            for _ in range(n):
                await call(REQUEST, metadata=metadata, timeout=60)

        await asyncio.gather(*(worker(calls // concurrency) for _ in range(concurrency)))


def count_instructions(arm: str, calls: int, concurrency: int, root: Path) -> float:
    """Instructions per call of the ``arm`` process ("encounter", "gateway" or "bare") under callgrind."""
    import subprocess

    from tests.support.procs import wait_health

    env = mesh_env(
        root / "data",
        {
            "DM_GATEWAY_REQUIRED_SERVICES": '["encounter"]',
            "DM_GATEWAY_OPTIONAL_SERVICES": "[]",
            "DM_HEALTH_POLL_S": "5",
        },
    )
    record = {
        "id": "bench",
        "sha256": hash_key(KEY),
        "role": "service",
        "campaigns": ["*"],
        "rate_per_s": 1e6,
        "burst": 10**6,
    }
    env["DM_GATEWAY_API_KEYS"] = json.dumps([record])
    encounter = None if arm == "encounter" else start_service("encounter", env, root / "logs")
    port = int(env["DM_ENCOUNTER_PORT" if arm == "encounter" else "DM_GATEWAY_PORT"])
    command = {
        "encounter": ["-m", "encounter_svc"],
        "gateway": ["-m", "gateway"],
        "bare": [__file__, "--serve-bare", f"127.0.0.1:{env['DM_ENCOUNTER_PORT']}", str(port)],
    }[arm]
    out = root / f"callgrind.{arm}"
    proc = subprocess.Popen(
        [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            f"--callgrind-out-file={out}.%p",
            sys.executable,
            *command,
        ],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    metadata = () if arm == "encounter" else (("authorization", f"Bearer {KEY}"),)
    address = f"127.0.0.1:{port}"
    try:
        wait_health(address, "", want_serving=False, timeout=600)
        asyncio.run(fixed_calls(address, metadata, 200, concurrency))  # warm-up, not counted
        control = ["callgrind_control"]
        subprocess.run([*control, "-i", "on", str(proc.pid)], check=True, capture_output=True, timeout=120)
        asyncio.run(fixed_calls(address, metadata, calls, concurrency))
        subprocess.run([*control, "-i", "off", str(proc.pid)], check=True, capture_output=True, timeout=120)
        subprocess.run([*control, "-d", str(proc.pid)], check=True, capture_output=True, timeout=120)
    finally:
        proc.kill()
        proc.wait()
        if encounter is not None:
            encounter.stop()
    totals = [
        int(line.split()[1])
        for dump in root.glob(f"callgrind.{arm}.*")
        for line in dump.read_text(errors="replace").splitlines()
        if line.startswith(("summary:", "totals:"))
    ]
    return max(totals) / calls


def instructions(args: argparse.Namespace) -> dict[str, Any]:
    per_call = {}
    for arm in ("encounter", "bare", "gateway"):
        with tempfile.TemporaryDirectory(prefix=f"bench-gateway-{arm}-") as tmp:
            per_call[arm] = count_instructions(arm, args.calls, 8, Path(tmp))
    return {"calls": args.calls, "instructions_per_call": per_call}


def report_instructions(result: dict[str, Any]) -> None:
    per = result["instructions_per_call"]
    print(f"instructions per call (callgrind, {result['calls']} calls, 8 in flight, one process each):")
    print(f"  encounter service, called directly   {per['encounter'] / 1e3:8.0f} k")
    print(f"  bare grpc.aio proxy (the floor)      {per['bare'] / 1e3:8.0f} k")
    print(f"  gateway (auth, limits, policy, mesh) {per['gateway'] / 1e3:8.0f} k")
    print(
        f"gateway / bare proxy {per['gateway'] / per['bare']:.2f}; gateway / service {per['gateway'] / per['encounter']:.2f} "
        f"(with the gateway on its own cores, a forwarded call is bounded by max(gateway, service) per call)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--window", type=float, default=0.5, help="seconds per throughput window")
    parser.add_argument(
        "--latency-calls", type=int, default=2400, help="sequential calls per arm for latency"
    )
    parser.add_argument("--turns", type=int, default=10, help="sequential turns for the 1-at-a-time figures")
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--milvus",
        default="lite",
        help="memory's vector store: lite, server (an embedded Milvus 2.3 server memory starts) or a URI",
    )
    parser.add_argument("--instructions", action="store_true", help="count instructions per call instead")
    parser.add_argument(
        "--calls", type=int, default=400, help="measured calls per process with --instructions"
    )
    parser.add_argument("--serve-bare", nargs=2, metavar=("TARGET", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        asyncio.run(bare_proxy(args.serve_bare[0], int(args.serve_bare[1])))
        return 0
    result = instructions(args) if args.instructions else asyncio.run(run(args))
    if args.json:
        print(json.dumps(result, indent=2))
    elif args.instructions:
        report_instructions(result)
    else:
        report(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
