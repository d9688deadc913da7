"""A shared table under load, on a real mesh (every service its own process): campaigns x players x watchers.

Each campaign has four player keys playing procedural turns (the offline writer) and one watcher following it
with ``WatchCampaign``; all campaigns play at once, bounded in time. Measured:

- fan-out latency: from the moment a player's own stream delivers the first narration chunk of a turn to the
  moment that campaign's watcher gets the same chunk (both clocks are this process's, so the difference is what
  the relay adds over the player's own stream: gateway -> memory PublishLive -> WatchEvents -> gateway ->
  watcher), p50/p99;
- turns per second over the whole run (turns of one campaign are serialised, campaigns run in parallel);
- the gateway's resident memory per open watch stream: RSS with ``--idle-streams`` extra idle watchers open
  minus RSS before, divided by their number.

    .venv/bin/python bench/table.py [--campaigns 50] [--turns 2] [--max-seconds 120] [--idle-streams 200] [--json]

Every client (players, watchers) runs in this one process, sharing the machine's cores with the mesh.
Target: fan-out p99 under 50 ms added over the player's own stream.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
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
    gateway_pb2,
    gateway_pb2_grpc,
    memory_pb2,
    memory_pb2_grpc,
)
from tests.gateway.realmesh import RealMesh, start_mesh  # noqa: E402

PLAYERS = ("p1", "p2", "p3", "p4")
KEYS: dict[str, tuple[str, list[str] | None, dict[str, Any]]] = {
    "dm": ("dm", None, {"rate_per_s": 1e6, "burst": 1_000_000}),
    "watch": ("player", None, {"rate_per_s": 1e6, "burst": 1_000_000}),
    **{p: ("player", None, {"rate_per_s": 1e6, "burst": 1_000_000}) for p in PLAYERS},
}
PARTY = common_pb2.Party(members=[common_pb2.PartyMember(name=n, level=3) for n in PLAYERS])
ACTIONS = (
    "I study the old map by the hearth",
    "I ask the innkeeper about the road north",
    "I listen to the tide and wait for nightfall",
    "I check my gear and sharpen my blade",
)
TARGET_P99_MS = 50.0


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def campaigns(mesh: RealMesh, count: int) -> list[str]:
    import grpc as sync_grpc

    with sync_grpc.insecure_channel(mesh.gateway) as channel:
        memory = memory_pb2_grpc.MemoryServiceStub(channel)
        out = [mesh.campaign_a, mesh.campaign_b]
        for i in range(max(0, count - 2)):
            reply = memory.CreateCampaign(
                memory_pb2.CreateCampaignRequest(world_id="ashen-reach", name=f"table {i}"),
                metadata=mesh.auth("dm"),
                timeout=30,
            )
            out.append(reply.campaign.id)
    return out[:count]


async def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-table-") as tmp:
        mesh = start_mesh(Path(tmp), KEYS)
        try:
            return await measure(mesh, args)
        finally:
            mesh.stop_all()


async def measure(mesh: RealMesh, args: argparse.Namespace) -> dict[str, Any]:
    ids = campaigns(mesh, args.campaigns)
    gateway_pid = mesh.procs["gateway"].proc.pid
    player_first: dict[str, float] = {}
    watcher_first: dict[str, float] = {}
    errors: list[str] = []
    async with grpc.aio.insecure_channel(mesh.gateway) as channel:
        stub = gateway_pb2_grpc.GameMasterServiceStub(channel)

        # Gateway memory per open stream: idle watchers on one campaign, RSS before and after.
        await asyncio.sleep(1.0)
        rss_before = rss_kib(gateway_pid)
        idle = [
            stub.WatchCampaign(
                gateway_pb2.WatchCampaignRequest(campaign_id=ids[0], after_event_id="0"),
                metadata=mesh.auth("watch"),
            )
            for _ in range(args.idle_streams)
        ]
        await asyncio.sleep(3.0)
        rss_after = rss_kib(gateway_pid)
        for call in idle:
            call.cancel()

        async def watch(campaign: str, ready: asyncio.Event) -> None:
            call = stub.WatchCampaign(
                gateway_pb2.WatchCampaignRequest(campaign_id=campaign), metadata=mesh.auth("watch")
            )
            ready.set()
            try:
                async for item in call:
                    live = item.live
                    if (
                        item.HasField("live")
                        and live.kind == memory_pb2.LIVE_KIND_NARRATION
                        and live.turn_id not in watcher_first
                    ):
                        watcher_first[live.turn_id] = time.perf_counter()
            except grpc.aio.AioRpcError as exc:
                if exc.code() != grpc.StatusCode.CANCELLED:
                    errors.append(f"watch: {exc.code().name}")

        async def player(campaign: str, key: str, stop_at: float) -> int:
            played = 0
            for n in range(args.turns):
                if time.perf_counter() > stop_at:
                    break
                turn_id = f"{campaign}-{key}-{n}"
                request = gateway_pb2.PlayTurnRequest(
                    campaign_id=campaign,
                    turn_id=turn_id,
                    input=ACTIONS[(n + PLAYERS.index(key)) % len(ACTIONS)],
                    actor=key,
                    party=PARTY,
                    seed=n + 1,
                    max_tokens=args.max_tokens,
                )
                try:
                    async for reply in stub.PlayTurn(
                        request, metadata=mesh.auth(key), timeout=args.max_seconds + 60
                    ):
                        if reply.WhichOneof("event") == "narration" and turn_id not in player_first:
                            player_first[turn_id] = time.perf_counter()
                    played += 1
                except grpc.aio.AioRpcError as exc:
                    errors.append(f"turn: {exc.code().name}")
            return played

        readies = [asyncio.Event() for _ in ids]
        watchers = [asyncio.ensure_future(watch(c, r)) for c, r in zip(ids, readies, strict=True)]
        for ready in readies:
            await ready.wait()
        await asyncio.sleep(1.0)  # the watch streams are open at memory before the first turn
        started = time.perf_counter()
        counts = await asyncio.gather(
            *(player(c, k, started + args.max_seconds) for c in ids for k in PLAYERS)
        )
        wall = time.perf_counter() - started
        await asyncio.sleep(1.0)
        for task in watchers:
            task.cancel()
        await asyncio.gather(*watchers, return_exceptions=True)
    added = [(watcher_first[t] - player_first[t]) * 1000 for t in player_first if t in watcher_first]
    turns = sum(counts)
    return {
        "cpus": os.cpu_count(),
        "campaigns": len(ids),
        "players_per_campaign": len(PLAYERS),
        "turns": turns,
        "wall_s": wall,
        "turns_per_s": turns / wall if wall else 0.0,
        "fanout_samples": len(added),
        "fanout_added_ms": {"p50": pct(added, 0.5), "p99": pct(added, 0.99), "max": max(added, default=0.0)},
        "turns_missing_at_watcher": len([t for t in player_first if t not in watcher_first]),
        "gateway_rss_kib_per_stream": (rss_after - rss_before) / max(1, args.idle_streams),
        "idle_streams": args.idle_streams,
        "errors": errors[:10],
        "error_count": len(errors),
    }


def report(result: dict[str, Any]) -> None:
    f = result["fanout_added_ms"]
    print(
        f"shared table: {result['campaigns']} campaigns x {result['players_per_campaign']} players + 1 watcher each"
    )
    print(f"  turns: {result['turns']} in {result['wall_s']:.1f} s = {result['turns_per_s']:.2f} turns/s")
    print(
        f"  fan-out added over the player's own stream (first chunk, {result['fanout_samples']} turns): "
        f"p50 {f['p50']:.1f} ms, p99 {f['p99']:.1f} ms, max {f['max']:.1f} ms "
        f"(target p99 < {TARGET_P99_MS:.0f} ms: {'met' if f['p99'] < TARGET_P99_MS else 'NOT met'})"
    )
    print(f"  turns whose chunks never reached the watcher: {result['turns_missing_at_watcher']}")
    print(
        f"  gateway RSS per open watch stream: {result['gateway_rss_kib_per_stream']:.1f} KiB "
        f"({result['idle_streams']} idle streams)"
    )
    if result["error_count"]:
        print(f"  errors: {result['error_count']} e.g. {result['errors']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--campaigns", type=int, default=50)
    parser.add_argument("--turns", type=int, default=2, help="turns per player")
    parser.add_argument("--max-seconds", type=float, default=120.0, help="no new turn starts after this")
    parser.add_argument("--max-tokens", type=int, default=120)
    parser.add_argument("--idle-streams", type=int, default=200)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = asyncio.run(run(args))
    print(json.dumps(result, indent=2)) if args.json else report(result)


if __name__ == "__main__":
    main()
