"""Player characters and checks between the rules engine's values and the contract's messages.

Shared by every service that speaks about characters (npc builds sheets, encounter resolves checks, the
gateway shows them), so a sheet, a live state or a roll has one proto form. Pure mapping: no I/O, no grpc.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from dungeonmaster.v1 import common_pb2
from mesh.errors import InvalidArgument
from rules.checks import DIFFICULTY_DC
from rules.classes import ABILITIES
from rules.live_state import LiveState
from rules.sheets import CharacterSheet

#: "str".."cha" -> Ability enum value, and back.
ABILITY_ENUM: Mapping[str, common_pb2.Ability.ValueType] = {
    "str": common_pb2.ABILITY_STRENGTH,
    "dex": common_pb2.ABILITY_DEXTERITY,
    "con": common_pb2.ABILITY_CONSTITUTION,
    "int": common_pb2.ABILITY_INTELLIGENCE,
    "wis": common_pb2.ABILITY_WISDOM,
    "cha": common_pb2.ABILITY_CHARISMA,
}
ABILITY_OF_ENUM: Mapping[common_pb2.Ability.ValueType, str] = {v: k for k, v in ABILITY_ENUM.items()}
#: CheckKind enum value -> rules.checks kind, and back.
CHECK_KINDS: Mapping[common_pb2.CheckKind.ValueType, str] = {
    common_pb2.CHECK_KIND_ABILITY: "ability",
    common_pb2.CHECK_KIND_SKILL: "skill",
    common_pb2.CHECK_KIND_SAVE: "save",
}
CHECK_KIND_ENUM: Mapping[str, common_pb2.CheckKind.ValueType] = {v: k for k, v in CHECK_KINDS.items()}
#: CheckDifficulty enum value -> rules.checks difficulty name (DC from ``DIFFICULTY_DC``).
DIFFICULTIES: Mapping[common_pb2.CheckDifficulty.ValueType, str] = {
    common_pb2.CHECK_DIFFICULTY_VERY_EASY: "very_easy",
    common_pb2.CHECK_DIFFICULTY_EASY: "easy",
    common_pb2.CHECK_DIFFICULTY_MEDIUM: "medium",
    common_pb2.CHECK_DIFFICULTY_HARD: "hard",
    common_pb2.CHECK_DIFFICULTY_VERY_HARD: "very_hard",
    common_pb2.CHECK_DIFFICULTY_NEARLY_IMPOSSIBLE: "nearly_impossible",
}
assert set(DIFFICULTIES.values()) == set(DIFFICULTY_DC)
ROLL_MODES: Mapping[str, common_pb2.RollMode.ValueType] = {
    "normal": common_pb2.ROLL_MODE_NORMAL,
    "advantage": common_pb2.ROLL_MODE_ADVANTAGE,
    "disadvantage": common_pb2.ROLL_MODE_DISADVANTAGE,
}
DEGREES: Mapping[str, common_pb2.CheckDegree.ValueType] = {
    "critical": common_pb2.CHECK_DEGREE_CRITICAL,
    "success": common_pb2.CHECK_DEGREE_SUCCESS,
    "failure": common_pb2.CHECK_DEGREE_FAILURE,
    "fumble": common_pb2.CHECK_DEGREE_FUMBLE,
}


def ability_name(value: common_pb2.Ability.ValueType, field: str) -> str:
    """The rules' short ability name of an Ability enum value; InvalidArgument naming ``field``."""
    try:
        return ABILITY_OF_ENUM[value]
    except KeyError:
        valid = ", ".join(common_pb2.Ability.Name(ABILITY_ENUM[a]) for a in ABILITIES)
        raise InvalidArgument([(field, f"give an ability; valid: {valid}")]) from None


def _class_number_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def sheet_pb(sheet: CharacterSheet) -> common_pb2.CharacterSheet:
    """The proto form of a sheet, with its JSON (what memory stores) in ``sheet_json``."""
    scores = sheet.ability_scores
    spell = sheet.spellcasting
    return common_pb2.CharacterSheet(
        name=sheet.name,
        character_class=sheet.class_index,
        subclass=sheet.subclass_index or "",
        race=sheet.race_index,
        subrace=sheet.subrace_index or "",
        level=sheet.level,
        hit_die=sheet.hit_die,
        max_hit_points=sheet.hp_max,
        proficiency_bonus=sheet.proficiency_bonus,
        ability_scores=common_pb2.AbilityScores(
            strength=scores["str"],
            dexterity=scores["dex"],
            constitution=scores["con"],
            intelligence=scores["int"],
            wisdom=scores["wis"],
            charisma=scores["cha"],
        ),
        saving_throws=[
            common_pb2.CharacterSave(ability=ABILITY_ENUM[a], modifier=s.modifier, proficient=s.proficient)
            for a, s in sheet.saving_throws.items()
        ],
        skills=[
            common_pb2.CharacterSkill(
                skill=name,
                ability=ABILITY_ENUM[s.ability],
                modifier=s.modifier,
                proficient=s.proficient,
                expertise=s.expertise,
            )
            for name, s in sheet.skills.items()
        ],
        passive_perception=sheet.passive_perception,
        armor_class=sheet.armor_class,
        armor_description=sheet.ac_source,
        stealth_disadvantage=sheet.stealth_disadvantage,
        attacks=[
            common_pb2.CharacterAttack(
                index=a.index,
                name=a.name,
                ability=ABILITY_ENUM.get(a.ability, common_pb2.ABILITY_UNSPECIFIED),
                attack_bonus=a.attack_bonus,
                damage=a.damage,
                damage_type=a.damage_type,
                two_handed_damage=a.two_handed_damage or "",
                properties=list(a.properties),
                ranged=a.ranged,
                normal_range=a.normal_range,
                long_range=a.long_range,
                proficient=a.proficient,
            )
            for a in sheet.attacks
        ],
        spellcasting=None
        if spell is None
        else common_pb2.CharacterSpellcasting(
            ability=ABILITY_ENUM[spell.ability],
            save_dc=spell.save_dc,
            attack_bonus=spell.attack_bonus,
            slots=list(spell.slots),
            cantrips_known=spell.cantrips_known,
            spells_known=spell.spells_known,
            pact_magic=spell.pact_magic,
        ),
        class_numbers=[
            common_pb2.ClassNumberValue(name=k, value=_class_number_text(v))
            for k, v in sheet.class_numbers.items()
        ],
        speed=sheet.speed,
        size=sheet.size,
        languages=list(sheet.languages),
        features=list(sheet.features),
        proficiencies=list(sheet.proficiencies),
        equipment=list(sheet.equipment),
        sheet_json=json.dumps(sheet.to_json(), sort_keys=True, separators=(",", ":")),
    )


def live_pb(state: LiveState) -> common_pb2.CharacterLive:
    """The proto form of a live state."""
    return common_pb2.CharacterLive(
        hit_points=state.hp,
        temporary_hit_points=state.temp_hp,
        hit_dice_left=state.hit_dice,
        slots_used=list(state.slots_used),
        resources_used=dict(state.resources_used),
        conditions=list(state.conditions),
        exhaustion=state.exhaustion,
        xp=state.xp,
        death_successes=state.death_successes,
        death_failures=state.death_failures,
        stable=state.stable,
        dead=state.dead,
    )


def check_result_pb(
    result: Mapping[str, Any], character_id: str = "", character_name: str = ""
) -> common_pb2.CheckResult:
    """A roll in its JSON form (``rules.checks.CheckResult.to_json``, as the campaign log keeps it) as proto."""
    kind = str(result["kind"])
    ability = str(result["ability"])
    kept = int(result["kept"])
    rolls = [int(r) for r in result["rolls"]]
    return common_pb2.CheckResult(
        kind=CHECK_KIND_ENUM.get(kind, common_pb2.CHECK_KIND_UNSPECIFIED),
        skill=str(result["what"]) if kind == "skill" else "",
        ability=ABILITY_ENUM.get(ability, common_pb2.ABILITY_UNSPECIFIED),
        dc=int(result["dc"] or 0),
        rolls=rolls,
        natural=int(result["natural"]),
        kept=kept,
        modifiers=[
            common_pb2.ModifierPart(source=str(m["name"]), value=int(m["value"])) for m in result["modifiers"]
        ],
        modifier=sum(int(m["value"]) for m in result["modifiers"]),
        total=int(result["total"]),
        success=bool(result["success"]),
        margin=int(result["margin"]),
        degree=DEGREES.get(str(result["degree"]), common_pb2.CHECK_DEGREE_UNSPECIFIED),
        mode=ROLL_MODES.get(str(result["mode"]), common_pb2.ROLL_MODE_UNSPECIFIED),
        natural_20=bool(rolls) and int(result["natural"]) == 20,
        natural_1=bool(rolls) and int(result["natural"]) == 1,
        auto_fail=str(result.get("auto_fail") or ""),
        notes=[str(n) for n in result.get("notes", [])],
        seed=int(result.get("seed") or 0),
        character_id=character_id,
        character_name=character_name,
    )
