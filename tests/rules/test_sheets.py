"""Character sheets: every class at levels 1, 5, 11 and 20 against the SRD's own level tables, a hand-checked
table from the Player's Handbook rules, derived numbers (AC, attacks, HP) and every kind of bad choice."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import pytest

from mesh.errors import InvalidArgument
from rules.classes import load_character_data
from rules.dice import average
from rules.sheets import (
    UNLIMITED,
    CharacterChoices,
    CharacterSheet,
    build_sheet,
    cantrip_damage,
    pregenerated,
    with_level,
)
from rules.srd import load_srd, srd_path

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
LEVELS = (1, 5, 11, 20)
#: Standard array as the tests assign it: Con 14 (15 with the human's +1, a +2 modifier).
ARRAY = {"str": 15, "dex": 13, "con": 14, "int": 12, "wis": 10, "cha": 8}


def _srd_row(table: str, index: str) -> dict[str, Any]:
    """Read one record straight from the SRD file (not through the code under test)."""
    con = sqlite3.connect(f"file:{srd_path()}?mode=ro", uri=True)
    try:
        (data,) = con.execute(f'SELECT data FROM "{table}" WHERE "index" = ?', (index,)).fetchone()
    finally:
        con.close()
    return dict(json.loads(data))


def _human(class_index: str, level: int, **kw: Any) -> CharacterSheet:
    return build_sheet(
        CharacterChoices(
            name="Test",
            class_index=class_index,
            race_index="human",
            level=level,
            base_scores=kw.pop("base_scores", ARRAY),
            ability_increases=kw.pop("ability_increases", {}),
            **kw,
        )
    )


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("class_index", CLASSES)
def test_every_class_matches_the_srd_level_table(class_index: str, level: int) -> None:
    sheet = _human(class_index, level)
    cls = _srd_row("classes", class_index)
    row = _srd_row("levels", f"{class_index}-{level}")
    # HP: max hit die at level 1, then die/2 + 1 per level, each plus Con (15 -> +2; 19 -> +4 with Primal Champion).
    con_mod = 4 if (class_index, level) == ("barbarian", 20) else 2
    die = int(cls["hit_die"])
    assert sheet.hp_max == die + con_mod + (level - 1) * (die // 2 + 1 + con_mod)
    assert sheet.hit_die == die and sheet.hit_dice_total == level
    assert sheet.proficiency_bonus == row["prof_bonus"]
    assert {a for a, s in sheet.saving_throws.items() if s.proficient} == {
        s["index"] for s in cls["saving_throws"]
    }
    for ability, save in sheet.saving_throws.items():
        assert save.modifier == sheet.ability_modifiers[ability] + (
            row["prof_bonus"] if save.proficient else 0
        )
    spell = row.get("spellcasting") or {}
    expected_slots = [int(spell.get(f"spell_slots_level_{n}", 0)) for n in range(1, 10)]
    got_slots = list(sheet.spellcasting.slots) if sheet.spellcasting else [0] * 9
    assert got_slots == expected_slots
    if sheet.spellcasting:
        assert sheet.spellcasting.ability == cls["spellcasting"]["spellcasting_ability"]["index"]
        assert sheet.spellcasting.cantrips_known == spell.get("cantrips_known", 0)
    for key, value in (row.get("class_specific") or {}).items():
        if isinstance(value, dict):
            value = f"{value['dice_count']}d{value['dice_value']}"
        elif isinstance(value, list):
            continue  # tables (sorcery point costs) are not per-character numbers
        assert sheet.class_numbers[key] == value, key
    # The feature list names every class feature the SRD grants up to this level.
    for lv in range(1, level + 1):
        for feature in _srd_row("levels", f"{class_index}-{lv}").get("features", []):
            assert feature["name"] in sheet.features


def test_fighter_5_by_the_players_handbook() -> None:
    sheet = _human(
        "fighter", 5, ability_increases={"str": 2}, equipment=("chain-mail", "longsword", "shield", "longbow")
    )
    # Str 15 + 1 (human) + 2 (ASI at 4) = 18; Dex 14; Con 15.
    assert sheet.ability_scores["str"] == 18 and sheet.ability_modifiers["str"] == 4
    assert sheet.hp_max == 44  # 10 + 2, then 4 x (6 + 2)
    assert sheet.proficiency_bonus == 3
    assert sheet.extra_attacks == 1 and sheet.attacks_per_action == 2
    assert sheet.class_numbers["action_surges"] == 1 and sheet.class_numbers["second_wind_uses"] == 1
    assert {"Second Wind", "Action Surge (1 use)", "Extra Attack"} <= set(sheet.features)
    assert (
        sheet.armor_class == 18 and sheet.ac_source == "chain mail, shield"
    )  # 16 + 2, no Dex in heavy armour
    assert sheet.stealth_disadvantage
    longsword = next(a for a in sheet.attacks if a.index == "longsword")
    assert (longsword.attack_bonus, longsword.damage, longsword.two_handed_damage) == (7, "1d8+4", "1d10+4")
    longbow = next(a for a in sheet.attacks if a.index == "longbow")
    assert (longbow.ability, longbow.attack_bonus, longbow.damage) == ("dex", 5, "1d8+2")
    assert (longbow.normal_range, longbow.long_range) == (150, 600)
    assert "ammunition" in longbow.properties and "two-handed" in longbow.properties
    assert sheet.saving_throws["str"].modifier == 7 and sheet.saving_throws["dex"].modifier == 2
    assert sheet.spellcasting is None


def test_wizard_11_by_the_players_handbook() -> None:
    sheet = _human("wizard", 11, ability_increases={"int": 4})  # Int 12 + 1 + 4 = 17 -> +3
    assert sheet.spellcasting is not None
    assert sheet.spellcasting.slots == (4, 3, 3, 3, 2, 1, 0, 0, 0)
    assert sheet.proficiency_bonus == 4
    assert (sheet.spellcasting.save_dc, sheet.spellcasting.attack_bonus) == (15, 7)  # 8 + 4 + 3; 4 + 3
    assert sheet.hp_max == 68  # 6 + 2, then 10 x (4 + 2)
    assert sheet.class_numbers["arcane_recovery_levels"] == 6
    assert sheet.armor_class == 12  # 10 + Dex 14
    assert cantrip_damage("1d10", 11) == "3d10"  # fire bolt at 11th level


def test_rogue_11_by_the_players_handbook() -> None:
    sheet = _human(
        "rogue",
        11,
        ability_increases={"str": 0, "dex": 6},  # Dex 13 + 1 + 6 = 20
        class_skills=("stealth", "perception", "investigation", "acrobatics"),
        expertise=("stealth", "perception", "investigation", "acrobatics"),
        equipment=("leather-armor", "rapier", "shortbow"),
    )
    assert sheet.sneak_attack_dice == "6d6"
    assert sheet.proficiency_bonus == 4
    assert sheet.skills["stealth"].modifier == 5 + 8 and sheet.skills["stealth"].expertise
    assert sheet.skills["athletics"].modifier == 3 and not sheet.skills["athletics"].proficient
    assert sheet.passive_perception == 10 + 0 + 8  # Wis 11, expertise
    assert sheet.reliable_talent and "Reliable Talent" in sheet.features
    assert sheet.armor_class == 16  # leather 11 + 5
    rapier = next(a for a in sheet.attacks if a.index == "rapier")
    assert (rapier.ability, rapier.attack_bonus, rapier.damage) == ("dex", 9, "1d8+5")  # finesse uses Dex
    assert sheet.hp_max == 8 + 2 + 10 * (5 + 2)


def test_barbarian_20_by_the_players_handbook() -> None:
    sheet = _human("barbarian", 20, ability_increases={"str": 4, "con": 5, "dex": 1})
    # Str 16 + 4 = 20, Con 15 + 5 = 20, then Primal Champion: +4 each, maximum 24.
    assert sheet.ability_scores["str"] == 24 and sheet.ability_scores["con"] == 24
    assert sheet.rage_uses == UNLIMITED and sheet.rage_damage == 4
    assert sheet.class_numbers["brutal_critical_dice"] == 3
    assert sheet.extra_attacks == 1
    assert sheet.proficiency_bonus == 6
    assert sheet.hp_max == 12 + 7 + 19 * (7 + 7)
    assert sheet.armor_class == 10 + 2 + 7 and sheet.ac_source == "unarmored defense"  # Dex 15, Con 24
    assert sheet.speed == 40  # Fast Movement


def test_bard_jack_of_all_trades_from_level_2() -> None:
    one, two = _human("bard", 1), _human("bard", 2)
    assert not one.jack_of_all_trades and two.jack_of_all_trades
    unskilled = next(s for s, e in two.skills.items() if not e.proficient)
    assert two.skills[unskilled].modifier == two.ability_modifiers[two.skills[unskilled].ability] + 1
    assert one.skills[unskilled].modifier == one.ability_modifiers[one.skills[unskilled].ability]
    assert two.class_numbers["bardic_inspiration_die"] == 6


def test_monk_unarmored_defense_martial_arts_and_speed() -> None:
    sheet = _human("monk", 5, base_scores={"str": 8, "dex": 15, "con": 13, "int": 10, "wis": 14, "cha": 12})
    assert sheet.armor_class == 10 + 3 + 2  # Dex 16, Wis 15
    assert sheet.speed == 40 and sheet.ki_points == 5
    unarmed = next(a for a in sheet.attacks if a.index == "unarmed-strike")
    assert (unarmed.ability, unarmed.damage) == ("dex", "1d6+3")
    shielded = _human("monk", 5, equipment=("shield",))
    assert shielded.speed == 40  # monks have no shield proficiency: it is carried, not worn


def test_medium_armour_caps_dex_and_shield_adds() -> None:
    sheet = _human(
        "cleric", 1, base_scores={"str": 8, "dex": 15, "con": 13, "int": 10, "wis": 14, "cha": 12},
        equipment=("scale-mail", "shield", "mace"),
    )  # fmt: skip
    assert sheet.armor_class == 14 + 2 + 2  # Dex +3 capped at +2
    assert sheet.spellcasting is not None and sheet.spellcasting.save_dc == 8 + 2 + 2


def test_unproficient_armour_is_not_worn_and_unproficient_weapon_has_no_bonus() -> None:
    sheet = _human("wizard", 1, equipment=("plate-armor", "longsword", "dagger"))
    assert sheet.ac_source == "unarmored" and sheet.armor_class == 12  # 10 + Dex 14
    longsword = next(a for a in sheet.attacks if a.index == "longsword")
    assert not longsword.proficient and longsword.attack_bonus == sheet.ability_modifiers["str"]
    dagger = next(a for a in sheet.attacks if a.index == "dagger")
    assert dagger.proficient and dagger.normal_range == 20 and dagger.long_range == 60  # thrown


def test_races_subraces_and_half_elf_choices() -> None:
    dwarf = build_sheet(
        CharacterChoices("D", "fighter", "dwarf", "hill-dwarf", level=3, ability_increases={})
    )
    human = build_sheet(CharacterChoices("H", "fighter", "human", level=3, ability_increases={}))
    assert dwarf.speed == 25 and dwarf.size == "Medium" and "Dwarven Toughness" in dwarf.features
    assert dwarf.ability_scores["wis"] == human.ability_scores["wis"]  # +1 Wis (hill) vs +1 all (human)
    elf = build_sheet(CharacterChoices("E", "wizard", "elf", "high-elf"))
    assert elf.skills["perception"].proficient  # Keen Senses
    assert "elvish" in elf.languages
    half = build_sheet(
        CharacterChoices(
            "He", "bard", "half-elf", racial_bonus_choices=("dex", "con"), racial_skills=("stealth", "arcana")
        )
    )
    assert half.ability_scores["cha"] == 17 and half.skills["arcana"].proficient
    assert half.ability_scores["dex"] == 15  # 14 by the bard's priorities, +1


def test_rolled_hp_is_seeded_and_bounded() -> None:
    def rolled(seed: int) -> CharacterSheet:
        return _human("fighter", 10, hp_method="rolled", seed=seed)

    a, b = rolled(7), rolled(7)
    assert a.hp_rolls == b.hp_rolls and a.hp_max == b.hp_max and len(a.hp_rolls) == 9
    assert all(1 <= r <= 10 for r in a.hp_rolls)
    assert a.hp_max == 12 + sum(r + 2 for r in a.hp_rolls)
    assert len({rolled(s).hp_rolls for s in range(5)}) > 1


def test_cantrip_scaling_matches_the_srd_spell() -> None:
    fire_bolt = load_srd().spell_damage["fire bolt"]
    for level in (1, 4, 5, 10, 11, 16, 17, 20):
        assert cantrip_damage("1d10", level) == fire_bolt.dice_at(caster_level=level)


@pytest.mark.parametrize("class_index", CLASSES)
def test_sheet_json_round_trips_exactly(class_index: str) -> None:
    for level in LEVELS:
        sheet = pregenerated(class_index, level)
        text = json.dumps(sheet.to_json())
        again = CharacterSheet.from_json(json.loads(text))
        assert again == sheet and again.to_json() == sheet.to_json()
        for attack in sheet.attacks:  # every damage string is plain notation the dice module can average
            assert average(attack.damage) >= 0


def test_pregenerated_heroes_are_sensible() -> None:
    data = load_character_data()
    for class_index in CLASSES:
        sheet = pregenerated(class_index, 1)
        primary = max(sheet.ability_scores, key=lambda a: sheet.ability_scores[a])
        assert sheet.ability_scores[primary] >= 15
        assert sum(e.proficient for e in sheet.skills.values()) >= data.classes[class_index].skill_count + 2
        assert any(a.index != "unarmed-strike" for a in sheet.attacks)
    assert pregenerated("wizard", 3, race_index="elf").subrace_index == "high-elf"
    assert pregenerated("rogue", 1, name="Nim").name == "Nim"


def test_level_up_rebuilds_from_the_same_choices() -> None:
    sheet = pregenerated("cleric", 4)
    up = with_level(sheet, 5)
    assert up.level == 5 and up.hp_max > sheet.hp_max and up.proficiency_bonus == 3
    assert up.choices.name == sheet.choices.name


# ---- bad input ---------------------------------------------------------------------------------------------


def _fields(exc: pytest.ExceptionInfo[InvalidArgument]) -> dict[str, str]:
    return dict(exc.value.violations)


def _bad(**kw: Any) -> dict[str, str]:
    base: dict[str, Any] = {"name": "X", "class_index": "fighter", "race_index": "human"}
    base.update(kw)
    with pytest.raises(InvalidArgument) as exc:
        build_sheet(CharacterChoices(**base))
    return _fields(exc)


def test_unknown_class_race_subrace_are_named_with_valid_values() -> None:
    bad = _bad(class_index="wizzard")
    assert "unknown class 'wizzard'" in bad["class_index"] and "barbarian, bard" in bad["class_index"]
    assert "dwarf" in _bad(race_index="orc")["race_index"]
    assert "high-elf" in _bad(race_index="elf", subrace_index="wood-elf")["subrace_index"]
    assert "champion" in _bad(subclass_index="battle-master")["subclass_index"]
    both = _bad(class_index="x", race_index="y")
    assert {"class_index", "race_index"} <= set(both)


@pytest.mark.parametrize("level", [0, 21, -3])
def test_level_outside_1_to_20(level: int) -> None:
    assert "between 1 and 20" in _bad(level=level)["level"]


def test_ability_scores_are_checked_by_method() -> None:
    assert "standard array" in _bad(base_scores={**ARRAY, "str": 16})["base_scores"]
    assert "six abilities" in _bad(base_scores={"str": 15})["base_scores"]
    over = {"str": 15, "dex": 15, "con": 15, "int": 15, "wis": 8, "cha": 8}  # 36 points
    assert "36 points" in _bad(ability_method="point_buy", base_scores=over)["base_scores"]
    legal = {"str": 15, "dex": 15, "con": 15, "int": 8, "wis": 8, "cha": 8}  # 27 points
    assert build_sheet(
        CharacterChoices("P", "fighter", "human", ability_method="point_buy", base_scores=legal)
    )
    assert "base_scores.str" in _bad(ability_method="point_buy", base_scores={**legal, "str": 16})
    elf_given = {"str": 10, "dex": 19, "con": 10, "int": 10, "wis": 10, "cha": 10}  # 21 with the elf's +2
    bad = _bad(race_index="elf", ability_method="given", base_scores=elf_given)
    assert "after racial bonuses (got 21)" in bad["base_scores.dex"]
    low = {**elf_given, "dex": 10, "cha": 2}
    assert "base_scores.cha" in _bad(ability_method="given", base_scores=low, race_index="elf")
    assert "ability_method" in _bad(ability_method="roll_4d6")
    assert "ability_increases" in _bad(level=4, ability_increases={"str": 4})
    assert "ability_increases.str" in _bad(
        level=8, ability_method="given", base_scores={**ARRAY, "str": 19}, ability_increases={"str": 4}
    )


def test_skills_equipment_and_json_are_checked() -> None:
    assert "valid: acrobatics" in _bad(background_skills=("basket-weaving",))["background_skills[0]"]
    assert "not a Fighter skill" in _bad(class_skills=("arcana", "athletics"))["class_skills[0]"]
    assert "chooses 2 skills" in _bad(class_skills=("athletics",))["class_skills"]
    assert "needs proficiency" in _bad(class_index="rogue", expertise=("arcana",))["expertise[0]"]
    assert "expertise" in _bad(expertise=("athletics",))
    assert "equipment[1]" in _bad(equipment=("longsword", "lightsaber"))
    assert "hp_method" in _bad(hp_method="max")
    assert "name" in _bad(name="  ")
    assert "racial_bonus_choices" in _bad(racial_bonus_choices=("str", "dex"))

    good = pregenerated("fighter", 3).to_json()
    with pytest.raises(InvalidArgument) as exc:
        CharacterSheet.from_json({**good, "hp_max": good["hp_max"] + 10})
    assert "hp_max" in _fields(exc)
    with pytest.raises(InvalidArgument) as exc:
        CharacterSheet.from_json({**good, "flying": True})
    assert _fields(exc)["flying"] == "unknown field"
    with pytest.raises(InvalidArgument) as exc:
        CharacterSheet.from_json({**good, "choices": {**good["choices"], "level": "three"}})
    assert "choices.level" in _fields(exc)
    with pytest.raises(InvalidArgument) as exc:
        CharacterSheet.from_json({**good, "choices": {**good["choices"], "level": 21}})
    assert "level" in _fields(exc)
