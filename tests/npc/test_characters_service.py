"""BuildCharacter over real gRPC: sheets from a player's choices and pregenerated heroes, every bad choice
INVALID_ARGUMENT naming the request field with the valid values, and a saved character stored in a real
memory service (SQLite file) with its sheet and a rested state; a refused request stores nothing."""

from __future__ import annotations

import json
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from dungeonmaster.v1 import common_pb2, memory_pb2, npc_pb2, npc_pb2_grpc
from mesh.server import start_server
from mesh.status import unpack_details
from npc_svc.service import build_spec
from rules.sheets import CharacterChoices, CharacterSheet, build_sheet, pregenerated
from tests.memory.conftest import MemoryFactory, embedder, make_memory, milvus_backend  # noqa: F401 - fixtures
from tests.memory.test_service import serving
from tests.npc.conftest import npc_settings

N = npc_pb2
CLASSES = (
    "barbarian",
    "bard",
    "cleric",
    "druid",
    "fighter",
    "monk",
    "paladin",
    "ranger",
    "rogue",
    "sorcerer",
    "warlock",
    "wizard",
)


def _sheet(reply: N.BuildCharacterResponse) -> CharacterSheet:
    return CharacterSheet.from_json(json.loads(reply.sheet.sheet_json))


@pytest.mark.parametrize(
    ("fields", "hp", "ac", "skill", "modifier"),
    [
        # Human fighter 1, standard array by priorities: Str 16 (+3), Con 15 (+2); d10 + 2 = 12 HP;
        # chain mail 16 + shield 2 = 18; Athletics +3 +2 proficiency = +5.
        (
            {
                "character_class": "Fighter",
                "race": "human",
                "level": 1,
                "equipment": ["chain-mail", "shield"],
            },
            12,
            18,
            "athletics",
            5,
        ),
        # Hill dwarf cleric 3 with the acolyte's skills; wizard by point buy; rogue with rolled scores given.
        (
            {
                "character_class": "cleric",
                "race": "dwarf",
                "subrace": "hill-dwarf",
                "level": 3,
                "background_skills": ["insight", "religion"],
            },
            None,
            None,
            "religion",
            None,
        ),
        (
            {
                "character_class": "wizard",
                "race": "high elf",
                "race_sub": True,
                "level": 5,
                "ability_method": N.ABILITY_METHOD_POINT_BUY,
                "scores": common_pb2.AbilityScores(
                    strength=8, dexterity=14, constitution=14, intelligence=15, wisdom=12, charisma=8
                ),
            },
            None,
            None,
            "arcana",
            None,
        ),
        (
            {
                "character_class": "rogue",
                "race": "halfling",
                "subrace": "lightfoot-halfling",
                "level": 6,
                "ability_method": N.ABILITY_METHOD_GIVEN,
                "scores": common_pb2.AbilityScores(
                    strength=9, dexterity=18, constitution=13, intelligence=11, wisdom=12, charisma=10
                ),
                "equipment": ["leather-armor", "rapier"],
                "background_skills": ["deception", "insight"],
            },
            None,
            None,
            "stealth",
            None,
        ),
    ],
)
async def test_builds_sheets_from_choices(
    npc_stub: npc_pb2_grpc.NpcServiceStub,
    fields: dict[str, Any],
    hp: int | None,
    ac: int | None,
    skill: str,
    modifier: int | None,
) -> None:
    fields = dict(fields)
    if fields.pop("race_sub", False):
        fields["race"], fields["subrace"] = "elf", "high-elf"
    reply = await npc_stub.BuildCharacter(N.BuildCharacterRequest(name="Hero", **fields))
    sheet = _sheet(reply)  # the JSON is exactly what the rules build from its own choices
    expected = build_sheet(CharacterChoices.from_json(sheet.choices.to_json()))
    assert sheet.to_json() == expected.to_json()
    got = reply.sheet
    assert (got.character_class, got.level, got.name) == (
        fields["character_class"].lower(),
        fields["level"],
        "Hero",
    )
    assert got.max_hit_points == sheet.hp_max and got.proficiency_bonus == 2 + (fields["level"] - 1) // 4
    assert len(got.skills) == 18 and len(got.saving_throws) == 6
    by_skill = {s.skill: s for s in got.skills}
    assert by_skill[skill].modifier == sheet.skills[skill].modifier
    if hp is not None:
        assert got.max_hit_points == hp
    if ac is not None:
        assert got.armor_class == ac
    if modifier is not None:
        assert by_skill[skill].modifier == modifier
    if fields.get("scores"):
        s = fields["scores"]
        assert sheet.choices.base_scores == {
            "str": s.strength,
            "dex": s.dexterity,
            "con": s.constitution,
            "int": s.intelligence,
            "wis": s.wisdom,
            "cha": s.charisma,
        }
    assert (reply.live.hit_points, reply.live.hit_dice_left) == (sheet.hp_max, sheet.level)
    assert not reply.character_id


async def test_pregenerated_heroes_for_every_class(npc_stub: npc_pb2_grpc.NpcServiceStub) -> None:
    for class_index in CLASSES:
        reply = await npc_stub.BuildCharacter(
            N.BuildCharacterRequest(character_class=class_index, level=5, pregenerated=True)
        )
        assert _sheet(reply).to_json() == pregenerated(class_index, 5).to_json()
        assert reply.sheet.name and reply.sheet.level == 5 and reply.sheet.attacks
        casters = {"bard", "cleric", "druid", "sorcerer", "warlock", "wizard", "paladin", "ranger"}
        assert reply.sheet.HasField("spellcasting") == (class_index in casters)
    named = await npc_stub.BuildCharacter(
        N.BuildCharacterRequest(
            character_class="rogue", level=11, pregenerated=True, name="Nim", race="gnome"
        )
    )
    assert (named.sheet.name, named.sheet.race) == ("Nim", "gnome")
    assert {c.name: c.value for c in named.sheet.class_numbers}["sneak_attack"] == "6d6"


BASE = {"name": "Hero", "character_class": "fighter", "race": "human", "level": 3}


@pytest.mark.parametrize(
    ("fields", "field", "listed"),
    [
        ({"character_class": "necromancer"}, "character_class", "wizard"),
        ({"race": "orc"}, "race", "half-orc"),
        ({"race": "dwarf", "subrace": "deep-dwarf"}, "subrace", "hill-dwarf"),
        ({"background_skills": ["flying", "stealth"]}, "background_skills[0]", "acrobatics"),
        ({"class_skills": ["arcana", "athletics"]}, "class_skills[0]", "intimidation"),
        ({"level": 0}, "level", "1 and 20"),
        ({"level": 21}, "level", "1 and 20"),
        (
            {
                "ability_method": N.ABILITY_METHOD_GIVEN,
                "scores": common_pb2.AbilityScores(
                    strength=20, dexterity=10, constitution=10, intelligence=10, wisdom=10, charisma=10
                ),
            },
            "scores.strength",
            "3..20",
        ),
        (
            {
                "ability_method": N.ABILITY_METHOD_GIVEN,
                "scores": common_pb2.AbilityScores(
                    strength=1, dexterity=10, constitution=10, intelligence=10, wisdom=10, charisma=10
                ),
            },
            "scores.strength",
            "3..20",
        ),
        (
            {
                "ability_method": N.ABILITY_METHOD_POINT_BUY,
                "scores": common_pb2.AbilityScores(
                    strength=15, dexterity=15, constitution=15, intelligence=15, wisdom=8, charisma=8
                ),
            },
            "scores",
            "27",
        ),
        ({"ability_method": 9}, "ability_method", "AbilityMethod"),
        ({"equipment": ["lightsaber"]}, "equipment[0]", "SRD"),
        ({"subclass": "battle-master"}, "subclass", "champion"),
        ({"name": ""}, "name", "empty"),
        ({"save": True}, "campaign_id", "required"),
        ({"pregenerated": True, "character_class": "jester"}, "character_class", "bard"),
    ],
)
async def test_bad_choices_name_the_field_and_the_valid_values(
    npc_stub: npc_pb2_grpc.NpcServiceStub, fields: dict[str, Any], field: str, listed: str
) -> None:
    call = npc_stub.BuildCharacter(N.BuildCharacterRequest(**{**BASE, **fields}))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = await rpc_status.aio.from_call(call)
    bad = [d for d in unpack_details(status) if isinstance(d, error_details_pb2.BadRequest)]
    described = [v.description for v in bad[0].field_violations if v.field == field]
    assert described, [v.field for v in bad[0].field_violations]
    assert any(listed in d for d in described), described


async def test_saved_character_is_stored_with_its_sheet_and_a_rested_state(
    make_memory: MemoryFactory,  # noqa: F811 - the fixture
) -> None:
    async with serving(make_memory()) as (memory_srv, memory):
        world = await memory.CreateWorld(memory_pb2.CreateWorldRequest(slug="w", name="W"))
        campaign = (
            await memory.CreateCampaign(memory_pb2.CreateCampaignRequest(world_id=world.world.id, name="C"))
        ).campaign
        settings = npc_settings(memory_addr=memory_srv.address)
        async with start_server(build_spec(settings), settings, port=0) as npc_srv:
            async with grpc.aio.insecure_channel(npc_srv.address) as channel:
                npcs = npc_pb2_grpc.NpcServiceStub(channel)
                reply = await npcs.BuildCharacter(
                    N.BuildCharacterRequest(
                        campaign_id=campaign.id,
                        character_class="paladin",
                        level=2,
                        pregenerated=True,
                        save=True,
                        description="A knight of the salt roads.",
                    )
                )
                assert reply.character_id
                for fields in (
                    {"level": 21},
                    {"level": 0},
                    {"character_class": "necromancer"},
                    {"race": "orc"},
                    {"background_skills": ["flying"]},
                    {
                        "ability_method": N.ABILITY_METHOD_POINT_BUY,
                        "scores": common_pb2.AbilityScores(
                            strength=15, dexterity=15, constitution=15, intelligence=15, wisdom=8, charisma=8
                        ),
                    },
                    {
                        "ability_method": N.ABILITY_METHOD_GIVEN,
                        "scores": common_pb2.AbilityScores(
                            strength=1, dexterity=10, constitution=10, intelligence=10, wisdom=10, charisma=10
                        ),
                    },
                ):
                    request = N.BuildCharacterRequest(
                        **{**BASE, "campaign_id": campaign.id, "save": True, **fields}
                    )
                    with pytest.raises(grpc.aio.AioRpcError) as err:
                        await npcs.BuildCharacter(request)
                    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
                missing = N.BuildCharacterRequest(**{**BASE, "campaign_id": "999999", "save": True})
                with pytest.raises(grpc.aio.AioRpcError) as err:
                    await npcs.BuildCharacter(missing)
                assert err.value.code() == grpc.StatusCode.NOT_FOUND
        stored = await memory.GetCharacter(
            memory_pb2.GetCharacterRequest(character_id=reply.character_id, campaign_id=campaign.id)
        )
        assert stored.character.sheet_json == reply.sheet.sheet_json
        assert (stored.character.character_class, stored.character.level, stored.character.is_npc) == (
            "paladin",
            2,
            False,
        )
        assert stored.character.description == "A knight of the salt roads."
        state = await memory.GetCharacterState(
            memory_pb2.GetCharacterStateRequest(character_id=reply.character_id)
        )
        assert (state.state.hit_points, state.state.hit_dice_left, state.state.xp) == (
            reply.sheet.max_hit_points,
            2,
            300,
        )
        listed = await memory.ListCharacters(memory_pb2.ListCharactersRequest(campaign_id=campaign.id))
        assert [c.id for c in listed.characters] == [reply.character_id]  # the refused builds stored nothing
