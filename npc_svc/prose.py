"""An NPC's words: the procedural writer (world tables + the seed), and the model path with its guard rails.

The procedural writer draws every trait, ideal, bond, flaw, motivation, mannerism, voice and secret from the
archetype's tables and ties them to the culture's values, the faith's gods and the region; appearance comes
from small generic tables plus the world's own symbols and titles. Deterministic under the seed.

With a model server, the model writes the same fields against a JSON schema. Its answer is checked (by
``mesh.text``'s ``complete_json``: schema, then our check): a stated number that contradicts the stat block
(AC, hit points, CR, a save DC, an attack bonus, a caster level) or a DM-only secret in a public field is
rejected, the model gets one repair attempt, and after that the procedural writer's fields replace it.
"""

from __future__ import annotations

import logging
import random
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from lore import World
from lore.facts import Archetype, Culture, Faith, Rank, Region
from mesh.text import Message, Prompt, Provenance, TextModel
from mesh.text.guarded import guarded_json
from npc_svc.names import NpcName, pronouns
from rules.challenge import format_cr
from rules.statblock import StatBlock

log = logging.getLogger("npc_svc.prose")

_AGES = ("young", "youthful", "middle-aged", "weathered", "greying", "old")
_BUILDS = ("slight", "wiry", "stocky", "broad-shouldered", "tall and spare", "heavy-set", "compact", "rangy")
_FEATURES = (
    "a crooked nose",
    "ink-stained fingers",
    "a burn scar along one wrist",
    "watchful grey eyes",
    "a gap-toothed smile",
    "close-cropped hair",
    "a braid bound with cord",
    "a voice-worn throat and a quick laugh",
    "calloused hands",
    "a limp from an old wound",
)
_CLOTHES_BY_RANK = {
    True: (
        "fine dyed wool trimmed with fur",
        "a velvet doublet in house colours",
        "a riding coat of good cloth",
    ),
    False: ("patched homespun", "a travel-stained cloak", "plain, well-kept clothes", "a leather jerkin"),
}

#: Field limits, also given to the model in the schema (a random model otherwise runs to max_tokens).
MAX_ITEM_CHARS = 200
MAX_DESCRIPTION_CHARS = 700

#: Answer budget (tokens) asked of a model, the least worth asking for, and room kept for the chat template.
MAX_ANSWER = 700
MIN_ANSWER = 200
PROMPT_MARGIN = 16

LIST_FIELDS = ("traits", "ideals", "bonds", "flaws", "motivations", "mannerisms", "secrets")


def prose_schema() -> dict[str, Any]:
    """The JSON schema a model's answer must satisfy."""

    def strings(lo: int, hi: int) -> dict[str, Any]:
        item = {"type": "string", "minLength": 3, "maxLength": MAX_ITEM_CHARS}
        return {"type": "array", "items": item, "minItems": lo, "maxItems": hi}

    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["description", *LIST_FIELDS, "voice"],
        "properties": {
            "description": {"type": "string", "minLength": 20, "maxLength": MAX_DESCRIPTION_CHARS},
            "traits": strings(1, 3),
            "ideals": strings(1, 2),
            "bonds": strings(1, 2),
            "flaws": strings(1, 2),
            "motivations": strings(1, 2),
            "mannerisms": strings(1, 2),
            "voice": {"type": "string", "minLength": 3, "maxLength": MAX_ITEM_CHARS},
            "secrets": strings(1, 2),
        },
    }


@dataclass(frozen=True, slots=True)
class NpcProse:
    description: str
    traits: tuple[str, ...]
    ideals: tuple[str, ...]
    bonds: tuple[str, ...]
    flaws: tuple[str, ...]
    motivations: tuple[str, ...]
    mannerisms: tuple[str, ...]
    voice: str
    secrets: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "description": self.description,
            **{f: list(getattr(self, f)) for f in LIST_FIELDS},
            "voice": self.voice,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NpcProse:
        return cls(
            description=str(data["description"]),
            **{f: tuple(str(x) for x in data[f]) for f in LIST_FIELDS},
            voice=str(data["voice"]),
        )

    def public_text(self) -> str:
        """Everything players may see (not the secrets)."""
        fields = (self.traits, self.ideals, self.bonds, self.flaws, self.motivations, self.mannerisms)
        return "\n".join([self.description, self.voice, *(x for group in fields for x in group)])


@dataclass(frozen=True, slots=True)
class ProseFacts:
    """What the writer may draw on: all of it from the world, the choices and the computed stat block."""

    world: World
    name: NpcName
    archetype: Archetype
    culture: Culture
    faith: Faith
    region: Region | None
    rank: Rank | None
    title: str
    block: StatBlock


def _a(word: str) -> str:
    return ("an " if word[:1].lower() in "aeiou" else "a ") + word


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _sample(rng: random.Random, pool: Iterable[str], k: int) -> tuple[str, ...]:
    items = list(pool)
    return tuple(rng.sample(items, min(k, len(items))))


def write_procedural(facts: ProseFacts, rng: random.Random) -> NpcProse:
    """Every field from the world's tables, the choices and the seed."""
    arch, culture, faith = facts.archetype, facts.culture, facts.faith
    subj, _obj, _poss = pronouns(facts.name.gender)
    who = facts.name.given
    tags = _sample(rng, arch.personality_tags, 2)
    value = rng.choice(culture.values)
    deities = [facts.world.deities.find(d) for d in faith.deities]
    deity = rng.choice([d for d in deities if d is not None] or [None])
    place = facts.region.name if facts.region is not None else culture.name
    settlements = [s.name for s in facts.region.settlements] if facts.region is not None else []
    home = rng.choice(settlements) if settlements else place
    noble = facts.rank is not None
    titled = f"{facts.title} {who}" if facts.title else who
    age = rng.choice(_AGES)
    looks = (
        f"{_cap(titled)} is {_a(age)}, {rng.choice(_BUILDS)} {culture.name} {arch.name.lower()} from "
        f"{home if home == place else f'{home} in {place}'}, with {rng.choice(_FEATURES)}. "
        f"{_cap(subj)} {'wear' if subj == 'they' else 'wears'} "
        f"{rng.choice(_CLOTHES_BY_RANK[noble])}"
    )
    if deity is not None:
        looks += f" and {deity.symbol}, the sign of {deity.name} {deity.title}"
    looks += "."
    if facts.rank is not None:
        looks += f" As {_a(facts.title.lower())}, {subj} {'hold' if subj == 'they' else 'holds'} {facts.rank.holding}."
    traits = [f"{_cap(tags[0])}, and it shows in every dealing."]
    if len(tags) > 1:
        traits.append(f"Known in {home} as {_a(tags[1])} sort who holds to {value}.")
    bonds = [rng.choice(arch.bonds)]
    if deity is not None:
        bonds.append(f"Keeps the rites of {faith.name} and prays to {deity.name} {deity.title}.")
    languages = ", ".join(culture.languages)
    voice = f"{_cap(rng.choice(arch.voices))}; speaks {languages}."
    return NpcProse(
        description=looks,
        traits=tuple(traits),
        ideals=(rng.choice(arch.ideals),),
        bonds=tuple(bonds),
        flaws=(rng.choice(arch.flaws),),
        motivations=_sample(rng, arch.motivations, 2 if rng.random() < 0.4 else 1),
        mannerisms=_sample(rng, arch.mannerisms, 2 if rng.random() < 0.3 else 1),
        voice=voice,
        secrets=_sample(rng, arch.secrets, 2 if rng.random() < 0.25 else 1),
    )


# --- the model path's guard rails ------------------------------------------------------------------------------

_AC = re.compile(r"\b(?:AC|armou?r class(?: of)?)\s*(\d+)", re.IGNORECASE)
_HP = re.compile(r"\b(\d+)\s*(?:hit points|hp)\b", re.IGNORECASE)
_CR = re.compile(r"\b(?:CR|challenge(?: rating)?(?: of)?)\s*(\d+(?:/\d)?)", re.IGNORECASE)
_DC = re.compile(r"\bDC\s*(\d+)")
_TO_HIT = re.compile(r"([+-]\d+)\s*to hit", re.IGNORECASE)
_CASTER = re.compile(
    r"\b(\d+)(?:st|nd|rd|th)[- ]level (?:spellcaster|caster|wizard|cleric|druid|priest)", re.IGNORECASE
)


def stat_numbers(block: StatBlock) -> dict[str, set[str]]:
    """The numbers a text about this NPC may state, by kind."""
    acts = (*block.actions, *block.reactions, *block.legendary_actions)
    dcs = {str(a.save.dc) for a in acts if a.save} | {str(sc.save_dc) for sc in block.spellcasting}
    hits = {f"{a.attack_bonus:+d}" for a in acts if a.attack_bonus is not None}
    hits |= {f"{sc.attack_bonus:+d}" for sc in block.spellcasting}
    return {
        "AC": {str(block.armor_class)},
        "hit points": {str(block.hit_points)},
        "CR": {format_cr(block.challenge_rating)},
        "DC": dcs,
        "to hit": hits,
        "caster level": {str(sc.caster_level) for sc in block.spellcasting},
    }


def number_problems(text: str, allowed: dict[str, set[str]]) -> list[str]:
    """Stated numbers that contradict the computed ones (the model may not change a number)."""
    out = []
    for kind, rx in (
        ("AC", _AC),
        ("hit points", _HP),
        ("CR", _CR),
        ("DC", _DC),
        ("to hit", _TO_HIT),
        ("caster level", _CASTER),
    ):
        for m in rx.finditer(text):
            if m.group(1) not in allowed[kind]:
                want = ", ".join(sorted(allowed[kind])) or "none"
                out.append(f"states {kind} {m.group(1)} but the stat block has {want}")
    return out


def check_prose(data: dict[str, Any], block: StatBlock) -> list[str]:
    """Problems with a schema-valid answer: contradicted numbers, or a secret leaking into a public field."""
    prose = NpcProse.from_dict(data)
    problems = number_problems(prose.public_text() + "\n" + "\n".join(prose.secrets), stat_numbers(block))
    public = prose.public_text().casefold()
    for secret in prose.secrets:
        if len(secret) > 12 and secret.casefold().rstrip(".") in public:
            problems.append(f"a DM-only secret appears in a public field: {secret!r}")
    return problems


def _prompt(facts: ProseFacts, draft: NpcProse, compact: bool = False, minimal: bool = False) -> Prompt:
    """A chat asking for the fields, grounded in the same facts the procedural writer uses; ``compact`` and
    ``minimal`` are shorter forms for models with small windows."""
    arch = facts.archetype
    variables = {"npc": facts.name.full, "archetype": arch.id, "culture": facts.culture.id}
    if minimal:
        system = "Describe a game NPC as JSON. Words only, no numbers."
        user = f"{facts.name.full}, {facts.culture.name} {arch.name.lower()}, faith: {facts.faith.name}."
        return Prompt("npc_profile", (Message("system", system), Message("user", user)), variables)
    system = (
        "You write non-player characters for a tabletop game master. Answer with one JSON object matching the "
        "schema. Write only words: never state hit points, armor class, challenge rating, save DCs or attack "
        "bonuses, and never reveal a secret outside the secrets field. Stay inside the world's facts given."
    )
    lines = [
        f"World: {facts.world.name}. {facts.world.summary}",
        f"Name: {facts.name.full}" + (f", {facts.title}" if facts.title else ""),
        f"Archetype: {arch.name}; personality tags: {', '.join(arch.personality_tags)}.",
        f"Culture: {facts.culture.name} (values: {', '.join(facts.culture.values)}; "
        f"languages: {', '.join(facts.culture.languages)}).",
        f"Faith: {facts.faith.name}.",
        f"Home: {facts.region.name if facts.region else facts.culture.name}.",
    ]
    if not compact:
        lines += [
            f"Ideas to draw on: ideals {arch.ideals}; bonds {arch.bonds}; flaws {arch.flaws}; "
            f"motivations {arch.motivations}; mannerisms {arch.mannerisms}; voices {arch.voices}; "
            f"secrets {arch.secrets}.",
            f"A plain draft to improve on: {draft.as_dict()}",
        ]
    return Prompt("npc_profile", (Message("system", system), Message("user", "\n".join(lines))), variables)


@dataclass(frozen=True, slots=True)
class WrittenProse:
    prose: NpcProse
    info: Provenance
    repaired: bool = False
    replaced: bool = False
    problems: tuple[str, ...] = ()


async def write_prose(facts: ProseFacts, seed: int, text: TextModel | None) -> WrittenProse:
    """Procedural prose without a model; with one, the model's checked answer (repaired or replaced when bad).

    A model that cannot be reached, refuses the request or has too small a window for it does not fail the NPC:
    the procedural writer's fields are used and the provenance says so.
    """
    draft = write_procedural(facts, random.Random(f"npc-prose|{seed}"))
    procedural = Provenance(backend="procedural", model="", seed=seed, procedural=True)
    if text is None or text.backend == "procedural":
        return WrittenProse(draft, procedural)
    prompts = [
        _prompt(facts, draft),
        _prompt(facts, draft, compact=True),
        _prompt(facts, draft, minimal=True),
    ]
    result = await guarded_json(
        text,
        prompts,
        prose_schema(),
        draft.as_dict(),
        seed=seed,
        wanted=MAX_ANSWER,
        least=MIN_ANSWER,
        margin=PROMPT_MARGIN,
        check=lambda data: check_prose(data, facts.block),
        what="NPC prose",
    )
    if result.replaced:
        return WrittenProse(draft, procedural, replaced=True, problems=result.problems)
    return WrittenProse(
        NpcProse.from_dict(result.data), result.info, result.repaired, result.fallback, result.problems
    )
