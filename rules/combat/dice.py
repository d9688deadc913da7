"""Fast seeded dice for combat: plain ``NdM+K`` sums with every die kept, so a critical hit can double
the dice and an event can carry each die. (``rules.dice`` handles the general d20 syntax; combat only
needs sums, and needs them in microseconds.)"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from functools import lru_cache

from mesh.errors import InvalidArgument

_TERM = re.compile(r"([+-]?)\s*(?:(\d+)\s*d\s*(\d+)|(\d+))")


@lru_cache(maxsize=2048)
def parse(notation: str, field: str = "dice") -> tuple[tuple[tuple[int, int], ...], int]:
    """``"2d6+1d4+3"`` -> (((2, 6), (1, 4)), 3); dice subtracted are not supported (no stat block has them)."""
    text = notation.replace(" ", "")
    pos, dice, flat = 0, [], 0
    while pos < len(text):
        m = _TERM.match(text, pos)
        if not m or m.end() == pos:
            raise InvalidArgument([(field, f"{notation!r} is not NdM+K notation")])
        sign = -1 if m.group(1) == "-" else 1
        if m.group(2):
            count, sides = int(m.group(2)), int(m.group(3))
            if sign < 0 or sides < 1 or count > 100:
                raise InvalidArgument([(field, f"{notation!r} is not NdM+K notation")])
            dice.append((count, sides))
        else:
            flat += sign * int(m.group(4))
        pos = m.end()
    if not text:
        raise InvalidArgument([(field, "dice notation must not be empty")])
    return tuple(dice), flat


def mean(notation: str, critical: bool = False) -> float:
    dice, flat = parse(notation)
    return sum(c * (s + 1) / 2 for c, s in dice) * (2 if critical else 1) + flat


@dataclass(frozen=True, slots=True)
class Rolled:
    dice: tuple[int, ...]
    modifier: int
    total: int


def roll(notation: str, rng: random.Random, critical: bool = False) -> Rolled:
    """Roll ``notation``; a critical hit rolls every die twice. Totals never go below 0."""
    groups, flat = parse(notation)
    values = [rng.randint(1, sides) for count, sides in groups for _ in range(count * (2 if critical else 1))]
    return Rolled(tuple(values), flat, max(0, sum(values) + flat))


def d20(rng: random.Random, advantage: int) -> tuple[int, tuple[int, ...]]:
    """A d20 with ``advantage`` > 0 (keep the higher of two), < 0 (the lower) or 0; returns (kept, all)."""
    if advantage == 0:
        value = rng.randint(1, 20)
        return value, (value,)
    a, b = rng.randint(1, 20), rng.randint(1, 20)
    return (max(a, b) if advantage > 0 else min(a, b)), (a, b)
