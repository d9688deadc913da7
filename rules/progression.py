"""Experience points and levels by the SRD 5.1 advancement table."""

from __future__ import annotations

from mesh.errors import InvalidArgument

#: XP needed to reach each level: ``XP_THRESHOLDS[level - 1]`` (level 1 needs 0, level 20 needs 355,000).
XP_THRESHOLDS: tuple[int, ...] = (
    0,
    300,
    900,
    2_700,
    6_500,
    14_000,
    23_000,
    34_000,
    48_000,
    64_000,
    85_000,
    100_000,
    120_000,
    140_000,
    165_000,
    195_000,
    225_000,
    265_000,
    305_000,
    355_000,
)
MAX_LEVEL = 20
#: Largest single award accepted (more than level 1 to 20 twice over: a typo, not a reward).
MAX_AWARD = 1_000_000


def level_for_xp(xp: int) -> int:
    """The level a character with ``xp`` points has reached (1..20)."""
    if xp < 0:
        raise InvalidArgument([("xp", "must not be negative")])
    level = 1
    for i, need in enumerate(XP_THRESHOLDS):
        if xp >= need:
            level = i + 1
    return level


def xp_to_next_level(xp: int) -> int:
    """Points still needed for the next level; 0 at level 20."""
    level = level_for_xp(xp)
    return 0 if level >= MAX_LEVEL else XP_THRESHOLDS[level] - xp


def award_xp(xp: int, award: int) -> tuple[int, int, int]:
    """Add ``award`` to ``xp``: returns (new xp, old level, new level); a gain of several levels at once is
    allowed (the SRD levels a character up once per threshold crossed)."""
    if isinstance(award, bool) or not isinstance(award, int) or not 0 <= award <= MAX_AWARD:
        raise InvalidArgument([("xp", f"award must be an integer 0..{MAX_AWARD}")])
    new = xp + award
    return new, level_for_xp(xp), level_for_xp(new)


def split_award(total: int, party_size: int) -> int:
    """Each member's share of an encounter's XP (rounded down), as the DMG divides it."""
    if party_size < 1:
        raise InvalidArgument([("party_size", "must be at least 1")])
    if total < 0:
        raise InvalidArgument([("xp", "must not be negative")])
    return total // party_size
