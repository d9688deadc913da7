"""Challenge rating tables: CR <-> XP, CR as fractions, proficiency bonus by CR and by level.

Numbers are the 2014 Monster Manual / DMG tables (the 2024 books kept them). CR is carried as a float
(0.125, 0.25, 0.5 for the fractional ratings) because that is what the SRD data stores; `format_cr`
turns it into the "1/4" that a stat block prints.
"""

from __future__ import annotations

from fractions import Fraction

from mesh.errors import InvalidArgument

#: Every challenge rating a 5e monster can have, in order.
CHALLENGE_RATINGS: tuple[float, ...] = (0.0, 0.125, 0.25, 0.5, *(float(n) for n in range(1, 31)))

#: Experience points by challenge rating (Monster Manual p.9, DMG p.274).
XP_BY_CR: dict[float, int] = {
    0.0: 10, 0.125: 25, 0.25: 50, 0.5: 100,
    1.0: 200, 2.0: 450, 3.0: 700, 4.0: 1_100, 5.0: 1_800,
    6.0: 2_300, 7.0: 2_900, 8.0: 3_900, 9.0: 5_000, 10.0: 5_900,
    11.0: 7_200, 12.0: 8_400, 13.0: 10_000, 14.0: 11_500, 15.0: 13_000,
    16.0: 15_000, 17.0: 18_000, 18.0: 20_000, 19.0: 22_000, 20.0: 25_000,
    21.0: 33_000, 22.0: 41_000, 23.0: 50_000, 24.0: 62_000, 25.0: 75_000,
    26.0: 90_000, 27.0: 105_000, 28.0: 120_000, 29.0: 135_000, 30.0: 155_000,
}  # fmt: skip

MIN_LEVEL = 1
MAX_LEVEL = 20


def _check_cr(cr: float, field: str) -> float:
    value = float(cr)
    if value not in XP_BY_CR:
        valid = ", ".join(format_cr(c) for c in CHALLENGE_RATINGS)
        raise InvalidArgument([(field, f"unknown challenge rating {cr!r}; valid: {valid}")])
    return value


def xp_for_cr(cr: float, field: str = "challenge_rating") -> int:
    """XP a monster of this CR is worth. A CR 0 creature with no effective attacks is worth 0: pass 0 XP
    yourself in that case; the table's 10 is the usual value."""
    return XP_BY_CR[_check_cr(cr, field)]


def cr_for_xp(xp: int) -> float:
    """The CR whose XP is exactly ``xp`` (0 XP maps to CR 0); raises if no CR is worth that much."""
    if xp == 0:
        return 0.0
    for cr, value in XP_BY_CR.items():
        if value == xp:
            return cr
    raise InvalidArgument([("xp", f"{xp} is not the XP of any challenge rating")])


def format_cr(cr: float) -> str:
    """Display form: 0.125 -> "1/8", 0.25 -> "1/4", 0.5 -> "1/2", 3.0 -> "3"."""
    frac = Fraction(cr).limit_denominator(8)
    return str(frac.numerator) if frac.denominator == 1 else f"{frac.numerator}/{frac.denominator}"


def parse_cr(text: str, field: str = "challenge_rating") -> float:
    """Parse "1/4", "0.25" or "3" into the float CR, validating it is a real rating."""
    try:
        value = float(Fraction(text.strip()))
    except (ValueError, ZeroDivisionError):
        raise InvalidArgument([(field, f"cannot read {text!r} as a challenge rating")]) from None
    return _check_cr(value, field)


def cr_index(cr: float) -> int:
    """Position of a CR in :data:`CHALLENGE_RATINGS`: the CR calculator's "steps" are moves along it."""
    return CHALLENGE_RATINGS.index(_check_cr(cr, "challenge_rating"))


def cr_step(cr: float, steps: int) -> float:
    """The CR ``steps`` places up (or down) the CR ladder, clamped to 0..30."""
    i = min(max(cr_index(cr) + steps, 0), len(CHALLENGE_RATINGS) - 1)
    return CHALLENGE_RATINGS[i]


def proficiency_bonus_for_cr(cr: float) -> int:
    """+2 at CR 0-4, +1 every four CRs after that, +9 at CR 29-30 (Monster Manual p.8)."""
    value = _check_cr(cr, "challenge_rating")
    return 2 if value < 5 else 2 + (int(value) - 1) // 4


def check_level(level: int, field: str = "level") -> int:
    """Validate a character level (1-20)."""
    if isinstance(level, bool) or not isinstance(level, int) or not MIN_LEVEL <= level <= MAX_LEVEL:
        raise InvalidArgument([(field, f"character level must be {MIN_LEVEL}-{MAX_LEVEL}, got {level!r}")])
    return level


def proficiency_bonus_for_level(level: int) -> int:
    """+2 at levels 1-4, rising by one every four levels to +6 at 17-20 (PHB p.15)."""
    return 2 + (check_level(level) - 1) // 4
