"""Encounter difficulty arithmetic: the 2014 DMG thresholds and multipliers, the 2024 DMG budgets."""

from __future__ import annotations

import pytest

from mesh.errors import InvalidArgument
from rules.difficulty import (
    Difficulty,
    difficulty_band,
    encounter_multiplier,
    evaluate,
    party_budgets_2024,
    party_thresholds_2014,
)

# DMG 2014 p.82, XP Thresholds by Character Level: Easy, Medium, Hard, Deadly.
DMG2014 = """
1 25 50 75 100
2 50 100 150 200
3 75 150 225 400
4 125 250 375 500
5 250 500 750 1100
6 300 600 900 1400
7 350 750 1100 1700
8 450 900 1400 2100
9 550 1100 1600 2400
10 600 1200 1900 2800
11 800 1600 2400 3600
12 1000 2000 3000 4500
13 1100 2200 3400 5100
14 1250 2500 3800 5700
15 1400 2800 4300 6400
16 1600 3200 4800 7200
17 2000 3900 5900 8800
18 2100 4200 6300 9500
19 2400 4900 7300 10900
20 2800 5700 8500 12700
"""

# DMG 2024, XP Budget per Character: Low, Moderate, High.
DMG2024 = """
1 50 75 100
2 100 150 200
3 150 225 400
4 250 375 500
5 500 750 1100
6 600 1000 1400
7 750 1300 1700
8 1000 1700 2100
9 1300 2000 2600
10 1600 2300 3100
11 1900 2900 4100
12 2200 3700 4700
13 2600 4200 5400
14 2900 4900 6200
15 3300 5400 7800
16 3800 6100 9800
17 4500 7200 11700
18 5000 8700 14200
19 5500 10700 17200
20 6400 13200 22000
"""


def _table(text: str) -> dict[int, list[int]]:
    rows = [list(map(int, line.split())) for line in text.strip().splitlines()]
    return {r[0]: r[1:] for r in rows}


@pytest.mark.parametrize(("level", "row"), _table(DMG2014).items())
def test_2014_thresholds_every_level(level: int, row: list[int]) -> None:
    got = party_thresholds_2014([level])
    assert [got[d] for d in (Difficulty.EASY, Difficulty.MEDIUM, Difficulty.HARD, Difficulty.DEADLY)] == row
    # Thresholds add up over the party.
    assert party_thresholds_2014([level] * 4)[Difficulty.HARD] == 4 * row[2]


@pytest.mark.parametrize(("level", "row"), _table(DMG2024).items())
def test_2024_budgets_every_level(level: int, row: list[int]) -> None:
    got = party_budgets_2024([level])
    assert [got[d] for d in (Difficulty.LOW, Difficulty.MODERATE, Difficulty.HIGH)] == row
    assert party_budgets_2024([level] * 5)[Difficulty.LOW] == 5 * row[0]


# (monster count, multiplier for 3-5 characters, for 1-2, for 6+). DMG p.82-83.
MULTIPLIERS = [
    (1, 1.0, 1.5, 0.5),
    (2, 1.5, 2.0, 1.0),
    (3, 2.0, 2.5, 1.5),
    (6, 2.0, 2.5, 1.5),
    (7, 2.5, 3.0, 2.0),
    (10, 2.5, 3.0, 2.0),
    (11, 3.0, 4.0, 2.5),
    (14, 3.0, 4.0, 2.5),
    (15, 4.0, 5.0, 3.0),
    (40, 4.0, 5.0, 3.0),
]


@pytest.mark.parametrize(("count", "normal", "small", "large"), MULTIPLIERS)
def test_multiplier_edges(count: int, normal: float, small: float, large: float) -> None:
    for size in (3, 4, 5):
        assert encounter_multiplier(count, size) == normal
    for size in (1, 2):
        assert encounter_multiplier(count, size) == small
    for size in (6, 7, 8, 12):
        assert encounter_multiplier(count, size) == large


def test_one_monster_against_six_is_half() -> None:
    xp = evaluate([5] * 6, [1800])
    assert xp.multiplier == 0.5 and xp.adjusted_xp == 900


def test_known_case_five_cr1_against_three_level5() -> None:
    xp = evaluate([5, 5, 5], [200] * 5)
    assert xp.raw_xp == 1000
    assert xp.multiplier == 2.0
    assert xp.adjusted_xp == 2000
    assert xp.rating_2014 is Difficulty.MEDIUM  # Medium 1,500 <= 2,000 < Hard 2,250


def test_rating_at_thresholds_and_just_below() -> None:
    # Four level-3 characters: 300 / 600 / 900 / 1600. One monster: x1.
    levels = [3] * 4
    assert evaluate(levels, [299]).rating_2014 is Difficulty.TRIVIAL
    assert evaluate(levels, [300]).rating_2014 is Difficulty.EASY
    assert evaluate(levels, [899]).rating_2014 is Difficulty.MEDIUM
    assert evaluate(levels, [900]).rating_2014 is Difficulty.HARD
    assert evaluate(levels, [1600]).rating_2014 is Difficulty.DEADLY


def test_2024_has_no_multiplier() -> None:
    # Four level-3 characters: budgets 600 / 900 / 1600. Six CR 1/2 creatures: raw 600.
    xp = evaluate([3] * 4, [100] * 6)
    assert xp.adjusted_xp == 1200 and xp.rating_2014 is Difficulty.HARD
    assert xp.raw_xp == 600 and xp.rating_2024 is Difficulty.LOW


def test_2024_budgets_are_spending_limits() -> None:
    # Four level-3 characters: budgets 600 / 900 / 1600. A budget is the most an encounter of that
    # difficulty spends: 600 is Low, one XP more is Moderate; 1600 is High, one more is beyond it.
    levels = [3] * 4
    rating = {
        raw: evaluate(levels, [raw]).rating_2024 for raw in (100, 299, 300, 600, 601, 900, 901, 1600, 1601)
    }
    assert rating == {
        100: Difficulty.BELOW_LOW,
        299: Difficulty.BELOW_LOW,
        300: Difficulty.LOW,
        600: Difficulty.LOW,
        601: Difficulty.MODERATE,
        900: Difficulty.MODERATE,
        901: Difficulty.HIGH,
        1600: Difficulty.HIGH,
        1601: Difficulty.BEYOND_HIGH,
    }
    # Generation's band and the rating agree at every XP value of every 2024 band.
    for difficulty in (Difficulty.LOW, Difficulty.MODERATE, Difficulty.HIGH):
        low, high = difficulty_band(levels, difficulty)
        assert evaluate(levels, [low]).rating_2024 is difficulty
        assert evaluate(levels, [high - 1]).rating_2024 is difficulty
        assert evaluate(levels, [low - 1]).rating_2024 is not difficulty
        assert evaluate(levels, [high]).rating_2024 is not difficulty
    assert difficulty_band(levels, Difficulty.MODERATE) == (601, 901)  # more than Low, at most Moderate


def test_weak_monsters_left_out_of_the_count() -> None:
    # An adult red dragon (18,000) with four kobolds (25 each) against four level-15s.
    xp = evaluate([15] * 4, [18_000, 25, 25, 25, 25])
    assert xp.weak_left_out == (1, 2, 3, 4)
    assert xp.monsters_counted == 1 and xp.multiplier == 1.0
    assert xp.raw_xp == 18_100 and xp.adjusted_xp == 18_100
    counted = evaluate([15] * 4, [18_000, 25, 25, 25, 25], count_weak=True)
    assert counted.monsters_counted == 5 and counted.adjusted_xp == 36_200
    # A goblin boss (200) with goblins (50): the goblins matter and all count.
    assert evaluate([2] * 4, [200, 50, 50, 50]).monsters_counted == 4


def test_one_cr0_creature_never_flips_the_rating() -> None:
    # Four level-1s (100 / 200 / 300 / 400). An ogre (450 XP... too much): a bandit captain (450) is
    # Deadly alone; take a CR 1 creature (200) with two CR 0 rats (10): Medium. Measured against the
    # mean of the others a third rat made all three count (x2: 460, Deadly); against the strongest
    # creature rats stay weak however many join, so the fight only gains their 10 XP.
    levels = [1] * 4
    assert evaluate(levels, [200, 10, 10]).rating_2014 is Difficulty.MEDIUM
    more = evaluate(levels, [200, 10, 10, 10])
    assert more.weak_left_out == (1, 2, 3) and more.adjusted_xp == 230
    assert more.rating_2014 is Difficulty.MEDIUM
    # Property: adding one CR 0 creature to any group with a CR 1+ monster raises adjusted XP by 10 only.
    for group in ([200], [200, 10], [450, 25, 10], [1100, 100, 10, 10, 10], [200, 200, 10, 10, 10, 10]):
        before, after = evaluate(levels, group), evaluate(levels, [*group, 10])
        assert after.adjusted_xp == before.adjusted_xp + int(10 * before.multiplier)
        assert after.multiplier == before.multiplier


def test_bands() -> None:
    assert difficulty_band([5, 5, 5], Difficulty.MEDIUM) == (1500, 2250)
    assert difficulty_band([5, 5, 5], Difficulty.DEADLY) == (3300, 4950)
    assert difficulty_band([1], Difficulty.MODERATE) == (51, 76)  # more than Low 50, at most Moderate 75


@pytest.mark.parametrize(
    ("levels", "field"),
    [([], "party"), ([0], "party[0].level"), ([5, 21], "party[1].level"), ([3, 3, -1], "party[2].level")],
)
def test_bad_party(levels: list[int], field: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        evaluate(levels, [100])
    assert err.value.violations[0][0] == field
    assert field in str(err.value)


def test_no_monsters() -> None:
    with pytest.raises(InvalidArgument) as err:
        evaluate([1], [])
    assert err.value.violations[0][0] == "monsters"
