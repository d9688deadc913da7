"""The offline procedural text backend: prose from tables and the retrieved context, no model at all.

Used when no model server is configured, so the whole mesh runs on a fresh machine. Deterministic under the
seed (one ``random.Random`` per request, seeded from the request's seed and task), and honest: every result is
marked ``procedural`` with backend "procedural" and zero tokens. Narration is written as a scene by
``mesh.text.scene``; the retrieved facts it uses are rewritten as plain sentences, never invented, which keeps it
consistent with the lore by construction.
"""

from __future__ import annotations

import asyncio
import functools
import json
import math
import random
import re
import time
from collections.abc import AsyncGenerator, Callable
from pathlib import Path
from typing import Any

import yaml

from mesh.text.model import Check, Fallback, TextModel, use_fallback
from mesh.text.scene import write_scene
from mesh.text.schema import validate_json
from mesh.text.templates import PromptLibrary
from mesh.text.types import Chunk, ContextItem, GenParams, JsonResult, Prompt, Provenance

TABLES_DIR = Path(__file__).with_name("tables")
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_MARKUP = re.compile(r"^\s*(#+|[-*>]|\d+\.)\s+", re.MULTILINE)
#: A run-in heading such as "**The Old Words.** Wizardry is..." (the label, not a sentence of the lore).
_RUN_IN = re.compile(r"^\s*[*_]{1,3}[^*_\n]{1,80}?[.:][*_]{1,3}\s+(?=\S)")
_EMPHASIS = re.compile(r"[*`]+|(?<!\w)_{1,3}|_{1,3}(?!\w)")
_HEADING = re.compile(r"^\s*#+\s.*$", re.MULTILINE)
#: Markdown table rows (data, not prose): never quoted.
_TABLE_ROW = re.compile(r"^\s*\|.*$", re.MULTILINE)
_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
#: First-person words a player writes -> the second person the narration speaks in.
_YOU = {
    "i": "you",
    "i'm": "you're",
    "me": "you",
    "my": "your",
    "mine": "yours",
    "myself": "yourself",
    "am": "are",
}
_YOU_WORD = re.compile(r"\b(I'm|I|me|my|mine|myself|am)\b", re.IGNORECASE)
_WORD = re.compile(r"\S+\s*")
#: Words per streamed chunk: small enough to look like a stream, large enough to keep overhead low.
WORDS_PER_CHUNK = 4


@functools.cache
def load_tables(name: str) -> dict[str, Any]:
    """A YAML table file from ``mesh/text/tables``."""
    data = yaml.safe_load((TABLES_DIR / f"{name}.yaml").read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"table file {name}.yaml must hold a mapping")
    return data


def first_sentence(text: str, limit: int = 240) -> str:
    """The first sentence of a lore text, markdown markers removed, at most ``limit`` chars."""
    table = _TABLE_ROW.search(text)
    # Prose before a table ends at the table: the text after it never runs on from the table's introduction.
    cut = table is not None and bool(_HEADING.sub("", text[: table.start()]).strip())
    text = _TABLE_ROW.sub("", text[: table.start()] if cut and table is not None else text)
    body = _HEADING.sub("", text) if _HEADING.sub("", text).strip() else text  # a heading is a label
    clean = " ".join(_LINK.sub(r"\1", _MARKUP.sub("", body)).split())  # a list item's wrapped lines join
    clean = clean[:-1].rstrip() if cut and clean.endswith(":") else clean
    clean = _EMPHASIS.sub("", _RUN_IN.sub("", clean)).strip()
    sentence = _SENTENCE.split(clean, maxsplit=1)[0].strip() if clean else ""
    if len(sentence) > limit:
        sentence = sentence[: limit - 1].rsplit(" ", 1)[0] + "…"
    if sentence and sentence[-1] not in ".!?…":
        sentence += "."
    return sentence


def second_person(action: str) -> str:
    """A first-person action ("I search my pack") in the narration's second person ("you search your pack");
    "" when the action is not written in the first person."""
    if not re.match(r"\s*I(?:'m)?\b", action):
        return ""
    return _YOU_WORD.sub(lambda m: _YOU.get(m.group(0).lower(), m.group(0)), action.strip())


def write_summary(prompt: Prompt, rng: random.Random) -> str:
    """An extractive summary: the first sentence of each event (or session summary), oldest first."""
    level = str(prompt.variables.get("level", "session"))
    sentences = [first_sentence(c.text) for c in prompt.context if c.text.strip()]
    if not sentences:
        return "Nothing of note was recorded."
    connectors = ["First,", "Then", "After that,", "Next,", "Later,", "Meanwhile,"]
    parts = []
    for i, sentence in enumerate(sentences):
        body = sentence[0].lower() + sentence[1:] if sentence[:2] != "I " else sentence
        if i == 0:
            parts.append(f"{connectors[0]} {body}")
        elif i == len(sentences) - 1 and len(sentences) > 1:
            parts.append(f"Finally, {body}")
        else:
            parts.append(f"{rng.choice(connectors[1:])} {body}")
    head = "Across these sessions:" if level == "arc" else "In this session:"
    return f"{head} " + " ".join(parts)


def write_generic(prompt: Prompt, rng: random.Random) -> str:
    """Prose for a task without its own writer: the facts given, quoted in order."""
    sentences = [first_sentence(c.text) for c in prompt.context if c.text.strip()]
    subject = str(prompt.variables.get("subject") or prompt.variables.get("action") or "").strip()
    lead = f"{subject}. " if subject else ""
    return (lead + " ".join(sentences)).strip() or "Nothing more is known."


def _names(values: Any, fallback: list[str], rng: random.Random, k: int) -> list[str]:
    names = [str(n) for n in (values or []) if str(n).strip()]
    pool = names or list(fallback)
    return rng.sample(pool, min(k, len(pool)))


def write_plot_twist(prompt: Prompt, rng: random.Random) -> dict[str, Any]:
    """A plot twist from tables, naming the known NPCs and factions and anchored on a retrieved fact."""
    t = load_tables("twists")
    v = prompt.variables
    npcs = _names(v.get("npcs"), t["fallback_npcs"], rng, 2)
    factions = _names(v.get("factions"), t["fallback_factions"], rng, 1)
    npc, faction = npcs[0], factions[0]
    fill = {"npc": npc, "faction": faction, "noun": rng.choice(t["nouns"]), "place": rng.choice(t["places"])}
    hooks = [h.format(**fill) for h in rng.sample(t["hooks"], 3)]
    lore = [c for c in prompt.context if c.source in ("pinned", "lore", "")] or list(prompt.context)
    if lore:
        anchor = first_sentence(lore[rng.randrange(min(3, len(lore)))].text)
        note = f"{rng.choice(t['timeline_leads'])} {anchor}"
    else:
        note = "It unfolds from the campaign's present; nothing in the recorded history contradicts it."
    return {
        "title": rng.choice(t["titles"]).format(**fill),
        "twist": rng.choice(t["twists"]).format(**fill),
        "foreshadowing": hooks,
        "affected_npcs": npcs,
        "affected_factions": factions,
        "timeline_note": note,
    }


_WORDS = ["ember", "tide", "lantern", "oath", "raven", "marsh", "crown", "stone", "ash", "vow", "key", "mist"]


def fill_schema(schema: dict[str, Any], rng: random.Random, words: list[str]) -> Any:
    """A value valid against a simple JSON schema (objects, arrays, strings, numbers, enums), built from words."""
    if "enum" in schema:
        return rng.choice(schema["enum"])
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type", "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        props: dict[str, Any] = schema.get("properties", {})
        return {name: fill_schema(sub, rng, words) for name, sub in props.items()}
    if kind == "array":
        low = int(schema.get("minItems", 1))
        high = int(schema.get("maxItems", max(low, 3)))
        count = min(high, max(low, 2))
        return [fill_schema(schema.get("items", {"type": "string"}), rng, words) for _ in range(count)]
    if kind == "integer":
        low_i = int(schema.get("minimum", 0))
        return rng.randint(low_i, int(schema.get("maximum", low_i + 10)))
    if kind == "number":
        low_f = float(schema.get("minimum", 0.0))
        return round(rng.uniform(low_f, float(schema.get("maximum", low_f + 10.0))), 2)
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "null":
        return None
    text = " ".join(rng.choice(words) for _ in range(4)).capitalize()
    min_len, max_len = int(schema.get("minLength", 0)), int(schema.get("maxLength", 200))
    while len(text) < min_len:
        text += " " + rng.choice(words)
    return text[:max_len]


TEXT_WRITERS: dict[str, Callable[[Prompt, random.Random], str]] = {
    "narrate": write_scene,
    "summarize": write_summary,
}
JSON_WRITERS: dict[str, Callable[[Prompt, random.Random], dict[str, Any]]] = {
    "plot_twist": write_plot_twist,
}


class ProceduralBackend(TextModel):
    """Writes from tables; registered writers per task, a generic writer and schema filler otherwise."""

    backend = "procedural"

    def __init__(self, context_window: int = 8192, prompts: PromptLibrary | None = None) -> None:
        super().__init__(prompts)
        self._window = context_window

    @property
    def context_window(self) -> int:
        return self._window

    def count_tokens(self, text: str) -> int:
        # About four characters per token for English: the usual rule of thumb, rounded up.
        return math.ceil(len(text) / 4)

    @staticmethod
    def rng(prompt: Prompt, seed: int) -> random.Random:
        """The per-request generator: the same seed and task always give the same choices."""
        return random.Random(f"{prompt.task}:{seed}")

    def _info(self, seed: int, started: float) -> Provenance:
        return Provenance(
            backend=self.backend,
            model="",
            seed=seed,
            procedural=True,
            latency_ms=(time.perf_counter() - started) * 1000,
        )

    def write(self, prompt: Prompt, params: GenParams) -> tuple[str, str]:
        """The full text and finish reason ("stop", or "length" when cut at ``max_tokens``)."""
        writer = TEXT_WRITERS.get(prompt.task, write_generic)
        text = writer(prompt, self.rng(prompt, params.seed))
        if self.count_tokens(text) <= params.max_tokens:
            return text, "stop"
        cut = text[: params.max_tokens * 4]
        return cut.rsplit(" ", 1)[0] if " " in cut else cut, "length"

    async def stream(self, prompt: Prompt, params: GenParams) -> AsyncGenerator[Chunk, None]:
        params = params.with_seed()
        started = time.perf_counter()
        text, finish = self.write(prompt, params)
        words = _WORD.findall(text)
        index = 0
        for start in range(0, len(words), WORDS_PER_CHUNK):
            yield Chunk("".join(words[start : start + WORDS_PER_CHUNK]), index)
            index += 1
            await asyncio.sleep(0)  # let other requests run between chunks, as a real stream would
        yield Chunk("", index, done=True, finish_reason=finish, info=self._info(params.seed, started))

    async def _json_attempt(
        self, prompt: Prompt, schema: dict[str, Any], params: GenParams
    ) -> tuple[str, Provenance]:
        started = time.perf_counter()
        rng = self.rng(prompt, params.seed)
        writer = JSON_WRITERS.get(prompt.task)
        if writer is not None:
            data = writer(prompt, rng)
        else:
            words = [w.strip(".,;:!?\"'").lower() for c in prompt.context for w in c.text.split()][:200]
            data = fill_schema(schema, rng, [w for w in words if w.isalpha()] or _WORDS)
        return json.dumps(data), self._info(params.seed, started)

    async def complete_json(
        self,
        prompt: Prompt,
        schema: dict[str, Any],
        params: GenParams,
        *,
        fallback: Fallback | None = None,
        check: Check | None = None,
    ) -> JsonResult:
        """The caller's own procedural writer when given (it knows its domain best), else ours."""
        params = params.with_seed()
        started = time.perf_counter()
        if fallback is not None:
            return use_fallback(
                fallback, schema, check, params.seed, self._info(params.seed, started), started, []
            )
        text, info = await self._json_attempt(prompt, schema, params)
        data, problems = validate_json(text, schema, check)
        if data is None:
            raise ValueError(f"procedural writer for {prompt.task!r} produced invalid output: {problems}")
        info.latency_ms = (time.perf_counter() - started) * 1000
        return JsonResult(data, info)


def context_facts(items: list[ContextItem] | tuple[ContextItem, ...]) -> list[str]:
    """First sentences of context items, the form in which the procedural writer quotes them."""
    return [first_sentence(i.text) for i in items if i.text.strip()]
