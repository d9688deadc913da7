"""Rules text for the effects a world's item themes allow (``ItemTheme.effects`` slugs such as "light",
"water-breathing", "ward-undead", "tracking").

Every effect becomes one property written in the SRD's phrasing, so the appraiser (``rules.items``) reads the
same power back. An effect is matched by the words in its slug: "fire-resistance" is a resistance to fire,
"swim-speed" a swimming speed, "ward-undead" a bonus to saving throws against undead; an effect we have no
rule for becomes advantage on the ability checks it names, which is the mildest power the SRD gives an item.
Effects that name a spell ("counterspell", "fog", "silence", "heat-metal") are cast as that spell instead, by
the generator.
"""

from __future__ import annotations

from dataclasses import dataclass

from rules.items import ItemKind, ItemProperty

_DAMAGE_TYPES = frozenset(
    "acid bludgeoning cold fire force lightning necrotic piercing poison psychic radiant slashing thunder".split()
)


@dataclass(frozen=True, slots=True)
class EffectRule:
    """Words that pick the rule, the property's name and its text (``{it}`` is "it" or "this potion")."""

    words: tuple[str, ...]
    name: str
    text: str
    kind: str = "utility"


#: First match wins; the texts use the phrases the appraiser recognises.
RULES: tuple[EffectRule, ...] = (
    EffectRule(("light",), "Radiance", "As a bonus action, you can make {it} shed bright light in a 20-foot radius and dim light for an additional 20 feet, or end the light."),
    EffectRule(("darkvision", "dark", "night"), "Night Sight", "While you wear or carry {it}, you have darkvision out to a range of 60 feet."),
    EffectRule(("breathing", "breath", "gills"), "Water Breath", "While you wear or carry {it}, you can breathe underwater."),
    EffectRule(("swim",), "Swimmer", "While you wear or carry {it}, you have a swimming speed equal to your walking speed."),
    EffectRule(("climb", "ice", "walk"), "Sure Footing", "While you wear or carry {it}, you have a climbing speed equal to your walking speed, and ice and snow are not difficult terrain for you."),
    EffectRule(("flight", "fly", "wings"), "Flight", "While you wear or carry {it}, you have a flying speed equal to your walking speed."),
    EffectRule(("tremorsense", "tremor"), "Stone Sense", "While you wear or carry {it}, you have tremorsense out to a range of 30 feet."),
    EffectRule(("invisibility", "invisible", "vanish"), "Vanishing", "As an action, you can become invisible until the end of your next turn. Once used, this property can't be used again until the next dawn."),
    EffectRule(("telepathy", "mind"), "Mindspeech", "While you wear or carry {it}, you can speak telepathically to any creature you can see within 30 feet."),
    EffectRule(("charm", "calm", "sleep", "fear", "enthral"), "Beguiling", "As an action, you can force one creature you can see within 30 feet to succeed on a DC {dc} Wisdom saving throw or be charmed by you for 1 minute. Once used, this property can't be used again until the next dawn."),
    EffectRule(("ward", "protection", "shield", "salt"), "Warding", "While you wear or carry {it}, you gain a +1 bonus to saving throws."),
    EffectRule(("healing", "heal", "mend", "preservation"), "Mending", "As an action, you can touch a creature and it can regain {heal} hit points. Once used, this property can't be used again until the next dawn.", "healing"),
    EffectRule(("detect", "scrying", "truth", "tracking", "sense", "metal"), "Keen Sense", "While you wear or carry {it}, you have advantage on Wisdom (Perception) and Intelligence (Investigation) checks to find what {effect} reveals."),
)  # fmt: skip

#: Consumables say "this potion" or "the scroll"; permanent items "it".
_SUBJECT = {ItemKind.POTION: "this potion", ItemKind.SCROLL: "the scroll"}


def _words(slug: str) -> list[str]:
    return slug.lower().split("-")


def resistance_type(slug: str) -> str | None:
    """ "fire-resistance" -> "fire"; None when the effect is not a resistance."""
    words = _words(slug)
    if "resistance" in words or "resist" in words:
        found = [w for w in words if w in _DAMAGE_TYPES]
        return found[0] if found else None
    return None


def effect_property(slug: str, kind: ItemKind, dc: int, heal: str = "2d8 + 2") -> ItemProperty:
    """The property that gives an item the effect ``slug``."""
    it = _SUBJECT.get(kind, "it")
    words = _words(slug)
    label = slug.replace("-", " ")
    dtype = resistance_type(slug)
    if dtype is not None:
        text = (
            f"When you drink {it}, you have resistance to {dtype} damage for 1 hour."
            if kind is ItemKind.POTION
            else f"You have resistance to {dtype} damage while you wear or carry {it}."
        )
        return ItemProperty(f"{dtype.capitalize()} Ward", text, "resistance", slug)
    for rule in RULES:
        if any(w.startswith(r) or r.startswith(w) for w in words for r in rule.words if len(w) >= 3):
            text = rule.text.format(it=it, dc=dc, heal=heal, effect=label)
            if kind is ItemKind.POTION:
                text = text.replace(
                    "While you wear or carry this potion,", "For 1 hour after you drink this potion,"
                )
            return ItemProperty(rule.name, text[0].upper() + text[1:], rule.kind, slug)
    text = (
        f"While you wear or carry {it}, you have advantage on ability checks made to use or resist {label}."
        if kind is not ItemKind.POTION
        else f"For 1 hour after you drink {it}, you have advantage on ability checks made to use or resist {label}."
    )
    return ItemProperty(label.title(), text, "utility", slug)
