"""The band search: which counts of which XP values land an encounter inside an XP band.

It works on the pool's distinct XP values (at most 34, one per CR), not on monsters, so enumerating every
feasible shape for up to 30 creatures stays in the tens of microseconds; monsters are chosen afterwards.

Shapes are "solo" (one creature), "pack" (n identical) and "leader" (1-2 stronger creatures with followers
of one other XP value). Followers are never "weak" in the DMG's sense (see ``rules.difficulty``), so the
multiplier counts every creature and the search's arithmetic is exactly the evaluator's.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

from rules.difficulty import WEAK_MONSTER_RATIO, encounter_multiplier


@dataclass(frozen=True, slots=True)
class Shape:
    kind: str  # "solo" | "pack" | "leader"
    slots: tuple[tuple[int, int], ...]  # (xp per creature, count), strongest first
    value: int  # adjusted (2014) or raw (2024) XP

    @property
    def count(self) -> int:
        return sum(c for _, c in self.slots)


def shape_value(slots: Sequence[tuple[int, int]], party_size: int, use_multiplier: bool) -> int:
    """Adjusted XP (2014) or raw XP (2024) of a shape, floored exactly as ``rules.difficulty.evaluate``."""
    raw = sum(x * c for x, c in slots)
    if not use_multiplier:
        return raw
    return int(raw * encounter_multiplier(sum(c for _, c in slots), party_size))


def feasible_shapes(
    xps: Sequence[int],
    band: tuple[int, int],
    party_size: int,
    max_creatures: int,
    use_multiplier: bool,
    leader_xps: Sequence[int] | None = None,
) -> list[Shape]:
    """Every shape of at most ``max_creatures`` whose value lies in ``band`` = [low, high).

    With ``leader_xps`` only "leader" shapes are returned, their leaders drawn from those values (a themed
    creature leading others of the terrain).
    """
    low, high = band
    out: list[Shape] = []
    leaders_from = xps if leader_xps is None else leader_xps
    for n in range(1, max_creatures + 1):
        mult = encounter_multiplier(n, party_size) if use_multiplier else 1.0
        raw_low, raw_high = low / mult, high / mult
        # Same XP for all n: raw = x * n.
        i0 = bisect.bisect_left(xps, raw_low / n - 1) if leader_xps is None else len(xps)
        for x in xps[i0:]:
            if x * n >= raw_high + 1:
                break
            value = int(x * n * mult)
            if low <= value < high:
                out.append(Shape("solo" if n == 1 else "pack", ((x, n),), value))
        # 1 or 2 leaders of XP xl, n - a followers of one lower XP xf (not weak next to the leaders).
        for leaders in (1, 2):
            followers = n - leaders
            if followers < 1:
                continue
            for xl in leaders_from:
                if xl * leaders >= raw_high:
                    break
                f_low = (raw_low - xl * leaders) / followers
                f_high = (raw_high - xl * leaders) / followers
                j = bisect.bisect_left(xps, max(f_low - 1, xl * WEAK_MONSTER_RATIO))
                for xf in xps[j:]:
                    if xf >= xl or xf > f_high + 1:
                        break
                    if xf < xl * WEAK_MONSTER_RATIO:
                        continue
                    value = int((xl * leaders + xf * followers) * mult)
                    if low <= value < high:
                        out.append(Shape("leader", ((xl, leaders), (xf, followers)), value))
    return out


def closest_shape(
    xps: Sequence[int], band: tuple[int, int], party_size: int, max_creatures: int, use_multiplier: bool
) -> Shape | None:
    """The solo or pack shape nearest the band, for when nothing lands inside it."""
    low, high = band
    best: tuple[float, Shape] | None = None
    for n in range(1, max_creatures + 1):
        for x in xps:
            value = shape_value(((x, n),), party_size, use_multiplier)
            distance = low - value if value < low else value - (high - 1)
            if best is None or distance < best[0]:
                best = (distance, Shape("solo" if n == 1 else "pack", ((x, n),), value))
    return best[1] if best else None
