"""Character sheet and check speed, calling the rules directly (the domain section).

Prints sheets built per second over every class x level 1..20 (each sheet built from its choices, as
``build_sheet`` does for a stored sheet too) with p50/p99 per sheet, and skill checks per second with p50/p99
per check. One warm-up build first (the SRD tables are read once per process, as in a running service). Wall
time and the calling thread's CPU time are both reported: on a shared machine the CPU time shows the cost of
the code itself. Target: a sheet in under 2 ms p50.

The gRPC section starts memory_svc and encounter_svc as real processes on loopback (a fresh SQLite file),
stores a pregenerated party of four and calls ``ResolveCheck`` one call at a time with a new check id each time,
so every call reads the sheet and state from memory, rolls and records one campaign event (the memory write);
then the same check ids again (replays: read, roll, duplicate-key lookup, nothing written). For the breakdown
it also times the memory calls a check makes, directly. Target: ``ResolveCheck`` under 10 ms p50.

    python bench/characters.py [--seconds 5] [--calls 400] [--no-grpc]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import grpc  # noqa: E402

from dungeonmaster.v1 import (  # noqa: E402
    common_pb2,
    encounter_pb2,
    encounter_pb2_grpc,
    memory_pb2,
    memory_pb2_grpc,
)
from rules.checks import skill_check  # noqa: E402
from rules.classes import load_character_data  # noqa: E402
from rules.sheets import CharacterChoices, build_sheet, pregenerated  # noqa: E402
from tests.support.procs import mesh_env, start_service  # noqa: E402

TARGET_SHEET_P50_MS = 2.0
TARGET_CHECK_P50_MS = 10.0
PARTY = ("fighter", "rogue", "wizard", "cleric")
SKILLS = ("athletics", "stealth", "investigation", "perception", "persuasion", "arcana")


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _line(label: str, times: list[tuple[float, float]]) -> str:
    ms = [t[0] * 1000 for t in times]
    cpu = [t[1] * 1000 for t in times]
    rate = len(times) / sum(t[0] for t in times) if times else 0.0
    return (
        f"{label:<22} {len(times):>7} {rate:>9.1f}/s  p50 {_percentile(ms, 0.5):7.3f} ms  "
        f"p99 {_percentile(ms, 0.99):7.3f} ms  mean {statistics.fmean(ms):7.3f} ms  "
        f"cpu p50 {_percentile(cpu, 0.5):6.3f} ms"
    )


def _timed() -> tuple[float, float]:
    return time.perf_counter(), time.thread_time()


def _since(start: tuple[float, float]) -> tuple[float, float]:
    return time.perf_counter() - start[0], time.thread_time() - start[1]


def bench_domain(args: argparse.Namespace) -> list[str]:
    """Sheets for every class x level (half the time), then skill checks (the other half)."""
    data = load_character_data()
    classes = sorted(data.classes)
    build_sheet(CharacterChoices("warm", classes[0], "human"))  # warm-up
    sheets: list[tuple[float, float]] = []
    deadline = time.perf_counter() + args.seconds / 2
    combos = itertools.cycle([(c, lv) for c in classes for lv in range(1, 21)])
    rounds = 0
    while time.perf_counter() < deadline or rounds < len(classes) * 20:
        class_index, level = next(combos)
        choices = CharacterChoices(
            "Bench",
            class_index,
            "human",
            level=level,
            equipment=("longsword", "chain-mail", "shield", "dagger"),
        )
        start = _timed()
        build_sheet(choices)
        sheets.append(_since(start))
        rounds += 1
    party = [pregenerated(c, lv) for c in classes for lv in (1, 5, 11, 20)]
    checks: list[tuple[float, float]] = []
    deadline = time.perf_counter() + args.seconds / 2
    for seed in itertools.count():
        if time.perf_counter() >= deadline:
            break
        sheet = party[seed % len(party)]
        start = _timed()
        skill_check(sheet, SKILLS[seed % len(SKILLS)], 15, advantage=seed % 3 == 0, seed=seed)
        checks.append(_since(start))
    p50 = _percentile([t[0] * 1000 for t in sheets], 0.5)
    return [
        _line("sheet (class x level)", sheets),
        _line("skill check", checks),
        f"sheet p50 {p50:.3f} ms vs target {TARGET_SHEET_P50_MS} ms: {'ok' if p50 < TARGET_SHEET_P50_MS else 'MISSED'}",
    ]


async def _timed_calls(call: object, requests: list[object]) -> list[tuple[float, float]]:
    out = []
    for request in requests:
        start = _timed()
        await call(request, timeout=30)  # type: ignore[operator]
        out.append(_since(start))
    return out


async def _drained(memory: memory_pb2_grpc.MemoryServiceStub, limit_s: float = 120.0) -> None:
    deadline = time.monotonic() + limit_s
    while (await memory.GetIndexStatus(memory_pb2.GetIndexStatusRequest(), timeout=30)).outbox_pending:
        if time.monotonic() > deadline:
            raise TimeoutError("memory's outbox did not drain")
        await asyncio.sleep(0.01)


async def _grpc_section(memory_addr: str, encounter_addr: str, calls: int) -> list[str]:
    async with (
        grpc.aio.insecure_channel(memory_addr) as mch,
        grpc.aio.insecure_channel(encounter_addr) as ech,
    ):
        memory = memory_pb2_grpc.MemoryServiceStub(mch)
        checks = encounter_pb2_grpc.EncounterServiceStub(ech)
        world = (await memory.CreateWorld(memory_pb2.CreateWorldRequest(slug="bench", name="Bench"))).world
        campaign = (
            await memory.CreateCampaign(memory_pb2.CreateCampaignRequest(world_id=world.id, name="Bench"))
        ).campaign.id
        party = []
        for class_index in PARTY:
            made = await memory.CreateCharacter(
                memory_pb2.CreateCharacterRequest(
                    campaign_id=campaign,
                    character=memory_pb2.Character(
                        name=class_index, sheet_json=json.dumps(pregenerated(class_index, 5).to_json())
                    ),
                )
            )
            party.append(made.character.id)

        def request(i: int, tag: str) -> encounter_pb2.ResolveCheckRequest:
            return encounter_pb2.ResolveCheckRequest(
                campaign_id=campaign,
                character_id=party[i % len(party)],
                kind=common_pb2.CHECK_KIND_SKILL,
                skill=SKILLS[i % len(SKILLS)],
                difficulty=common_pb2.CHECK_DIFFICULTY_MEDIUM,
                check_id=f"{tag}-{i}",
                seed=i + 1,
                reason="tries something uncertain",
            )

        await _timed_calls(checks.ResolveCheck, [request(i, "warm") for i in range(20)])
        fresh = await _timed_calls(checks.ResolveCheck, [request(i, "bench") for i in range(calls)])
        replays = await _timed_calls(checks.ResolveCheck, [request(i, "bench") for i in range(calls)])
        # Each recorded event is embedded by memory's outbox worker right after the write; on two cores that
        # work competes with the next calls. Spaced calls wait (untimed) for the outbox to drain first.
        spaced: list[tuple[float, float]] = []
        for i in range(max(1, calls // 4)):
            await _drained(memory)
            spaced += await _timed_calls(checks.ResolveCheck, [request(i, "spaced")])
        reads = await _timed_calls(
            memory.GetCharacter,
            [
                memory_pb2.GetCharacterRequest(character_id=party[i % 4], campaign_id=campaign)
                for i in range(calls)
            ],
        )
        writes = await _timed_calls(
            memory.RecordEvent,
            [
                memory_pb2.RecordEventRequest(
                    campaign_id=campaign,
                    request_id=f"direct-{i}",
                    event=memory_pb2.Event(kind=memory_pb2.EVENT_KIND_NOTE, content=f"a note {i}"),
                )
                for i in range(calls)
            ],
        )
        logged = await memory.ListEvents(
            memory_pb2.ListEventsRequest(
                campaign_id=campaign, kinds=[memory_pb2.EVENT_KIND_CHECK], page_size=1000
            )
        )
    p50 = _percentile([t[0] * 1000 for t in fresh], 0.5)
    return [
        _line("ResolveCheck (new)", fresh),
        _line("ResolveCheck (replay)", replays),
        _line("ResolveCheck (spaced)", spaced),
        _line("memory GetCharacter", reads),
        _line("memory RecordEvent", writes),
        f"check events logged: {len(logged.events)} (expected {calls + 20 + len(spaced)}: replays record nothing)",
        f"ResolveCheck p50 {p50:.3f} ms vs target {TARGET_CHECK_P50_MS} ms: "
        f"{'ok' if p50 < TARGET_CHECK_P50_MS else 'MISSED'}",
    ]


def bench_grpc(args: argparse.Namespace) -> list[str]:
    """memory_svc and encounter_svc as processes; ResolveCheck p50/p99 including the memory write."""
    with tempfile.TemporaryDirectory(prefix="bench-characters-") as tmp:
        root = Path(tmp)
        env = mesh_env(root / "data")
        procs = [start_service("memory", env, root / "logs", timeout=180)]
        try:
            procs.append(start_service("encounter", env, root / "logs"))
            return asyncio.run(_grpc_section(procs[0].address, procs[1].address, args.calls))
        finally:
            for sp in reversed(procs):
                sp.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--seconds", type=float, default=5.0, help="time per section (split between its parts)"
    )
    parser.add_argument("--calls", type=int, default=400, help="ResolveCheck calls per gRPC arm")
    parser.add_argument("--no-grpc", action="store_true", help="only the domain section")
    args = parser.parse_args()
    print("domain (rules.sheets, rules.checks):")
    for line in bench_domain(args):
        print("  " + line)
    if not args.no_grpc:
        print("gRPC (memory_svc + encounter_svc processes on loopback, SQLite file, one call at a time):")
        for line in bench_grpc(args):
            print("  " + line)


if __name__ == "__main__":
    main()
