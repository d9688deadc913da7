"""Prompts from lore: an NPC, item, location or scene plus the world's style, fitted to CLIP's 77 tokens.

Stable Diffusion's text encoder reads 77 tokens (75 after the start and end markers) and silently drops the rest,
so a long description would push the world's style out and a campaign's pictures would stop looking alike. The
builder therefore spends the budget deliberately: the subject's name and traits first, then the kind's framing,
a guaranteed share of the style, then as much description as fits, then the rest of the style. Token counts are
a conservative estimate of CLIP's BPE (model-independent, so the same request always gives the same prompt).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from lore import Catalog, World
from lore.errors import UnknownChoice
from visual_svc.spec import BuiltPrompt, ImageKind, Subject
from visual_svc.styles import StylePreset

#: CLIP's 77 positions minus the start and end tokens.
TOKEN_BUDGET = 75
#: Share of the budget the world's style keeps even when the description is long.
STYLE_SHARE = 0.4
BASE_NEGATIVE = "lowres, blurry, jpeg artifacts, deformed, bad anatomy, text, watermark, signature"


@dataclass(frozen=True, slots=True)
class KindTemplate:
    """How a kind of picture is framed."""

    lead: str
    framing: str
    negative: str


TEMPLATES: dict[ImageKind, KindTemplate] = {
    ImageKind.PORTRAIT: KindTemplate(
        "portrait of",
        "head and shoulders, detailed face",
        "extra fingers, mutated hands, cropped head, crowd",
    ),
    ImageKind.LOCATION: KindTemplate(
        "", "wide establishing shot, landscape vista", "close-up, cropped, portrait"
    ),
    ImageKind.ITEM: KindTemplate(
        "",
        "single object, centered, item illustration, plain background",
        "hands, people, cluttered background",
    ),
    ImageKind.SCENE: KindTemplate("", "cinematic composition", ""),
}

_WORD = re.compile(r"[A-Za-z0-9]+|[^\sA-Za-z0-9]")
_CLAUSES = re.compile(r"(?<=[.;!?])\s+|,\s+")


def estimate_tokens(text: str) -> int:
    """A conservative count of CLIP BPE tokens: common words are one, long or rare ones several."""
    return sum(max(1, math.ceil(len(w) / 6)) if w[0].isalnum() else 1 for w in _WORD.findall(text))


def _phrases(text: str) -> list[str]:
    return [p.strip(" .;") for p in _CLAUSES.split(" ".join(text.split())) if p.strip(" .;")]


def _cost(phrase: str) -> int:
    """Tokens of a phrase plus its separating comma."""
    return estimate_tokens(phrase) + 1


def _take(phrases: list[str], budget: int, trim: bool = False) -> list[str]:
    """The leading phrases that fit in ``budget`` tokens, in order; with ``trim`` the first phrase that does not
    fit is cut at a word boundary (when at least a few words fit) instead of dropped."""
    out: list[str] = []
    for p in phrases:
        cost = _cost(p)
        if cost > budget:
            if trim:
                words = p.split()
                while words and _cost(" ".join(words)) > budget:
                    words.pop()
                if len(words) >= 3:
                    out.append(" ".join(words))
            break
        budget -= cost
        out.append(p)
    return out


def _dedupe(phrases: list[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for p in phrases:
        key = p.lower()
        if p and key not in seen:
            seen.add(key)
            out.append(p)
    return out


class PromptBuilder:
    """Turns a subject and a world style into the (prompt, negative prompt) pair the pipeline gets."""

    def __init__(self, budget: int = TOKEN_BUDGET) -> None:
        self.budget = budget

    def build(
        self, kind: ImageKind, subject: Subject, text: str, style: StylePreset, negative: str = ""
    ) -> BuiltPrompt:
        tpl = TEMPLATES[kind]
        head = ", ".join(p for p in [subject.name.strip(), *(t.strip() for t in subject.traits)] if p)
        if tpl.lead and head:
            head = f"{tpl.lead} {head}"
        details = _phrases(subject.description) + _phrases(text)
        if tpl.lead and not head and details:
            details[0] = f"{tpl.lead} {details[0]}"
        framing = _phrases(tpl.framing)
        style_phrases = _phrases(style.positive)

        used = sum(_cost(p) for p in [head, *framing] if p)
        style_budget = max(0, min(self.budget - used, int(self.budget * STYLE_SHARE)))
        style_first = _take(style_phrases, style_budget)
        used += sum(_cost(p) for p in style_first)
        chosen = _take(details, self.budget - used, trim=True)
        used += sum(_cost(p) for p in chosen)
        style_rest = _take(style_phrases[len(style_first) :], self.budget - used)
        prompt = ", ".join(_dedupe([p for p in [head, *chosen, *framing, *style_first, *style_rest] if p]))

        negatives = _dedupe(
            [
                *_phrases(negative),
                *_phrases(tpl.negative),
                *_phrases(style.negative),
                *_phrases(BASE_NEGATIVE),
            ]
        )
        neg_out = _take(negatives, self.budget)
        return BuiltPrompt(prompt=prompt, negative_prompt=", ".join(neg_out), style=style.name)


def lore_subject(world: World, ref: str, field: str = "lore_ref") -> tuple[ImageKind, Subject]:
    """The subject a lore reference (``region:<id>``, ``site:``, ``item:``, ``creature:``) names.

    Secret (DM-only) facts are treated as unknown: the prompt is returned to the caller with the image.
    """
    kind, _, name = (part.strip() for part in ref.partition(":"))
    catalogs: dict[str, Catalog[Any]] = {
        "region": world.regions,
        "site": world.sites,
        "item": world.items,
        "creature": world.creatures,
    }
    catalog = catalogs.get(kind)
    if catalog is None:
        raise UnknownChoice(field, "lore kind", kind, catalogs)
    fact = catalog.find(name)
    if fact is None or getattr(fact, "secret", False):
        raise UnknownChoice(field, kind, name, [f.id for f in catalog.public()])
    if kind == "region":
        region = world.region(name, field)
        description = f"{region.description} {region.climate}".strip()
        return ImageKind.LOCATION, Subject(region.name, description, (region.biome, *region.terrains))
    if kind == "site":
        site = world.sites.get(name, field)
        region_name = r.name if (r := world.regions.find(site.region)) else site.region
        return ImageKind.LOCATION, Subject(site.name, site.description, (site.kind, f"in {region_name}"))
    if kind == "item":
        item = world.items.get(name, field)
        return ImageKind.ITEM, Subject(item.name, item.description, (item.rarity, item.type))
    creature = world.creatures.get(name, field)
    return ImageKind.PORTRAIT, Subject(creature.name, creature.description, ())
