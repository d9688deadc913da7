"""What the encounter service does per deployment: the SRD file and world lore it reads, and the five operations.

The builder and bestiary are pure and take their inputs; this module supplies them from configuration: the SRD
file the settings name, the world folder a request names (the default world when it names none), a region's
terrains and the world's own creatures — its secret (DM-only) creatures only when the caller is the DM. Prose is
written after the mechanics by ``model_prose``. grpc-free: the servicer maps protos onto these calls.

World files are stat-checked on every load (the lore cache reloads an edited world), so the calls that read them
run in a worker thread to keep file I/O off the event loop.
"""

from __future__ import annotations

import asyncio
import functools
import random
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from encounter_svc.bestiary import Bestiary
from encounter_svc.builder import CreatureRef, build_encounter, evaluate_encounter
from encounter_svc.model_prose import ProseWriter
from encounter_svc.models import CreatureGroup, Encounter, EncounterRequest, PartyMember, WorldCreature
from lore import World, load_world, world_path
from mesh.errors import DomainError, FailedPrecondition, InvalidArgument
from mesh.health import Readiness
from mesh.text import Provenance, TextModel
from rules.dice import RollOutcome, roll
from rules.difficulty import XpBreakdown
from rules.srd import Srd, SrdMissing, load_srd, srd_path
from rules.statblock import StatBlock

#: Largest seed handed out when a request gives 0 (a positive int64, as the protos carry it).
MAX_SEED = 2**63 - 1


def new_seed() -> int:
    """A random non-zero seed, so the caller can replay the result."""
    return secrets.randbelow(MAX_SEED) + 1


def resolve_srd_file(configured: str) -> Path:
    """The SRD 2014 file: ``configured`` (a file, or a folder holding ``dnd5e-2014-en-*.sqlite3``) or the default
    place ``make setup`` fills."""
    if not configured.strip():
        return srd_path("2014")
    where = Path(configured)
    if where.is_file():
        return where
    matches = sorted(where.glob("dnd5e-2014-en-*.sqlite3")) if where.is_dir() else []
    if not matches:
        raise SrdMissing(
            f"SRD 2014 data file not found at {where} (srd_path). Run `make setup` "
            "(or `python scripts/fetch_srd.py`) to fetch it, or point DM_SRD_PATH at it."
        )
    return matches[-1]


def world_creatures(world: World, dm: bool) -> tuple[WorldCreature, ...]:
    """The world's own creatures as the bestiary takes them; secret ones only for the DM."""
    return tuple(
        WorldCreature(
            name=c.name,
            cr=float(c.cr),
            terrains=tuple(c.terrains),
            based_on=c.based_on,
            description=c.description,
        )
        for c in world.creatures
        if dm or not c.secret
    )


@functools.lru_cache(maxsize=32)
def _bestiary(path: Path, creatures: tuple[WorldCreature, ...]) -> Bestiary:
    return Bestiary(load_srd(path), creatures)


@dataclass(frozen=True, slots=True)
class GenerateSpec:
    """A GenerateEncounter request in domain terms: one of ``terrain`` or ``region`` is set."""

    party: tuple[PartyMember, ...]
    difficulty: str
    terrain: str = ""
    region: str = ""
    world_id: str = ""
    kind: str = "combat"
    theme: str = ""
    seed: int = 0
    max_creatures: int = 12
    dm: bool = False


@dataclass(frozen=True, slots=True)
class Generated:
    """A finished encounter, how its prose was written, and the world it was drawn from (None: SRD only)."""

    encounter: Encounter
    info: Provenance
    world: World | None


@dataclass(frozen=True, slots=True)
class ListedMonster:
    block: StatBlock
    terrains: tuple[str, ...]


class Encounters:
    """The service's operations over the configured SRD file, worlds and text model."""

    def __init__(
        self,
        *,
        worlds_dir: Path,
        default_world: str,
        srd_file: str = "",
        model: TextModel | None = None,
    ) -> None:
        self.worlds_dir = Path(worlds_dir)
        self.default_world = default_world
        self._srd_setting = srd_file
        self._srd_path: Path | None = None
        self.model = model
        self.writer = ProseWriter(model)

    # --- sources --------------------------------------------------------------------------------------------

    def srd_file(self) -> Path:
        """The SRD file in use (resolved once it exists; until then every call looks again)."""
        if self._srd_path is None:
            self._srd_path = resolve_srd_file(self._srd_setting)
        return self._srd_path

    def srd(self) -> Srd:
        return load_srd(self.srd_file())

    def world(self, world_id: str, field: str = "world_id") -> World | None:
        """The named world, or the default one for an empty id (None when that is not installed)."""
        ref = world_id.strip()
        if ref:
            return load_world(world_path(self.worlds_dir, ref.lower(), field))
        if not (self.worlds_dir / self.default_world / "world.md").is_file():
            return None
        return load_world(self.worlds_dir / self.default_world)

    def bestiary(self, world: World | None, dm: bool) -> Bestiary:
        """SRD monsters plus the world's creatures (secret ones for the DM), cached per world and audience."""
        creatures = world_creatures(world, dm) if world is not None else ()
        try:
            return _bestiary(self.srd_file(), creatures)
        except InvalidArgument as exc:  # the lore names a bad base creature: the deployment's fault
            name = world.id if world is not None else "?"
            raise FailedPrecondition(f"world {name!r} lore is inconsistent: {exc.message}") from None

    def region_terrains(self, world: World | None, region: str) -> tuple[str, tuple[str, ...]]:
        """A region's id and terrains; unknown regions list the valid ones on the ``region`` field."""
        if world is None:
            raise InvalidArgument(
                [
                    (
                        "region",
                        f"no world to look regions up in: the default world {self.default_world!r} is not "
                        f"installed under {self.worlds_dir}; give a terrain or a world_id",
                    )
                ]
            )
        found = world.region(region, "region")
        return found.id, tuple(found.terrains)

    # --- operations -----------------------------------------------------------------------------------------

    def build(self, spec: GenerateSpec, seed: int) -> tuple[Encounter, World | None, str]:
        """The mechanics (no prose) and the world and region name they came from."""
        world = self.world(spec.world_id)
        region_name = ""
        if spec.region.strip():
            region_id, terrains = self.region_terrains(world, spec.region)
            assert world is not None
            region_name = world.region(region_id).name
        else:
            region_id, terrains = "", (spec.terrain,)
        bestiary = self.bestiary(world, spec.dm)
        request = EncounterRequest(
            party=spec.party,
            terrains=terrains,
            difficulty=spec.difficulty,
            kind=spec.kind,
            theme=spec.theme,
            seed=seed,
            max_creatures=spec.max_creatures,
            region=region_id,
            world_creatures=world_creatures(world, spec.dm) if world is not None else (),
        )
        return build_encounter(request, bestiary), world, region_name

    async def generate(self, spec: GenerateSpec) -> Generated:
        """Mechanics first (same seed, same creatures), then the words; seed 0 picks one and reports it."""
        started = time.perf_counter()
        seed = spec.seed or new_seed()
        encounter, world, region_name = await asyncio.to_thread(self.build, spec, seed)
        prose, info = await self.writer.write(encounter, region_name)
        info = replace(info, latency_ms=(time.perf_counter() - started) * 1000)
        return Generated(replace(encounter, prose=prose), info, world)

    def _evaluate(
        self, levels: Sequence[int], creatures: Sequence[CreatureRef], world_id: str, dm: bool
    ) -> tuple[tuple[CreatureGroup, ...], XpBreakdown]:
        bestiary = self.bestiary(self.world(world_id), dm)
        return evaluate_encounter(levels, creatures, bestiary)

    async def evaluate(
        self, levels: Sequence[int], creatures: Sequence[CreatureRef], world_id: str = "", dm: bool = False
    ) -> tuple[tuple[CreatureGroup, ...], XpBreakdown]:
        """Rate creatures the DM chose (SRD or world creatures) against a party."""
        return await asyncio.to_thread(self._evaluate, levels, creatures, world_id, dm)

    def _monster(self, index: str, world_id: str, dm: bool) -> ListedMonster:
        bestiary = self.bestiary(self.world(world_id), dm)
        return ListedMonster(bestiary.monster(index), _terrains(bestiary, index))

    async def monster(self, index: str, world_id: str = "", dm: bool = False) -> ListedMonster:
        """One stat block and its terrains; NotFound when neither the SRD nor the world has it."""
        return await asyncio.to_thread(self._monster, index, world_id, dm)

    def _list(
        self, terrain: str, min_cr: float, max_cr: float, world_id: str, dm: bool
    ) -> tuple[ListedMonster, ...]:
        bestiary = self.bestiary(self.world(world_id), dm)
        blocks = bestiary.list_monsters(terrain, min_cr, max_cr)
        return tuple(ListedMonster(b, _terrains(bestiary, b.index)) for b in blocks)

    async def list_monsters(
        self,
        terrain: str = "",
        min_cr: float = 0.0,
        max_cr: float = 0.0,
        world_id: str = "",
        dm: bool = False,
    ) -> tuple[ListedMonster, ...]:
        """Every matching monster, by challenge rating then name (the servicer pages through them)."""
        return await asyncio.to_thread(self._list, terrain, min_cr, max_cr, world_id, dm)

    @staticmethod
    def roll(notation: str, seed: int = 0, field: str = "notation") -> tuple[RollOutcome, int]:
        """Roll dice from a seeded generator of their own; seed 0 picks one and returns it."""
        seed = seed or new_seed()
        return roll(notation, random.Random(seed), field), seed

    # --- lifecycle ------------------------------------------------------------------------------------------

    def warm(self) -> None:
        """Read the SRD file and the default world once, so the first request is not the slow one."""
        try:
            self.bestiary(self.world(""), dm=True)
        except DomainError:
            pass  # readiness reports it

    async def readiness(self) -> Readiness:
        """Ready iff the SRD file loads; a broken default world or a down text model only degrade."""
        try:
            srd = await asyncio.to_thread(self.srd)
        except SrdMissing as exc:
            return Readiness(ready=False, reason=exc.message)
        degraded: list[str] = []
        notes = [f"SRD: {len(srd.monsters)} monsters from {srd.path.name}"]
        try:
            world = await asyncio.to_thread(self.world, "")
            notes.append(f"default world: {world.id}" if world else "no default world installed")
        except DomainError as exc:
            degraded.append("world-lore")
            notes.append(f"default world unusable: {exc.message}")
        if self.model is not None:
            ok, why = await self.model.ready()
            if not ok:
                degraded.append("text-model")
                notes.append(f"offline prose while the text model is down: {why}")
        return Readiness(ready=True, reason="; ".join(notes), degraded=degraded)


def _terrains(bestiary: Bestiary, index: str) -> tuple[str, ...]:
    return tuple(sorted(t.value for t in bestiary.terrains(index)))
