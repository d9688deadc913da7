"""NPC and magic item generation speed with the offline (procedural) writer, calling the domain directly.

Prints NPCs per second and items per second with p50/p99 latency per call, overall and per group (NPCs by
archetype, items by rarity). NPC targets cycle through each archetype's CR range, items through kinds left to
the seed, and every call has a new seed. One warm-up call of each first (the SRD and the world are read once
per process, as in a running service; the item candidate lists are built first, as the service does in the
background at start-up). Wall time and the calling thread's CPU time are both reported: on a machine shared
with other work the CPU time shows the cost of the code itself. Target: p50 under 10 ms each.

    python bench/npc_item.py [--seconds 20] [--world ashen-reach]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import time
from collections import defaultdict
from pathlib import Path

from item_svc.bases import load_bases
from item_svc.forge import ItemForge
from item_svc.generator import ItemGenerator, ItemRequest
from npc_svc.builder import NpcGenerator, Worlds
from npc_svc.choices import NpcRequest
from rules.challenge import CHALLENGE_RATINGS
from rules.items import Rarity
from rules.spells import load_spells
from rules.srd import load_srd

ROOT = Path(__file__).resolve().parents[1]
TARGET_P50_MS = 10.0


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _line(label: str, times: list[tuple[float, float]]) -> str:
    ms = [t[0] * 1000 for t in times]
    cpu = [t[1] * 1000 for t in times]
    rate = len(times) / sum(t[0] for t in times) if times else 0.0
    return (
        f"{label:<22} {len(times):>6} {rate:>8.1f}/s  p50 {_percentile(ms, 0.5):7.2f} ms  "
        f"p99 {_percentile(ms, 0.99):7.2f} ms  mean {statistics.fmean(ms):7.2f} ms  "
        f"cpu p50 {_percentile(cpu, 0.5):6.2f} ms"
    )


def _timed() -> tuple[float, float]:
    return time.perf_counter(), time.thread_time()


def _since(start: tuple[float, float]) -> tuple[float, float]:
    return time.perf_counter() - start[0], time.thread_time() - start[1]


async def bench_npcs(gen: NpcGenerator, seconds: float) -> dict[str, list[tuple[float, float]]]:
    world = gen.worlds.get("")
    plan = []
    for arch in world.archetypes:
        low, high = arch.cr_range
        plan += [(arch.id, cr) for cr in CHALLENGE_RATINGS if low <= cr <= high]
    await gen.generate("", NpcRequest(seed=1))
    times: dict[str, list[tuple[float, float]]] = defaultdict(list)
    deadline = time.perf_counter() + seconds
    for seed, (archetype, cr) in enumerate(itertools.cycle(plan), start=1):
        if time.perf_counter() >= deadline:
            break
        started = _timed()
        await gen.generate("", NpcRequest(archetype=archetype, challenge_rating=cr, seed=seed))
        times[archetype].append(_since(started))
    return times


async def bench_items(forge: ItemForge, seconds: float) -> dict[str, list[tuple[float, float]]]:
    started = time.perf_counter()
    lists = forge.generator.warm(forge.world(""))  # what the service does in the background at start-up
    print(f"\nitem candidates warmed: {lists} lists in {time.perf_counter() - started:.2f} s")
    await forge.generate("", ItemRequest(None, Rarity.RARE, seed=1))
    times: dict[str, list[tuple[float, float]]] = defaultdict(list)
    deadline = time.perf_counter() + seconds
    for seed, rarity in enumerate(itertools.cycle(list(Rarity)), start=1):
        if time.perf_counter() >= deadline:
            break
        t0 = _timed()
        await forge.generate("", ItemRequest(None, rarity, allow_curse=seed % 2 == 0, seed=seed))
        times[rarity.label].append(_since(t0))
    return times


def report(title: str, groups: dict[str, list[tuple[float, float]]]) -> float:
    every = [t for ts in groups.values() for t in ts]
    print(f"\n{title}")
    print(_line("all", every))
    for name, ts in groups.items():
        print(_line(f"  {name}", ts))
    return _percentile([t[0] * 1000 for t in every], 0.5)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--seconds", type=float, default=20.0, help="time budget, split between NPCs and items"
    )
    parser.add_argument("--world", default="ashen-reach")
    args = parser.parse_args()
    srd, spells = load_srd(), load_spells()
    worlds = Worlds(ROOT / "worlds", args.world)
    npc_p50 = report("NPCs (GenerateNpc domain, procedural prose)", await bench_npcs(
        NpcGenerator(worlds, srd, spells), args.seconds / 2
    ))  # fmt: skip
    forge = ItemForge(ROOT / "worlds", args.world, ItemGenerator(spells, load_bases()))
    item_p50 = report(
        "Items (GenerateItem domain, procedural prose)", await bench_items(forge, args.seconds / 2)
    )
    verdict = "met" if max(npc_p50, item_p50) < TARGET_P50_MS else "MISSED"
    print(
        f"\ntarget p50 < {TARGET_P50_MS:g} ms: {verdict} (NPC p50 {npc_p50:.2f} ms, item p50 {item_p50:.2f} ms)"
    )


if __name__ == "__main__":
    asyncio.run(main())
