"""A 5e stat block as immutable domain objects.

Frozen dataclasses so a stat block can be shared between requests and cached without copies; tuples instead
of lists for the same reason. Fields follow the Monster Manual layout; the SRD mapper (`rules.srd`) and the
CR calculator (`rules.cr_calculator`) both work on these types only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from rules.challenge import format_cr


class Ability(StrEnum):
    """The six ability scores, by their three-letter abbreviations (as the SRD's ``dc_type`` has them)."""

    STR = "str"
    DEX = "dex"
    CON = "con"
    INT = "int"
    WIS = "wis"
    CHA = "cha"


def ability_modifier(score: int) -> int:
    """(score - 10) // 2: 10-11 -> +0, 8-9 -> -1, 20 -> +5."""
    return (score - 10) // 2


@dataclass(frozen=True, slots=True)
class AbilityScores:
    strength: int
    dexterity: int
    constitution: int
    intelligence: int
    wisdom: int
    charisma: int

    def score(self, ability: Ability) -> int:
        return {
            Ability.STR: self.strength,
            Ability.DEX: self.dexterity,
            Ability.CON: self.constitution,
            Ability.INT: self.intelligence,
            Ability.WIS: self.wisdom,
            Ability.CHA: self.charisma,
        }[ability]

    def modifier(self, ability: Ability) -> int:
        return ability_modifier(self.score(ability))


@dataclass(frozen=True, slots=True)
class Speeds:
    """Speeds in feet; 0 means the creature lacks that movement mode."""

    walk: int = 0
    fly: int = 0
    swim: int = 0
    climb: int = 0
    burrow: int = 0
    hover: bool = False


@dataclass(frozen=True, slots=True)
class Senses:
    passive_perception: int
    darkvision: int = 0
    blindsight: int = 0
    tremorsense: int = 0
    truesight: int = 0


@dataclass(frozen=True, slots=True)
class Damage:
    """One damage component of an action: "19 (2d10 + 8) piercing"."""

    dice: str
    damage_type: str
    average: float


@dataclass(frozen=True, slots=True)
class SaveDC:
    dc: int
    ability: Ability
    half_on_success: bool = False


@dataclass(frozen=True, slots=True)
class Usage:
    """Limits on an action: "Recharge 5-6", "3/Day", "Recharges after a Short or Long Rest"."""

    kind: str  # "recharge on roll" | "per day" | "recharge after rest"
    times: int = 0  # per day
    min_roll: int = 0  # recharge on roll: recharges on min_roll..6

    def display(self) -> str:
        if self.kind == "recharge on roll":
            return "Recharge 6" if self.min_roll >= 6 else f"Recharge {self.min_roll}-6"
        if self.kind == "per day":
            return f"{self.times}/Day"
        return "Recharges after a Short or Long Rest"


@dataclass(frozen=True, slots=True)
class MultiattackPart:
    """ "two with its claws": the action's name and how many times it is used in one Multiattack."""

    action: str
    count: int


@dataclass(frozen=True, slots=True)
class Action:
    """An action, reaction, legendary action or trait.

    ``damage`` lists fixed components; ``damage_options`` lists alternatives where the creature picks one
    (a two-handed grip, one of several breath weapons). ``multiattack`` is set only on "Multiattack" and lists
    its alternative routines ("two scimitar attacks and a dagger, or two dagger throws").
    """

    name: str
    description: str
    attack_bonus: int | None = None
    damage: tuple[Damage, ...] = ()
    damage_options: tuple[tuple[Damage, ...], ...] = ()
    save: SaveDC | None = None
    usage: Usage | None = None
    multiattack: tuple[tuple[MultiattackPart, ...], ...] = ()  # alternatives; the creature picks one
    legendary_cost: int = 1


@dataclass(frozen=True, slots=True)
class SpellEntry:
    """A spell a creature can cast: by slot (``per_day`` 0, not at will), at will, or N times a day."""

    name: str
    level: int
    at_will: bool = False
    per_day: int = 0


@dataclass(frozen=True, slots=True)
class Spellcasting:
    """A Spellcasting or Innate Spellcasting trait's numbers (the prose stays in ``traits``)."""

    ability: Ability
    save_dc: int
    attack_bonus: int
    caster_level: int  # 0 for innate casters
    slots: dict[int, int]  # spell level -> slots
    spells: tuple[SpellEntry, ...]


@dataclass(frozen=True, slots=True)
class StatBlock:
    """A full 5e stat block. ``index`` is the SRD slug (or a world creature's own id)."""

    index: str
    name: str
    size: str
    type: str
    subtype: str
    alignment: str
    armor_class: int
    armor_description: str
    hit_points: int
    hit_dice: str
    speeds: Speeds
    abilities: AbilityScores
    saving_throws: dict[Ability, int]
    skills: dict[str, int]
    damage_vulnerabilities: tuple[str, ...]
    damage_resistances: tuple[str, ...]
    damage_immunities: tuple[str, ...]
    condition_immunities: tuple[str, ...]
    senses: Senses
    languages: str
    challenge_rating: float
    xp: int
    proficiency_bonus: int
    traits: tuple[Action, ...] = ()
    actions: tuple[Action, ...] = ()
    reactions: tuple[Action, ...] = ()
    legendary_actions: tuple[Action, ...] = ()
    legendary_actions_per_round: int = 0
    spellcasting: tuple[Spellcasting, ...] = field(default=())
    source: str = ""  # "srd:<index>", "world:<id>"

    @property
    def challenge_display(self) -> str:
        """ "1/4", "1/2", "3": how the CR line prints."""
        return format_cr(self.challenge_rating)

    @property
    def hit_points_roll(self) -> str:
        """The hit point formula with the Constitution bonus, e.g. "2d6" or "19d12+133"."""
        count = int(self.hit_dice.split("d", 1)[0]) if "d" in self.hit_dice else 0
        bonus = count * self.abilities.modifier(Ability.CON)
        if not bonus:
            return self.hit_dice
        return f"{self.hit_dice}{bonus:+d}"

    def action(self, name: str) -> Action | None:
        """The action called ``name`` (case-insensitive), among actions, then legendary actions."""
        key = name.lower()
        for act in (*self.actions, *self.legendary_actions):
            if act.name.lower() == key:
                return act
        return None
