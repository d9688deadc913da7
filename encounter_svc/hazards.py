"""Traps and natural hazards whose numbers match the party's tier.

Numbers are the DMG's (pp.120-121, "Trap Save DCs and Attack Bonuses" and "Damage Severity by Level"):
a setback is DC 10-11 / +3 to +5, dangerous DC 12-15 / +6 to +8, deadly DC 16-20 / +9 to +12; damage
by tier (levels 1-4, 5-10, 11-16, 17-20) is 1d10/2d10/4d10, 2d10/4d10/10d10, 4d10/10d10/18d10,
10d10/18d10/24d10. The requested difficulty picks the severity. Names and effects per terrain are ours.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from encounter_svc.models import Hazard
from rules.dice import average
from rules.difficulty import Difficulty
from rules.statblock import Ability, Damage
from rules.terrain import Terrain

SEVERITIES = ("setback", "dangerous", "deadly")

#: Severity -> (save DC range, attack bonus range), inclusive.
SEVERITY_NUMBERS: dict[str, tuple[tuple[int, int], tuple[int, int]]] = {
    "setback": ((10, 11), (3, 5)),
    "dangerous": ((12, 15), (6, 8)),
    "deadly": ((16, 20), (9, 12)),
}

#: Tier (1-4) -> damage dice for setback, dangerous, deadly.
DAMAGE_BY_TIER: dict[int, tuple[str, str, str]] = {
    1: ("1d10", "2d10", "4d10"),
    2: ("2d10", "4d10", "10d10"),
    3: ("4d10", "10d10", "18d10"),
    4: ("10d10", "18d10", "24d10"),
}

#: Requested difficulty -> severities a hazard of that encounter may have.
SEVERITY_FOR: dict[Difficulty, tuple[str, ...]] = {
    Difficulty.EASY: ("setback",),
    Difficulty.LOW: ("setback",),
    Difficulty.MEDIUM: ("setback", "dangerous"),
    Difficulty.MODERATE: ("dangerous",),
    Difficulty.HARD: ("dangerous",),
    Difficulty.HIGH: ("dangerous", "deadly"),
    Difficulty.DEADLY: ("deadly",),
}

# (name, what it does, save ability, damage type, attacks instead of a save)
_Kind = tuple[str, str, Ability, str, bool]
_GENERIC: tuple[_Kind, ...] = (
    ("Hidden pit", "A covered pit drops the first creature to cross it.", Ability.DEX, "bludgeoning", False),
    ("Poison needle", "A needle springs from a lock or handle.", Ability.CON, "poison", False),
    ("Swinging blade", "A scything blade sweeps across the passage.", Ability.DEX, "slashing", True),
    ("Falling rocks", "A tripwire brings down the ceiling.", Ability.DEX, "bludgeoning", False),
)
_BY_TERRAIN: dict[Terrain, tuple[_Kind, ...]] = {
    Terrain.ARCTIC: (
        ("Thin ice", "The ice gives way over freezing water.", Ability.CON, "cold", False),
        ("Avalanche", "Snow thunders down the slope.", Ability.DEX, "bludgeoning", False),
    ),
    Terrain.COASTAL: (
        (
            "Rogue wave",
            "A wave breaks over the rocks and drags creatures out.",
            Ability.STR,
            "bludgeoning",
            False,
        ),
        ("Crumbling cliff", "The cliff edge collapses under weight.", Ability.DEX, "bludgeoning", False),
    ),
    Terrain.DESERT: (
        ("Quicksand", "The sand swallows what stands on it.", Ability.STR, "bludgeoning", False),
        ("Sandstorm", "Scouring sand blinds and flays.", Ability.CON, "slashing", False),
    ),
    Terrain.FOREST: (
        ("Razorvine thicket", "Thorned vines lash whoever pushes through.", Ability.DEX, "slashing", False),
        (
            "Snare and spikes",
            "A hunter's snare hoists its victim onto stakes.",
            Ability.DEX,
            "piercing",
            True,
        ),
    ),
    Terrain.GRASSLAND: (
        ("Wildfire", "Dry grass catches and the wind drives the flames.", Ability.DEX, "fire", False),
        ("Stampede", "A herd bolts straight through the party.", Ability.DEX, "bludgeoning", False),
    ),
    Terrain.HILL: (
        ("Rockslide", "Loose scree slides down the hillside.", Ability.DEX, "bludgeoning", False),
        ("Collapsed barrow", "An old burial mound caves in.", Ability.DEX, "bludgeoning", False),
    ),
    Terrain.MOUNTAIN: (
        ("Rockfall", "Boulders tumble from the heights.", Ability.DEX, "bludgeoning", False),
        ("Thin air", "The altitude saps strength and breath.", Ability.CON, "necrotic", False),
    ),
    Terrain.SWAMP: (
        ("Sucking bog", "The mire grips legs and drags down.", Ability.STR, "bludgeoning", False),
        ("Marsh gas", "A pocket of rot-gas ignites.", Ability.DEX, "fire", False),
    ),
    Terrain.UNDERDARK: (
        ("Cave-in", "The tunnel roof gives way.", Ability.DEX, "bludgeoning", False),
        ("Spore cloud", "Burst fungi release choking spores.", Ability.CON, "poison", False),
    ),
    Terrain.UNDERWATER: (
        ("Riptide", "A current slams swimmers into the reef.", Ability.STR, "bludgeoning", False),
        ("Stinging weed", "Venomous fronds brush bare skin.", Ability.CON, "poison", False),
    ),
    Terrain.URBAN: (
        ("Collapsing floor", "Rotten boards give way over a cellar.", Ability.DEX, "bludgeoning", False),
        ("Crossbow trap", "A hidden crossbow fires from the wall.", Ability.DEX, "piercing", True),
    ),
}


def tier_of(levels: Sequence[int]) -> int:
    """The party's tier from its average level (rounded half up): 1-4 -> 1, 5-10 -> 2, 11-16 -> 3, 17+ -> 4."""
    level = int(sum(levels) / len(levels) + 0.5)
    return 1 if level <= 4 else 2 if level <= 10 else 3 if level <= 16 else 4


def make_hazard(kind: _Kind, severity: str, tier: int, rng: random.Random) -> Hazard:
    """One hazard with a DC and damage drawn inside the DMG ranges for its severity and tier."""
    name, text, ability, damage_type, attacks = kind
    (dc_lo, dc_hi), (atk_lo, atk_hi) = SEVERITY_NUMBERS[severity]
    dice = DAMAGE_BY_TIER[tier][SEVERITIES.index(severity)]
    save_dc = rng.randint(dc_lo, dc_hi)
    return Hazard(
        name=name,
        description=text,
        detect_dc=save_dc,  # the DMG sets detection at the trap's own DC scale
        disarm_dc=save_dc,
        save_dc=save_dc,
        save_ability=ability,
        damage=Damage(dice=dice, damage_type=damage_type, average=average(dice)),
        severity=severity,
        attack_bonus=rng.randint(atk_lo, atk_hi) if attacks else 0,
    )


def hazards_for(
    terrains: Sequence[Terrain], levels: Sequence[int], difficulty: Difficulty, rng: random.Random
) -> tuple[Hazard, ...]:
    """One to three hazards fitting the terrain, at the severity the difficulty asks for."""
    kinds = [k for t in terrains for k in _BY_TERRAIN[t]] + list(_GENERIC)
    tier = tier_of(levels)
    count = rng.randint(1, 3)
    chosen = rng.sample(kinds, k=min(count, len(kinds)))
    return tuple(make_hazard(k, rng.choice(SEVERITY_FOR[difficulty]), tier, rng) for k in chosen)
