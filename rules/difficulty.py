"""Encounter difficulty under the 2014 DMG (thresholds + monster-count multiplier) and the 2024 DMG
(XP budget per character, no multiplier).

The 2014 rules (DMG pp.81-83): sum each character's thresholds; sum the monsters' XP; multiply by the
Encounter Multipliers entry for the number of monsters; if the party has fewer than three characters use
the next higher multiplier, six or more the next lower (a lone monster against six or more is x0.5).
Monsters far weaker than the rest of the group may be left out of the count (DMG p.83); we make that
exact with :data:`WEAK_MONSTER_RATIO` against the group's strongest monster and report which were left out.

The 2024 budgets are spending limits (2024 DMG, "Building Combat Encounters"): a Moderate encounter spends
more than the Low budget and at most the Moderate one, so the 2024 bands are ``(previous budget, budget]``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from mesh.errors import InvalidArgument
from rules.challenge import MAX_LEVEL, MIN_LEVEL, check_level


class Difficulty(StrEnum):
    """Difficulties of both rule sets, plus the ratings outside the requestable bands: ``TRIVIAL`` (2014,
    below Easy), ``BELOW_LOW`` and ``BEYOND_HIGH`` (2024, under half the Low budget or over the High one)."""

    TRIVIAL = "trivial"
    EASY = "easy"
    MEDIUM = "medium"
    HARD = "hard"
    DEADLY = "deadly"
    LOW = "low"
    MODERATE = "moderate"
    HIGH = "high"
    BELOW_LOW = "below_low"
    BEYOND_HIGH = "beyond_high"


DIFFICULTIES_2014: tuple[Difficulty, ...] = (
    Difficulty.EASY,
    Difficulty.MEDIUM,
    Difficulty.HARD,
    Difficulty.DEADLY,
)
DIFFICULTIES_2024: tuple[Difficulty, ...] = (Difficulty.LOW, Difficulty.MODERATE, Difficulty.HIGH)
REQUESTABLE: tuple[Difficulty, ...] = DIFFICULTIES_2014 + DIFFICULTIES_2024

#: 2014 DMG p.82, "XP Thresholds by Character Level": level -> (easy, medium, hard, deadly).
THRESHOLDS_2014: dict[int, tuple[int, int, int, int]] = {
    1: (25, 50, 75, 100), 2: (50, 100, 150, 200), 3: (75, 150, 225, 400), 4: (125, 250, 375, 500),
    5: (250, 500, 750, 1_100), 6: (300, 600, 900, 1_400), 7: (350, 750, 1_100, 1_700),
    8: (450, 900, 1_400, 2_100), 9: (550, 1_100, 1_600, 2_400), 10: (600, 1_200, 1_900, 2_800),
    11: (800, 1_600, 2_400, 3_600), 12: (1_000, 2_000, 3_000, 4_500), 13: (1_100, 2_200, 3_400, 5_100),
    14: (1_250, 2_500, 3_800, 5_700), 15: (1_400, 2_800, 4_300, 6_400), 16: (1_600, 3_200, 4_800, 7_200),
    17: (2_000, 3_900, 5_900, 8_800), 18: (2_100, 4_200, 6_300, 9_500), 19: (2_400, 4_900, 7_300, 10_900),
    20: (2_800, 5_700, 8_500, 12_700),
}  # fmt: skip

#: 2024 DMG, "XP Budget per Character": level -> (low, moderate, high).
BUDGETS_2024: dict[int, tuple[int, int, int]] = {
    1: (50, 75, 100), 2: (100, 150, 200), 3: (150, 225, 400), 4: (250, 375, 500), 5: (500, 750, 1_100),
    6: (600, 1_000, 1_400), 7: (750, 1_300, 1_700), 8: (1_000, 1_700, 2_100), 9: (1_300, 2_000, 2_600),
    10: (1_600, 2_300, 3_100), 11: (1_900, 2_900, 4_100), 12: (2_200, 3_700, 4_700),
    13: (2_600, 4_200, 5_400), 14: (2_900, 4_900, 6_200), 15: (3_300, 5_400, 7_800),
    16: (3_800, 6_100, 9_800), 17: (4_500, 7_200, 11_700), 18: (5_000, 8_700, 14_200),
    19: (5_500, 10_700, 17_200), 20: (6_400, 13_200, 22_000),
}  # fmt: skip

#: The Encounter Multipliers ladder (DMG p.82) with the two extra rungs the party-size shift reaches:
#: x0.5 below the first (the DMG's lone monster against 6+) and x5 above the last (15+ against 1-2,
#: the DMG's "next highest" past x4, as its example table for small parties continues).
MULTIPLIER_LADDER: tuple[float, ...] = (0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0)

#: A monster worth less than this share of the *strongest* monster's XP is "significantly below" the group
#: and is left out of the multiplier count (its XP still counts). 1/10 keeps a goblin boss's goblins
#: (50 vs 200 XP) but drops a dragon's kobolds. Measuring against the strongest (not the mean of the
#: others) keeps adding a weak creature from ever making the other weak ones count.
WEAK_MONSTER_RATIO = 0.1

#: The Low band's floor as a share of the Low budget: spending less than half of it is BELOW_LOW.
LOW_FLOOR_SHARE = 0.5

#: Our ceiling for the 2014 Deadly band, as a multiple of its threshold. The DMG gives no upper bound;
#: without one "deadly" could mean "certain death". (2024's High budget is itself the ceiling.)
TOP_BAND_CEILING = 1.5


def base_multiplier_rung(count: int) -> int:
    """Index into :data:`MULTIPLIER_LADDER` for ``count`` monsters before the party-size shift."""
    if count < 1:
        raise InvalidArgument([("monsters", "an encounter needs at least one monster")])
    if count == 1:
        return 1
    if count == 2:
        return 2
    if count <= 6:
        return 3
    if count <= 10:
        return 4
    if count <= 14:
        return 5
    return 6


def encounter_multiplier(monster_count: int, party_size: int) -> float:
    """The 2014 multiplier for ``monster_count`` counted monsters facing ``party_size`` characters."""
    if party_size < 1:
        raise InvalidArgument([("party", "the party needs at least one character")])
    rung = base_multiplier_rung(monster_count)
    if party_size < 3:
        rung += 1
    elif party_size >= 6:
        rung -= 1
    return MULTIPLIER_LADDER[rung]


def check_party(levels: Sequence[int], field: str = "party") -> tuple[int, ...]:
    """Validate the party's levels, naming the bad member (``party[2].level``)."""
    if not levels:
        raise InvalidArgument([(field, "the party must list at least one character")])
    bad = [
        (f"{field}[{i}].level", f"character level must be {MIN_LEVEL}-{MAX_LEVEL}, got {lvl!r}")
        for i, lvl in enumerate(levels)
        if isinstance(lvl, bool) or not isinstance(lvl, int) or not MIN_LEVEL <= lvl <= MAX_LEVEL
    ]
    if bad:
        raise InvalidArgument(bad)
    return tuple(check_level(lvl) for lvl in levels)


def party_thresholds_2014(levels: Sequence[int]) -> dict[Difficulty, int]:
    """Summed Easy/Medium/Hard/Deadly thresholds for the party."""
    party = check_party(levels)
    return {d: sum(THRESHOLDS_2014[lvl][i] for lvl in party) for i, d in enumerate(DIFFICULTIES_2014)}


def party_budgets_2024(levels: Sequence[int]) -> dict[Difficulty, int]:
    """Summed Low/Moderate/High budgets for the party."""
    party = check_party(levels)
    return {d: sum(BUDGETS_2024[lvl][i] for lvl in party) for i, d in enumerate(DIFFICULTIES_2024)}


def weak_monsters(monster_xps: Sequence[int]) -> tuple[int, ...]:
    """Positions of monsters whose XP is under :data:`WEAK_MONSTER_RATIO` of the strongest monster's."""
    if len(monster_xps) < 2:
        return ()
    strongest = max(monster_xps)
    return tuple(i for i, xp in enumerate(monster_xps) if xp < WEAK_MONSTER_RATIO * strongest)


def _rate(value: int, thresholds: dict[Difficulty, int], floor: Difficulty) -> Difficulty:
    rating = floor
    for difficulty, threshold in thresholds.items():  # ascending
        if value >= threshold:
            rating = difficulty
    return rating


def rate_2014(adjusted_xp: int, thresholds: dict[Difficulty, int]) -> Difficulty:
    """Highest 2014 threshold reached by the adjusted XP (Deadly has no ceiling in the DMG)."""
    return _rate(adjusted_xp, thresholds, Difficulty.TRIVIAL)


def rate_2024(raw_xp: int, budgets: dict[Difficulty, int]) -> Difficulty:
    """The lowest 2024 budget the raw XP stays within (budgets are spending limits): more than High is
    BEYOND_HIGH, less than :data:`LOW_FLOOR_SHARE` of Low is BELOW_LOW."""
    if raw_xp < _low_floor(budgets):
        return Difficulty.BELOW_LOW
    for difficulty in DIFFICULTIES_2024:  # ascending
        if raw_xp <= budgets[difficulty]:
            return difficulty
    return Difficulty.BEYOND_HIGH


def _low_floor(budgets: dict[Difficulty, int]) -> int:
    return math.ceil(budgets[Difficulty.LOW] * LOW_FLOOR_SHARE)


@dataclass(frozen=True, slots=True)
class XpBreakdown:
    """Everything a DM needs to check the math: what was summed, multiplied and compared."""

    party_levels: tuple[int, ...]
    monster_xps: tuple[int, ...]
    raw_xp: int
    monsters_counted: int  # for the multiplier, after leaving weak monsters out
    weak_left_out: tuple[int, ...]  # positions in monster_xps
    multiplier: float
    adjusted_xp: int
    thresholds_2014: dict[Difficulty, int]
    rating_2014: Difficulty
    budgets_2024: dict[Difficulty, int]
    rating_2024: Difficulty  # the 2024 rules compare raw XP to the budget: no multiplier

    def band(self, difficulty: Difficulty) -> tuple[int, int]:
        """[low, high) of adjusted (2014) or raw (2024) XP that rates exactly ``difficulty``."""
        return difficulty_band(self.party_levels, difficulty)

    def value_for(self, difficulty: Difficulty) -> int:
        """The XP figure its rule set compares: adjusted for 2014 names, raw for 2024 names."""
        return self.raw_xp if difficulty in DIFFICULTIES_2024 else self.adjusted_xp


def check_difficulty(name: str, field: str = "difficulty") -> Difficulty:
    """Parse a requested difficulty (either rule set), listing the valid names on error."""
    try:
        difficulty = Difficulty(name.strip().lower())
    except ValueError:
        difficulty = Difficulty.TRIVIAL
    if difficulty not in REQUESTABLE:
        valid = ", ".join(d.value for d in REQUESTABLE)
        raise InvalidArgument([(field, f"unknown difficulty {name!r}; valid: {valid}")])
    return difficulty


def difficulty_band(levels: Sequence[int], difficulty: Difficulty) -> tuple[int, int]:
    """The XP range [low, high) that rates ``difficulty``. 2014: from its threshold up to the next one (for
    Deadly, up to :data:`TOP_BAND_CEILING` times the threshold). 2024: more than the previous budget and at
    most this one, i.e. ``[previous + 1, budget + 1)`` (Low starts at :data:`LOW_FLOOR_SHARE` of its budget)."""
    if difficulty in DIFFICULTIES_2024:
        budgets = party_budgets_2024(levels)
        i = DIFFICULTIES_2024.index(difficulty)
        floor = _low_floor(budgets) if i == 0 else budgets[DIFFICULTIES_2024[i - 1]] + 1
        return floor, budgets[difficulty] + 1
    if difficulty in DIFFICULTIES_2014:
        table, order = party_thresholds_2014(levels), DIFFICULTIES_2014
    else:
        raise InvalidArgument([("difficulty", f"{difficulty.value!r} is not a difficulty one can ask for")])
    i = order.index(difficulty)
    low = table[difficulty]
    high = table[order[i + 1]] if i + 1 < len(order) else int(low * TOP_BAND_CEILING)
    return low, high


def evaluate(levels: Sequence[int], monster_xps: Sequence[int], count_weak: bool = False) -> XpBreakdown:
    """Rate a group of monsters against a party under both rule sets.

    ``count_weak=True`` counts every monster for the multiplier (the DMG's "unless you think the weak
    monsters significantly contribute").
    """
    party = check_party(levels)
    if not monster_xps:
        raise InvalidArgument([("monsters", "an encounter needs at least one monster")])
    bad = [(f"monsters[{i}].xp", "must not be negative") for i, xp in enumerate(monster_xps) if xp < 0]
    if bad:
        raise InvalidArgument(bad)
    xps = tuple(int(x) for x in monster_xps)
    weak = () if count_weak else weak_monsters(xps)
    counted = len(xps) - len(weak)
    multiplier = encounter_multiplier(counted, len(party))
    raw = sum(xps)
    # x0.5/x1.5 of an odd sum ends in .5; flooring keeps comparisons exact since thresholds are integers.
    adjusted = int(raw * multiplier)
    thresholds = party_thresholds_2014(party)
    budgets = party_budgets_2024(party)
    return XpBreakdown(
        party_levels=party,
        monster_xps=xps,
        raw_xp=raw,
        monsters_counted=counted,
        weak_left_out=weak,
        multiplier=multiplier,
        adjusted_xp=adjusted,
        thresholds_2014=thresholds,
        rating_2014=rate_2014(adjusted, thresholds),
        budgets_2024=budgets,
        rating_2024=rate_2024(raw, budgets),
    )
