"""GenerateNpc and BuildCreature: the domain behind the servicer.

An NPC is the resolved choices (``choices``), a name from the culture's lists (``names``), a stat block scaled
to the target CR and rated by the CR calculator (``statblocks``), prose (``prose``) and relationships read from
the campaign (``relationships``); saving it goes through the memory port. Same world, request and seed give the
same NPC, field for field (the campaign's NPCs being the same).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import random
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from lore import World, load_world, world_path
from mesh.errors import InvalidArgument, Unavailable
from mesh.text import Provenance, TextModel
from npc_svc.choices import NpcChoices, NpcRequest, resolve
from npc_svc.names import NpcName, pick_name
from npc_svc.ports import CampaignCharacter, CampaignFaction, MemoryPort, NpcRecord
from npc_svc.prose import NpcProse, ProseFacts, write_prose
from npc_svc.relationships import NpcRelationship, pick_relationships
from npc_svc.statblocks import npc_stat_block
from rules.challenge import XP_BY_CR, format_cr, proficiency_bonus_for_cr
from rules.cr_calculator import estimate_cr
from rules.scaling import check_target_cr, scale_to_cr
from rules.spells import SpellBook
from rules.srd import Srd
from rules.statblock import StatBlock
from rules.templates import apply_template, get_template

log = logging.getLogger("npc_svc")

#: Seeds chosen for a request that gives 0 stay below this (they must fit an int64 and read well in logs).
MAX_CHOSEN_SEED = 2**31 - 1


def choose_seed(seed: int) -> int:
    """The request's seed, or a fresh one when it is 0."""
    return seed if seed else secrets.randbelow(MAX_CHOSEN_SEED - 1) + 1


#: How long a loaded world is used before its files are checked for edits again (s). ``load_world`` stats every
#: document on each call (about 4 ms for the sample world), more than a whole NPC takes to build.
WORLD_RECHECK_S = 2.0


class Worlds:
    """World lore by id, from ``worlds_dir``; ``load_world`` reloads edited folders, checked every ``recheck_s``."""

    def __init__(self, worlds_dir: Path, default_world: str, recheck_s: float = WORLD_RECHECK_S) -> None:
        self.worlds_dir = worlds_dir
        self.default_world = default_world
        self.recheck_s = recheck_s
        self._seen: dict[str, tuple[float, World]] = {}

    def get(self, world_id: str, field: str = "world_id") -> World:
        key = world_id.strip() or self.default_world
        now = time.monotonic()
        hit = self._seen.get(key)
        if hit is not None and now - hit[0] < self.recheck_s:
            return hit[1]
        world = load_world(world_path(self.worlds_dir, key, field))
        self._seen[key] = (now, world)
        return world


@dataclass(frozen=True, slots=True)
class Npc:
    id: str
    name: NpcName
    archetype: str
    rank: str
    title: str
    culture: str
    faith: str
    region: str
    personality_tags: tuple[str, ...]
    prose: NpcProse
    relationships: tuple[NpcRelationship, ...]
    stat_block: StatBlock
    target_cr: float
    rated_cr: float
    rating_note: str


@dataclass(frozen=True, slots=True)
class GeneratedNpc:
    npc: Npc
    info: Provenance
    character_id: str = ""
    prose_repaired: bool = False
    prose_replaced: bool = False
    prose_problems: tuple[str, ...] = ()


def npc_id(world: World, req: NpcRequest, seed: int) -> str:
    """A stable id: a hash of the world, the request's choices and the seed."""
    key = json.dumps(
        [
            world.id,
            req.archetype,
            req.rank,
            req.culture,
            req.faith,
            req.challenge_rating,
            req.level,
            req.region,
            seed,
        ],
        sort_keys=True,
    )
    return "npc-" + hashlib.sha256(key.encode()).hexdigest()[:16]


def _title(choices: NpcChoices, name: NpcName) -> str:
    if choices.rank is None:
        return ""
    return choices.rank.title_female if name.gender == "female" else choices.rank.title


class NpcGenerator:
    """Builds NPCs for any world under ``worlds``; ``text`` writes prose (None or procedural: tables only)."""

    def __init__(
        self,
        worlds: Worlds,
        srd: Srd,
        spells: SpellBook,
        text: TextModel | None = None,
        memory: MemoryPort | None = None,
    ) -> None:
        self.worlds = worlds
        self.srd = srd
        self.spells = spells
        self.text = text
        self.memory = memory

    async def _campaign(
        self, world: World, choices: NpcChoices, campaign_id: str, must: bool
    ) -> tuple[Sequence[CampaignCharacter], list[CampaignFaction]]:
        local = [f for f in world.factions if choices.region is None or f.region == choices.region.id]
        factions = [CampaignFaction(f.id, f.name) for f in (local or list(world.factions))]
        if not campaign_id or self.memory is None:
            return (), factions
        try:
            people = await self.memory.campaign_npcs(campaign_id)
            known = {f.id for f in factions}
            factions += [f for f in await self.memory.campaign_factions(campaign_id) if f.id not in known]
        except Unavailable:
            if must:
                raise
            log.warning("memory unavailable: NPC relationships drawn from the world's factions only")
            return (), factions
        return people, factions

    async def generate(self, world_id: str, req: NpcRequest) -> GeneratedNpc:
        started = time.perf_counter()
        world = self.worlds.get(world_id)
        if req.save and not req.campaign_id.strip():
            raise InvalidArgument([("campaign_id", "required when save is true")])
        if req.save and self.memory is None:
            raise Unavailable(
                "no memory service configured to save NPCs", reason="NO_MEMORY", domain="memory"
            )
        seed = choose_seed(req.seed)
        choices = resolve(world, req, seed)
        rng = random.Random(f"npc|{world.id}|{choices.archetype.id}|{seed}")
        name = pick_name(choices.culture, rng)
        title = _title(choices, name)
        scaled = npc_stat_block(choices.archetype, choices.target_cr, world, self.srd, self.spells)
        facts = ProseFacts(
            world, name, choices.archetype, choices.culture, choices.faith, choices.region, choices.rank, title,
            scaled.block,
        )  # fmt: skip
        written = await write_prose(facts, seed, self.text)
        people, factions = await self._campaign(world, choices, req.campaign_id.strip(), req.save)
        relationships = pick_relationships(name.full, people, factions, random.Random(f"npc-rel|{seed}"))
        tags = tuple(rng.sample(choices.archetype.personality_tags, 3))
        npc = Npc(
            id=npc_id(world, req, seed),
            name=name,
            archetype=choices.archetype.id,
            rank=choices.rank.id if choices.rank else "",
            title=title,
            culture=choices.culture.id,
            faith=choices.faith.id,
            region=choices.region.id if choices.region else "",
            personality_tags=tags,
            prose=written.prose,
            relationships=relationships,
            stat_block=scaled.block,
            target_cr=choices.target_cr,
            rated_cr=scaled.rated,
            rating_note=scaled.note,
        )
        character_id = ""
        if req.save:
            assert self.memory is not None
            saved = await self.memory.save_npc(self.record(world, req.campaign_id.strip(), npc, choices))
            character_id = saved.character_id
            npc = dataclasses.replace(npc, id=character_id)
        info = dataclasses.replace(written.info, seed=seed, latency_ms=(time.perf_counter() - started) * 1000)
        return GeneratedNpc(npc, info, character_id, written.repaired, written.replaced, written.problems)

    @staticmethod
    def record(world: World, campaign_id: str, npc: Npc, choices: NpcChoices) -> NpcRecord:
        """What memory keeps: public description and introduction, secrets apart (DM-only), relationships."""
        who = f"{npc.title} {npc.name.full}" if npc.title else npc.name.full
        where = f" of {choices.region.name}" if choices.region else ""
        summary = (
            f"{who}, a {choices.culture.name} {choices.archetype.name.lower()}{where} "
            f"({choices.faith.name}). {npc.prose.description}"
        )
        return NpcRecord(
            campaign_id=campaign_id,
            npc_id=npc.id,
            name=npc.name.full,
            ancestry=choices.culture.name,
            archetype=choices.archetype.name,
            description=npc.prose.description,
            public_summary=summary,
            secrets=npc.prose.secrets,
            tags=tuple(
                t for t in ("npc", npc.archetype, npc.culture, npc.faith, npc.rank, npc.region, world.id) if t
            ),
            stat_block=npc.stat_block,
            relationships=tuple(
                (
                    r.target_id if r.target_id.startswith("faction:") else f"character:{r.target_id}",
                    r.kind,
                    r.description,
                )
                for r in npc.relationships
            ),
        )


# --- creatures ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BuiltCreature:
    block: StatBlock
    changes: tuple[str, ...]
    rated: float
    note: str
    info: Provenance


def creature_name(adjective: str, base: StatBlock, world: World | None, rng: random.Random) -> str:
    """ "Undead Wolf"; with a world, its own creature built on the same SRD monster ("Undead Fen Wolf"), or the
    monster named for one of its regions ("Undead Wolf of the Gloamwood")."""
    if world is None:
        return f"{adjective} {base.name}"
    kin = [c for c in world.creatures if c.based_on == base.index]
    if kin:
        return f"{adjective} {rng.choice(kin).name}"
    regions = list(world.regions)
    if not regions:
        return f"{adjective} {base.name}"
    place = rng.choice(regions).name
    return f"{adjective} {base.name} of {'the ' + place[4:] if place.startswith('The ') else place}"


def _with_cr(block: StatBlock, cr: float) -> StatBlock:
    return dataclasses.replace(
        block, challenge_rating=cr, xp=XP_BY_CR[cr], proficiency_bonus=proficiency_bonus_for_cr(cr)
    )


class CreatureBuilder:
    """Applies a template to an SRD monster; the CR is recomputed, and the numbers rebalanced to a target."""

    def __init__(self, worlds: Worlds, srd: Srd) -> None:
        self.worlds = worlds
        self.srd = srd

    def build(
        self, base_monster: str, template: str, target: float | None, seed: int, world_id: str = ""
    ) -> BuiltCreature:
        started = time.perf_counter()
        world = self.worlds.get(world_id) if world_id.strip() else None  # unknown worlds list the valid ones
        bad = []
        key = base_monster.strip().lower()
        base = self.srd.monsters.get(key)
        if base is None:
            close = [m for m in self.srd.monsters if key and (key in m or m in key)][:10]
            hint = f"; close matches: {', '.join(close)}" if close else ""
            bad.append(
                (
                    "base_monster",
                    f"unknown SRD monster {base_monster!r} (use its SRD index, e.g. 'wolf'){hint}",
                )
            )
        try:
            tpl = get_template(template)
        except InvalidArgument as exc:
            bad.extend(exc.violations)
        if target is not None:
            try:
                check_target_cr(target)
            except InvalidArgument as exc:
                bad.extend(exc.violations)
        if bad:
            raise InvalidArgument(bad)
        assert base is not None
        templated = apply_template(base, tpl)
        natural = estimate_cr(templated.block, self.srd.spell_damage)
        changes = list(templated.changes)
        base_rated = estimate_cr(base, self.srd.spell_damage).challenge_rating
        changes.append(
            f"challenge rating: {format_cr(base.challenge_rating)} listed, calculator {format_cr(base_rated)} -> "
            f"{format_cr(natural.challenge_rating)} with the template"
        )
        if target is None:
            block = _with_cr(templated.block, natural.challenge_rating)
            rated, note = natural.challenge_rating, ""
        else:
            scaled = scale_to_cr(
                templated.block, target, self.srd.spell_damage, worn_armor=base.type == "humanoid"
            )
            block, rated, note = scaled.block, scaled.rated, scaled.note
            changes.append(
                f"rebalanced to CR {format_cr(target)}: hit points {templated.block.hit_points} -> {block.hit_points}, "
                f"AC {templated.block.armor_class} -> {block.armor_class}"
            )
        name = creature_name(
            tpl.adjective, base, world, random.Random(f"creature|{base.index}|{tpl.id}|{seed}")
        )
        block = dataclasses.replace(
            block, name=name, index=f"{tpl.id}-{base.index}", source=f"template:{tpl.id}:srd:{base.index}"
        )
        info = Provenance(
            backend="procedural", model="", seed=seed, procedural=True,
            latency_ms=(time.perf_counter() - started) * 1000,
        )  # fmt: skip
        return BuiltCreature(block, tuple(changes), rated, note, info)
