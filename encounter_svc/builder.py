"""GenerateEncounter and EvaluateEncounter, as plain functions over domain objects.

Mechanics first: validate the request, search the XP band (``search``), pick creatures from the terrain
pool, rate the result with ``rules.difficulty.evaluate`` (the same code EvaluateEncounter uses), add hazards
and treasure. Prose is a separate, later step (``prose.write_prose`` offline; a language model elsewhere)
that only reads the finished mechanics.

Determinism: every choice draws from a ``random.Random`` derived from the request seed and a purpose label
("creatures", "treasure", "prose"...), so the same seed gives the same encounter and changing the prose
writer never changes the creatures.
"""

from __future__ import annotations

import hashlib
import random
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from encounter_svc import hazards, social, treasure
from encounter_svc.bestiary import Bestiary, Pool, bestiary_for
from encounter_svc.models import (
    CreatureGroup,
    Encounter,
    EncounterKind,
    EncounterRequest,
    Hazard,
    Prose,
    check_kind,
)
from encounter_svc.roles import role_of
from encounter_svc.search import Shape, closest_shape, feasible_shapes
from mesh.errors import InvalidArgument, NotFound
from rules.challenge import CHALLENGE_RATINGS, XP_BY_CR, format_cr
from rules.difficulty import (
    DIFFICULTIES_2024,
    Difficulty,
    XpBreakdown,
    check_difficulty,
    check_party,
    difficulty_band,
    evaluate,
)
from rules.statblock import StatBlock
from rules.terrain import Terrain, check_terrains

MAX_CREATURES_LIMIT = 30
MAX_GROUP_COUNT = 100

#: Highest creature CR allowed above the party's highest level, per requested difficulty. A lone monster
#: far above the party hits too hard for its XP to mean much; when no group fits under the cap the search
#: relaxes it step by step (and says so in the notes).
CR_CAP_OFFSET: dict[Difficulty, int] = {
    Difficulty.EASY: 0, Difficulty.MEDIUM: 1, Difficulty.HARD: 2, Difficulty.DEADLY: 3,
    Difficulty.LOW: 0, Difficulty.MODERATE: 1, Difficulty.HIGH: 3,
}  # fmt: skip
_RELAXATIONS = (0, 2, 4, 30)

#: Weights for choosing the shape kind among those that fit.
_KIND_WEIGHTS = {"solo": 1.0, "pack": 1.0, "leader": 1.5}


def rng_for(seed: int, purpose: str) -> random.Random:
    """An independent, reproducible stream per purpose (str seeds hash with SHA-512 in CPython)."""
    return random.Random(f"{seed}:{purpose}")


def encounter_id(request: EncounterRequest, seed: int) -> str:
    """A stable id: the hash of the request's content and the seed actually used."""
    key = repr((replace(request, seed=seed), "v1")).encode()
    return hashlib.sha256(key).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class _Plan:
    shape: Shape | None
    pool: Pool  # where followers (and everyone, unless leader_pool is set) come from
    notes: tuple[str, ...]
    unmet_reason: str
    leader_pool: Pool | None = None


def _theme_words(theme: str) -> tuple[str, ...]:
    words = [w.strip(".,;:!?").lower() for w in theme.split()]
    # "bandits" should find "bandit", "wolves" "wolf": compare on a crude stem.
    stems = {w[:-3] + "f" if w.endswith("ves") else w.rstrip("s") for w in words if len(w) >= 3}
    return tuple(sorted(stems))


def _matches(block: StatBlock, words: Sequence[str]) -> bool:
    hay = f"{block.index} {block.name} {block.type} {block.subtype}".lower()
    return any(w in hay for w in words)


def _cr_cap(levels: Sequence[int], difficulty: Difficulty, relax: int) -> float:
    top = max(levels) + CR_CAP_OFFSET[difficulty] + relax
    return float(min(max(top, 1), 30))


def _plan(
    pool: Pool,
    levels: tuple[int, ...],
    difficulty: Difficulty,
    band: tuple[int, int],
    max_creatures: int,
    theme: str,
    rng: random.Random,
) -> _Plan:
    use_mult = difficulty not in DIFFICULTIES_2024
    words = _theme_words(theme)
    notes: list[str] = []
    themed_pool: Pool | None = None
    if words:
        themed_pool = pool.filtered([m for m in pool.monsters if _matches(m, words)])
        if not themed_pool.monsters:
            themed_pool = None
            notes.append(f"no creature of this terrain matches the theme {theme!r}; theme ignored")
    for relax in _RELAXATIONS:
        cap = _cr_cap(levels, difficulty, relax)
        capped = pool.capped(XP_BY_CR[cap])
        # 1. the theme alone; 2. a themed leader with other creatures of the terrain; 3. anything.
        attempts: list[tuple[str, Pool, Pool | None]] = []
        if themed_pool is not None:
            themed = themed_pool.capped(XP_BY_CR[cap])
            attempts += [("theme", themed, None), ("theme-led", capped, themed)]
        attempts.append(("all", capped, None))
        for label, candidates, leaders in attempts:
            if leaders is not None and not leaders.xps:
                continue
            shapes = feasible_shapes(
                candidates.xps, band, len(levels), max_creatures, use_mult, leaders.xps if leaders else None
            )
            if not shapes:
                continue
            if relax:
                notes.append(
                    f"no group under CR {format_cr(_cr_cap(levels, difficulty, 0))} fits; cap raised"
                )
            if label == "theme-led":
                notes.append(f"the theme {theme!r} leads; other creatures of the terrain fill the band")
            elif label == "all" and themed_pool is not None:
                notes.append(f"the theme {theme!r} cannot fill the band; other creatures chosen")
            notes.append(f"creatures capped at CR {format_cr(cap)}")
            return _Plan(_choose(shapes, len(levels), rng), candidates, tuple(notes), "", leaders)
    closest = closest_shape(pool.xps, band, len(levels), max_creatures, use_mult)
    what = "adjusted" if use_mult else "raw"
    reason = (
        f"no group of at most {max_creatures} creatures from this terrain lands in [{band[0]}, {band[1]}) "
        f"{what} XP"
    )
    if closest:
        reason += f"; returning the closest ({closest.value} {what} XP)"
    return _Plan(closest, pool, tuple(notes), reason)


def _choose(shapes: Sequence[Shape], party_size: int, rng: random.Random) -> Shape:
    kinds = sorted({s.kind for s in shapes})
    kind = rng.choices(kinds, weights=[_KIND_WEIGHTS[k] for k in kinds])[0]
    of_kind = [s for s in shapes if s.kind == kind]
    # Prefer fights about the party's size: a dozen creatures per hero is bookkeeping, not drama.
    weights = [1.0 / (1.0 + abs(s.count - party_size) / 2.0) for s in of_kind]
    return rng.choices(of_kind, weights=weights)[0]


def _pick(candidates: Sequence[StatBlock], rng: random.Random, like: StatBlock | None = None) -> StatBlock:
    """A random creature, preferring one of the leader's type so a band hangs together."""
    if like is not None:
        kin = [c for c in candidates if c.type == like.type and c.index != like.index]
        if kin and rng.random() < 0.7:
            return rng.choice(kin)
        others = [c for c in candidates if c.index != like.index]
        candidates = others or candidates
    return rng.choice(list(candidates))


def _groups(
    shape: Shape, pool: Pool, rng: random.Random, leader_pool: Pool | None = None
) -> tuple[CreatureGroup, ...]:
    groups: list[CreatureGroup] = []
    leader: StatBlock | None = None
    for i, (xp, count) in enumerate(shape.slots):
        source = leader_pool if leader_pool is not None and i == 0 else pool
        block = _pick(source.by_xp[xp], rng, like=leader)
        is_leader = shape.kind == "leader" and i == 0
        groups.append(CreatureGroup(count=count, stat_block=block, role=role_of(block, leader=is_leader)))
        leader = leader or block
    return tuple(groups)


def _dominant_terrain(
    groups: Sequence[CreatureGroup], terrains: Sequence[Terrain], bestiary: Bestiary
) -> str:
    def score(t: Terrain) -> int:
        return sum(g.count for g in groups if t in bestiary.terrains(g.stat_block.index))

    return max(terrains, key=lambda t: (score(t), -terrains.index(t))).value


def check_request(
    request: EncounterRequest,
) -> tuple[tuple[int, ...], tuple[Terrain, ...], Difficulty, EncounterKind]:
    """Validate everything up front and report every bad field at once."""
    violations: list[tuple[str, str]] = []
    out: list[object] = []
    for check in (
        lambda: check_party([m.level for m in request.party]),
        lambda: check_terrains(request.terrains, "terrain"),
        lambda: check_difficulty(request.difficulty),
        lambda: check_kind(request.kind),
    ):
        try:
            out.append(check())
        except InvalidArgument as exc:
            violations.extend(exc.violations)
            out.append(None)
    if not 1 <= request.max_creatures <= MAX_CREATURES_LIMIT:
        violations.append(("max_creatures", f"must be 1-{MAX_CREATURES_LIMIT}, got {request.max_creatures}"))
    if violations:
        raise InvalidArgument(violations)
    levels, terrains, difficulty, kind = out
    return levels, terrains, difficulty, kind  # type: ignore[return-value]


def build_encounter(request: EncounterRequest, bestiary: Bestiary | None = None) -> Encounter:
    """The mechanics of an encounter (no prose yet)."""
    levels, terrains, difficulty, kind = check_request(request)
    bestiary = bestiary or bestiary_for(request.world_creatures)
    seed = request.seed or secrets.randbits(63)
    band = difficulty_band(levels, difficulty)
    pool = bestiary.pool(terrains)
    notes: list[str] = []
    unmet = ""
    groups: tuple[CreatureGroup, ...] = ()
    hazard_list: tuple[Hazard, ...] = ()
    stakes = None
    if kind is EncounterKind.HAZARD:
        hazard_list = hazards.hazards_for(terrains, levels, difficulty, rng_for(seed, "hazards"))
    else:
        plan = _plan(
            pool, levels, difficulty, band, request.max_creatures, request.theme, rng_for(seed, "shape")
        )
        notes.extend(plan.notes)
        unmet = plan.unmet_reason
        if plan.shape is not None:
            groups = _groups(plan.shape, plan.pool, rng_for(seed, "creatures"), plan.leader_pool)
        if kind is EncounterKind.SOCIAL:
            stakes = social.stakes_for(groups, levels, difficulty, rng_for(seed, "social"))
    xp = evaluate(levels, [g.stat_block.xp for g in groups for _ in range(g.count)]) if groups else None
    if xp is not None and not unmet:
        value = xp.value_for(difficulty)
        assert band[0] <= value < band[1], (value, band)  # the search and the evaluator share arithmetic
        notes.extend(explain(xp))
    loot = treasure.roll_treasure(groups, levels, difficulty, kind, bestiary.srd, rng_for(seed, "treasure"))
    return Encounter(
        id=encounter_id(request, seed),
        kind=kind,
        terrain=_dominant_terrain(groups, terrains, bestiary) if groups else terrains[0].value,
        terrains=tuple(t.value for t in terrains),
        region=request.region,
        difficulty=difficulty,
        band=band,
        creatures=groups,
        xp=xp,
        hazards=hazard_list,
        social=stakes,
        treasure=loot,
        seed=seed,
        unmet_reason=unmet,
        notes=tuple(notes),
    )


ProseWriter = Callable[[Encounter, random.Random], Prose]


def generate_encounter(
    request: EncounterRequest, bestiary: Bestiary | None = None, writer: ProseWriter | None = None
) -> Encounter:
    """Build the mechanics, then write the words (procedurally unless a writer is given)."""
    from encounter_svc.prose import write_prose

    encounter = build_encounter(request, bestiary)
    prose = (writer or write_prose)(encounter, rng_for(encounter.seed, "prose"))
    return replace(encounter, prose=prose)


def explain(xp: XpBreakdown) -> tuple[str, ...]:
    """The arithmetic, step by step, for display."""
    n = len(xp.party_levels)
    lines = [
        f"raw XP {xp.raw_xp:,} from {len(xp.monster_xps)} creature(s)",
        f"x{xp.multiplier:g} for {xp.monsters_counted} counted creature(s) against {n} character(s)"
        + (" (party-size shift)" if n < 3 or n >= 6 else ""),
        f"adjusted XP {xp.adjusted_xp:,}: {xp.rating_2014.value} under the 2014 DMG",
        f"raw XP against 2024 budgets: {xp.rating_2024.value}",
    ]
    if xp.weak_left_out:
        lines.insert(1, f"{len(xp.weak_left_out)} weak creature(s) left out of the count (DMG p.83)")
    return tuple(lines)


@dataclass(frozen=True, slots=True)
class CreatureRef:
    """A creature named by SRD/world index, or by challenge rating alone, with a count."""

    monster: str = ""
    challenge_rating: float | None = None
    count: int = 1


def evaluate_encounter(
    levels: Sequence[int],
    creatures: Sequence[CreatureRef],
    bestiary: Bestiary | None = None,
    count_weak: bool = False,
) -> tuple[tuple[CreatureGroup, ...], XpBreakdown]:
    """Rate a group the DM chose: exactly the DMG arithmetic, with every step reported."""
    party = check_party(levels)
    bestiary = bestiary or bestiary_for(())
    if not creatures:
        raise InvalidArgument([("creatures", "list at least one creature")])
    violations: list[tuple[str, str]] = []
    groups: list[CreatureGroup] = []
    xps: list[int] = []
    for i, ref in enumerate(creatures):
        field = f"creatures[{i}]"
        if not 1 <= ref.count <= MAX_GROUP_COUNT:
            violations.append((f"{field}.count", f"must be 1-{MAX_GROUP_COUNT}, got {ref.count}"))
            continue
        if ref.monster:
            try:
                block = bestiary.monster(ref.monster)
            except NotFound:  # a bad field of this request, not a missing resource
                violations.append((f"{field}.monster", f"unknown monster {ref.monster!r}"))
                continue
            groups.append(CreatureGroup(ref.count, block, role_of(block)))
            xps.extend([block.xp] * ref.count)
        elif ref.challenge_rating is not None and float(ref.challenge_rating) in XP_BY_CR:
            xps.extend([XP_BY_CR[float(ref.challenge_rating)]] * ref.count)
        else:
            valid = ", ".join(format_cr(c) for c in CHALLENGE_RATINGS)
            violations.append(
                (f"{field}.challenge_rating", f"give a monster or a valid challenge rating ({valid})")
            )
    if violations:
        raise InvalidArgument(violations)
    return tuple(groups), evaluate(party, xps, count_weak=count_weak)
