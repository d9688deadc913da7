"""SRD 5.1 character data: classes and their level tables, races, subraces, equipment, skills, conditions.

Read from the same 5e-bits SQLite file as the bestiary (:func:`rules.srd.srd_path`, read-only), mapped once per
process and path into immutable objects (about 1,100 small JSON rows, a few milliseconds), so building a sheet
never touches the file. The level table rows are the SRD's own: ``class_specific`` numbers (rage count, sneak
attack dice, ki points...) are kept as the file has them, with dice objects flattened to ``"6d6"`` strings.

Data quirk handled here rather than trusted: the file's ``ability_score_bonuses`` for rogue levels 11-20 runs
one behind (2 at level 11 after 3 at level 10), so improvements are counted from the level features instead.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from mesh.errors import InvalidArgument
from rules.srd import srd_path

#: The six abilities in sheet order.
ABILITIES: tuple[str, ...] = ("str", "dex", "con", "int", "wis", "cha")
ABILITY_NAMES: Mapping[str, str] = {
    "str": "strength",
    "dex": "dexterity",
    "con": "constitution",
    "int": "intelligence",
    "wis": "wisdom",
    "cha": "charisma",
}
#: A class-specific number: the SRD's ints, floats (wild shape CR) and booleans, dice as ``"NdM"``.
ClassNumber = int | float | bool | str


@dataclass(frozen=True, slots=True)
class ClassLevel:
    """One row of a class's level table (the SRD's ``levels`` record for ``<class>-<level>``)."""

    class_index: str
    level: int
    prof_bonus: int
    ability_score_bonuses: int  # the file's count of improvements so far (wrong for rogue 11-20)
    ability_score_improvements: int  # counted from the "...-ability-score-improvement-N" features instead
    features: tuple[str, ...]  # feature indexes gained at this level
    class_specific: Mapping[str, ClassNumber]
    spell_slots: tuple[int, ...]  # slots for spell levels 1..9 (zeros beyond the class's table)
    cantrips_known: int
    spells_known: int


@dataclass(frozen=True, slots=True)
class CharacterClass:
    """One SRD class: hit die, saving throws, skill choices, proficiencies, spellcasting ability."""

    index: str
    name: str
    hit_die: int
    saving_throws: tuple[str, ...]
    skill_choices: tuple[str, ...]  # skill indexes (without the ``skill-`` prefix)
    skill_count: int
    proficiencies: tuple[str, ...]  # armour/weapon/tool proficiency indexes
    spellcasting_ability: str | None
    subclasses: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Subclass:
    """An SRD subclass (one per class) and its feature indexes by level."""

    index: str
    name: str
    class_index: str
    features: Mapping[int, tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class Race:
    """An SRD race: fixed ability bonuses, optional free bonuses (half-elf), speed, size, traits."""

    index: str
    name: str
    speed: int
    size: str
    ability_bonuses: Mapping[str, int]
    bonus_choices: int  # how many +1s the player places freely (half-elf: 2)
    bonus_options: tuple[str, ...]
    traits: tuple[str, ...]
    languages: tuple[str, ...]
    subraces: tuple[str, ...]
    skill_proficiencies: tuple[str, ...]  # from traits (elf: perception, half-orc: intimidation)
    skill_choice_count: int  # free skills from traits (half-elf Skill Versatility: 2)
    proficiencies: tuple[str, ...]  # weapon/tool proficiencies from traits


@dataclass(frozen=True, slots=True)
class Subrace:
    index: str
    name: str
    race: str
    ability_bonuses: Mapping[str, int]
    traits: tuple[str, ...]
    proficiencies: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Weapon:
    """An SRD weapon. ``ranged`` is the weapon's category (bows, crossbows), not whether it can be thrown."""

    index: str
    name: str
    category: str  # "simple" | "martial"
    ranged: bool
    damage_dice: str
    damage_type: str
    two_handed_dice: str | None  # versatile weapons
    properties: tuple[str, ...]  # finesse, light, thrown, two-handed, versatile, ammunition, heavy, reach...
    normal_range: int
    long_range: int
    throw_normal: int
    throw_long: int


@dataclass(frozen=True, slots=True)
class Armor:
    """An SRD armour or the shield: base AC, whether Dex adds and its cap, stealth disadvantage."""

    index: str
    name: str
    category: str  # "light" | "medium" | "heavy" | "shield"
    base: int
    dex_bonus: bool
    max_dex: int | None
    stealth_disadvantage: bool
    str_minimum: int


@dataclass(frozen=True, slots=True)
class Equipment:
    """Any SRD equipment row; ``weapon``/``armor`` hold the details when it is one."""

    index: str
    name: str
    category: str
    weapon: Weapon | None = None
    armor: Armor | None = None


@dataclass(frozen=True, eq=False)  # identity hash: cached per loaded file
class CharacterData:
    """Everything a character sheet needs from the SRD, by index."""

    classes: Mapping[str, CharacterClass]
    levels: Mapping[tuple[str, int], ClassLevel]
    subclasses: Mapping[str, Subclass]
    races: Mapping[str, Race]
    subraces: Mapping[str, Subrace]
    equipment: Mapping[str, Equipment]
    skills: Mapping[str, str]  # skill index -> ability
    conditions: tuple[str, ...]
    feature_names: Mapping[str, str]
    feature_levels: Mapping[str, int]
    trait_names: Mapping[str, str]
    weapon_proficiency: Mapping[
        str, str
    ]  # weapon index -> specific proficiency index ("longsword" -> "longswords")

    def character_class(self, index: str, field: str = "class_index") -> CharacterClass:
        """The class, or InvalidArgument naming ``field`` and listing the valid classes."""
        try:
            return self.classes[index]
        except KeyError:
            raise _unknown(field, "class", index, self.classes) from None

    def level(self, class_index: str, level: int, field: str = "level") -> ClassLevel:
        row = self.levels.get((class_index, level))
        if row is None:
            raise InvalidArgument([(field, f"must be between 1 and 20 (got {level})")])
        return row

    def race(self, index: str, field: str = "race_index") -> Race:
        try:
            return self.races[index]
        except KeyError:
            raise _unknown(field, "race", index, self.races) from None

    def subrace(self, index: str, field: str = "subrace_index") -> Subrace:
        try:
            return self.subraces[index]
        except KeyError:
            raise _unknown(field, "subrace", index, self.subraces) from None

    def item(self, index: str, field: str = "equipment") -> Equipment:
        try:
            return self.equipment[index]
        except KeyError:
            raise InvalidArgument(
                [(field, f"unknown equipment {index!r}; use an SRD equipment index")]
            ) from None

    def skill_ability(self, index: str, field: str = "skill") -> str:
        try:
            return self.skills[index]
        except KeyError:
            raise _unknown(field, "skill", index, self.skills) from None


def _unknown(
    field: str, what: str, value: str, valid: Mapping[str, Any] | tuple[str, ...]
) -> InvalidArgument:
    return InvalidArgument([(field, f"unknown {what} {value!r}; valid: {', '.join(sorted(valid))}")])


def _rows(con: sqlite3.Connection, table: str) -> Iterator[dict[str, Any]]:
    for (data,) in con.execute(f'SELECT data FROM "{table}" ORDER BY "index"'):  # our table names only
        yield json.loads(data)


def _flatten(value: Any) -> ClassNumber | None:
    """SRD class_specific value -> a scalar: dice objects become "NdM"; tables (lists) are dropped."""
    if isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dict) and "dice_count" in value:
        return f"{value['dice_count']}d{value['dice_value']}"
    return None


def flatten_class_specific(raw: Mapping[str, Any]) -> dict[str, ClassNumber]:
    """The SRD's ``class_specific`` record as scalars (see :func:`_flatten`)."""
    out: dict[str, ClassNumber] = {}
    for key, value in raw.items():
        flat = _flatten(value)
        if flat is not None:
            out[key] = flat
    return out


def _map_level(d: Mapping[str, Any]) -> ClassLevel:
    spell = d.get("spellcasting") or {}
    slots = tuple(int(spell.get(f"spell_slots_level_{n}", 0)) for n in range(1, 10))
    return ClassLevel(
        class_index=d["class"]["index"],
        level=int(d["level"]),
        prof_bonus=int(d["prof_bonus"]),
        ability_score_bonuses=int(d.get("ability_score_bonuses", 0)),
        ability_score_improvements=0,  # filled in by read_character_data, which sees the earlier levels
        features=tuple(f["index"] for f in d.get("features", [])),
        class_specific=flatten_class_specific(d.get("class_specific") or {}),
        spell_slots=slots,
        cantrips_known=int(spell.get("cantrips_known", 0)),
        spells_known=int(spell.get("spells_known", 0)),
    )


def _skill_options(choices: list[Mapping[str, Any]]) -> tuple[tuple[str, ...], int]:
    for choice in choices:
        options = [o.get("item", {}).get("index", "") for o in choice["from"].get("options", [])]
        skills = tuple(o.removeprefix("skill-") for o in options if o.startswith("skill-"))
        if skills:
            return skills, int(choice["choose"])
    return (), 0


def _map_class(d: Mapping[str, Any]) -> CharacterClass:
    skills, count = _skill_options(d.get("proficiency_choices", []))
    spell = d.get("spellcasting") or {}
    return CharacterClass(
        index=d["index"],
        name=d["name"],
        hit_die=int(d["hit_die"]),
        saving_throws=tuple(s["index"] for s in d["saving_throws"]),
        skill_choices=skills,
        skill_count=count,
        proficiencies=tuple(
            p["index"] for p in d.get("proficiencies", []) if not p["index"].startswith("saving-throw-")
        ),
        spellcasting_ability=spell["spellcasting_ability"]["index"] if spell else None,
        subclasses=tuple(s["index"] for s in d.get("subclasses", [])),
    )


def _bonuses(entries: list[Mapping[str, Any]]) -> dict[str, int]:
    return {e["ability_score"]["index"]: int(e["bonus"]) for e in entries}


def _map_weapon(d: Mapping[str, Any]) -> Weapon:
    rng = d.get("range") or {}
    throw = d.get("throw_range") or {}
    dmg = d.get("damage") or {}
    two = d.get("two_handed_damage")
    return Weapon(
        index=d["index"],
        name=d["name"],
        category=str(d.get("weapon_category", "simple")).lower(),
        ranged=d.get("weapon_range") == "Ranged",
        damage_dice=str(dmg.get("damage_dice", "0")).replace(" ", ""),
        damage_type=dmg.get("damage_type", {}).get("index", ""),
        two_handed_dice=str(two["damage_dice"]).replace(" ", "") if two else None,
        properties=tuple(p["index"] for p in d.get("properties", [])),
        normal_range=int(rng.get("normal", 5)),
        long_range=int(rng.get("long", 0) or 0),
        throw_normal=int(throw.get("normal", 0) or 0),
        throw_long=int(throw.get("long", 0) or 0),
    )


def _map_armor(d: Mapping[str, Any]) -> Armor:
    ac = d["armor_class"]
    return Armor(
        index=d["index"],
        name=d["name"],
        category=str(d["armor_category"]).lower(),
        base=int(ac["base"]),
        dex_bonus=bool(ac.get("dex_bonus", False)),
        max_dex=int(ac["max_bonus"]) if ac.get("max_bonus") is not None else None,
        stealth_disadvantage=bool(d.get("stealth_disadvantage", False)),
        str_minimum=int(d.get("str_minimum", 0) or 0),
    )


def _map_equipment(d: Mapping[str, Any]) -> Equipment:
    category = d["equipment_category"]["index"]
    weapon = _map_weapon(d) if category == "weapon" and d.get("damage") else None
    armor = _map_armor(d) if category == "armor" and d.get("armor_class") else None
    return Equipment(index=d["index"], name=d["name"], category=category, weapon=weapon, armor=armor)


def read_character_data(path: Path) -> CharacterData:
    """Read and map the character tables; prefer :func:`load_character_data`, which caches."""
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        classes = {c.index: c for c in map(_map_class, _rows(con, "classes"))}
        levels: dict[tuple[str, int], ClassLevel] = {}
        sub_features: dict[str, dict[int, tuple[str, ...]]] = {}
        sub_names: dict[str, tuple[str, str]] = {}
        for row in _rows(con, "levels"):
            if "subclass" in row:
                sub = row["subclass"]
                sub_names[sub["index"]] = (sub["name"], row["class"]["index"])
                sub_features.setdefault(sub["index"], {})[int(row["level"])] = tuple(
                    f["index"] for f in row.get("features", [])
                )
            else:
                lv = _map_level(row)
                levels[(lv.class_index, lv.level)] = lv
        for (class_index, level), lv in list(levels.items()):
            asi = sum(
                f.startswith(f"{class_index}-ability-score-improvement")
                for n in range(1, level + 1)
                for f in levels[(class_index, n)].features
            )
            levels[(class_index, level)] = replace(lv, ability_score_improvements=asi)
        subclasses = {
            i: Subclass(index=i, name=n, class_index=c, features=sub_features.get(i, {}))
            for i, (n, c) in sub_names.items()
        }
        traits: dict[str, dict[str, Any]] = {t["index"]: t for t in _rows(con, "traits")}
        races: dict[str, Race] = {}
        for d in _rows(con, "races"):
            trait_ids = tuple(t["index"] for t in d.get("traits", []))
            opts = d.get("ability_bonus_options") or {}
            profs = [p["index"] for t in trait_ids for p in traits.get(t, {}).get("proficiencies", [])]
            free = sum(
                int((traits.get(t, {}).get("proficiency_choices") or {}).get("choose", 0)) for t in trait_ids
            )
            races[d["index"]] = Race(
                index=d["index"],
                name=d["name"],
                speed=int(d["speed"]),
                size=d["size"],
                ability_bonuses=_bonuses(d.get("ability_bonuses", [])),
                bonus_choices=int(opts.get("choose", 0)),
                bonus_options=tuple(
                    o["ability_score"]["index"] for o in opts.get("from", {}).get("options", [])
                ),
                traits=trait_ids,
                languages=tuple(x["index"] for x in d.get("languages", [])),
                subraces=tuple(s["index"] for s in d.get("subraces", [])),
                skill_proficiencies=tuple(p.removeprefix("skill-") for p in profs if p.startswith("skill-")),
                skill_choice_count=free,
                proficiencies=tuple(p for p in profs if not p.startswith("skill-")),
            )
        subraces: dict[str, Subrace] = {}
        for d in _rows(con, "subraces"):
            trait_ids = tuple(t["index"] for t in d.get("racial_traits", []))
            subraces[d["index"]] = Subrace(
                index=d["index"],
                name=d["name"],
                race=d["race"]["index"],
                ability_bonuses=_bonuses(d.get("ability_bonuses", [])),
                traits=trait_ids,
                proficiencies=tuple(
                    p["index"] for t in trait_ids for p in traits.get(t, {}).get("proficiencies", [])
                ),
            )
        equipment = {e.index: e for e in map(_map_equipment, _rows(con, "equipment"))}
        skills = {s["index"]: s["ability_score"]["index"] for s in _rows(con, "skills")}
        conditions = tuple(c["index"] for c in _rows(con, "conditions"))
        features = list(_rows(con, "features"))
        weapon_prof = {
            p["reference"]["index"]: p["index"]
            for p in _rows(con, "proficiencies")
            if p.get("type") == "Weapons" and p.get("reference")
        }
    finally:
        con.close()
    return CharacterData(
        classes=classes,
        levels=levels,
        subclasses=subclasses,
        races=races,
        subraces=subraces,
        equipment=equipment,
        skills=skills,
        conditions=conditions,
        feature_names={f["index"]: f["name"] for f in features},
        feature_levels={f["index"]: int(f.get("level", 0)) for f in features},
        trait_names={i: t["name"] for i, t in traits.items()},
        weapon_proficiency=weapon_prof,
    )


@lru_cache(maxsize=4)
def _load(path: Path) -> CharacterData:
    return read_character_data(path)


def load_character_data(path: Path | None = None) -> CharacterData:
    """The SRD 2014 character data, read once per process and path."""
    return _load(path or srd_path("2014"))
