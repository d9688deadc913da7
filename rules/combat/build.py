"""Combatants from a character sheet (and its live state) or an SRD stat block; ``Sources`` keeps the sheet
or block behind each combatant id, which the engine reads for attacks, spells and monster actions."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import replace

from rules.combat import dice
from rules.combat.monsters import monster_kit
from rules.combat.state import ABILITIES, FOES, PARTY, Combatant
from rules.live_state import LiveState, resource_max
from rules.sheets import CharacterSheet
from rules.statblock import Ability, StatBlock

Source = CharacterSheet | StatBlock
Sources = Mapping[str, Source]
#: Class resources combat spends.
COMBAT_RESOURCES: tuple[str, ...] = ("rage_count", "second_wind_uses", "action_surges")
#: Healing potions: SRD names -> healing dice.
POTIONS: dict[str, str] = {
    "potion-of-healing": "2d4+2",
    "potion-of-greater-healing": "4d4+4",
    "potion-of-superior-healing": "8d4+8",
    "potion-of-supreme-healing": "10d4+20",
}


def from_sheet(
    cid: str,
    sheet: CharacterSheet,
    live: LiveState | None = None,
    items: Mapping[str, int] | None = None,
    position: str = "near",
) -> Combatant:
    """A character as it stands now: the live state's hit points, slots, resources and conditions."""
    slots = tuple(
        (sheet.spellcasting.slots[i] if sheet.spellcasting else 0) - (live.slots_used[i] if live else 0)
        for i in range(9)
    )
    used = live.resources_used if live else {}
    resources = tuple(
        (n, resource_max(sheet, n) - int(used.get(n, 0))) for n in COMBAT_RESOURCES if resource_max(sheet, n)
    )
    melee = [a for a in sheet.attacks if not a.ranged and a.index != "unarmed-strike"]
    return Combatant(
        id=cid,
        name=sheet.name,
        side=PARTY,
        kind="character",
        source=cid,
        hp=live.hp if live else sheet.hp_max,
        hp_max=sheet.hp_max,
        temp_hp=live.temp_hp if live else 0,
        ac=sheet.armor_class,
        speed=sheet.speed,
        saves=tuple(sheet.saving_throws[a].modifier for a in ABILITIES),
        dex=int(sheet.ability_scores["dex"]),
        level=sheet.level,
        position="engaged" if melee and position == "near" and sheet.class_index in _FRONTLINE else position,
        conditions=tuple(live.conditions) if live else (),
        death_successes=live.death_successes if live else 0,
        death_failures=live.death_failures if live else 0,
        stable=live.stable if live else False,
        dead=live.dead if live else False,
        slots=slots,
        resources=resources,
        items=tuple(sorted((items or {}).items())),
    )


#: Classes that open a fight at the melee line; everyone else starts near.
_FRONTLINE = frozenset({"barbarian", "fighter", "paladin", "monk"})


def monster_hp(block: StatBlock, rng: random.Random | None) -> int:
    """The stat block's average, or its hit dice rolled (at least 1) when ``rng`` is given."""
    if rng is None:
        return block.hit_points
    return max(1, dice.roll(block.hit_points_roll, rng).total)


def from_statblock(cid: str, name: str, block: StatBlock, hp: int, position: str = "near") -> Combatant:
    kit = monster_kit(block)
    ranged_only = bool(kit.moves) and all(m.ranged for m in kit.moves.values() if m.kind == "attack")
    per_day = tuple(
        (f"day:{m.name}", m.per_day) for m in (*kit.moves.values(), *kit.legendary.values()) if m.per_day
    )
    saves = tuple(
        block.saving_throws.get(Ability(a), block.abilities.modifier(Ability(a))) for a in ABILITIES
    )
    return Combatant(
        id=cid,
        name=name,
        side=FOES,
        kind="monster",
        source=block.index,
        hp=hp,
        hp_max=hp,
        ac=block.armor_class,
        speed=max(block.speeds.walk, block.speeds.fly, block.speeds.swim, 5),
        saves=saves,
        dex=block.abilities.dexterity,
        xp=block.xp,
        position="near" if ranged_only else position,
        resources=per_day,
        resistances=block.damage_resistances,
        immunities=block.damage_immunities,
        vulnerabilities=block.damage_vulnerabilities,
        condition_immunities=block.condition_immunities,
        legendary_max=block.legendary_actions_per_round if kit.legendary else 0,
    )


def with_position(c: Combatant, position: str) -> Combatant:
    return replace(c, position=position)
