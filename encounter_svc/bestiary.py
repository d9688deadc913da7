"""The creature pool an encounter draws from: SRD monsters by terrain, plus the world's own creatures.

World creatures reuse an SRD stat block under their own name and description (their lore CR sets their XP
and proficiency bonus); they join the terrains their lore gives them. Pools per terrain set are cached:
building one costs a pass over ~330 monsters, drawing from it must cost microseconds.
"""

from __future__ import annotations

import bisect
import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from encounter_svc.models import WorldCreature
from mesh.errors import InvalidArgument, NotFound
from rules.challenge import XP_BY_CR, proficiency_bonus_for_cr
from rules.srd import Srd, load_srd
from rules.statblock import StatBlock
from rules.terrain import Terrain, check_terrain, terrains_of


@dataclass(frozen=True)
class Pool:
    """Creatures of some terrains, sorted by XP, with the distinct XP values for the search."""

    monsters: tuple[StatBlock, ...]
    xps: tuple[int, ...]  # distinct, ascending
    by_xp: dict[int, tuple[StatBlock, ...]]

    @classmethod
    def of(cls, monsters: Iterable[StatBlock]) -> Pool:
        ordered = tuple(sorted((m for m in monsters if m.xp > 0), key=lambda m: (m.xp, m.index)))
        by_xp: dict[int, list[StatBlock]] = {}
        for m in ordered:
            by_xp.setdefault(m.xp, []).append(m)
        return cls(ordered, tuple(sorted(by_xp)), {k: tuple(v) for k, v in by_xp.items()})

    def capped(self, max_xp: int) -> Pool:
        """The sub-pool of creatures worth at most ``max_xp``."""
        return Pool.of(self.monsters[: bisect.bisect_right([m.xp for m in self.monsters], max_xp)])

    def filtered(self, keep: Sequence[StatBlock]) -> Pool:
        return Pool.of(keep)


def world_stat_block(creature: WorldCreature, srd: Srd, field: str = "world_creatures") -> StatBlock:
    """The world creature's stat block: its base's mechanics under its own name."""
    try:
        base = srd.monster(creature.based_on)
    except NotFound:
        raise InvalidArgument([(f"{field}.based_on", f"unknown SRD monster {creature.based_on!r}")]) from None
    cr = base.challenge_rating if creature.cr < 0 else creature.cr
    return dataclasses.replace(
        base,
        index=creature.index,
        name=creature.name,
        challenge_rating=cr,
        xp=XP_BY_CR[cr],
        proficiency_bonus=proficiency_bonus_for_cr(cr),
        source=f"world:{creature.index}",
    )


class Bestiary:
    """SRD monsters and world creatures with their terrains."""

    def __init__(self, srd: Srd | None = None, world_creatures: Sequence[WorldCreature] = ()) -> None:
        self.srd = srd or load_srd()
        self._world: dict[str, tuple[StatBlock, frozenset[Terrain]]] = {}
        for i, creature in enumerate(world_creatures):
            field = f"world_creatures[{i}]"
            terrains = frozenset(check_terrain(t, f"{field}.terrains") for t in creature.terrains)
            self._world[creature.index] = (world_stat_block(creature, self.srd, field), terrains)
        self._pools: dict[frozenset[Terrain], Pool] = {}

    def monster(self, index: str) -> StatBlock:
        if index in self._world:
            return self._world[index][0]
        return self.srd.monster(index)

    def terrains(self, index: str) -> frozenset[Terrain]:
        if index in self._world:
            return self._world[index][1]
        return terrains_of(index)

    def list_monsters(
        self, terrain: str = "", min_cr: float = 0.0, max_cr: float = 0.0
    ) -> tuple[StatBlock, ...]:
        """ListMonsters: SRD and world creatures, optionally of one terrain and a CR range (max 0 = none),
        ordered by CR then name."""
        violations: list[tuple[str, str]] = []
        if min_cr < 0:
            violations.append(("min_challenge_rating", f"must not be negative, got {min_cr}"))
        if max_cr < 0 or (max_cr and max_cr < min_cr):
            violations.append(("max_challenge_rating", f"must be 0 (no maximum) or at least {min_cr}"))
        where = None
        if terrain.strip():
            try:
                where = check_terrain(terrain)
            except InvalidArgument as exc:
                violations = exc.violations + violations
        if violations:
            raise InvalidArgument(violations)
        blocks = [*self.srd.monsters.values(), *(b for b, _ in self._world.values())]
        return tuple(
            sorted(
                (
                    b
                    for b in blocks
                    if b.challenge_rating >= min_cr
                    and (not max_cr or b.challenge_rating <= max_cr)
                    and (where is None or where in self.terrains(b.index))
                ),
                key=lambda b: (b.challenge_rating, b.name),
            )
        )

    def pool(self, terrains: Iterable[Terrain]) -> Pool:
        """Creatures found in any of ``terrains`` (cached per terrain set)."""
        key = frozenset(terrains)
        if key not in self._pools:
            srd = [self.srd.monsters[i] for i in self.srd.monsters if terrains_of(i) & key]
            world = [block for block, where in self._world.values() if where & key]
            self._pools[key] = Pool.of([*srd, *world])
        return self._pools[key]


@lru_cache(maxsize=64)
def bestiary_for(world_creatures: tuple[WorldCreature, ...] = ()) -> Bestiary:
    """A cached bestiary per world-creature list (requests for one world share it)."""
    return Bestiary(load_srd(), world_creatures)
