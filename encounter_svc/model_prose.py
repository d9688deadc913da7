"""Encounter prose from a language model, guarded so the words can never change the mechanics.

The builder has already fixed every number; the model only rewrites the title, the read-aloud description and
the tactics, answering in JSON against :data:`PROSE_SCHEMA`. :func:`mechanics_guard` rejects an answer that
names a number the mechanics do not contain ("five goblins" when there are four) or leaves out a creature or
hazard, and the text model then repairs it once or falls back to the offline writer (``prose.write_prose``).
Terrain features stay procedural: they carry rules text with DCs. With the procedural backend, or when the model
servers are down, the offline writer's prose is returned unchanged and the provenance says so.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from encounter_svc.builder import rng_for
from encounter_svc.models import Encounter, Prose
from encounter_svc.prose import write_prose
from mesh.text import Message, Prompt, Provenance, TextModel
from mesh.text.guarded import guarded_json

log = logging.getLogger("encounter_svc.model_prose")

TASK = "encounter_prose"
#: Completion tokens asked for: three short fields of JSON.
MAX_TOKENS = 400
#: Tokens kept free beside prompt and completion (chat-template markers, tokenizer drift).
MARGIN_TOKENS = 32

PROSE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "title": {"type": "string", "minLength": 3, "maxLength": 80},
        "description": {"type": "string", "minLength": 20, "maxLength": 800},
        "tactics": {"type": "string", "minLength": 10, "maxLength": 800},
    },
    "required": ["title", "description", "tactics"],
    "additionalProperties": False,
}

SYSTEM = (
    "You write the words for a D&D 5e encounter whose mechanics are already fixed. Given the encounter's facts "
    "as JSON, write a short title, a read-aloud description for the players (2-4 sentences, second person, "
    "present tense) and the creatures' tactics for the game master (2-4 sentences). Name every creature "
    "(or hazard) in the description exactly as listed. Use only numbers that appear in the facts; never add "
    "creatures, numbers or rules of your own. Answer with one JSON object with the keys title, description "
    "and tactics."
)

_NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
    "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "dozen": 12, "score": 20,
}  # fmt: skip
_NUMBER = re.compile(r"\b(\d+|" + "|".join(_NUMBER_WORDS) + r")\b", re.IGNORECASE)
_DIGITS = re.compile(r"\d+")


def encounter_facts(encounter: Encounter, region_name: str = "") -> dict[str, Any]:
    """What the model may draw on: the finished mechanics, in words and the numbers it may repeat."""
    facts: dict[str, Any] = {
        "kind": encounter.kind.value,
        "terrain": encounter.terrain,
        "creatures": [
            {
                "name": g.stat_block.name,
                "count": g.count,
                "role": g.role,
                "type": g.stat_block.type,
                "challenge_rating": g.stat_block.challenge_display,
            }
            for g in encounter.creatures
        ],
        "terrain_features": [f"{f.name}: {f.description}" for f in encounter.prose.terrain_features],
    }
    if region_name:
        facts["region"] = region_name
    if encounter.creatures:
        facts["total_creatures"] = encounter.creature_count
    if encounter.hazards:
        facts["hazards"] = [
            {
                "name": h.name,
                "what_it_does": h.description,
                "severity": h.severity,
                "save": f"DC {h.save_dc} {h.save_ability.value.upper()}",
                "damage": f"{h.damage.dice} {h.damage.damage_type}",
            }
            for h in encounter.hazards
        ]
    if encounter.social is not None:
        facts["social"] = {
            "participants": list(encounter.social.participants),
            "they_want": encounter.social.goal,
            "reward": encounter.social.reward,
            "risk": encounter.social.risk,
            "checks": list(encounter.social.checks),
        }
    return facts


def _numbers(text: str) -> list[int]:
    return [int(m) if m.isdigit() else _NUMBER_WORDS[m.lower()] for m in _NUMBER.findall(text)]


def _counts_before(text: str, name: str) -> set[int]:
    """Numbers written right before a creature's name ("five goblins", "3 giant toads")."""
    base = name.lower()
    if base.endswith("f"):  # wolf -> wolves
        stem = re.escape(base[:-1]) + "(?:f|ves)"
    elif base.endswith("y"):  # harpy -> harpies
        stem = re.escape(base[:-1]) + "(?:y|ies)"
    else:
        stem = re.escape(base.rstrip("s"))
    pattern = rf"\b(\d+|{'|'.join(_NUMBER_WORDS)})\s+(?:[a-z-]+\s+)?{stem}"
    return {int(m) if m.isdigit() else _NUMBER_WORDS[m] for m in re.findall(pattern, text.lower())}


def mechanics_guard(encounter: Encounter, facts: dict[str, Any]) -> Callable[[dict[str, Any]], list[str]]:
    """A check for the model's answer: only the facts' numbers, and every creature or hazard named."""
    allowed = {int(n) for n in _DIGITS.findall(json.dumps(facts))}
    names = [g.stat_block.name for g in encounter.creatures] or [h.name for h in encounter.hazards]

    def check(data: dict[str, Any]) -> list[str]:
        problems: list[str] = []
        for key in ("title", "description", "tactics"):
            foreign = sorted({n for n in _numbers(str(data[key])) if n not in allowed})
            if foreign:
                problems.append(
                    f"{key}: the numbers {foreign} are not in the encounter; use only {sorted(allowed)}"
                )
        description = str(data["description"]).lower()
        missing = [n for n in names if n.lower() not in description]
        if missing:
            problems.append(f"description: name {', '.join(missing)} exactly as listed")
        for key in ("title", "description", "tactics"):
            text = str(data[key])
            for group in encounter.creatures:
                said = _counts_before(text, group.stat_block.name)
                if said - {group.count}:
                    problems.append(
                        f"{key}: there are {group.count} {group.stat_block.name}, not {min(said - {group.count})}"
                    )
        return problems

    return check


def procedural_info(seed: int, started: float) -> Provenance:
    """Provenance of the offline writer's words."""
    return Provenance(
        backend="procedural",
        model="",
        seed=seed,
        procedural=True,
        latency_ms=(time.perf_counter() - started) * 1000,
    )


class ProseWriter:
    """Writes an encounter's words: the model when one is configured, the offline tables otherwise."""

    def __init__(self, model: TextModel | None = None, max_tokens: int = MAX_TOKENS) -> None:
        self.model = model
        self.max_tokens = max_tokens

    def prompt(self, facts: dict[str, Any]) -> Prompt:
        user = "Encounter facts:\n" + json.dumps(facts, ensure_ascii=False, separators=(",", ":"))
        return Prompt(TASK, (Message("system", SYSTEM), Message("user", user)), {"facts": facts})

    async def write(self, encounter: Encounter, region_name: str = "") -> tuple[Prose, Provenance]:
        """Prose for a finished encounter and how it was written; the mechanics are never touched."""
        started = time.perf_counter()
        offline = write_prose(encounter, rng_for(encounter.seed, "prose"))
        model = self.model
        if model is None or model.backend == "procedural":
            return offline, procedural_info(encounter.seed, started)
        facts = encounter_facts(replace(encounter, prose=offline), region_name)
        draft = {"title": offline.title, "description": offline.description, "tactics": offline.tactics}
        result = await guarded_json(
            model,
            [self.prompt(facts)],
            PROSE_SCHEMA,
            draft,
            seed=encounter.seed,
            wanted=self.max_tokens,
            least=64,  # a window this small cannot hold even a short answer
            margin=MARGIN_TOKENS,
            check=mechanics_guard(encounter, facts),
            what="encounter prose",
        )
        if result.replaced:
            # The mechanics are done and correct; words from the tables beat failing the whole request.
            return offline, procedural_info(encounter.seed, started)
        data = result.data
        prose = Prose(
            title=str(data["title"]),
            description=str(data["description"]),
            tactics=str(data["tactics"]),
            terrain_features=offline.terrain_features,
        )
        return prose, result.info
