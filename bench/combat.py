"""Combat speed: a 4 vs 6 fight resolved to the end, repeated.

Domain section: the rules engine alone (``rules.combat``): declared actions per second and p50/p99 per
``take_action`` (one character's action plus every monster turn up to the next character, as the service
runs it). gRPC section: ``TakeAction`` p50/p99 against a real encounter service and a real memory service
(SQLite file and Milvus Lite in a temporary folder), each step recorded in campaign memory and the
characters' states written. Wall time and the calling thread's CPU time are reported for the domain.
Targets on a 2-core machine: under 2 ms p50 per action in the domain, under 20 ms p50 over gRPC.

    PYTHONPATH=. python bench/combat.py [--seconds 10] [--fights 3] [--skip-grpc]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path

from rules.combat.build import Source, from_sheet, from_statblock
from rules.combat.engine import start_combat, take_action
from rules.combat.state import Combatant
from rules.combat.tactics import autopilot
from rules.sheets import CharacterSheet, pregenerated
from rules.srd import load_srd

CLASSES = ("fighter", "rogue", "wizard", "cleric")
FOES = ("goblin", "goblin", "orc", "bugbear", "wolf", "hobgoblin")
ROOT = Path(__file__).resolve().parents[1]
TARGET_DOMAIN_P50_MS = 2.0
TARGET_GRPC_P50_MS = 20.0


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _fight(seed: int) -> tuple[list[tuple[float, float]], str, int]:
    srd = load_srd()
    sources: dict[str, Source] = {}
    people: list[Combatant] = []
    for cls in CLASSES:
        sheet = pregenerated(cls, 3)
        sources[f"pc:{cls}"] = sheet
        people.append(from_sheet(f"pc:{cls}", sheet, items={"potion-of-healing": 1}))
    for i, index in enumerate(FOES):
        block = srd.monster(index)
        sources[f"m:{index}-{i}"] = block
        people.append(from_statblock(f"m:{index}-{i}", f"{block.name} {i + 1}", block, block.hit_points))
    state, events = start_combat(f"bench-{seed}", seed, people, sources)
    times: list[tuple[float, float]] = []
    n_events = len(events)
    while state.active:
        declared = autopilot(state, sources, state.current)
        w, c = time.perf_counter(), time.thread_time()
        state, events = take_action(state, sources, declared)
        times.append((time.perf_counter() - w, time.thread_time() - c))
        n_events += len(events)
    return times, state.status, n_events


def bench_domain(args: argparse.Namespace) -> list[str]:
    _fight(0)  # warm-up: SRD tables and spell list read once per process
    times: list[tuple[float, float]] = []
    outcomes: dict[str, int] = {}
    events = fights = 0
    deadline = time.perf_counter() + args.seconds
    seed = 1
    while time.perf_counter() < deadline:
        t, status, n = _fight(seed)
        times += t
        events += n
        outcomes[status] = outcomes.get(status, 0) + 1
        fights += 1
        seed += 1
    ms = [w * 1000 for w, _ in times]
    cpu = [c * 1000 for _, c in times]
    rate = len(times) / sum(w for w, _ in times)
    p50 = _pct(ms, 0.5)
    return [
        f"domain: {fights} fights (4 level-3 characters vs {len(FOES)} SRD monsters) to the end: {outcomes}",
        f"  {len(times)} declared actions, {events} events; {rate:,.0f} actions/s; take_action p50 {p50:.3f} ms "
        f"p99 {_pct(ms, 0.99):.3f} ms mean {statistics.fmean(ms):.3f} ms; cpu p50 {_pct(cpu, 0.5):.3f} ms "
        f"(target < {TARGET_DOMAIN_P50_MS} ms p50: {'met' if p50 < TARGET_DOMAIN_P50_MS else 'NOT met'})",
    ]


def _choose(state, sheets: dict[str, CharacterSheet]):  # type: ignore[no-untyped-def]
    """The client's play: hit the first foe on the melee line, else shoot or cast, else dodge."""
    from dungeonmaster.v1 import encounter_pb2 as E

    people = {c.id: c for c in state.combatants}
    me = people[state.current]
    sheet = sheets[me.id]
    foes = [
        c for c in state.combatants if c.side == "foes" and not c.dead and not c.fled and c.hit_points > 0
    ]
    line = [f for f in foes if f.position == "engaged"]
    melee = [a for a in sheet.attacks if not a.ranged and a.index != "unarmed-strike"]
    ranged = [a for a in sheet.attacks if a.ranged]
    if line and melee and me.position == "engaged":
        return E.CombatAction(kind="attack", targets=[line[0].id], weapon=melee[0].index, end_turn=True)
    if ranged and foes:
        return E.CombatAction(kind="attack", targets=[foes[0].id], weapon=ranged[0].index, end_turn=True)
    if sheet.spellcasting and foes:
        spell = "fire-bolt" if sheet.class_index == "wizard" else "sacred-flame"
        return E.CombatAction(kind="cast", targets=[foes[0].id], spell=spell, end_turn=True)
    return E.CombatAction(kind="dodge", end_turn=True)


async def _grpc(args: argparse.Namespace, workdir: Path) -> list[str]:
    import grpc

    from dungeonmaster.v1 import encounter_pb2 as E
    from dungeonmaster.v1 import encounter_pb2_grpc, memory_pb2_grpc
    from dungeonmaster.v1 import memory_pb2 as M
    from encounter_svc.service import build_spec as encounter_spec
    from memory_svc.db import Database
    from memory_svc.embeddings import Embedder
    from memory_svc.memory import Memory
    from memory_svc.service import build_spec as memory_spec
    from memory_svc.vector_store import VectorStore
    from mesh.server import start_server
    from mesh.settings import Settings

    embedder = Embedder()
    memory = Memory(
        Database(f"sqlite:///{workdir / 'dm.db'}"),
        embedder,
        VectorStore(str(workdir / "milvus.db"), embedder.dim),
    )
    memory.migrate()
    msettings = Settings(memory_metrics_port=0, health_poll_s=0.05, grace_period_s=1.0, tls_mode="off")
    async with start_server(memory_spec(msettings, memory=memory), msettings, port=0) as msrv:
        esettings = Settings(
            encounter_metrics_port=0,
            tls_mode="off",
            health_poll_s=0.05,
            grace_period_s=1.0,
            vllm_urls=[],
            worlds_dir=ROOT / "worlds",
            default_world="ashen-reach",
            memory_addr=msrv.address,
            default_deadline_s=10.0,
        )
        async with (
            start_server(encounter_spec(esettings), esettings, port=0) as esrv,
            grpc.aio.insecure_channel(msrv.address) as mch,
            grpc.aio.insecure_channel(esrv.address) as ech,
        ):
            mem = memory_pb2_grpc.MemoryServiceStub(mch)
            enc = encounter_pb2_grpc.EncounterServiceStub(ech)
            world = (await mem.CreateWorld(M.CreateWorldRequest(slug="bench", name="Bench"))).world
            camp = (
                await mem.CreateCampaign(M.CreateCampaignRequest(world_id=world.id, name="Bench"))
            ).campaign
            times: list[float] = []
            outcomes: dict[str, int] = {}
            for f in range(args.fights):
                sheets: dict[str, CharacterSheet] = {}
                for cls in CLASSES:
                    sheet = pregenerated(cls, 3)
                    reply = await mem.CreateCharacter(
                        M.CreateCharacterRequest(
                            campaign_id=camp.id,
                            character=M.Character(name=sheet.name, sheet_json=json.dumps(sheet.to_json())),
                        )
                    )
                    sheets[reply.character.id] = sheet
                started = await enc.StartCombat(
                    E.StartCombatRequest(
                        campaign_id=camp.id, character_ids=list(sheets), monsters=list(FOES), seed=f + 1,
                        combat_id=f"bench-{f}",
                    )
                )  # fmt: skip
                state = started.combat
                while state.status == "active":
                    action = _choose(state, sheets)
                    t0 = time.perf_counter()
                    reply = await enc.TakeAction(
                        E.TakeActionRequest(
                            campaign_id=camp.id, combat_id=f"bench-{f}", actor=state.current, action=action
                        )
                    )
                    times.append((time.perf_counter() - t0) * 1000)
                    state = reply.combat
                outcomes[state.status] = outcomes.get(state.status, 0) + 1
    p50 = _pct(times, 0.5)
    return [
        f"grpc: {args.fights} fights to the end over TakeAction with every step recorded in memory: {outcomes}",
        f"  {len(times)} calls; TakeAction p50 {p50:.1f} ms p99 {_pct(times, 0.99):.1f} ms "
        f"mean {statistics.fmean(times):.1f} ms (target < {TARGET_GRPC_P50_MS} ms p50: "
        f"{'met' if p50 < TARGET_GRPC_P50_MS else 'NOT met'})",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="domain section length")
    parser.add_argument("--fights", type=int, default=3, help="fights played over gRPC")
    parser.add_argument("--skip-grpc", action="store_true")
    args = parser.parse_args()
    for line in bench_domain(args):
        print(line, flush=True)
    if not args.skip_grpc:
        with tempfile.TemporaryDirectory() as tmp:
            for line in asyncio.run(_grpc(args, Path(tmp))):
                print(line, flush=True)


if __name__ == "__main__":
    main()
