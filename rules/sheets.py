"""Player character sheets built by the SRD 5.1 rules from a player's choices.

:func:`build_sheet` turns :class:`CharacterChoices` (class, race, level, ability scores, skills, equipment) into
a :class:`CharacterSheet` holding every number play needs: hit points, proficiency bonus, saves, skills, AC,
weapon attacks, spellcasting and the class's numbers from the SRD level table. Mechanics are computed here and
only here; a stored sheet is its JSON, and :meth:`CharacterSheet.from_json` accepts a sheet only if rebuilding it
from its own choices gives exactly the same numbers, so a stored sheet can never disagree with the rules.

Choices left empty are filled the way a table would (class skill picks, expertise, half-elf bonuses, ability
score improvements by the class's priorities); :func:`pregenerated` fills all of them for a ready-made hero.
Not modelled: multiclassing, feats, magic items' bonuses, spells known by name.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from mesh.errors import InvalidArgument, Violations
from rules.classes import (
    ABILITIES,
    Armor,
    CharacterData,
    ClassNumber,
    Weapon,
    load_character_data,
)

ABILITY_METHODS: tuple[str, ...] = ("standard_array", "point_buy", "given")
HP_METHODS: tuple[str, ...] = ("fixed", "rolled")
STANDARD_ARRAY: tuple[int, ...] = (15, 14, 13, 12, 10, 8)
#: Point-buy cost of each score (PHB p. 13); 27 points to spend.
POINT_BUY_COST: Mapping[int, int] = {8: 0, 9: 1, 10: 2, 11: 3, 12: 4, 13: 5, 14: 7, 15: 9}
POINT_BUY_BUDGET = 27
MAX_NAME_LENGTH = 100
MAX_EQUIPMENT = 50
#: The SRD writes "unlimited" rages as this count.
UNLIMITED = 9999

#: Which abilities each class raises first (standard array assignment and ability score improvements).
CLASS_PRIORITIES: Mapping[str, tuple[str, ...]] = {
    "barbarian": ("str", "con", "dex", "wis", "cha", "int"),
    "bard": ("cha", "dex", "con", "wis", "int", "str"),
    "cleric": ("wis", "con", "str", "cha", "int", "dex"),
    "druid": ("wis", "con", "dex", "int", "cha", "str"),
    "fighter": ("str", "con", "dex", "wis", "cha", "int"),
    "monk": ("dex", "wis", "con", "str", "int", "cha"),
    "paladin": ("str", "cha", "con", "wis", "dex", "int"),
    "ranger": ("dex", "wis", "con", "str", "int", "cha"),
    "rogue": ("dex", "con", "int", "wis", "cha", "str"),
    "sorcerer": ("cha", "con", "dex", "wis", "int", "str"),
    "warlock": ("cha", "con", "dex", "wis", "int", "str"),
    "wizard": ("int", "con", "dex", "wis", "cha", "str"),
}
#: Skills each class picks first (class skills, expertise).
SKILL_PREFERENCES: Mapping[str, tuple[str, ...]] = {
    "barbarian": ("athletics", "perception", "survival", "intimidation", "nature", "animal-handling"),
    "bard": ("persuasion", "performance", "deception", "insight", "perception", "stealth", "history"),
    "cleric": ("insight", "medicine", "religion", "history", "persuasion"),
    "druid": (
        "perception",
        "nature",
        "insight",
        "medicine",
        "survival",
        "animal-handling",
        "arcana",
        "religion",
    ),
    "fighter": ("athletics", "perception", "intimidation", "survival", "insight", "acrobatics", "history"),
    "monk": ("acrobatics", "stealth", "insight", "athletics", "history", "religion"),
    "paladin": ("athletics", "persuasion", "insight", "intimidation", "medicine", "religion"),
    "ranger": ("perception", "stealth", "survival", "athletics", "nature", "insight", "investigation"),
    "rogue": (
        "stealth",
        "perception",
        "investigation",
        "sleight-of-hand",
        "acrobatics",
        "deception",
        "insight",
    ),
    "sorcerer": ("persuasion", "arcana", "insight", "deception", "intimidation", "religion"),
    "warlock": ("arcana", "deception", "intimidation", "investigation", "history", "nature", "religion"),
    "wizard": ("arcana", "investigation", "history", "insight", "medicine", "religion"),
}
#: Background skill pairs for pregenerated heroes (the SRD's one background, acolyte, suits only some).
PREGEN_BACKGROUND: Mapping[str, tuple[str, str]] = {
    "barbarian": ("athletics", "survival"),  # outlander
    "bard": ("acrobatics", "performance"),  # entertainer
    "cleric": ("insight", "religion"),  # acolyte
    "druid": ("medicine", "religion"),  # hermit
    "fighter": ("athletics", "intimidation"),  # soldier
    "monk": ("insight", "religion"),  # acolyte
    "paladin": ("history", "persuasion"),  # noble
    "ranger": ("athletics", "survival"),  # outlander
    "rogue": ("deception", "stealth"),  # criminal
    "sorcerer": ("history", "persuasion"),  # noble
    "warlock": ("arcana", "history"),  # sage
    "wizard": ("arcana", "history"),  # sage
}
PREGEN_RACE: Mapping[str, tuple[str, str | None]] = {
    "barbarian": ("half-orc", None),
    "bard": ("half-elf", None),
    "cleric": ("dwarf", "hill-dwarf"),
    "druid": ("human", None),
    "fighter": ("human", None),
    "monk": ("human", None),
    "paladin": ("dragonborn", None),
    "ranger": ("elf", "high-elf"),
    "rogue": ("halfling", "lightfoot-halfling"),
    "sorcerer": ("tiefling", None),
    "warlock": ("tiefling", None),
    "wizard": ("gnome", "rock-gnome"),
}
PREGEN_EQUIPMENT: Mapping[str, tuple[str, ...]] = {
    "barbarian": ("greataxe", "handaxe", "javelin", "explorers-pack"),
    "bard": ("rapier", "leather-armor", "dagger", "lute"),
    "cleric": ("mace", "scale-mail", "crossbow-light", "shield"),
    "druid": ("scimitar", "leather-armor", "shield"),
    "fighter": ("chain-mail", "longsword", "shield", "crossbow-light"),
    "monk": ("shortsword", "dart"),
    "paladin": ("chain-mail", "longsword", "shield", "javelin"),
    "ranger": ("scale-mail", "shortsword", "longbow"),
    "rogue": ("rapier", "shortbow", "leather-armor", "dagger", "thieves-tools"),
    "sorcerer": ("crossbow-light", "dagger"),
    "warlock": ("crossbow-light", "leather-armor", "dagger"),
    "wizard": ("quarterstaff", "dagger", "spellbook"),
}
PREGEN_NAMES: Mapping[str, str] = {
    "barbarian": "Korga Stonefist",
    "bard": "Lirien Vale",
    "cleric": "Brother Aldric",
    "druid": "Maelis Thornwood",
    "fighter": "Dara Holt",
    "monk": "Tomas Reed",
    "paladin": "Sir Kaelen",
    "ranger": "Sylva Ashbrook",
    "rogue": "Pip Quickfingers",
    "sorcerer": "Zariel Ember",
    "warlock": "Vex Morrow",
    "wizard": "Fennick Cogsworth",
}
#: Expertise picks gained by class level (Rogue 1 and 6; Bard 3 and 10).
EXPERTISE_BY_LEVEL: Mapping[str, tuple[tuple[int, int], ...]] = {
    "rogue": ((1, 2), (6, 2)),
    "bard": ((3, 2), (10, 2)),
}


def ability_modifier(score: int) -> int:
    """(score - 10) // 2: 10-11 -> +0, 8-9 -> -1, 20 -> +5."""
    return (score - 10) // 2


def proficiency_bonus_for(level: int) -> int:
    """+2 at levels 1-4, rising by one every four levels to +6 at 17-20."""
    return 2 + (max(1, level) - 1) // 4


def expertise_allowed(class_index: str, level: int) -> int:
    """How many skills the class may choose for expertise at ``level``."""
    return sum(n for at, n in EXPERTISE_BY_LEVEL.get(class_index, ()) if level >= at)


@dataclass(frozen=True)
class CharacterChoices:
    """What a player decides; everything else on the sheet follows from these by the rules.

    ``base_scores``: the six scores before racial bonuses ("str".."cha"); with "standard_array" they must be a
    permutation of 15, 14, 13, 12, 10, 8 (empty: assigned by the class's priorities); with "point_buy" each is
    8..15 costing at most 27 points; with "given" each must end 3..20 after racial bonuses.
    ``ability_increases``: the level 4/8/12/16/19 improvements (+2 each); None applies them by the class's
    priorities. Empty ``class_skills``, ``expertise``, ``racial_bonus_choices`` and ``racial_skills`` are
    filled by the class's usual picks; empty ``equipment`` means none carried.
    """

    name: str
    class_index: str
    race_index: str
    subrace_index: str | None = None
    level: int = 1
    ability_method: str = "standard_array"
    base_scores: Mapping[str, int] = field(default_factory=dict)
    background_skills: tuple[str, ...] = ()
    class_skills: tuple[str, ...] = ()
    equipment: tuple[str, ...] = ()
    hp_method: str = "fixed"
    seed: int = 0
    subclass_index: str | None = None
    racial_bonus_choices: tuple[str, ...] = ()
    racial_skills: tuple[str, ...] = ()
    expertise: tuple[str, ...] = ()
    ability_increases: Mapping[str, int] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "class_index": self.class_index,
            "race_index": self.race_index,
            "subrace_index": self.subrace_index,
            "level": self.level,
            "ability_method": self.ability_method,
            "base_scores": dict(self.base_scores),
            "background_skills": list(self.background_skills),
            "class_skills": list(self.class_skills),
            "equipment": list(self.equipment),
            "hp_method": self.hp_method,
            "seed": self.seed,
            "subclass_index": self.subclass_index,
            "racial_bonus_choices": list(self.racial_bonus_choices),
            "racial_skills": list(self.racial_skills),
            "expertise": list(self.expertise),
            "ability_increases": None if self.ability_increases is None else dict(self.ability_increases),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any], prefix: str = "") -> CharacterChoices:
        """Parse the JSON form, naming each malformed field (``prefix`` + name); values are checked by
        :func:`build_sheet`."""
        if not isinstance(data, Mapping):
            raise InvalidArgument([(prefix.rstrip(".") or "choices", "must be an object")])
        v = Violations()
        known = set(CharacterChoices.__dataclass_fields__)
        for key in data:
            v.check(key in known, f"{prefix}{key}", "unknown field")

        def text(key: str, default: str | None = None, optional: bool = False) -> Any:
            value = data.get(key, default)
            if value is None and optional:
                return None
            if not isinstance(value, str):
                v.add(f"{prefix}{key}", "must be a string")
                return ""
            return value

        def integer(key: str, default: int) -> int:
            value = data.get(key, default)
            if isinstance(value, bool) or not isinstance(value, int):
                v.add(f"{prefix}{key}", "must be an integer")
                return default
            return value

        def strings(key: str) -> tuple[str, ...]:
            value = data.get(key, [])
            if not isinstance(value, list | tuple) or not all(isinstance(s, str) for s in value):
                v.add(f"{prefix}{key}", "must be a list of strings")
                return ()
            return tuple(value)

        def scores(key: str, optional: bool) -> dict[str, int] | None:
            value = data.get(key, None if optional else {})
            if value is None and optional:
                return None
            if not isinstance(value, Mapping) or not all(
                isinstance(k, str) and isinstance(s, int) and not isinstance(s, bool)
                for k, s in value.items()
            ):
                v.add(f"{prefix}{key}", "must map abilities to integers")
                return {}
            return dict(value)

        choices = cls(
            name=text("name"),
            class_index=text("class_index"),
            race_index=text("race_index"),
            subrace_index=text("subrace_index", optional=True),
            level=integer("level", 1),
            ability_method=text("ability_method", "standard_array"),
            base_scores=scores("base_scores", False) or {},
            background_skills=strings("background_skills"),
            class_skills=strings("class_skills"),
            equipment=strings("equipment"),
            hp_method=text("hp_method", "fixed"),
            seed=integer("seed", 0),
            subclass_index=text("subclass_index", optional=True),
            racial_bonus_choices=strings("racial_bonus_choices"),
            racial_skills=strings("racial_skills"),
            expertise=strings("expertise"),
            ability_increases=scores("ability_increases", True),
        )
        v.raise_if_any()
        return choices


@dataclass(frozen=True, slots=True)
class SkillEntry:
    ability: str
    modifier: int
    proficient: bool
    expertise: bool


@dataclass(frozen=True, slots=True)
class SaveEntry:
    modifier: int
    proficient: bool


@dataclass(frozen=True, slots=True)
class Attack:
    """One weapon (or unarmed) attack: to-hit bonus and damage, with the weapon's properties and ranges."""

    index: str
    name: str
    ability: str
    proficient: bool
    attack_bonus: int
    damage_dice: str
    damage_bonus: int
    damage_type: str
    two_handed_dice: str | None
    properties: tuple[str, ...]
    ranged: bool
    normal_range: int
    long_range: int

    @property
    def damage(self) -> str:
        """Damage notation for :mod:`rules.dice`: ``"1d8+3"``."""
        return _with_bonus(self.damage_dice, self.damage_bonus)

    @property
    def two_handed_damage(self) -> str | None:
        return _with_bonus(self.two_handed_dice, self.damage_bonus) if self.two_handed_dice else None


def _with_bonus(dice: str, bonus: int) -> str:
    if dice.isdigit():  # a flat amount (unarmed strike: 1 + Str), never below 0
        return str(max(0, int(dice) + bonus))
    return dice if bonus == 0 else f"{dice}{bonus:+d}"


@dataclass(frozen=True, slots=True)
class Spellcasting:
    """Spellcasting numbers; ``slots[i]`` is the slot count for spell level ``i + 1``. Warlocks' Pact Magic
    slots are all of one level and come back on a short rest (``pact_magic``)."""

    ability: str
    save_dc: int
    attack_bonus: int
    slots: tuple[int, ...]
    cantrips_known: int
    spells_known: int
    pact_magic: bool


def cantrip_dice_count(character_level: int) -> int:
    """Damage cantrips roll one die at levels 1-4, two at 5, three at 11, four at 17 (SRD)."""
    return 1 + sum(character_level >= t for t in (5, 11, 17))


def cantrip_damage(base_dice: str, character_level: int) -> str:
    """Scale a cantrip's one-die damage (``"1d10"`` for fire bolt) to the caster's level: ``"2d10"`` at 5."""
    count, _, size = base_dice.partition("d")
    if not size or not count.isdigit():
        raise InvalidArgument([("dice", f"expected NdM, got {base_dice!r}")])
    return f"{int(count) * cantrip_dice_count(character_level)}d{size}"


@dataclass(frozen=True)
class CharacterSheet:
    """A built character: the choices it came from and every number the rules derive from them."""

    choices: CharacterChoices
    name: str
    class_index: str
    subclass_index: str | None
    race_index: str
    subrace_index: str | None
    level: int
    hit_die: int
    hp_max: int
    hp_rolls: tuple[int, ...]  # die results for levels 2.. when hp_method is "rolled"
    proficiency_bonus: int
    ability_scores: Mapping[str, int]
    ability_modifiers: Mapping[str, int]
    saving_throws: Mapping[str, SaveEntry]
    skills: Mapping[str, SkillEntry]
    passive_perception: int
    armor_class: int
    ac_source: str  # "chain mail, shield", "unarmored defense", "unarmored"
    stealth_disadvantage: bool
    attacks: tuple[Attack, ...]
    spellcasting: Spellcasting | None
    class_numbers: Mapping[str, ClassNumber]
    speed: int
    size: str
    languages: tuple[str, ...]
    features: tuple[str, ...]  # class, subclass and racial feature names, by level
    proficiencies: tuple[str, ...]  # armour, weapon and tool proficiency indexes
    equipment: tuple[str, ...]
    jack_of_all_trades: bool
    reliable_talent: bool
    remarkable_athlete: bool

    # ---- numbers play reads often -------------------------------------------------------------------------
    @property
    def hit_dice_total(self) -> int:
        return self.level

    @property
    def extra_attacks(self) -> int:
        return int(self.class_numbers.get("extra_attacks", 0))

    @property
    def attacks_per_action(self) -> int:
        return 1 + self.extra_attacks

    @property
    def sneak_attack_dice(self) -> str:
        return str(self.class_numbers.get("sneak_attack", ""))

    @property
    def rage_uses(self) -> int:
        """Rages per long rest; :data:`UNLIMITED` at barbarian 20."""
        return int(self.class_numbers.get("rage_count", 0))

    @property
    def rage_damage(self) -> int:
        return int(self.class_numbers.get("rage_damage_bonus", 0))

    @property
    def ki_points(self) -> int:
        return int(self.class_numbers.get("ki_points", 0))

    def skill_modifier(self, skill: str) -> int:
        data = load_character_data()
        data.skill_ability(skill)
        return self.skills[skill].modifier

    # ---- JSON ---------------------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (only dicts, lists, strings, numbers, booleans and None)."""
        return {
            "choices": self.choices.to_json(),
            "name": self.name,
            "class_index": self.class_index,
            "subclass_index": self.subclass_index,
            "race_index": self.race_index,
            "subrace_index": self.subrace_index,
            "level": self.level,
            "hit_die": self.hit_die,
            "hp_max": self.hp_max,
            "hp_rolls": list(self.hp_rolls),
            "proficiency_bonus": self.proficiency_bonus,
            "ability_scores": dict(self.ability_scores),
            "ability_modifiers": dict(self.ability_modifiers),
            "saving_throws": {
                k: {"modifier": s.modifier, "proficient": s.proficient} for k, s in self.saving_throws.items()
            },
            "skills": {
                k: {
                    "ability": s.ability,
                    "modifier": s.modifier,
                    "proficient": s.proficient,
                    "expertise": s.expertise,
                }
                for k, s in self.skills.items()
            },
            "passive_perception": self.passive_perception,
            "armor_class": self.armor_class,
            "ac_source": self.ac_source,
            "stealth_disadvantage": self.stealth_disadvantage,
            "attacks": [
                {
                    "index": a.index,
                    "name": a.name,
                    "ability": a.ability,
                    "proficient": a.proficient,
                    "attack_bonus": a.attack_bonus,
                    "damage_dice": a.damage_dice,
                    "damage_bonus": a.damage_bonus,
                    "damage_type": a.damage_type,
                    "two_handed_dice": a.two_handed_dice,
                    "properties": list(a.properties),
                    "ranged": a.ranged,
                    "normal_range": a.normal_range,
                    "long_range": a.long_range,
                }
                for a in self.attacks
            ],
            "spellcasting": None
            if self.spellcasting is None
            else {
                "ability": self.spellcasting.ability,
                "save_dc": self.spellcasting.save_dc,
                "attack_bonus": self.spellcasting.attack_bonus,
                "slots": list(self.spellcasting.slots),
                "cantrips_known": self.spellcasting.cantrips_known,
                "spells_known": self.spellcasting.spells_known,
                "pact_magic": self.spellcasting.pact_magic,
            },
            "class_numbers": dict(self.class_numbers),
            "speed": self.speed,
            "size": self.size,
            "languages": list(self.languages),
            "features": list(self.features),
            "proficiencies": list(self.proficiencies),
            "equipment": list(self.equipment),
            "jack_of_all_trades": self.jack_of_all_trades,
            "reliable_talent": self.reliable_talent,
            "remarkable_athlete": self.remarkable_athlete,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CharacterSheet:
        """Accept a stored sheet only if it is exactly the sheet its ``choices`` build (the rules are the
        source of truth); otherwise InvalidArgument naming the first fields that differ."""
        if not isinstance(data, Mapping):
            raise InvalidArgument([("sheet", "must be an object")])
        if "choices" not in data:
            raise InvalidArgument([("choices", "missing")])
        sheet = build_sheet(CharacterChoices.from_json(data["choices"], prefix="choices."))
        expected = sheet.to_json()
        bad = [k for k in data if k not in expected]
        bad += [k for k in expected if k not in data or data[k] != expected[k]]
        if bad:
            raise InvalidArgument(
                [
                    (k, "does not match the sheet its choices build" if k in expected else "unknown field")
                    for k in bad[:5]
                ]
            )
        return sheet


# ---- building ---------------------------------------------------------------------------------------------


def _validate_indexes(data: CharacterData, c: CharacterChoices, v: Violations) -> None:
    v.check(bool(c.name.strip()), "name", "must not be empty")
    v.check(len(c.name) <= MAX_NAME_LENGTH, "name", f"at most {MAX_NAME_LENGTH} characters")
    if c.class_index not in data.classes:
        v.add("class_index", f"unknown class {c.class_index!r}; valid: {', '.join(sorted(data.classes))}")
    if c.race_index not in data.races:
        v.add("race_index", f"unknown race {c.race_index!r}; valid: {', '.join(sorted(data.races))}")
    elif c.subrace_index is not None:
        valid = data.races[c.race_index].subraces
        if c.subrace_index not in valid:
            v.add(
                "subrace_index",
                f"unknown subrace {c.subrace_index!r} for {c.race_index}; valid: {', '.join(valid) or 'none'}",
            )
    if c.class_index in data.classes and c.subclass_index is not None:
        valid = data.classes[c.class_index].subclasses
        if c.subclass_index not in valid:
            v.add("subclass_index", f"unknown subclass {c.subclass_index!r}; valid: {', '.join(valid)}")
    v.check(1 <= c.level <= 20, "level", f"must be between 1 and 20 (got {c.level})")
    v.check(
        c.ability_method in ABILITY_METHODS,
        "ability_method",
        f"unknown method {c.ability_method!r}; valid: {', '.join(ABILITY_METHODS)}",
    )
    v.check(
        c.hp_method in HP_METHODS,
        "hp_method",
        f"unknown method {c.hp_method!r}; valid: {', '.join(HP_METHODS)}",
    )
    v.check(len(c.equipment) <= MAX_EQUIPMENT, "equipment", f"at most {MAX_EQUIPMENT} items")
    for i, item in enumerate(c.equipment[:MAX_EQUIPMENT]):
        if item not in data.equipment:
            v.add(f"equipment[{i}]", f"unknown equipment {item!r}; use an SRD equipment index")
    skill_lists = (("background_skills", c.background_skills), ("class_skills", c.class_skills))
    for name, skills in (*skill_lists, ("racial_skills", c.racial_skills), ("expertise", c.expertise)):
        for i, s in enumerate(skills):
            if s not in data.skills:
                v.add(f"{name}[{i}]", f"unknown skill {s!r}; valid: {', '.join(sorted(data.skills))}")
        v.check(len(set(skills)) == len(skills), name, "must not repeat a skill")
    v.check(len(c.background_skills) <= 2, "background_skills", "at most 2 skills")


def _base_scores(c: CharacterChoices, priorities: Sequence[str], v: Violations) -> dict[str, int]:
    if c.ability_method == "standard_array" and not c.base_scores:
        return dict(zip(priorities, STANDARD_ARRAY, strict=True))
    keys = set(c.base_scores)
    if keys != set(ABILITIES):
        v.add("base_scores", f"must give exactly the six abilities {', '.join(ABILITIES)}")
        return {a: 10 for a in ABILITIES}
    scores = {a: int(c.base_scores[a]) for a in ABILITIES}
    if c.ability_method == "standard_array":
        v.check(
            sorted(scores.values(), reverse=True) == list(STANDARD_ARRAY),
            "base_scores",
            "standard array must assign 15, 14, 13, 12, 10, 8 once each",
        )
    elif c.ability_method == "point_buy":
        for a, s in scores.items():
            v.check(s in POINT_BUY_COST, f"base_scores.{a}", f"point buy scores are 8..15 (got {s})")
        cost = sum(POINT_BUY_COST.get(s, 0) for s in scores.values())
        v.check(
            cost <= POINT_BUY_BUDGET,
            "base_scores",
            f"point buy costs {cost} points; at most {POINT_BUY_BUDGET}",
        )
    return scores


def _racial_bonuses(
    data: CharacterData, c: CharacterChoices, priorities: Sequence[str], v: Violations
) -> dict[str, int]:
    race = data.races[c.race_index]
    bonus = dict.fromkeys(ABILITIES, 0)
    for a, b in race.ability_bonuses.items():
        bonus[a] += b
    if c.subrace_index is not None:
        for a, b in data.subraces[c.subrace_index].ability_bonuses.items():
            bonus[a] += b
    if race.bonus_choices:
        picks = (
            c.racial_bonus_choices
            or tuple(p for p in priorities if p in race.bonus_options)[: race.bonus_choices]
        )
        ok = v.check(
            len(picks) == race.bonus_choices and len(set(picks)) == len(picks),
            "racial_bonus_choices",
            f"choose {race.bonus_choices} different abilities from {', '.join(race.bonus_options)}",
        )
        for i, p in enumerate(picks):
            if (
                v.check(
                    p in race.bonus_options,
                    f"racial_bonus_choices[{i}]",
                    f"valid: {', '.join(race.bonus_options)}",
                )
                and ok
            ):
                bonus[p] += 1
    else:
        v.check(
            not c.racial_bonus_choices, "racial_bonus_choices", f"{race.name} has no free ability bonuses"
        )
    return bonus


def _increases(
    c: CharacterChoices, asi: int, scores: dict[str, int], priorities: Sequence[str], v: Violations
) -> dict[str, int]:
    """Ability score improvements: +2 per improvement, no score above 20."""
    if c.ability_increases is not None:
        inc = dict(c.ability_increases)
        for a, n in inc.items():
            if v.check(
                a in ABILITIES, f"ability_increases.{a}", f"unknown ability; valid: {', '.join(ABILITIES)}"
            ):
                v.check(n >= 0, f"ability_increases.{a}", "must not be negative")
        v.check(
            sum(inc.values()) <= 2 * asi,
            "ability_increases",
            f"level {c.level} allows {2 * asi} points of ability score improvement",
        )
        return {a: inc.get(a, 0) for a in ABILITIES}
    inc = dict.fromkeys(ABILITIES, 0)
    points = 2 * asi
    for a in priorities:
        room = max(0, 20 - scores[a])
        take = min(room, points)
        inc[a] += take
        points -= take
        if not points:
            break
    return inc


def _pick_skills(
    options: Sequence[str], count: int, taken: set[str], preferences: Sequence[str]
) -> tuple[str, ...]:
    order = [s for s in preferences if s in options] + [s for s in options if s not in preferences]
    picks = [s for s in order if s not in taken][:count]
    if len(picks) < count:  # everything preferred is already known: take repeats rather than too few
        picks += [s for s in order if s not in picks][: count - len(picks)]
    return tuple(picks)


def _ac(
    data: CharacterData, class_index: str, equipment: Sequence[str], profs: set[str], mods: Mapping[str, int]
) -> tuple[int, str, bool, str | None, bool]:
    """Best AC from worn armour the character is proficient with, a shield, or Unarmored Defense."""
    armors: list[Armor] = [a for i in equipment if (a := data.equipment[i].armor) is not None]

    def proficient(a: Armor) -> bool:
        if a.category == "shield":
            return "shields" in profs
        return f"{a.category}-armor" in profs or "all-armor" in profs

    body = [a for a in armors if a.category != "shield" and proficient(a)]
    shield = next((a for a in armors if a.category == "shield" and proficient(a)), None)
    dex = mods["dex"]
    options: list[tuple[int, str, bool, str | None, bool]] = []
    for a in body:
        ac = a.base + (min(dex, a.max_dex) if a.max_dex is not None else dex if a.dex_bonus else 0)
        ac += shield.base if shield else 0
        label = a.name.lower() + (", shield" if shield else "")
        options.append((ac, label, a.stealth_disadvantage, a.category, shield is not None))
    shield_ac = shield.base if shield else 0
    suffix = ", shield" if shield else ""
    if class_index == "barbarian":
        options.append(
            (
                10 + dex + mods["con"] + shield_ac,
                "unarmored defense" + suffix,
                False,
                None,
                shield is not None,
            )
        )
    elif class_index == "monk":
        options.append((10 + dex + mods["wis"], "unarmored defense", False, None, False))
    options.append((10 + dex + shield_ac, "unarmored" + suffix, False, None, shield is not None))
    return max(options, key=lambda o: (o[0], not o[2]))


def _attack(
    w: Weapon, data: CharacterData, profs: set[str], mods: Mapping[str, int], pb: int, martial_die: str | None
) -> Attack:
    proficient = f"{w.category}-weapons" in profs or data.weapon_proficiency.get(w.index, "") in profs
    finesse = "finesse" in w.properties
    monk_weapon = martial_die is not None and (
        (
            w.category == "simple"
            and not w.ranged
            and "two-handed" not in w.properties
            and "heavy" not in w.properties
        )
        or w.index == "shortsword"
    )
    if w.ranged:
        ability = "dex"
    elif finesse or monk_weapon:
        ability = "dex" if mods["dex"] >= mods["str"] else "str"
    else:
        ability = "str"
    dice = w.damage_dice
    if monk_weapon and martial_die is not None and _die_size(martial_die) > _die_size(dice):
        dice = martial_die
    long_range = w.long_range or w.throw_long
    return Attack(
        index=w.index,
        name=w.name,
        ability=ability,
        proficient=proficient,
        attack_bonus=mods[ability] + (pb if proficient else 0),
        damage_dice=dice,
        damage_bonus=mods[ability],
        damage_type=w.damage_type,
        two_handed_dice=w.two_handed_dice,
        properties=w.properties,
        ranged=w.ranged,
        normal_range=w.normal_range if w.ranged or not w.throw_normal else w.throw_normal,
        long_range=long_range,
    )


def _die_size(dice: str) -> int:
    _, _, size = dice.partition("d")
    return int(size) if size.isdigit() else 0


def _unarmed(mods: Mapping[str, int], pb: int, martial_die: str | None) -> Attack:
    ability = "dex" if martial_die is not None and mods["dex"] > mods["str"] else "str"
    return Attack(
        index="unarmed-strike",
        name="Unarmed Strike",
        ability=ability,
        proficient=True,
        attack_bonus=mods[ability] + pb,
        damage_dice=martial_die or "1",
        damage_bonus=mods[ability],
        damage_type="bludgeoning",
        two_handed_dice=None,
        properties=(),
        ranged=False,
        normal_range=5,
        long_range=0,
    )


def _class_numbers(
    data: CharacterData, class_index: str, level: int, feature_ids: Sequence[str], mods: Mapping[str, int]
) -> dict[str, ClassNumber]:
    """The SRD level row's ``class_specific`` numbers plus the ones the SRD states only in feature text."""
    numbers: dict[str, ClassNumber] = dict(data.level(class_index, level).class_specific)
    has = set(feature_ids)
    if "extra_attacks" not in numbers and any(f.endswith("extra-attack") for f in has):
        numbers["extra_attacks"] = 1
    if class_index == "fighter":
        numbers["second_wind_uses"] = 1
    if class_index == "bard":
        numbers["bardic_inspiration_uses"] = max(1, mods["cha"])
    if class_index == "paladin":
        numbers["lay_on_hands_pool"] = 5 * level
        numbers["channel_divinity_charges"] = 1 if level >= 3 else 0
    if class_index == "druid":
        numbers["wild_shape_uses"] = 2 if level >= 2 else 0
    return numbers


def build_sheet(choices: CharacterChoices, data: CharacterData | None = None) -> CharacterSheet:
    """Build a sheet by the SRD rules; InvalidArgument names every bad choice (all of them at once)."""
    data = data or load_character_data()
    c = choices
    v = Violations()
    _validate_indexes(data, c, v)
    v.raise_if_any()  # the rest needs valid indexes
    cls = data.classes[c.class_index]
    race = data.races[c.race_index]
    subrace = data.subraces[c.subrace_index] if c.subrace_index else None
    row = data.level(c.class_index, c.level)
    priorities = CLASS_PRIORITIES.get(c.class_index, ABILITIES)

    base = _base_scores(c, priorities, v)
    bonus = _racial_bonuses(data, c, priorities, v)
    after_race = {a: base[a] + bonus[a] for a in ABILITIES}
    if c.ability_method == "given":
        for a in ABILITIES:
            v.check(
                3 <= after_race[a] <= 20,
                f"base_scores.{a}",
                f"must be 3..20 after racial bonuses (got {after_race[a]})",
            )
    inc = _increases(c, row.ability_score_improvements, after_race, priorities, v)
    scores = {a: after_race[a] + inc[a] for a in ABILITIES}
    cap = dict.fromkeys(ABILITIES, 20)
    if c.class_index == "barbarian" and c.level >= 20:  # Primal Champion: Str and Con +4, maximum 24
        for a in ("str", "con"):
            scores[a] += 4
            cap[a] = 24
    for a in ABILITIES:
        v.check(
            scores[a] <= cap[a],
            f"ability_increases.{a}",
            f"{a} would be {scores[a]}; the maximum is {cap[a]}",
        )

    # Skills: background, race, class; expertise on top.
    racial_fixed = set(race.skill_proficiencies)
    prefs = SKILL_PREFERENCES.get(c.class_index, ())
    taken = set(c.background_skills) | racial_fixed
    class_skills = c.class_skills or _pick_skills(cls.skill_choices, cls.skill_count, taken, prefs)
    if c.class_skills:
        v.check(
            len(c.class_skills) == cls.skill_count,
            "class_skills",
            f"{cls.name} chooses {cls.skill_count} skills",
        )
        for i, s in enumerate(c.class_skills):
            if s in data.skills:
                v.check(
                    s in cls.skill_choices,
                    f"class_skills[{i}]",
                    f"not a {cls.name} skill; valid: {', '.join(cls.skill_choices)}",
                )
    taken |= set(class_skills)
    if race.skill_choice_count:
        racial_free = c.racial_skills or _pick_skills(
            tuple(data.skills), race.skill_choice_count, taken, prefs
        )
        v.check(
            len(racial_free) == race.skill_choice_count,
            "racial_skills",
            f"{race.name} chooses {race.skill_choice_count} skills",
        )
    else:
        racial_free = ()
        v.check(not c.racial_skills, "racial_skills", f"{race.name} gains no free skills")
    proficient = taken | set(racial_free)
    allowed = expertise_allowed(c.class_index, c.level)
    ordered = [s for s in prefs if s in proficient] + sorted(proficient - set(prefs))
    expertise = c.expertise or tuple(ordered[:allowed])
    v.check(len(expertise) <= allowed, "expertise", f"{cls.name} {c.level} has {allowed} expertise picks")
    for i, s in enumerate(c.expertise):
        if s in data.skills:
            v.check(s in proficient, f"expertise[{i}]", f"needs proficiency in {s}")
    v.raise_if_any()

    mods = {a: ability_modifier(s) for a, s in scores.items()}
    pb = row.prof_bonus
    # Hit points: max die at level 1, then the fixed average (die/2 + 1) or a seeded roll, each plus Con.
    per_level_bonus = mods["con"] + (
        1 if subrace is not None and "dwarven-toughness" in subrace.traits else 0
    )
    rolls: tuple[int, ...] = ()
    if c.hp_method == "rolled":
        rng = random.Random(c.seed)
        rolls = tuple(rng.randint(1, cls.hit_die) for _ in range(c.level - 1))
        gains = rolls
    else:
        gains = tuple(cls.hit_die // 2 + 1 for _ in range(c.level - 1))
    hp = max(1, cls.hit_die + per_level_bonus) + sum(max(1, g + per_level_bonus) for g in gains)

    # Features gained so far: class rows, the subclass's rows, racial traits.
    subclass = c.subclass_index or (cls.subclasses[0] if cls.subclasses else None)
    feature_ids: list[str] = []
    for lv in range(1, c.level + 1):
        feature_ids += data.level(c.class_index, lv).features
        if subclass is not None:
            feature_ids += data.subclasses[subclass].features.get(lv, ())
    if subclass is not None and not any(
        data.subclasses[subclass].features.get(lv) for lv in range(1, c.level + 1)
    ):
        subclass = None  # the class has not reached its subclass level yet
    traits = race.traits + (subrace.traits if subrace else ())
    feature_names: list[str] = []
    for f in feature_ids:
        name = data.feature_names.get(f, f)
        if name not in feature_names:
            feature_names.append(name)
    feature_names += [data.trait_names.get(t, t) for t in traits]
    has = set(feature_ids)

    jack = "jack-of-all-trades" in has
    remarkable = "remarkable-athlete" in has
    skills: dict[str, SkillEntry] = {}
    for s, ability in data.skills.items():
        prof = s in proficient
        exp = s in expertise
        mod = mods[ability] + (pb * (2 if exp else 1) if prof else 0)
        if not prof and jack:
            mod += pb // 2
        elif not prof and remarkable and ability in ("str", "dex", "con"):
            mod += (pb + 1) // 2
        skills[s] = SkillEntry(ability=ability, modifier=mod, proficient=prof, expertise=exp)
    saves = {
        a: SaveEntry(
            modifier=mods[a] + (pb if a in cls.saving_throws else 0), proficient=a in cls.saving_throws
        )
        for a in ABILITIES
    }

    profs = set(cls.proficiencies) | set(race.proficiencies) | set(subrace.proficiencies if subrace else ())
    equipment = tuple(dict.fromkeys(c.equipment))
    ac, ac_source, stealth_dis, armor_category, has_shield = _ac(data, c.class_index, equipment, profs, mods)
    numbers = _class_numbers(data, c.class_index, c.level, feature_ids, mods)
    martial = str(numbers["martial_arts"]) if "martial_arts" in numbers else None
    attacks = [
        _attack(w, data, profs, mods, pb, martial)
        for i in equipment
        if (w := data.equipment[i].weapon) is not None
    ]
    attacks.append(_unarmed(mods, pb, martial))

    speed = race.speed
    if c.class_index == "monk" and armor_category is None and not has_shield:
        speed += int(numbers.get("unarmored_movement", 0))
    if c.class_index == "barbarian" and "fast-movement" in has and armor_category != "heavy":
        speed += 10

    spellcasting = None
    cast = cls.spellcasting_ability
    if cast is not None and (any(row.spell_slots) or row.cantrips_known):
        spellcasting = Spellcasting(
            ability=cast,
            save_dc=8 + pb + mods[cast],
            attack_bonus=pb + mods[cast],
            slots=row.spell_slots,
            cantrips_known=row.cantrips_known,
            spells_known=row.spells_known,
            pact_magic=c.class_index == "warlock",
        )

    languages = race.languages + (
        ("one extra language",) if subrace and "extra-language" in subrace.traits else ()
    )
    return CharacterSheet(
        choices=c,
        name=c.name.strip(),
        class_index=c.class_index,
        subclass_index=subclass,
        race_index=c.race_index,
        subrace_index=c.subrace_index,
        level=c.level,
        hit_die=cls.hit_die,
        hp_max=hp,
        hp_rolls=rolls,
        proficiency_bonus=pb,
        ability_scores=scores,
        ability_modifiers=mods,
        saving_throws=saves,
        skills=skills,
        passive_perception=10 + skills["perception"].modifier,
        armor_class=ac,
        ac_source=ac_source,
        stealth_disadvantage=stealth_dis,
        attacks=tuple(attacks),
        spellcasting=spellcasting,
        class_numbers=numbers,
        speed=speed,
        size=race.size,
        languages=languages,
        features=tuple(feature_names),
        proficiencies=tuple(sorted(profs)),
        equipment=equipment,
        jack_of_all_trades=jack,
        reliable_talent="reliable-talent" in has,
        remarkable_athlete=remarkable,
    )


def pregenerated(
    class_index: str, level: int, *, race_index: str | None = None, name: str | None = None, seed: int = 0
) -> CharacterSheet:
    """A ready-to-play hero: standard array by the class's priorities, usual race, skills and starting kit.

    ``race_index`` overrides the usual race (its first subrace is used, if it has any)."""
    data = load_character_data()
    cls = data.character_class(class_index)
    if race_index is None:
        race, subrace = PREGEN_RACE.get(class_index, ("human", None))
    else:
        race = data.race(race_index).index
        subs = data.races[race].subraces
        subrace = subs[0] if subs else None
    background = PREGEN_BACKGROUND.get(class_index, ())
    choices = CharacterChoices(
        name=name or PREGEN_NAMES.get(class_index, cls.name),
        class_index=class_index,
        race_index=race,
        subrace_index=subrace,
        level=level,
        background_skills=tuple(background),
        equipment=PREGEN_EQUIPMENT.get(class_index, ()),
        seed=seed,
    )
    return build_sheet(choices, data)


def with_level(sheet: CharacterSheet, level: int) -> CharacterSheet:
    """The same character at another level (level-up): choices kept, numbers rebuilt. Explicit expertise and
    ability increases are kept too, so they must still be valid at the new level."""
    return build_sheet(replace(sheet.choices, level=level))
