"""Treasure for an encounter: DMG individual-treasure coins by CR, and sometimes an SRD magic item.

Coins follow the DMG's Individual Treasure tables (p.136), rolled with seeded dice. Only creatures that
collect valuables carry any: we take Intelligence 6+ as the line (beasts, oozes and mindless undead carry
nothing). One roll per group of identical creatures, scaled by the count, keeps a twelve-goblin fight as
cheap to build as a duel; the expected total is the same as rolling each purse. The chance of a magic item
grows with the difficulty; its rarity follows the party's tier (DMG p.38 "Magic Item Rarity").
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from functools import lru_cache

from encounter_svc.hazards import tier_of
from encounter_svc.models import CreatureGroup, EncounterKind, Treasure
from rules.dice import SeededRoller
from rules.difficulty import Difficulty
from rules.srd import Srd
from rules.statblock import Ability

COPPER_PER = {"cp": 1, "sp": 10, "ep": 50, "gp": 100, "pp": 1000}

# CR band -> rows of (highest d100 roll, [(dice, multiplier, coin), ...]).
_Row = tuple[int, tuple[tuple[str, int, str], ...]]
INDIVIDUAL_TREASURE: dict[int, tuple[_Row, ...]] = {
    0: (  # CR 0-4
        (30, (("5d6", 1, "cp"),)),
        (60, (("4d6", 1, "sp"),)),
        (70, (("3d6", 1, "ep"),)),
        (95, (("3d6", 1, "gp"),)),
        (100, (("1d6", 1, "pp"),)),
    ),
    5: (  # CR 5-10
        (30, (("4d6", 100, "cp"), ("1d6", 10, "ep"))),
        (60, (("6d6", 10, "sp"), ("2d6", 10, "gp"))),
        (70, (("3d6", 10, "ep"), ("2d6", 10, "gp"))),
        (95, (("4d6", 10, "gp"),)),
        (100, (("2d6", 10, "gp"), ("3d6", 1, "pp"))),
    ),
    11: (  # CR 11-16
        (20, (("4d6", 100, "sp"), ("1d6", 100, "gp"))),
        (35, (("1d6", 100, "ep"), ("1d6", 100, "gp"))),
        (75, (("2d6", 100, "gp"), ("1d6", 10, "pp"))),
        (100, (("2d6", 100, "gp"), ("2d6", 10, "pp"))),
    ),
    17: (  # CR 17+
        (15, (("2d6", 1000, "ep"), ("8d6", 100, "gp"))),
        (55, (("1d6", 1000, "gp"), ("1d6", 100, "pp"))),
        (100, (("1d6", 1000, "gp"), ("2d6", 100, "pp"))),
    ),
}

#: Chance that the encounter yields one magic item, by requested difficulty.
MAGIC_ITEM_CHANCE: dict[Difficulty, float] = {
    Difficulty.EASY: 0.05, Difficulty.LOW: 0.05, Difficulty.MEDIUM: 0.10, Difficulty.MODERATE: 0.15,
    Difficulty.HARD: 0.20, Difficulty.HIGH: 0.30, Difficulty.DEADLY: 0.35,
}  # fmt: skip
#: Tier -> rarities a found item may have.
RARITIES_BY_TIER: dict[int, tuple[str, ...]] = {
    1: ("common", "uncommon"),
    2: ("uncommon", "rare"),
    3: ("rare", "very rare"),
    4: ("very rare", "legendary"),
}
MIN_INTELLIGENCE_FOR_TREASURE = 6


def _band(cr: float) -> int:
    return 0 if cr < 5 else 5 if cr < 11 else 11 if cr < 17 else 17


def carries_treasure(group: CreatureGroup) -> bool:
    return group.stat_block.abilities.score(Ability.INT) >= MIN_INTELLIGENCE_FOR_TREASURE


def roll_individual(cr: float, roller: SeededRoller) -> dict[str, int]:
    """One purse from the Individual Treasure table for ``cr``."""
    d100 = roller.roll("1d100").total
    for top, parts in INDIVIDUAL_TREASURE[_band(cr)]:
        if d100 <= top:
            coins: dict[str, int] = {}
            for dice, mult, coin in parts:
                coins[coin] = coins.get(coin, 0) + roller.roll(dice).total * mult
            return coins
    raise AssertionError("d100 above 100")  # pragma: no cover


@lru_cache(maxsize=8)
def _items_by_rarity(srd: Srd) -> dict[str, tuple[str, ...]]:
    out: dict[str, list[str]] = {}
    for item in srd.magic_items.values():
        out.setdefault(item.rarity, []).append(item.name)
    return {k: tuple(sorted(v)) for k, v in out.items()}


def roll_treasure(
    groups: Sequence[CreatureGroup],
    levels: Sequence[int],
    difficulty: Difficulty,
    kind: EncounterKind,
    srd: Srd,
    rng: random.Random,
) -> Treasure:
    """Coins from the creatures that carry them, plus maybe one magic item of the party's tier."""
    roller = SeededRoller(rng)
    coins = dict.fromkeys(COPPER_PER, 0)
    for group in groups:
        if carries_treasure(group):
            for coin, amount in roll_individual(group.stat_block.challenge_rating, roller).items():
                coins[coin] += amount * group.count
    items: tuple[str, ...] = ()
    chance = MAGIC_ITEM_CHANCE[difficulty] if kind is not EncounterKind.SOCIAL else 0.0
    if any(g.stat_block.legendary_actions for g in groups):
        chance += 0.3  # legendary creatures sit on hoards
    if rng.random() < chance:
        by_rarity = _items_by_rarity(srd)
        rarity = rng.choice(RARITIES_BY_TIER[tier_of(levels)])
        if by_rarity.get(rarity):
            items = (rng.choice(by_rarity[rarity]),)
    total = sum(COPPER_PER[c] * n for c, n in coins.items())
    return Treasure(coins={c: n for c, n in coins.items() if n}, items=items, coins_cp=total, total_cp=total)
