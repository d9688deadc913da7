"""Encounter domain objects: what the builder takes and returns, free of protobuf and grpc.

The servicer converts these to and from the ``dungeonmaster.v1`` messages field by field; nothing here
knows about the wire.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from mesh.errors import InvalidArgument
from rules.challenge import parse_cr
from rules.difficulty import DIFFICULTIES_2024, Difficulty, XpBreakdown
from rules.statblock import Ability, Damage, StatBlock


class EncounterKind(StrEnum):
    COMBAT = "combat"
    SOCIAL = "social"
    HAZARD = "hazard"


def check_kind(name: str, field: str = "kind") -> EncounterKind:
    """Parse an encounter kind; empty means combat (the proto's UNSPECIFIED)."""
    if not name.strip():
        return EncounterKind.COMBAT
    try:
        return EncounterKind(name.strip().lower())
    except ValueError:
        valid = ", ".join(k.value for k in EncounterKind)
        raise InvalidArgument([(field, f"unknown encounter kind {name!r}; valid: {valid}")]) from None


@dataclass(frozen=True, slots=True)
class PartyMember:
    level: int
    name: str = ""
    character_class: str = ""


@dataclass(frozen=True, slots=True)
class WorldCreature:
    """A creature of the world's own lore, built on an SRD stat block (``based_on``).

    Mirrors the lore parser's ``World.creatures`` dicts (name, cr, terrains, based_on, description) without
    importing it. Its mechanics are the base creature's; ``cr`` is the lore's rating and sets its XP.
    """

    name: str
    cr: float
    terrains: tuple[str, ...]
    based_on: str
    description: str = ""

    @property
    def index(self) -> str:
        """A slug for the creature, prefixed so it never collides with an SRD index."""
        return "world-" + re.sub(r"[^a-z0-9]+", "-", self.name.lower()).strip("-")

    @classmethod
    def from_lore(cls, raw: Mapping[str, Any], field: str = "world_creatures") -> WorldCreature:
        """Build from one lore dict, naming the bad key on error."""
        try:
            name = str(raw["name"]).strip()
            based_on = str(raw["based_on"]).strip()
        except KeyError as exc:
            raise InvalidArgument([(f"{field}.{exc.args[0]}", "is required")]) from None
        if not name:
            raise InvalidArgument([(f"{field}.name", "must not be empty")])
        cr_raw = raw.get("cr", "")
        cr = parse_cr(str(cr_raw), f"{field}.cr") if str(cr_raw).strip() else -1.0
        terrains = raw.get("terrains", ())
        return cls(
            name=name,
            cr=cr,
            terrains=tuple(str(t) for t in ([terrains] if isinstance(terrains, str) else terrains)),
            based_on=based_on,
            description=str(raw.get("description", "")),
        )


@dataclass(frozen=True, slots=True)
class CreatureGroup:
    """``count`` identical creatures with one stat block and a tactical role."""

    count: int
    stat_block: StatBlock
    role: str


@dataclass(frozen=True, slots=True)
class TerrainFeature:
    name: str
    description: str


@dataclass(frozen=True, slots=True)
class Hazard:
    """A trap or natural hazard with DCs and damage scaled to the party's tier (DMG pp.120-121, 249)."""

    name: str
    description: str
    detect_dc: int
    disarm_dc: int
    save_dc: int
    save_ability: Ability
    damage: Damage
    severity: str  # "setback" | "dangerous" | "deadly"
    attack_bonus: int = 0  # for hazards that attack instead of forcing a save (0: none)


@dataclass(frozen=True, slots=True)
class SocialStakes:
    participants: tuple[str, ...]
    goal: str
    reward: str
    risk: str
    checks: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Treasure:
    """Coins by denomination (cp, sp, ep, gp, pp), magic items by name, and the total in copper."""

    coins: dict[str, int]
    items: tuple[str, ...]
    coins_cp: int
    total_cp: int  # coins only: SRD items carry no price


@dataclass(frozen=True, slots=True)
class EncounterRequest:
    """What GenerateEncounter asks for. ``terrains`` is one terrain or a region's terrains."""

    party: tuple[PartyMember, ...]
    terrains: tuple[str, ...]
    difficulty: str
    kind: str = "combat"
    theme: str = ""
    seed: int = 0
    max_creatures: int = 12
    region: str = ""
    world_creatures: tuple[WorldCreature, ...] = ()


@dataclass(frozen=True, slots=True)
class Prose:
    """The words of an encounter: written after the mechanics, by tables or a language model."""

    title: str
    description: str
    tactics: str
    terrain_features: tuple[TerrainFeature, ...]


@dataclass(frozen=True, slots=True)
class Encounter:
    """A built encounter: mechanics first (creatures, XP, hazards, treasure), then prose."""

    id: str
    kind: EncounterKind
    terrain: str  # the terrain the creatures were drawn for (first of a region's when several fit)
    terrains: tuple[str, ...]
    region: str
    difficulty: Difficulty  # as requested
    band: tuple[int, int]  # [low, high) of adjusted (2014) or raw (2024) XP
    creatures: tuple[CreatureGroup, ...]
    xp: XpBreakdown | None  # None for a hazard with no creatures
    hazards: tuple[Hazard, ...]
    social: SocialStakes | None
    treasure: Treasure
    seed: int
    unmet_reason: str = ""
    notes: tuple[str, ...] = ()
    prose: Prose = field(default_factory=lambda: Prose("", "", "", ()))

    @property
    def budget(self) -> int:
        """The figure the generator aimed at: the 2014 threshold it reached or the 2024 budget it spent
        within (2024 budgets are spending limits, the band's inclusive top)."""
        return self.band[1] - 1 if self.difficulty in DIFFICULTIES_2024 else self.band[0]

    @property
    def creature_count(self) -> int:
        return sum(g.count for g in self.creatures)
