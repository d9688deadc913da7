"""Fights over real gRPC against a real memory service (SQLite file): four stored level-3 characters against
SRD monsters played to the end with every step logged once and XP awarded; the same seed and actions give
the same log in a fresh store; out-of-turn and bad input are refused with nothing recorded; a restarted
encounter service resumes the fight from memory at the same actor with the same state."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from dungeonmaster.v1 import encounter_pb2, encounter_pb2_grpc, memory_pb2, memory_pb2_grpc
from encounter_svc.service import build_spec
from mesh.server import start_server
from mesh.status import unpack_details
from rules.progression import XP_THRESHOLDS
from rules.sheets import CharacterSheet, pregenerated
from tests.encounter.test_service import make_settings, rejected
from tests.memory.conftest import MemoryFactory, embedder, make_memory, milvus_backend  # noqa: F401 - fixtures
from tests.memory.test_service import serving

E, M = encounter_pb2, memory_pb2
CLASSES = ("fighter", "rogue", "wizard", "cleric")
FOES = ("goblin", "goblin", "orc", "wolf")


@dataclass
class Table:
    memory: memory_pb2_grpc.MemoryServiceStub
    memory_address: str
    campaign: str
    other_campaign: str
    pcs: dict[str, CharacterSheet]  # character id -> sheet
    stranger: str

    async def combat_events(self) -> list[M.Event]:
        reply = await self.memory.ListEvents(
            M.ListEventsRequest(campaign_id=self.campaign, kinds=[M.EVENT_KIND_COMBAT], page_size=1000)
        )
        return list(reply.events)


async def _pc(memory: memory_pb2_grpc.MemoryServiceStub, campaign: str, sheet: CharacterSheet) -> str:
    reply = await memory.CreateCharacter(
        M.CreateCharacterRequest(
            campaign_id=campaign,
            character=M.Character(name=sheet.name, sheet_json=json.dumps(sheet.to_json())),
        )
    )
    return str(reply.character.id)


@asynccontextmanager
async def table(make_memory: MemoryFactory) -> AsyncIterator[Table]:  # noqa: F811
    async with serving(make_memory()) as (srv, memory):
        world = (await memory.CreateWorld(M.CreateWorldRequest(slug="w", name="W"))).world
        ours = (await memory.CreateCampaign(M.CreateCampaignRequest(world_id=world.id, name="A"))).campaign
        theirs = (await memory.CreateCampaign(M.CreateCampaignRequest(world_id=world.id, name="B"))).campaign
        pcs = {}
        for cls in CLASSES:
            sheet = pregenerated(cls, 3)
            pcs[await _pc(memory, ours.id, sheet)] = sheet
        stranger = await _pc(memory, theirs.id, pregenerated("fighter", 3))
        yield Table(memory, srv.address, ours.id, theirs.id, pcs, stranger)


@asynccontextmanager
async def encounter(t: Table) -> AsyncIterator[encounter_pb2_grpc.EncounterServiceStub]:
    settings = make_settings(memory_addr=t.memory_address, default_deadline_s=5.0)
    async with start_server(build_spec(settings), settings, port=0) as srv:
        async with grpc.aio.insecure_channel(srv.address) as channel:
            yield encounter_pb2_grpc.EncounterServiceStub(channel)


def choose(state: E.CombatState, sheets: dict[str, CharacterSheet]) -> E.CombatAction:
    """A client's simple play: hit the first foe on the melee line, else shoot, else dodge."""
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


async def play(stub: encounter_pb2_grpc.EncounterServiceStub, t: Table, combat_id: str, seed: int,
               actions: list[E.CombatAction] | None = None, limit: int = 200) -> tuple[E.CombatState, list[E.CombatAction]]:  # fmt: skip
    started = await stub.StartCombat(
        E.StartCombatRequest(
            campaign_id=t.campaign,
            character_ids=list(t.pcs),
            monsters=list(FOES),
            seed=seed,
            combat_id=combat_id,
        )
    )
    state, done = started.combat, []
    while state.status == "active" and len(done) < limit:
        action = actions[len(done)] if actions is not None else choose(state, t.pcs)
        reply = await stub.TakeAction(
            E.TakeActionRequest(
                campaign_id=t.campaign, combat_id=combat_id, actor=state.current, action=action
            )
        )
        done.append(action)
        state = reply.combat
    return state, done


def _steps(events: list[M.Event]) -> list[int]:
    return [json.loads(e.metadata_json)["step"] for e in events]


async def test_a_whole_fight_is_logged_once_per_step_and_awards_xp(make_memory: MemoryFactory) -> None:  # noqa: F811
    async with table(make_memory) as t, encounter(t) as stub:
        final, actions = await play(stub, t, "ambush", seed=3)
        assert final.status in ("victory", "flight", "defeat") and len(actions) >= 3
        logged = await t.combat_events()
        steps = _steps(logged)
        assert sorted(steps) == list(range(final.step))  # every step once, none lost
        assert all(e.request_id == f"combat:ambush:{s}" for e, s in zip(logged, steps, strict=True))
        got = await stub.GetCombat(
            E.GetCombatRequest(campaign_id=t.campaign, combat_id="ambush", include_events=True)
        )
        assert got.combat == final and any(ev.kind == "end" for ev in got.events)
        for pc in final.combatants:
            if pc.kind != "character":
                continue
            stored = (
                await t.memory.GetCharacterState(
                    M.GetCharacterStateRequest(character_id=pc.id, campaign_id=t.campaign)
                )
            ).state
            assert (stored.hit_points, stored.dead) == (pc.hit_points, pc.dead)
            award = {a.character_id: a.xp for a in final.xp_awarded}.get(pc.id, 0)
            assert stored.xp == XP_THRESHOLDS[2] + award  # a level-3 character's floor plus the fight's share
        if final.status == "victory":
            assert final.xp_awarded and all(a.xp > 0 for a in final.xp_awarded)
        # A repeated step is answered from the log, not played again.
        again = await stub.TakeAction(
            E.TakeActionRequest(
                campaign_id=t.campaign,
                combat_id="ambush",
                actor=next(iter(t.pcs)),
                action=actions[0],
                step=1,
            )
        )
        assert again.replayed and len(await t.combat_events()) == len(logged)


async def test_same_seed_and_actions_give_the_same_log_in_a_fresh_store(make_memory: MemoryFactory) -> None:  # noqa: F811
    async with table(make_memory) as t, encounter(t) as stub:
        _, actions = await play(stub, t, "duel", seed=9)
        first = [(json.loads(e.metadata_json)["step"], e.metadata_json) for e in await t.combat_events()]
        ids_first = list(t.pcs)
    async with table(make_memory) as t2, encounter(t2) as stub2:
        await play(stub2, t2, "duel", seed=9, actions=actions)
        second = [(json.loads(e.metadata_json)["step"], e.metadata_json) for e in await t2.combat_events()]
        ids_second = list(t2.pcs)

    def normal(rows: list[tuple[int, str]], ids: list[str]) -> list[object]:
        """The logged events with the store's character ids replaced by their place in the party."""
        names = {cid: f"pc{i}" for i, cid in enumerate(ids)}

        def walk(value: object) -> object:
            if isinstance(value, str):
                return ",".join(names.get(part, part) for part in value.split(","))
            if isinstance(value, list):
                return [walk(v) for v in value]
            if isinstance(value, dict):
                return {k: walk(v) for k, v in value.items()}
            return value

        return [walk(json.loads(json.loads(text)["events"])) for _, text in sorted(rows)]

    a, b = normal(first, ids_first), normal(second, ids_second)
    assert len(a) == len(actions) + 1 and a == b


async def test_out_of_turn_and_bad_input_are_refused_and_record_nothing(make_memory: MemoryFactory) -> None:  # noqa: F811
    async with table(make_memory) as t, encounter(t) as stub:
        started = await stub.StartCombat(
            E.StartCombatRequest(
                campaign_id=t.campaign, character_ids=list(t.pcs), monsters=list(FOES), seed=1, combat_id="c"
            )
        )
        state = started.combat
        count = len(await t.combat_events())
        waiting = next(c for c in state.order if c in t.pcs and c != state.current)
        call = stub.TakeAction(
            E.TakeActionRequest(
                campaign_id=t.campaign, combat_id="c", actor=waiting, action=E.CombatAction(kind="dodge")
            )
        )
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call
        assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        status = await rpc_status.aio.from_call(call)
        pre = [d for d in unpack_details(status) if isinstance(d, error_details_pb2.PreconditionFailure)]
        assert pre and pre[0].violations[0].subject == state.current
        me = state.current
        foe = next(c.id for c in state.combatants if c.side == "foes")
        cases = [
            (E.CombatAction(kind="cast", targets=[foe], spell="no-such-spell"), "action.spell"),
            (
                E.CombatAction(kind="attack", targets=["m:dragon-1"], weapon=t.pcs[me].attacks[0].index),
                "action.targets[0]",
            ),
            (E.CombatAction(kind="attack", targets=[foe], weapon="laser"), "action.weapon"),
        ]
        for action, field in cases:
            code, bad = await rejected(
                stub.TakeAction(
                    E.TakeActionRequest(campaign_id=t.campaign, combat_id="c", actor=me, action=action)
                )
            )
            assert code == grpc.StatusCode.INVALID_ARGUMENT and bad[0][0] == field
        code, bad = await rejected(
            stub.StartCombat(
                E.StartCombatRequest(
                    campaign_id=t.campaign, character_ids=list(t.pcs), monsters=["tarrasquee"]
                )
            )
        )
        assert code == grpc.StatusCode.INVALID_ARGUMENT and bad[0][0] == "monsters[0]"
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.StartCombat(
                E.StartCombatRequest(
                    campaign_id=t.campaign, character_ids=[t.stranger], monsters=["goblin"], combat_id="x"
                )
            )
        assert err.value.code() == grpc.StatusCode.NOT_FOUND and "character_ids[0]" in (
            err.value.details() or ""
        )
        assert len(await t.combat_events()) == count  # nothing recorded


async def test_a_restarted_service_resumes_the_fight_from_memory(make_memory: MemoryFactory) -> None:  # noqa: F811
    async with table(make_memory) as t:
        async with encounter(t) as stub:
            started = await stub.StartCombat(
                E.StartCombatRequest(
                    campaign_id=t.campaign,
                    character_ids=list(t.pcs),
                    monsters=list(FOES),
                    seed=5,
                    combat_id="r",
                )
            )
            state = started.combat
            for _ in range(3):
                if state.status != "active":
                    break
                state = (await stub.TakeAction(
                    E.TakeActionRequest(campaign_id=t.campaign, combat_id="r", actor=state.current, action=choose(state, t.pcs))
                )).combat  # fmt: skip
        async with encounter(t) as fresh:  # a new process: nothing cached
            got = await fresh.GetCombat(E.GetCombatRequest(campaign_id=t.campaign, combat_id="r"))
            assert got.combat == state
            if state.status == "active":
                nxt = await fresh.TakeAction(
                    E.TakeActionRequest(
                        campaign_id=t.campaign,
                        combat_id="r",
                        actor=state.current,
                        action=choose(state, t.pcs),
                    )
                )
                assert nxt.combat.step == state.step + 1
        steps = _steps(await t.combat_events())
        assert sorted(steps) == list(range(len(steps)))
