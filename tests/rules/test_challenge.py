"""CR <-> XP, CR fractions and proficiency bonuses, checked against tables typed from the books."""

from __future__ import annotations

import pytest

from mesh.errors import InvalidArgument
from rules.challenge import (
    CHALLENGE_RATINGS,
    cr_for_xp,
    cr_step,
    format_cr,
    parse_cr,
    proficiency_bonus_for_cr,
    proficiency_bonus_for_level,
    xp_for_cr,
)

# Monster Manual p.9 "Experience Points by Challenge Rating", typed in display form.
MM_XP = {
    "0": 10, "1/8": 25, "1/4": 50, "1/2": 100, "1": 200, "2": 450, "3": 700, "4": 1100, "5": 1800,
    "6": 2300, "7": 2900, "8": 3900, "9": 5000, "10": 5900, "11": 7200, "12": 8400, "13": 10000,
    "14": 11500, "15": 13000, "16": 15000, "17": 18000, "18": 20000, "19": 22000, "20": 25000,
    "21": 33000, "22": 41000, "23": 50000, "24": 62000, "25": 75000, "26": 90000, "27": 105000,
    "28": 120000, "29": 135000, "30": 155000,
}  # fmt: skip


@pytest.mark.parametrize(("display", "xp"), MM_XP.items())
def test_xp_for_every_cr(display: str, xp: int) -> None:
    cr = parse_cr(display)
    assert xp_for_cr(cr) == xp
    assert format_cr(cr) == display
    assert cr_for_xp(xp) == cr


def test_ladder_is_every_cr_in_order() -> None:
    assert [format_cr(c) for c in CHALLENGE_RATINGS] == list(MM_XP)
    assert cr_step(0.5, 1) == 1.0 and cr_step(1.0, -2) == 0.25
    assert cr_step(0.0, -3) == 0.0 and cr_step(30.0, 2) == 30.0


@pytest.mark.parametrize(("text", "value"), [("1/8", 0.125), ("1/4", 0.25), ("0.5", 0.5), (" 3 ", 3.0)])
def test_fractions_parse(text: str, value: float) -> None:
    assert parse_cr(text) == value


@pytest.mark.parametrize("bad", ["1/3", "31", "-1", "abc", "0.3"])
def test_unknown_cr_is_invalid_argument_listing_valid(bad: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        parse_cr(bad, "creatures[0].challenge_rating")
    field, description = err.value.violations[0]
    assert field == "creatures[0].challenge_rating"
    assert "1/8" in description or "cannot read" in description


def test_proficiency_by_cr_every_cr() -> None:
    # MM p.8: 0-4 +2, 5-8 +3, 9-12 +4, 13-16 +5, 17-20 +6, 21-24 +7, 25-28 +8, 29-30 +9.
    expected = {0.0: 2, 0.125: 2, 0.25: 2, 0.5: 2}
    for cr in range(1, 31):
        expected[float(cr)] = (
            2
            if cr <= 4
            else 3
            if cr <= 8
            else 4
            if cr <= 12
            else 5
            if cr <= 16
            else (6 if cr <= 20 else 7 if cr <= 24 else 8 if cr <= 28 else 9)
        )
    assert {cr: proficiency_bonus_for_cr(cr) for cr in CHALLENGE_RATINGS} == expected


def test_proficiency_by_level() -> None:
    # PHB p.15.
    table = [2] * 4 + [3] * 4 + [4] * 4 + [5] * 4 + [6] * 4
    assert [proficiency_bonus_for_level(lvl) for lvl in range(1, 21)] == table


@pytest.mark.parametrize("level", [0, 21, -3])
def test_level_out_of_range(level: int) -> None:
    with pytest.raises(InvalidArgument) as err:
        proficiency_bonus_for_level(level)
    assert err.value.violations[0][0] == "level"
