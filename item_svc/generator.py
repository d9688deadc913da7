"""GenerateItem's mechanics: candidates within the rarity's caps and the world's magic, composed until the
appraiser rates the item at the requested rarity.

Candidates are every mechanic the kind allows that follows the item theme and the world's magic system: a
+N bonus (weapons, armor, shields, ammunition, spellcasting foci), extra damage of the theme's damage types,
a resistance to one of them, an ability score, a healing draught, a spell (of an allowed school, at most the
world's and the rarity's highest level, never a forbidden effect; cast from charges), and the theme's own
effects (``effects``). Each is rated by ``rules.items`` exactly as the appraiser will rate it; any whose tier
reaches the next rarity is dropped, so no item can exceed its rarity's caps. The generator then takes a
primary mechanic at the rarity, tops up with the strongest fitting ones while the item still rates below it,
and adds minor ones while it stays there: what it returns is what ``appraise`` says it is.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from item_svc.bases import BaseItems
from item_svc.effects import effect_property
from lore import World
from lore.facts import ItemTheme
from mesh.errors import InvalidArgument
from rules.items import (
    ABILITY_SCORE_TIERS,
    CONSUMABLE_KINDS,
    EXTRA_DAMAGE_TIERS,
    HEALING_TIERS,
    MAX_CHARGES,
    RECHARGE_BY_CHARGES,
    SCROLL_TABLE,
    Appraisal,
    Charges,
    Curse,
    ItemKind,
    ItemMechanics,
    ItemProperty,
    ItemSpell,
    Rarity,
    appraise,
    calls_for_attunement,
    cap_violations,
    caps_for,
    combine,
    features,
    max_bonus,
    rarity_for_score,
)
from rules.spells import Spell, SpellBook

ABILITIES = ("Strength", "Dexterity", "Constitution", "Intelligence", "Wisdom", "Charisma")
#: What an item that sets an ability is named for ("Circlet of Insight").
ABILITY_NOUNS = {
    "Strength": "Might", "Dexterity": "Grace", "Constitution": "Vigor",
    "Intelligence": "Intellect", "Wisdom": "Insight", "Charisma": "Presence",
}  # fmt: skip
#: Chance that an item allowed a curse carries one.
CURSE_CHANCE = 0.35
#: Candidate lists kept (theme x kind x rarity per world).
CACHE_SIZE = 4096
#: Minor mechanics added at most after the item reaches its rarity.
MAX_MINOR = 2
#: Kinds chosen by the seed when the request names none, weighted as the DMG's treasure tables roughly are.
KIND_WEIGHTS: dict[ItemKind, int] = {
    ItemKind.WEAPON: 4, ItemKind.ARMOR: 3, ItemKind.SHIELD: 1, ItemKind.WONDROUS: 6, ItemKind.RING: 2,
    ItemKind.ROD: 1, ItemKind.STAFF: 1, ItemKind.WAND: 2, ItemKind.POTION: 4, ItemKind.SCROLL: 3,
    ItemKind.AMMUNITION: 1,
}  # fmt: skip
CURSES: tuple[tuple[str, str, str], ...] = (
    ("Possessive", "Once attuned, you are unwilling to part with the item and keep it on your person at all times.",
     "A remove curse spell ends the attunement and lets you discard the item."),
    ("Ill Luck", "While attuned, you have disadvantage on one saving throw of the DM's choice each day.",
     "The curse ends when the item is given willingly to another creature."),
    ("Whispers", "While attuned, you hear the item's makers whisper at night; you gain no benefit from a long rest "
     "one night in three.", "A remove curse spell, or returning the item to where it was made."),
    ("Marked", "While attuned, the item's theme marks you plainly (scorched fingertips, frost-white hair, a smell of "
     "brine) and you have disadvantage on Charisma (Deception) checks.", "A remove curse spell."),
)  # fmt: skip
SPELL_FORMS = frozenset({ItemKind.WAND, ItemKind.STAFF, ItemKind.ROD, ItemKind.RING, ItemKind.WONDROUS})
BONUS_FORMS = frozenset(
    {
        ItemKind.WEAPON,
        ItemKind.AMMUNITION,
        ItemKind.ARMOR,
        ItemKind.SHIELD,
        ItemKind.WAND,
        ItemKind.ROD,
        ItemKind.STAFF,
    }
)


SINGLE_EFFECT = frozenset({ItemKind.POTION, ItemKind.SCROLL})


def _ordinal(n: int) -> str:
    return {0: "cantrip", 1: "1st", 2: "2nd", 3: "3rd"}.get(n, f"{n}th")


def _spells_text(kind: ItemKind, spells: Sequence[ItemSpell], charges: Charges | None) -> str:
    """Rules text for the spells an item casts, with the DMG spell scroll table's DC and attack bonus."""
    top = max(s.level for s in spells)
    row = SCROLL_TABLE[top]
    numbers = f"save DC {row.save_dc}, {row.attack_bonus:+d} to hit"
    if kind is ItemKind.SCROLL:
        s = spells[0]
        level = "a cantrip" if s.level == 0 else f"a {_ordinal(s.level)}-level spell"
        return f"The scroll holds {s.name.lower()} ({level}, {numbers}). Once the spell is cast, the scroll crumbles to dust."
    if kind is ItemKind.POTION:
        return f"When you drink this potion, you gain the effect of the {spells[0].name.lower()} spell ({numbers})."
    listed = ", ".join(
        f"{s.name.lower()} ({s.charge_cost} charge{'s' if s.charge_cost != 1 else ''})"
        if charges
        else s.name.lower()
        for s in spells
    )
    if charges is None:
        return f"While holding it, you can cast {listed} from it once per dawn ({numbers})."
    destroyed = " If you expend the last charge, roll a d20. On a 1, it crumbles into ashes and is destroyed."
    return (
        f"It has {charges.max} charges. While holding it, you can use an action to expend charges to cast one of "
        f"the following spells from it ({numbers}): {listed}. It regains {charges.recharge.removesuffix(' at dawn')} "
        "expended charges daily at dawn." + (destroyed if charges.may_be_destroyed else "")
    )


class Preference:
    """Attunement preference names (the proto's enum without the prefix)."""

    ANY = "any"
    REQUIRED = "required"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class ItemRequest:
    kind: ItemKind | None
    rarity: Rarity
    theme: str = ""
    attunement: str = Preference.ANY
    allow_curse: bool = False
    seed: int = 0


@dataclass(frozen=True, slots=True)
class Candidate:
    """One mechanic an item could get; ``tier`` is the appraiser's rating of it alone."""

    key: str
    tier: float
    bonus: int = 0
    prop: ItemProperty | None = None
    spell: ItemSpell | None = None
    charges: Charges | None = None
    effect: str = ""


@dataclass(frozen=True, slots=True)
class GeneratedMechanics:
    mechanics: ItemMechanics
    appraisal: Appraisal
    theme: ItemTheme
    base_item: str
    effects: tuple[str, ...]
    item_id: str


def _slug(text: str) -> str:
    return "-".join(re.findall(r"[a-z0-9]+", text.lower()))


def _tokens(text: str) -> set[str]:
    return {w[:5] for w in re.findall(r"[a-z]+", text.lower()) if len(w) >= 3}


def forbidden_words(world: World, theme: ItemTheme) -> set[str]:
    magic = world.magic
    bad = set(theme.forbidden)
    if magic is not None:
        bad |= set(magic.forbidden_effects)
    return bad


def spell_ok(spell: Spell, world: World, theme: ItemTheme, max_level: int) -> bool:
    """A spell the world's magic allows in an item of this theme."""
    magic = world.magic
    if spell.level > max_level:
        return False
    if magic is not None:
        if spell.school not in (*magic.schools_allowed, *magic.schools_restricted):
            return False
        if spell.level > magic.max_spell_level:
            return False
    slug = _slug(spell.name)
    for bad in forbidden_words(world, theme):
        if slug == bad or (min(len(slug), len(bad)) >= 5 and (slug.startswith(bad) or bad.startswith(slug))):
            return False
        if bad == spell.school or bad in spell.damage_types:
            return False
    if spell.damage_types and not set(spell.damage_types) & set(theme.damage_types):
        return False
    return True


def theme_spells(world: World, theme: ItemTheme, spells: SpellBook, max_level: int) -> list[Spell]:
    """Spells that fit the theme: its damage types, or names sharing a word with its effects; allowed schools
    first, restricted ones only when nothing else fits."""
    effect_tokens = set().union(*(_tokens(e) for e in theme.effects)) if theme.effects else set()
    fitting = []
    for spell in spells:
        if not spell_ok(spell, world, theme, max_level):
            continue
        if set(spell.damage_types) & set(theme.damage_types) or _tokens(spell.name) & effect_tokens:
            fitting.append(spell)
    magic = world.magic
    allowed = [s for s in fitting if magic is None or s.school in magic.schools_allowed]
    return sorted(allowed or fitting, key=lambda s: (s.level, s.index))


def _rate(kind: ItemKind, **fields: object) -> float:
    """The appraiser's tier for a single mechanic on an item of ``kind``."""
    mech = ItemMechanics(kind=kind, **fields)  # type: ignore[arg-type]
    return combine(f.tier for f in features(mech) if f.key != "minor")


def _charges_for(kind: ItemKind, rarity: Rarity) -> Charges | None:
    if kind is ItemKind.SCROLL:
        return None
    wanted = {ItemKind.WAND: 7, ItemKind.STAFF: 10 if rarity <= Rarity.RARE else 20}.get(kind, 3)
    count = max(c for c in RECHARGE_BY_CHARGES if c <= min(wanted, MAX_CHARGES[rarity]))
    return Charges(count, f"{RECHARGE_BY_CHARGES[count]} at dawn", kind in (ItemKind.WAND, ItemKind.STAFF))


class ItemGenerator:
    """Mechanics for items of any world, from the SRD spell list and base items."""

    def __init__(self, spells: SpellBook, bases: BaseItems) -> None:
        self.spells = spells
        self.bases = bases
        self._cache: dict[tuple[object, ...], list[Candidate]] = {}

    # -- candidates --------------------------------------------------------------------------------------------

    def candidates(self, world: World, theme: ItemTheme, kind: ItemKind, rarity: Rarity) -> list[Candidate]:
        """Every mechanic an item of this theme, kind and rarity may get (cached: worlds are cached objects and
        a reloaded world is a new object, so an edited world never reads stale candidates)."""
        key = (id(world), world.signature, theme.id, kind, rarity)
        hit = self._cache.get(key)
        if hit is None:
            hit = self._candidates(world, theme, kind, rarity)
            if len(self._cache) > CACHE_SIZE:
                self._cache.clear()
            self._cache[key] = hit
        return list(hit)

    def _candidates(self, world: World, theme: ItemTheme, kind: ItemKind, rarity: Rarity) -> list[Candidate]:
        caps = caps_for(kind, rarity)
        out: list[Candidate] = []
        ceiling = rarity + 1
        dc = SCROLL_TABLE[min(caps.spell_level, 9)].save_dc
        if kind in BONUS_FORMS:
            for n in range(1, max_bonus(kind, rarity) + 1):
                out.append(Candidate("bonus", _rate(kind, bonus=n), bonus=n))
        if kind in (ItemKind.WEAPON, ItemKind.AMMUNITION):
            for dtype in theme.damage_types:
                for dice, _ in EXTRA_DAMAGE_TIERS:
                    prop = ItemProperty(
                        f"{dtype.capitalize()} Strike",
                        f"The weapon deals an extra {dice} {dtype} damage to any target it hits.",
                        "damage",
                    )
                    out.append(Candidate("damage", _rate(kind, properties=(prop,)), prop=prop))
        if kind not in (ItemKind.SCROLL, ItemKind.WEAPON, ItemKind.AMMUNITION):
            for dtype in theme.damage_types:
                if dtype in ("bludgeoning", "piercing", "slashing"):
                    continue
                slug = f"{dtype}-resistance"
                prop = effect_property(slug, kind, dc)
                # A resistance to the theme's own damage type; it names a theme effect only if the theme has one.
                prop = dataclasses.replace(prop, effect=slug if slug in theme.effects else "")
                out.append(
                    Candidate("resistance", _rate(kind, properties=(prop,)), prop=prop, effect=prop.effect)
                )
        if kind in (ItemKind.RING, ItemKind.WONDROUS):
            for score, _ in ABILITY_SCORE_TIERS:
                ability = ABILITIES[(score + len(theme.id)) % len(ABILITIES)]
                prop = ItemProperty(
                    ABILITY_NOUNS[ability],
                    f"Your {ability} score is {score} while you wear this item.",
                    "ability",
                )
                out.append(Candidate("ability", _rate(kind, properties=(prop,)), prop=prop))
        if kind is ItemKind.POTION and any(e.startswith("heal") for e in theme.effects):
            for dice, _ in HEALING_TIERS:
                pretty = re.sub(r"\+(\d+)$", r" + \1", dice)
                prop = ItemProperty(
                    "Healing",
                    f"You regain {pretty} hit points when you drink this potion.",
                    "healing",
                    "healing",
                )
                out.append(Candidate("healing", _rate(kind, properties=(prop,)), prop=prop, effect="healing"))
        out += self._spell_candidates(world, theme, kind, rarity)
        for effect in theme.effects if kind is not ItemKind.SCROLL else ():
            if effect in forbidden_words(world, theme):
                continue
            prop = effect_property(effect, kind, dc)
            out.append(Candidate(prop.kind, _rate(kind, properties=(prop,)), prop=prop, effect=effect))
        fitting = [c for c in out if 0 < c.tier < ceiling]
        return [c for c in fitting if not cap_violations(self._mechanics(kind, [c]), rarity)]

    def _spell_candidates(
        self, world: World, theme: ItemTheme, kind: ItemKind, rarity: Rarity
    ) -> list[Candidate]:
        if kind not in SPELL_FORMS and kind not in (ItemKind.SCROLL, ItemKind.POTION):
            return []
        caps = caps_for(kind, rarity)
        charges = _charges_for(kind, rarity) if kind in SPELL_FORMS else None
        out = []
        for spell in theme_spells(world, theme, self.spells, caps.spell_level):
            cost = max(spell.level, 1) if charges is not None else 0
            if charges is not None and cost > charges.max:
                continue
            item_spell = ItemSpell(spell.name, spell.level, cost, spell.school)
            tier = _rate(kind, spells=(item_spell,), charges=charges)
            effect = next((e for e in theme.effects if _tokens(e) & _tokens(spell.name)), "")
            out.append(Candidate("spell", tier, spell=item_spell, charges=charges, effect=effect))
        return out

    def warm(self, world: World, stop: threading.Event | None = None) -> int:
        """Build the candidate lists of every theme, kind and rarity of ``world`` ahead of the first request
        (the service does this in a background thread after start-up); returns how many lists were built."""
        count = 0
        for theme in world.item_themes:
            for kind in ItemKind:
                for rarity in Rarity:
                    if stop is not None and stop.is_set():
                        return count
                    self.candidates(world, theme, kind, rarity)
                    count += 1
        return count

    # -- composing ---------------------------------------------------------------------------------------------

    @staticmethod
    def _mechanics(kind: ItemKind, chosen: Sequence[Candidate], curse: Curse | None = None) -> ItemMechanics:
        bonus = max((c.bonus for c in chosen), default=0)
        props = tuple(c.prop for c in chosen if c.prop is not None)
        spells = tuple(c.spell for c in chosen if c.spell is not None)
        charges = next((c.charges for c in chosen if c.charges is not None), None)
        if bonus and kind in (ItemKind.WEAPON, ItemKind.AMMUNITION):
            text = f"You have a +{bonus} bonus to attack and damage rolls made with this magic {kind.value}."
        elif bonus and kind in (ItemKind.WAND, ItemKind.ROD, ItemKind.STAFF):
            text = f"While holding this {kind.value}, you gain a +{bonus} bonus to spell attack rolls."
        elif bonus:
            text = f"You have a +{bonus} bonus to AC while you wear or wield this {kind.value}."
        else:
            text = ""
        if text:
            props = (ItemProperty(f"+{bonus} Enchantment", text, "bonus"), *props)
        if spells:
            props = (*props, ItemProperty("Spells", _spells_text(kind, spells, charges), "spell"))
        return ItemMechanics(
            kind=kind, bonus=bonus, properties=props, spells=spells, charges=charges, curse=curse
        )

    def _rated(self, kind: ItemKind, chosen: Sequence[Candidate]) -> Appraisal:
        return appraise(self._mechanics(kind, chosen))

    def compose(
        self, kind: ItemKind, rarity: Rarity, pool: list[Candidate], rng: random.Random, preference: str
    ) -> list[Candidate] | None:
        """A set of candidates the appraiser rates at ``rarity``, or None when this pool cannot make one."""
        if not pool or combine(c.tier for c in pool) < rarity:
            return None  # even every mechanic together would not reach the rarity

        def attuned(c: Candidate) -> bool:
            return calls_for_attunement(self._mechanics(kind, [c]))

        if preference == Preference.NONE:
            ordered = sorted(pool, key=lambda c: attuned(c))
        elif preference == Preference.REQUIRED:
            ordered = sorted(pool, key=lambda c: not attuned(c))
        else:
            ordered = list(pool)
        primaries = [c for c in ordered if rarity <= c.tier < rarity + 1]
        if primaries:
            best_group = [c for c in primaries if attuned(c) == attuned(primaries[0])]
            chosen = [rng.choice(best_group)]
        else:
            chosen = [max(pool, key=lambda c: c.tier)]
        # Top up with the strongest mechanics that keep the item at or below the rarity.
        rest = sorted((c for c in pool if c not in chosen), key=lambda c: -c.tier)
        while _estimate(chosen) < rarity:
            added = False
            for c in rest:
                if _conflicts(c, chosen):
                    continue
                if _estimate([*chosen, c]) <= rarity:
                    chosen.append(c)
                    rest.remove(c)
                    added = True
                    break
            if not added:
                return None
        # Minor mechanics for flavour, while the rating stays put (a potion or scroll holds one effect).
        if kind in SINGLE_EFFECT:
            return chosen if len(chosen) == 1 and self._rated(kind, chosen).rarity == rarity else None
        minors = [c for c in rest if c.tier <= rarity - 0.5 and not _conflicts(c, chosen)]
        rng.shuffle(minors)
        for c in minors[: rng.randint(0, MAX_MINOR)]:
            if not _conflicts(c, chosen) and _estimate([*chosen, c]) == rarity:
                chosen.append(c)
        return chosen if self._rated(kind, chosen).rarity == rarity else None

    def kinds_for(self, req: ItemRequest) -> list[ItemKind]:
        if req.kind is not None:
            return [req.kind]
        return list(KIND_WEIGHTS)

    def generate(self, world: World, req: ItemRequest) -> GeneratedMechanics:
        """Mechanics for the request; InvalidArgument when the world's magic cannot make such an item."""
        if world.magic is None or not len(world.item_themes):
            raise InvalidArgument(
                [("world_id", f"world {world.id!r} declares no magic system with item themes")]
            )
        rng = random.Random(
            f"item|{world.id}|{req.kind}|{int(req.rarity)}|{req.theme}|{req.attunement}|{req.seed}"
        )
        themes = [world.item_theme(req.theme, "theme")] if req.theme.strip() else list(world.item_themes)
        kinds = self.kinds_for(req)
        tried: list[tuple[ItemTheme, ItemKind]] = [(t, k) for t in themes for k in kinds]
        if req.kind is None or not req.theme.strip():
            weights = [KIND_WEIGHTS[k] for _, k in tried]
            order = []
            pool = list(zip(tried, weights, strict=True))
            while pool:
                pick = rng.choices(range(len(pool)), weights=[w for _, w in pool])[0]
                order.append(pool.pop(pick)[0])
            tried = order
        for theme, kind in tried:
            chosen = self.compose(
                kind, req.rarity, self.candidates(world, theme, kind, req.rarity), rng, req.attunement
            )
            if chosen is None:
                continue
            return self._finish(world, req, theme, kind, chosen, rng)
        what = f"a {req.rarity.label} {req.kind.value if req.kind else 'item'}"
        where = f" of theme {req.theme!r}" if req.theme.strip() else ""
        raise InvalidArgument(
            [
                (
                    "rarity",
                    f"the magic of {world.name} cannot make {what}{where} (spells up to level "
                    f"{world.magic.max_spell_level}, effects {', '.join(themes[0].effects)}); try another type, "
                    f"theme or rarity",
                )
            ]
        )

    def _finish(
        self,
        world: World,
        req: ItemRequest,
        theme: ItemTheme,
        kind: ItemKind,
        chosen: list[Candidate],
        rng: random.Random,
    ) -> GeneratedMechanics:
        curse = None
        if req.allow_curse and kind not in CONSUMABLE_KINDS and rng.random() < CURSE_CHANCE:
            name, text, removal = rng.choice(CURSES)
            curse = Curse(name, text, removal)
        mech = self._mechanics(kind, chosen, curse)
        needs = calls_for_attunement(mech)
        attune = (
            False
            if mech.consumable
            else True
            if req.attunement == Preference.REQUIRED or curse is not None
            else needs
        )
        by = (
            "a spellcaster"
            if attune
            and kind in (ItemKind.WAND, ItemKind.ROD, ItemKind.STAFF)
            and (mech.spells or mech.bonus)
            else ""
        )
        base = rng.choice(self.bases.for_kind(kind))
        mech = dataclasses.replace(mech, requires_attunement=attune, attunement_by=by, base_item=base)
        appraisal = appraise(mech)
        effects = tuple(
            dict.fromkeys(
                c.effect or (c.prop.effect if c.prop else "")
                for c in chosen
                if (c.effect or (c.prop and c.prop.effect))
            )
        )
        key = json.dumps(
            [world.id, kind.value, int(req.rarity), req.theme, req.attunement, req.allow_curse, req.seed]
        )
        item_id = "item-" + hashlib.sha256(key.encode()).hexdigest()[:16]
        return GeneratedMechanics(mech, appraisal, theme, base, effects, item_id)


def _estimate(chosen: Sequence[Candidate]) -> int:
    """The rarity the candidates' own tiers add up to: what the search uses (the final item is appraised for
    real, and rejected if the full appraisal disagrees)."""
    return int(rarity_for_score(combine(c.tier for c in chosen)))


def _conflicts(c: Candidate, chosen: Iterable[Candidate]) -> bool:
    """Two of a kind that would read as one rule (two bonuses, two extra damages, two ability scores)."""
    for other in chosen:
        if c.key == other.key and c.key in ("bonus", "damage", "ability", "healing"):
            return True
        if c.spell is not None and other.spell is not None and c.spell.name == other.spell.name:
            return True
        if c.prop is not None and other.prop is not None and c.prop.description == other.prop.description:
            return True
    return False
