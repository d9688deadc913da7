"""Resolve what a GenerateNpc request names against the world: archetype, rank, culture, faith, region, CR.

Everything a request names must exist in the world's lore; anything unknown is refused with the valid choices
listed, all bad fields in one INVALID_ARGUMENT. What the request leaves empty is chosen by the seed from what
fits (a culture living in the region, a faith practised openly there), so an NPC never has a faith foreign to its
home, or a secret one, unless the caller asked for one.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TypeVar

from lore import Catalog, UnknownChoice, World
from lore.facts import Archetype, Culture, Faith, Rank, Region, public_facts
from mesh.errors import Violations
from rules.challenge import CHALLENGE_RATINGS, XP_BY_CR, format_cr
from rules.scaling import cr_for_level

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class NpcRequest:
    """A GenerateNpc request in domain terms (empty strings mean "choose by the seed" or "none")."""

    archetype: str = ""
    rank: str = ""
    culture: str = ""
    faith: str = ""
    challenge_rating: float | None = None
    level: int = 0
    region: str = ""
    seed: int = 0
    campaign_id: str = ""
    save: bool = False


@dataclass(frozen=True, slots=True)
class NpcChoices:
    """The resolved facts an NPC is built from."""

    archetype: Archetype
    rank: Rank | None
    culture: Culture
    faith: Faith
    region: Region | None
    target_cr: float
    seed: int


def _get(v: Violations, catalog: Catalog[T], ref: str, field: str) -> T | None:
    """The fact ``ref`` names, or None with the violation (listing the valid ids) recorded."""
    try:
        return catalog.get(ref, field)
    except UnknownChoice as exc:
        v.extend(exc.violations)
        return None


_STOP = {"the", "church", "faith", "order", "of", "and"}


def _faiths_named_by(archetype: Archetype, faiths: list[Faith]) -> list[Faith]:
    """Faiths the archetype's name or aliases name ("Lantern Priest" -> the Lantern Church): an archetype tied to a
    faith keeps it unless the request says otherwise."""
    text = " ".join([archetype.name, *archetype.aliases]).lower()
    words = set(text.replace(",", " ").replace(".", " ").split())
    out = []
    for faith in faiths:
        labels = [faith.name, *faith.aliases]
        tokens = {t for label in labels for t in label.lower().split() if t not in _STOP and len(t) > 3}
        if tokens & words:
            out.append(faith)
    return out


def _valid_crs(archetype: Archetype) -> list[float]:
    low, high = archetype.cr_range
    return [c for c in CHALLENGE_RATINGS if low <= c <= high]


def _target_cr(req: NpcRequest, archetype: Archetype | None, v: Violations) -> float:
    if req.challenge_rating is not None and req.level:
        v.add("level", "give challenge_rating or level, not both")
        return 0.0
    if req.level:
        if not 1 <= req.level <= 20:
            v.add("level", f"level must be 1-20, got {req.level}")
            return 0.0
        cr = cr_for_level(req.level)
        field = "level"
    elif req.challenge_rating is not None:
        cr = float(req.challenge_rating)
        field = "challenge_rating"
        if cr not in XP_BY_CR:
            valid = ", ".join(format_cr(c) for c in CHALLENGE_RATINGS)
            v.add(field, f"challenge rating {cr:g} is not a rating 0-30; valid: {valid}")
            return 0.0
    else:
        return archetype.default_cr if archetype is not None else 0.0
    if archetype is not None:
        valid_crs = _valid_crs(archetype)
        if cr not in valid_crs:
            shown = ", ".join(format_cr(c) for c in valid_crs)
            what = f"level {req.level} (CR {format_cr(cr)})" if field == "level" else f"CR {format_cr(cr)}"
            v.add(field, f"{what} is outside the {archetype.id} archetype's range; valid: {shown}")
    return cr


def resolve(world: World, req: NpcRequest, seed: int) -> NpcChoices:
    """Check every named choice and pick the unnamed ones with ``seed``; raises one InvalidArgument listing
    every bad field with its valid values."""
    v = Violations()
    rng = random.Random(f"npc-choices|{world.id}|{seed}")

    archetype: Archetype | None
    if req.archetype.strip():
        archetype = _get(v, world.archetypes, req.archetype, "archetype")
    else:
        archetype = rng.choice(list(world.archetypes)) if len(world.archetypes) else None
        if archetype is None:
            v.add("archetype", "this world declares no NPC archetypes")
    rank: Rank | None = _get(v, world.ranks, req.rank, "rank") if req.rank.strip() else None
    region: Region | None = _get(v, world.regions, req.region, "region") if req.region.strip() else None
    culture: Culture | None
    if req.culture.strip():
        culture = _get(v, world.cultures, req.culture, "culture")
    else:
        local = world.cultures_in(region.id) if region is not None else []
        pool = local or list(world.cultures)
        culture = rng.choice(pool) if pool else None
        if culture is None:
            v.add("culture", "this world declares no cultures")
    faith: Faith | None
    if req.faith.strip():
        faith = _get(v, world.faiths, req.faith, "faith")
    else:
        home = {region.id} if region is not None else set(culture.regions if culture else ())
        # A DM-only faith (a hidden cult) is worn openly only by an NPC the caller asked for in it.
        open_faiths = public_facts(world.faiths)
        local_faiths = [f for f in open_faiths if home & set(f.regions)]
        named = _faiths_named_by(archetype, open_faiths) if archetype is not None else []
        pool_f = named or local_faiths or open_faiths
        faith = rng.choice(pool_f) if pool_f else None
        if faith is None:
            v.add("faith", "this world declares no faiths")
    target = _target_cr(req, archetype, v)
    v.raise_if_any()
    assert archetype is not None and culture is not None and faith is not None
    if region is None:
        region = world.regions.find(rng.choice(culture.regions))
    return NpcChoices(archetype, rank, culture, faith, region, target, seed)
