"""An item's words: its name, appearance and lore, procedural from the world's tables or from the text model.

The procedural writer names the item from its base, theme and main power ("Ember-forged Longsword of
Ignite, +1"), describes it from its theme's damage types, and ties its lore to the world's history (an era and
an event of the timeline) and to the magic source its theme draws on. The model path asks for the same three
fields against a JSON schema; an answer that states a number the mechanics do not have (a different +N bonus,
dice, save DC, charge count or spell level) is rejected, repaired once, then replaced by the procedural text.
"""

from __future__ import annotations

import logging
import random
import re
from dataclasses import dataclass
from typing import Any

from lore import World
from lore.facts import ItemTheme
from mesh.text import Message, Prompt, Provenance, TextModel
from mesh.text.guarded import guarded_json
from rules.items import SCROLL_TABLE, ItemKind, ItemMechanics, Rarity

log = logging.getLogger("item_svc.prose")

#: Materials and details by damage type (generic words; the world's names come from its own facts).
_LOOKS: dict[str, tuple[str, str]] = {
    "fire": ("soot-dark steel", "a faint warmth that never fades"),
    "cold": ("frost-pale silver", "a rime that forms on it in any weather"),
    "radiant": ("polished brass", "a soft glow at its edges"),
    "necrotic": ("black iron", "a chill that makes candle flames lean away"),
    "acid": ("pitted green bronze", "a sharp smell like a tannery"),
    "psychic": ("living thornwood", "a grain that seems to shift when unobserved"),
    "poison": ("dark-stained yew", "a bitter scent of crushed leaves"),
    "force": ("old bronze", "script in a dead tongue that hums when touched"),
    "lightning": ("blue-veined copper", "a crackle that lifts the hair on your arms"),
    "thunder": ("dented bronze", "a low note that sounds when it is struck"),
    "bludgeoning": ("salt-bleached driftwood", "barnacle scars polished smooth"),
}
_DEFAULT_LOOK = ("worn steel", "maker's marks no smith today can read")
#: Answer budget (tokens) asked of a model, the least worth asking for, and room kept for the chat template.
MAX_ANSWER = 500
MIN_ANSWER = 150
PROMPT_MARGIN = 16
MAX_NAME = 90
MAX_DESCRIPTION = 600
MAX_LORE = 900


def prose_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["name", "description", "lore"],
        "properties": {
            "name": {"type": "string", "minLength": 3, "maxLength": MAX_NAME},
            "description": {"type": "string", "minLength": 20, "maxLength": MAX_DESCRIPTION},
            "lore": {"type": "string", "minLength": 20, "maxLength": MAX_LORE},
        },
    }


@dataclass(frozen=True, slots=True)
class ItemProse:
    name: str
    description: str
    lore: str


@dataclass(frozen=True, slots=True)
class WrittenItemProse:
    prose: ItemProse
    info: Provenance
    repaired: bool = False
    replaced: bool = False
    problems: tuple[str, ...] = ()


def _title(text: str) -> str:
    small = {"of", "the", "and", "a", "an", "with", "or", "to", "in", "on", "for"}
    words = re.split(r"[\s-]+", text.strip())
    return " ".join(w if (i and w in small) else w[:1].upper() + w[1:] for i, w in enumerate(words))


def _a(word: str) -> str:
    return ("an " if word[:1].lower() in "aeiou" else "a ") + word


def theme_adjective(theme: ItemTheme) -> str:
    """ "Ember-forged" for a one-word theme name; multi-word names ("Tide and brine") are not adjectives."""
    return theme.name if " " not in theme.name.strip() else ""


def item_name(mech: ItemMechanics, theme: ItemTheme, effects: tuple[str, ...]) -> str:
    """The SRD's naming: "<Base> of <Power>", the theme as an adjective, ", +N" for a bonus."""
    base = _title(mech.base_item or mech.kind.value)
    if mech.kind is ItemKind.SCROLL and mech.spells:
        return f"Spell Scroll of {_title(mech.spells[0].name)}"
    power = ""
    if mech.spells and mech.kind in (ItemKind.WAND, ItemKind.STAFF, ItemKind.ROD, ItemKind.POTION):
        power = mech.spells[0].name
    elif effects:
        power = effects[0].replace("-", " ")
    else:
        power = next((p.name for p in mech.properties if p.kind != "bonus"), "")
    adjective = theme_adjective(theme)
    name = f"{adjective + ' ' if adjective else ''}{base}{' of ' + _title(power) if power else ''}"
    return f"{name}, +{mech.bonus}" if mech.bonus else name


def write_procedural(
    world: World,
    theme: ItemTheme,
    mech: ItemMechanics,
    rarity: Rarity,
    effects: tuple[str, ...],
    rng: random.Random,
) -> ItemProse:
    name = item_name(mech, theme, effects)
    material, detail = _LOOKS.get(theme.damage_types[0] if theme.damage_types else "", _DEFAULT_LOOK)
    base = mech.base_item or mech.kind.value
    description = f"{_a(base).capitalize()} of {material}, with {detail}."
    if mech.curse is not None:
        description += " Those who carry it long grow reluctant to set it down."
    events = list(world.events)
    lore = f"{_a(rarity.label).capitalize()} work of the {theme.name} tradition."
    if events:
        event = rng.choice(events)
        era = world.eras.find(event.era)
        when = f"in {era.name}, " if era is not None else ""
        summary = event.summary.strip().rstrip(".")
        lore += (
            f" Tales place it {when}around {event.year} {world.calendar.era_abbreviation}, at {event.name}: "
            f"{summary[:1].lower() + summary[1:]}."
        )
    if world.magic is not None:
        words = {
            w
            for w in re.findall(
                r"[a-z]+", " ".join([theme.name, *theme.effects, *theme.damage_types]).lower()
            )
        }
        sources = [
            s
            for s in world.magic.sources
            if words & set(re.findall(r"[a-z]+", f"{s.name} {s.description}".lower()))
        ]
        if sources:
            source = rng.choice(sources)
            lore += f" Its power is {source.name}: {source.description[:1].lower() + source.description[1:]}"
    return ItemProse(name[:MAX_NAME], description[:MAX_DESCRIPTION], lore[:MAX_LORE])


# --- guard rails for a model's answer -----------------------------------------------------------------------------

_BONUS = re.compile(r"(?<![\w/])\+(\d+)\b")
_DICE = re.compile(r"\b(\d+d\d+(?:\s*[+-]\s*\d+)?)\b")
_DC = re.compile(r"\bDC\s*(\d+)")
_CHARGES = re.compile(r"\b(\d+)\s+charges?\b", re.IGNORECASE)
_LEVEL = re.compile(r"\b(\d)(?:st|nd|rd|th)[- ]level\b", re.IGNORECASE)


def mechanic_numbers(mech: ItemMechanics) -> dict[str, set[str]]:
    """The numbers a text about this item may state."""
    text = "\n".join(p.description for p in mech.properties)
    dice = {re.sub(r"\s+", "", d) for d in _DICE.findall(text)}
    if mech.charges is not None:
        dice |= {re.sub(r"\s+", "", d) for d in _DICE.findall(mech.charges.recharge)}
    return {
        "bonus": {str(mech.bonus)} if mech.bonus else set(),
        "dice": dice,
        "DC": set(_DC.findall(text)) | {str(SCROLL_TABLE[s.level].save_dc) for s in mech.spells},
        "charges": ({str(mech.charges.max)} if mech.charges else set())
        | {str(s.charge_cost) for s in mech.spells},
        "level": {str(s.level) for s in mech.spells},
    }


def number_problems(data: dict[str, Any], mech: ItemMechanics) -> list[str]:
    """Stated numbers that differ from the computed mechanics."""
    allowed = mechanic_numbers(mech)
    text = "\n".join(str(data.get(k, "")) for k in ("name", "description", "lore"))
    out = []
    for kind, rx in (
        ("bonus", _BONUS),
        ("dice", _DICE),
        ("DC", _DC),
        ("charges", _CHARGES),
        ("level", _LEVEL),
    ):
        for m in rx.finditer(text):
            value = re.sub(r"\s+", "", m.group(1))
            if value not in allowed[kind]:
                want = ", ".join(sorted(allowed[kind])) or "none"
                out.append(f"states {kind} {value} but the item's mechanics have {want}")
    return out


def _prompt(
    world: World,
    theme: ItemTheme,
    mech: ItemMechanics,
    rarity: Rarity,
    draft: ItemProse,
    compact: bool = False,
    minimal: bool = False,
) -> Prompt:
    """A chat asking for name, description and lore; ``compact`` and ``minimal`` suit small model windows."""
    if minimal:
        short = "Name and describe a magic item as JSON. Words only, no numbers."
        user = f"A {rarity.label} {mech.base_item or mech.kind.value} of the {theme.name} tradition."
        return Prompt("item_prose", (Message("system", short), Message("user", user)), {"theme": theme.id})
    system = (
        "You name and describe magic items for a tabletop game master. Answer with one JSON object matching the "
        "schema. Write words only: do not state bonuses, dice, save DCs, charges or spell levels other than those "
        "given, and keep to the world's history and magic."
    )
    rules = "\n".join(f"- {p.name}: {p.description}" for p in mech.properties)
    events = "; ".join(f"{e.year}: {e.name}" for e in list(world.events)[:12])
    lines = [
        f"World: {world.name}. {world.summary}",
        f"Item: {rarity.label} {mech.kind.value} ({mech.base_item}), theme {theme.name}.",
        f"Mechanics (fixed):\n{rules}",
    ]
    if not compact:
        lines += [f"History to draw on: {events}", f"A plain draft to improve on: {draft}"]
    user = "\n".join(lines)
    return Prompt("item_prose", (Message("system", system), Message("user", user)), {"theme": theme.id})


async def write_prose(
    world: World,
    theme: ItemTheme,
    mech: ItemMechanics,
    rarity: Rarity,
    effects: tuple[str, ...],
    seed: int,
    text: TextModel | None,
) -> WrittenItemProse:
    draft = write_procedural(world, theme, mech, rarity, effects, random.Random(f"item-prose|{seed}"))
    procedural = Provenance(backend="procedural", model="", seed=seed, procedural=True)
    if text is None or text.backend == "procedural":
        return WrittenItemProse(draft, procedural)
    prompts = [
        _prompt(world, theme, mech, rarity, draft),
        _prompt(world, theme, mech, rarity, draft, compact=True),
        _prompt(world, theme, mech, rarity, draft, minimal=True),
    ]
    result = await guarded_json(
        text,
        prompts,
        prose_schema(),
        {"name": draft.name, "description": draft.description, "lore": draft.lore},
        seed=seed,
        wanted=MAX_ANSWER,
        least=MIN_ANSWER,
        margin=PROMPT_MARGIN,
        check=lambda data: number_problems(data, mech),
        what="item prose",
    )
    if result.replaced:
        # An unreachable or refusing model does not fail the item: the procedural words stand in, and say so.
        return WrittenItemProse(draft, procedural, replaced=True, problems=result.problems)
    prose = ItemProse(str(result.data["name"]), str(result.data["description"]), str(result.data["lore"]))
    return WrittenItemProse(prose, result.info, result.repaired, result.fallback, result.problems)
