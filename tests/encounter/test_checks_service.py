"""ResolveCheck over real gRPC against a real memory service (SQLite file): the modifiers come from the stored
sheet, the conditions from the stored live state, a difficulty gives its DMG DC, a check id is rolled and logged
once, and bad input (an unknown skill, another campaign's character...) is refused with nothing recorded."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from dungeonmaster.v1 import common_pb2, encounter_pb2, encounter_pb2_grpc, memory_pb2, memory_pb2_grpc
from encounter_svc.service import build_spec
from mesh.server import start_server
from mesh.status import unpack_details
from rules.checks import saving_throw, skill_check
from rules.sheets import CharacterSheet, pregenerated
from tests.encounter.test_service import make_settings, rejected
from tests.memory.conftest import MemoryFactory, embedder, make_memory, milvus_backend  # noqa: F401 - fixtures
from tests.memory.test_service import serving

E, M, C = encounter_pb2, memory_pb2, common_pb2
SKILL, ABILITY, SAVE = C.CHECK_KIND_SKILL, C.CHECK_KIND_ABILITY, C.CHECK_KIND_SAVE


@dataclass
class Mesh:
    checks: encounter_pb2_grpc.EncounterServiceStub
    memory: memory_pb2_grpc.MemoryServiceStub
    campaign: str
    other_campaign: str
    rogue: str
    rogue_sheet: CharacterSheet
    stranger: str
    npc: str

    async def events(self, campaign: str) -> list[M.Event]:
        reply = await self.memory.ListEvents(
            M.ListEventsRequest(campaign_id=campaign, kinds=[M.EVENT_KIND_CHECK])
        )
        return list(reply.events)

    async def set_state(self, conditions: list[str], exhaustion: int = 0) -> None:
        await self.memory.UpdateCharacterState(
            M.UpdateCharacterStateRequest(
                character_id=self.rogue,
                state=M.CharacterState(
                    hit_points=self.rogue_sheet.hp_max,
                    hit_dice_left=self.rogue_sheet.level,
                    conditions=conditions,
                    exhaustion=exhaustion,
                ),
            )
        )


async def _pc(memory: memory_pb2_grpc.MemoryServiceStub, campaign: str, sheet: CharacterSheet) -> str:
    reply = await memory.CreateCharacter(
        M.CreateCharacterRequest(
            campaign_id=campaign,
            character=M.Character(name=sheet.name, sheet_json=json.dumps(sheet.to_json())),
        )
    )
    return str(reply.character.id)


@pytest.fixture
async def mesh(make_memory: MemoryFactory) -> AsyncIterator[Mesh]:  # noqa: F811 - the fixture
    async with serving(make_memory()) as (memory_srv, memory):
        world = (await memory.CreateWorld(M.CreateWorldRequest(slug="w", name="W"))).world
        ours = (await memory.CreateCampaign(M.CreateCampaignRequest(world_id=world.id, name="A"))).campaign
        theirs = (await memory.CreateCampaign(M.CreateCampaignRequest(world_id=world.id, name="B"))).campaign
        rogue = pregenerated("rogue", 3)
        rogue_id = await _pc(memory, ours.id, rogue)
        stranger = await _pc(memory, theirs.id, pregenerated("fighter", 2))
        npc = await memory.CreateCharacter(
            M.CreateCharacterRequest(campaign_id=ours.id, character=M.Character(name="Maud", is_npc=True))
        )
        settings = make_settings(memory_addr=memory_srv.address, default_deadline_s=5.0)
        async with start_server(build_spec(settings), settings, port=0) as srv:
            async with grpc.aio.insecure_channel(srv.address) as channel:
                yield Mesh(
                    encounter_pb2_grpc.EncounterServiceStub(channel),
                    memory,
                    ours.id,
                    theirs.id,
                    rogue_id,
                    rogue,
                    stranger,
                    npc.character.id,
                )


async def test_modifiers_come_from_the_stored_sheet(mesh: Mesh) -> None:
    for seed in (1, 2, 3, 4, 5):
        reply = await mesh.checks.ResolveCheck(
            E.ResolveCheckRequest(
                campaign_id=mesh.campaign,
                character_id=mesh.rogue,
                kind=SKILL,
                skill="Investigation",
                dc=14,
                seed=seed,
                check_id=f"search-{seed}",
                reason="searches the body for clues",
            )
        )
        r = reply.result
        expected = skill_check(mesh.rogue_sheet, "investigation", 14, seed=seed)
        assert (r.skill, r.dc, r.character_id, r.character_name) == (
            "investigation",
            14,
            mesh.rogue,
            mesh.rogue_sheet.name,
        )
        assert r.ability == C.ABILITY_INTELLIGENCE and r.mode == C.ROLL_MODE_NORMAL
        assert r.modifier == mesh.rogue_sheet.skills["investigation"].modifier == expected.modifier
        assert [(p.source, p.value) for p in r.modifiers] == list(expected.modifiers)
        assert (list(r.rolls), r.kept, r.total, r.success) == (
            list(expected.rolls),
            expected.kept,
            expected.total,
            expected.total >= 14,
        )
        assert r.total == r.kept + r.modifier and r.margin == r.total - 14 and not reply.replayed
    # The rogue's Stealth has expertise (proficiency counted twice) on the stored sheet.
    stealth = await mesh.checks.ResolveCheck(
        E.ResolveCheckRequest(
            campaign_id=mesh.campaign, character_id=mesh.rogue, kind=SKILL, skill="stealth", dc=10, seed=9
        )
    )
    assert "expertise" in [p.source for p in stealth.result.modifiers]
    events = await mesh.events(mesh.campaign)
    assert len(events) == 6
    first = next(e for e in events if e.request_id == "check:search-1")
    assert first.actor == mesh.rogue_sheet.name and "Investigation check, DC 14" in first.content
    assert (
        json.loads(first.metadata_json)["check"]["total"]
        == skill_check(mesh.rogue_sheet, "investigation", 14, seed=1).total
    )


async def test_stored_conditions_change_the_roll(mesh: Mesh) -> None:
    await mesh.set_state(["poisoned"])
    poisoned = await mesh.checks.ResolveCheck(
        E.ResolveCheckRequest(
            campaign_id=mesh.campaign,
            character_id=mesh.rogue,
            kind=ABILITY,
            ability=C.ABILITY_STRENGTH,
            dc=10,
        )
    )
    assert poisoned.result.mode == C.ROLL_MODE_DISADVANTAGE and len(poisoned.result.rolls) == 2
    assert poisoned.result.kept == min(poisoned.result.rolls)
    assert any("poisoned" in n for n in poisoned.result.notes)
    # Advantage from the situation cancels the poison's disadvantage.
    even = await mesh.checks.ResolveCheck(
        E.ResolveCheckRequest(
            campaign_id=mesh.campaign,
            character_id=mesh.rogue,
            kind=ABILITY,
            ability=C.ABILITY_STRENGTH,
            dc=10,
            advantage=True,
        )
    )
    assert even.result.mode == C.ROLL_MODE_NORMAL and len(even.result.rolls) == 1

    await mesh.set_state(["blinded", "paralyzed"])
    blind = await mesh.checks.ResolveCheck(
        E.ResolveCheckRequest(
            campaign_id=mesh.campaign,
            character_id=mesh.rogue,
            kind=SKILL,
            skill="perception",
            dc=5,
            needs_sight=True,
        )
    )
    assert (blind.result.success, blind.result.auto_fail, list(blind.result.rolls)) == (False, "blinded", [])
    save = await mesh.checks.ResolveCheck(
        E.ResolveCheckRequest(
            campaign_id=mesh.campaign,
            character_id=mesh.rogue,
            kind=SAVE,
            ability=C.ABILITY_DEXTERITY,
            dc=5,
            seed=3,
        )
    )
    assert (save.result.success, save.result.auto_fail) == (False, "paralyzed")
    await mesh.set_state([], exhaustion=3)
    tired = await mesh.checks.ResolveCheck(
        E.ResolveCheckRequest(
            campaign_id=mesh.campaign,
            character_id=mesh.rogue,
            kind=SAVE,
            ability=C.ABILITY_WISDOM,
            dc=12,
            seed=7,
        )
    )
    expected = saving_throw(mesh.rogue_sheet, "wis", 12, exhaustion=3, seed=7)
    assert tired.result.mode == C.ROLL_MODE_DISADVANTAGE
    assert (list(tired.result.rolls), tired.result.total) == (list(expected.rolls), expected.total)


async def test_difficulty_gives_the_dmg_dc(mesh: Mesh) -> None:
    dcs = {}
    for difficulty in range(1, 7):
        reply = await mesh.checks.ResolveCheck(
            E.ResolveCheckRequest(
                campaign_id=mesh.campaign,
                character_id=mesh.rogue,
                kind=SKILL,
                skill="athletics",
                difficulty=difficulty,  # type: ignore[arg-type]
            )
        )
        dcs[C.CheckDifficulty.Name(difficulty)] = reply.result.dc  # type: ignore[arg-type]
        assert reply.result.seed > 0  # seed 0 picks one and reports it
    assert dcs == {
        "CHECK_DIFFICULTY_VERY_EASY": 5,
        "CHECK_DIFFICULTY_EASY": 10,
        "CHECK_DIFFICULTY_MEDIUM": 15,
        "CHECK_DIFFICULTY_HARD": 20,
        "CHECK_DIFFICULTY_VERY_HARD": 25,
        "CHECK_DIFFICULTY_NEARLY_IMPOSSIBLE": 30,
    }


async def test_a_check_id_is_rolled_and_logged_once(mesh: Mesh) -> None:
    request = E.ResolveCheckRequest(
        campaign_id=mesh.campaign,
        character_id=mesh.rogue,
        kind=SKILL,
        skill="investigation",
        difficulty=C.CHECK_DIFFICULTY_MEDIUM,
        check_id="turn-7:check",
        turn_id="turn-7",
    )
    first = await mesh.checks.ResolveCheck(request)
    for seed in (11, 12, 13):  # a retry, even with another seed, returns the recorded roll
        request.seed = seed
        again = await mesh.checks.ResolveCheck(request)
        assert again.replayed and again.event_id == first.event_id
        assert again.result == first.result
    assert not first.replayed
    events = await mesh.events(mesh.campaign)
    assert [e.id for e in events] == [first.event_id]
    meta = json.loads(events[0].metadata_json)
    assert (meta["turn_id"], meta["check_id"], meta["character_id"]) == ("turn-7", "turn-7:check", mesh.rogue)


def _resource_description(err: grpc.aio.AioRpcError) -> str:
    status = rpc_status.from_call(err)  # type: ignore[arg-type]
    assert status is not None
    infos = [d for d in unpack_details(status) if isinstance(d, error_details_pb2.ResourceInfo)]
    return infos[0].description if infos else ""


async def test_bad_input_is_refused_and_nothing_is_recorded(mesh: Mesh) -> None:
    base = {
        "campaign_id": mesh.campaign,
        "character_id": mesh.rogue,
        "kind": SKILL,
        "skill": "stealth",
        "dc": 10,
    }
    cases = [
        ({"skill": "lockpicking"}, "skill", "sleight-of-hand"),
        ({"skill": ""}, "skill", "required"),
        ({"kind": C.CHECK_KIND_UNSPECIFIED}, "kind", "CHECK_KIND_SKILL"),
        ({"kind": SAVE, "skill": "", "ability": C.ABILITY_UNSPECIFIED}, "ability", "ABILITY_WISDOM"),
        ({"dc": 41}, "dc", "1..40"),
        ({"dc": 0}, "dc", "difficulty"),
        ({"difficulty": C.CHECK_DIFFICULTY_HARD}, "dc", "not both"),
        ({"difficulty": 17}, "difficulty", "CheckDifficulty"),
        ({"check_id": "x" * 200}, "check_id", "120"),
        ({"character_id": ""}, "character_id", "required"),
        ({"campaign_id": ""}, "campaign_id", "required"),
        ({"character_id": mesh.npc}, "character_id", "no sheet"),
        ({"seed": -1}, "seed", "negative"),
    ]
    for fields, field, listed in cases:
        code, violations = await rejected(
            mesh.checks.ResolveCheck(E.ResolveCheckRequest(**{**base, **fields}))
        )
        assert code == grpc.StatusCode.INVALID_ARGUMENT, fields
        described = [d for f, d in violations if f == field]
        assert described and any(listed in d for d in described), (fields, violations)

    for character, campaign in (
        (mesh.stranger, mesh.campaign),
        (mesh.rogue, mesh.other_campaign),
        ("999999", mesh.campaign),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await mesh.checks.ResolveCheck(
                E.ResolveCheckRequest(**{**base, "character_id": character, "campaign_id": campaign})
            )
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
        assert "character_id" in (err.value.details() or "")
        assert _resource_description(err.value) == "named by character_id"
    assert await mesh.events(mesh.campaign) == []
    assert await mesh.events(mesh.other_campaign) == []
