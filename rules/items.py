"""Magic item rules: rarity caps, price bands, spell tables, and a power score that rates an item's rarity.

One set of rules serves both directions. The generator picks mechanics whose *tier* (a rarity on a continuous
scale, 1.0 = common ... 6.0 = artifact) fits the requested rarity and never exceeds the rarity's caps; the
appraiser reads mechanics back (from structured fields, and from rules text written in the SRD's phrasing) and
rates them with the same tiers. Sources: DMG p.135 (rarity and value bands), p.140-141 (+1/+2/+3 weapons,
armor, shields, ammunition), p.200 (spell scroll table), p.285 ("Magic Item Power by Rarity": the highest spell
level an item of each rarity casts). The utility-power tiers are our own, calibrated against the SRD's 362 items
(the agreement is printed by ``tests/item``).

Combining several mechanics: an item's score is ``log_3(sum(3 ** tier))``: one feature scores its own tier,
three features of equal tier score one rarity higher, and a minor feature barely moves a major one. The rarity
is the whole part of the score (clamped to 1..6); the fractional part places the price inside the band.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from functools import lru_cache
from typing import Protocol

from mesh.errors import InvalidArgument
from rules.dice import average


class Rarity(IntEnum):
    """Rarity, ordered; the numbers match ``dungeonmaster.v1.Rarity``."""

    COMMON = 1
    UNCOMMON = 2
    RARE = 3
    VERY_RARE = 4
    LEGENDARY = 5
    ARTIFACT = 6

    @property
    def label(self) -> str:
        """ "very rare", as rules text writes it."""
        return self.name.lower().replace("_", " ")


def parse_rarity(text: str, field: str = "rarity") -> Rarity:
    """ "Very Rare", "very-rare", "very_rare" or "4" -> :class:`Rarity`; unknown names list the valid ones."""
    key = re.sub(r"[\s_-]+", "_", text.strip()).upper()
    if key.isdigit() and int(key) in Rarity._value2member_map_:
        return Rarity(int(key))
    try:
        return Rarity[key]
    except KeyError:
        valid = ", ".join(r.label for r in Rarity)
        raise InvalidArgument([(field, f"unknown rarity {text!r}; valid: {valid}")]) from None


class ItemKind(StrEnum):
    """Item categories; the names match ``dungeonmaster.v1.ItemType`` without the prefix."""

    WEAPON = "weapon"
    ARMOR = "armor"
    SHIELD = "shield"
    WONDROUS = "wondrous"
    RING = "ring"
    ROD = "rod"
    STAFF = "staff"
    WAND = "wand"
    POTION = "potion"
    SCROLL = "scroll"
    AMMUNITION = "ammunition"


#: Used up when used: their effects rate one tier lower than the same effect on a permanent item.
CONSUMABLE_KINDS = frozenset({ItemKind.POTION, ItemKind.SCROLL, ItemKind.AMMUNITION})
#: Kinds whose ``bonus`` adds to attack and damage rolls.
WEAPON_KINDS = frozenset({ItemKind.WEAPON, ItemKind.AMMUNITION})
#: Kinds whose ``bonus`` adds to spell attack rolls (wand of the war mage, rod of the pact keeper).
FOCUS_KINDS = frozenset({ItemKind.WAND, ItemKind.ROD, ItemKind.STAFF})
#: Kinds whose ``bonus`` adds to AC.
ARMOR_KINDS = frozenset({ItemKind.ARMOR, ItemKind.SHIELD, ItemKind.RING, ItemKind.WONDROUS})

# --- tables ----------------------------------------------------------------------------------------------------

#: DMG p.135, value in gp. The DMG leaves legendary open-ended and artifacts priceless: the upper ends
#: of those two bands are ours so every generated price is a number inside a band.
PRICE_BANDS_GP: dict[Rarity, tuple[int, int]] = {
    Rarity.COMMON: (50, 100),
    Rarity.UNCOMMON: (101, 500),
    Rarity.RARE: (501, 5_000),
    Rarity.VERY_RARE: (5_001, 50_000),
    Rarity.LEGENDARY: (50_001, 500_000),
    Rarity.ARTIFACT: (500_001, 5_000_000),
}


@dataclass(frozen=True, slots=True)
class ScrollRow:
    """One row of the DMG spell scroll table (p.200)."""

    rarity: Rarity
    save_dc: int
    attack_bonus: int


#: Spell level -> rarity, save DC and attack bonus of a spell scroll (DMG p.200). Items that cast a spell
#: with no wielder's DC use the same DC and bonus for the spell's level.
SCROLL_TABLE: dict[int, ScrollRow] = {
    0: ScrollRow(Rarity.COMMON, 13, 5),
    1: ScrollRow(Rarity.COMMON, 13, 5),
    2: ScrollRow(Rarity.UNCOMMON, 13, 5),
    3: ScrollRow(Rarity.UNCOMMON, 15, 7),
    4: ScrollRow(Rarity.RARE, 15, 7),
    5: ScrollRow(Rarity.RARE, 17, 9),
    6: ScrollRow(Rarity.VERY_RARE, 17, 9),
    7: ScrollRow(Rarity.VERY_RARE, 18, 10),
    8: ScrollRow(Rarity.VERY_RARE, 18, 10),
    9: ScrollRow(Rarity.LEGENDARY, 19, 11),
}

#: Highest spell level a permanent item of each rarity casts (DMG p.285, "Magic Item Power by Rarity").
ITEM_SPELL_MAX_LEVEL: dict[Rarity, int] = {
    Rarity.COMMON: 1,
    Rarity.UNCOMMON: 3,
    Rarity.RARE: 6,
    Rarity.VERY_RARE: 8,
    Rarity.LEGENDARY: 9,
    Rarity.ARTIFACT: 9,
}

#: Permanent item casting a spell of each level: tier (inside the DMG's rarity for that level).
ITEM_SPELL_TIER: dict[int, float] = {
    0: 1.0,
    1: 1.5,
    2: 2.0,
    3: 2.5,
    4: 3.0,
    5: 3.3,
    6: 3.6,
    7: 4.0,
    8: 4.5,
    9: 5.0,
}
#: A spell scroll: the table's rarity for the level.
SCROLL_SPELL_TIER: dict[int, float] = {lvl: float(row.rarity) + (0.5 if lvl in (3, 5, 8) else 0.0) for lvl, row in SCROLL_TABLE.items()}  # fmt: skip

#: +N to attack and damage (weapons, ammunition), AC (shields) or spell attacks (wands, rods, staffs):
#: +1 uncommon, +2 rare, +3 very rare (DMG p.140-141, p.211-212).
_BONUS_TIER = {1: 2.0, 2: 3.0, 3: 4.0}
#: Armor is one step rarer: +1 rare, +2 very rare, +3 legendary (DMG p.152).
_ARMOR_BONUS_TIER = {1: 3.0, 2: 4.0, 3: 5.0}
#: A ring or wondrous item adding to AC (cloak of protection +1 uncommon, bracers of defense +2 rare).
_WORN_AC_BONUS_TIER = {1: 2.5, 2: 3.5, 3: 4.5}

#: Extra damage dice on a hit (flame tongue: +2d6 fire, rare): dice -> tier.
EXTRA_DAMAGE_TIERS: tuple[tuple[str, float], ...] = (
    ("1d4", 2.0),
    ("1d6", 2.5),
    ("2d6", 3.0),
    ("3d6", 3.5),
    ("4d6", 4.0),
    ("5d6", 4.5),
    ("6d6", 5.0),
    ("7d6", 5.5),
    ("8d6", 6.0),
)
#: An ability score set to N (gauntlets of ogre power 19, uncommon ... belt of storm giant strength 29).
ABILITY_SCORE_TIERS: tuple[tuple[int, float], ...] = (
    (19, 2.0),
    (21, 3.0),
    (23, 4.0),
    (25, 4.5),
    (27, 5.0),
    (29, 5.5),
)
#: Healing potions by dice (DMG p.187-188): healing, greater, superior, supreme; the last row is ours.
HEALING_TIERS: tuple[tuple[str, float], ...] = (
    ("2d4+2", 1.0),
    ("4d4+4", 2.0),
    ("8d4+8", 3.0),
    ("10d4+20", 4.0),
    ("20d4+10", 5.0),
)
#: Charges an item of each rarity may hold (wands 7, staffs 10-20, staff of the magi 50).
MAX_CHARGES: dict[Rarity, int] = {
    Rarity.COMMON: 3,
    Rarity.UNCOMMON: 7,
    Rarity.RARE: 10,
    Rarity.VERY_RARE: 20,
    Rarity.LEGENDARY: 50,
    Rarity.ARTIFACT: 50,
}
#: Recharge dice by charge count, as the SRD writes them.
RECHARGE_BY_CHARGES: dict[int, str] = {
    1: "1",
    3: "1d3",
    7: "1d6 + 1",
    10: "1d6 + 4",
    20: "2d8 + 4",
    50: "4d6 + 2",
}
#: Many charges behind a spell let it be cast several times a day: worth half a tier.
MANY_CHARGES = 7
CHARGES_TIER_BONUS = 0.5
#: Score base: three equal features rate one rarity higher.
COMBINE_BASE = 3.0
#: Tier of an item whose rules text names no mechanic we recognise (a small, flavourful power).
DEFAULT_TIER = 2.5
#: Consumables rate this much lower than the same effect on a permanent item.
CONSUMABLE_DISCOUNT = 1.0

#: Utility powers the appraiser recognises in rules text (a regex and the tier of a permanent item), and that
#: the generator writes. Order matters only for the reasons list.
UTILITY_POWERS: tuple[tuple[str, str, float], ...] = (
    ("light", r"\bsheds? (?:bright |dim )?light\b", 1.0),
    ("darkvision", r"\bdarkvision\b", 2.0),
    ("advantage", r"\badvantage on\b", 2.0),
    ("water-breathing", r"\bbreathe underwater\b|\bwater breathing\b", 2.0),
    ("climb", r"\bclimbing speed\b", 1.5),
    ("swim", r"\bswimming speed\b", 2.0),
    (
        "speed",
        r"\bwalking speed (?:increases|becomes)\b|\bspeed increases\b|\bdoubl\w* your (?:walking )?speed",
        2.0,
    ),
    ("critical", r"\bcritical hit\b", 2.0),
    ("extradimensional", r"\bextradimensional\b", 2.0),
    ("telepathy", r"\btelepath", 2.5),
    ("charm", r"\bcharmed\b|\bfrightened\b", 2.5),
    ("saves", r"\bbonus to (?:all )?saving throws\b", 2.5),
    ("fly", r"\bflying speed\b", 3.0),
    ("teleport", r"\bteleport", 3.0),
    ("blindsight", r"\bblindsight\b|\btremorsense\b", 3.0),
    ("summon", r"\bsummons?\b|\bconjures?\b", 3.0),
    ("invisibility", r"\binvisible\b", 3.0),
    ("disable", r"\bparalyzed\b|\bpetrified\b|\bstunned\b", 3.5),
    ("regeneration", r"\bregain \d+ hit points? (?:at the start|every)\b|\bregenerat", 3.5),
    ("planes", r"\banother plane\b|\bplane of existence\b", 3.5),
    ("truesight", r"\btruesight\b", 3.5),
    ("sever", r"\bcut off\b|\bsever", 5.0),
    ("raise-ability", r"\bscore increases by \d\b", 4.0),
)
_UTILITY = tuple((key, re.compile(rx, re.IGNORECASE), tier) for key, rx, tier in UTILITY_POWERS)

_BONUS_RX = re.compile(
    r"\+(\d) bonus to (attack and damage rolls|ac\b|armor class|spell attack rolls)", re.IGNORECASE
)
_EXTRA_DAMAGE_RX = re.compile(r"\bextra (\d+d\d+) (?:(\w+) )?damage", re.IGNORECASE)
_RESIST_RX = re.compile(r"\bresistance to ((?:\w+(?:, | or | and |, or |, and ))*\w+) damage", re.IGNORECASE)
_IMMUNE_RX = re.compile(
    r"\bimmun(?:e|ity) to ((?:\w+(?:, | or | and |, or |, and ))*\w+) damage", re.IGNORECASE
)
_ABILITY_RX = re.compile(
    r"\b(strength|dexterity|constitution|intelligence|wisdom|charisma) score (?:changes to|is|becomes)(?: a)? (\d+)",
    re.IGNORECASE,
)
_HEAL_RX = re.compile(r"\bregain (\d+d\d+(?:\s*\+\s*\d+)?) hit points", re.IGNORECASE)
_CHARGES_RX = re.compile(r"\bhas (\d+) charges?\b", re.IGNORECASE)
_RECHARGE_RX = re.compile(
    r"\bregains? (\d+d\d+(?:\s*\+\s*\d+)?|\d+|all) (?:of its )?expended charges", re.IGNORECASE
)
_DESTROYED_RX = re.compile(r"\blast charge\b.*?\bdestroyed\b", re.IGNORECASE | re.DOTALL)
_DAMAGE_TYPES = (
    "acid", "bludgeoning", "cold", "fire", "force", "lightning", "necrotic",
    "piercing", "poison", "psychic", "radiant", "slashing", "thunder",
)  # fmt: skip

# --- mechanics -------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ItemProperty:
    """A mechanical property; ``description`` is rules text in the SRD's phrasing (the appraiser reads it)."""

    name: str
    description: str
    kind: str  # "bonus" | "spell" | "resistance" | "damage" | "utility" | "ability" | "healing"
    effect: str = ""  # the world's item-theme effect it follows, if any


@dataclass(frozen=True, slots=True)
class ItemSpell:
    name: str
    level: int
    charge_cost: int = 0
    school: str = ""


@dataclass(frozen=True, slots=True)
class Charges:
    max: int
    recharge: str
    may_be_destroyed: bool = False


@dataclass(frozen=True, slots=True)
class Curse:
    name: str
    description: str
    removal: str


@dataclass(frozen=True, slots=True)
class ItemMechanics:
    """Everything about an item that decides its rarity (names and prose do not)."""

    kind: ItemKind
    bonus: int = 0
    properties: tuple[ItemProperty, ...] = ()
    spells: tuple[ItemSpell, ...] = ()
    charges: Charges | None = None
    curse: Curse | None = None
    requires_attunement: bool = False
    attunement_by: str = ""
    base_item: str = ""

    @property
    def consumable(self) -> bool:
        return self.kind in CONSUMABLE_KINDS

    def rules_text(self) -> str:
        """The text the appraiser reads for powers; spell properties are rated from ``spells`` instead."""
        return "\n".join(p.description for p in self.properties if p.kind != "spell")


@dataclass(frozen=True, slots=True)
class Feature:
    """One mechanic the appraiser recognised: its tier and a line saying why."""

    key: str
    tier: float
    reason: str


@dataclass(frozen=True, slots=True)
class Findings:
    """Numbers read from rules text: what the caps check and the appraiser both need."""

    extra_damage: tuple[tuple[str, str], ...] = ()  # (dice, type)
    resistances: tuple[str, ...] = ()
    immunities: tuple[str, ...] = ()
    ability_scores: tuple[tuple[str, int], ...] = ()
    healing: tuple[str, ...] = ()
    utilities: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Appraisal:
    rarity: Rarity
    score: float
    features: tuple[Feature, ...]
    price_low_gp: int
    price_high_gp: int

    @property
    def reasons(self) -> list[str]:
        return [f.reason for f in self.features]


# --- caps ------------------------------------------------------------------------------------------------------


def _bonus_table(kind: ItemKind) -> dict[int, float]:
    if kind is ItemKind.ARMOR:
        return _ARMOR_BONUS_TIER
    if kind in (ItemKind.RING, ItemKind.WONDROUS):
        return _WORN_AC_BONUS_TIER
    return _BONUS_TIER


def max_bonus(kind: ItemKind, rarity: Rarity) -> int:
    """Largest +N an item of this kind and rarity may have (an oil that enchants a weapon: one step more)."""
    fits = [n for n in _bonus_table(kind) if bonus_tier(kind, n) < rarity + 1]
    return max(fits, default=0)


def bonus_tier(kind: ItemKind, bonus: int) -> float:
    if bonus <= 0:
        return 0.0
    tier = _bonus_table(kind)[min(bonus, 3)]
    return tier - CONSUMABLE_DISCOUNT if kind in (ItemKind.POTION, ItemKind.SCROLL) else tier


def spell_tier(level: int, kind: ItemKind) -> float:
    """A scroll rates by the scroll table; another consumable one tier below a permanent item."""
    if kind is ItemKind.SCROLL:
        return SCROLL_SPELL_TIER[level]
    tier = ITEM_SPELL_TIER[level]
    return max(tier - CONSUMABLE_DISCOUNT, 1.0) if kind in CONSUMABLE_KINDS else tier


def max_spell_level(kind: ItemKind, rarity: Rarity) -> int:
    """Highest spell level an item of this rarity casts: the scroll table for scrolls, DMG p.285 otherwise;
    a potion, used up in one draught, one rarity's worth more (oil of etherealness: 7th level, rare)."""
    if kind is ItemKind.SCROLL:
        return max(lvl for lvl, row in SCROLL_TABLE.items() if row.rarity <= rarity)
    if kind is ItemKind.POTION:
        return ITEM_SPELL_MAX_LEVEL[Rarity(min(rarity + 1, Rarity.ARTIFACT))]
    return ITEM_SPELL_MAX_LEVEL[rarity]


def _table_cap(table: Sequence[tuple[str, float]], rarity: Rarity, discount: float) -> float:
    fits = [average(d) for d, tier in table if tier - discount < rarity + 1]
    return max(fits, default=0.0)


def max_extra_damage(rarity: Rarity, kind: ItemKind = ItemKind.WEAPON) -> float:
    """Largest average extra damage per hit (ammunition, being used up, may carry one step more)."""
    return _table_cap(EXTRA_DAMAGE_TIERS, rarity, CONSUMABLE_DISCOUNT if kind in CONSUMABLE_KINDS else 0.0)


def max_ability_score(rarity: Rarity, kind: ItemKind = ItemKind.WONDROUS) -> int:
    """Highest ability score an item sets (a potion of giant strength, lasting an hour, one step more)."""
    discount = CONSUMABLE_DISCOUNT if kind in CONSUMABLE_KINDS else 0.0
    return max((score for score, tier in ABILITY_SCORE_TIERS if tier - discount < rarity + 1), default=0)


def max_healing(rarity: Rarity) -> float:
    return _table_cap(HEALING_TIERS, rarity, 0.0)


@dataclass(frozen=True, slots=True)
class Caps:
    """The most an item of one kind and rarity may have; a generated item never exceeds any of these."""

    bonus: int
    spell_level: int
    charges: int
    extra_damage_avg: float
    ability_score: int
    healing_avg: float


def caps_for(kind: ItemKind, rarity: Rarity) -> Caps:
    return Caps(
        bonus=max_bonus(kind, rarity),
        spell_level=max_spell_level(kind, rarity),
        charges=MAX_CHARGES[rarity],
        extra_damage_avg=max_extra_damage(rarity, kind),
        ability_score=max_ability_score(rarity, kind),
        healing_avg=max_healing(rarity),
    )


# --- reading rules text ----------------------------------------------------------------------------------------


def _split_types(text: str) -> list[str]:
    return [w for w in re.split(r",\s*(?:or |and )?|\s+or\s+|\s+and\s+", text.lower()) if w in _DAMAGE_TYPES]


def read_rules_text(text: str) -> Findings:
    """The numbers and powers in rules text written in the SRD's phrasing."""
    extra = tuple(
        (m.group(1).lower(), (m.group(2) or "weapon's").lower()) for m in _EXTRA_DAMAGE_RX.finditer(text)
    )
    resist = tuple(t for m in _RESIST_RX.finditer(text) for t in _split_types(m.group(1)))
    immune = tuple(t for m in _IMMUNE_RX.finditer(text) for t in _split_types(m.group(1)))
    ability = tuple((m.group(1).lower(), int(m.group(2))) for m in _ABILITY_RX.finditer(text))
    healing = tuple(re.sub(r"\s+", "", m.group(1)) for m in _HEAL_RX.finditer(text))
    utilities = tuple(key for key, rx, _ in _UTILITY if rx.search(text))
    return Findings(extra, resist, immune, ability, healing, utilities)


def _tier_at_least(value: float, table: Sequence[tuple[str, float]]) -> float:
    """Tier of the largest table row whose average does not exceed ``value`` (at least the first row's)."""
    best = table[0][1]
    for dice, tier in table:
        if average(dice) <= value + 1e-9:
            best = tier
    return best


def _damage_avg(dice: str) -> float:
    try:
        return average(dice)
    except InvalidArgument:
        return 0.0


def text_features(text: str, kind: ItemKind) -> list[Feature]:
    """Features of rules text (not the structured bonus, spells or charges, which are rated from fields)."""
    found = read_rules_text(text)
    discount = CONSUMABLE_DISCOUNT if kind in CONSUMABLE_KINDS else 0.0
    out: list[Feature] = []
    for dice, dtype in found.extra_damage:
        tier = _tier_at_least(_damage_avg(dice), EXTRA_DAMAGE_TIERS) - discount
        out.append(Feature("damage", tier, f"extra {dice} {dtype} damage on a hit: tier {tier:.1f}"))
    for dtype in found.resistances:
        tier = 3.0 - discount
        out.append(Feature("resistance", tier, f"resistance to {dtype} damage: tier {tier:.1f}"))
    for dtype in found.immunities:
        tier = 3.5 - discount
        out.append(Feature("immunity", tier, f"immunity to {dtype} damage: tier {tier:.1f}"))
    for ability, score in found.ability_scores:
        tier = max((t for s, t in ABILITY_SCORE_TIERS if s <= score), default=1.5) - discount
        out.append(Feature("ability", tier, f"{ability.capitalize()} score set to {score}: tier {tier:.1f}"))
    for dice in found.healing:
        tier = _tier_at_least(_damage_avg(dice), HEALING_TIERS)
        out.append(Feature("healing", tier, f"heals {dice}: tier {tier:.1f}"))
    for key, _, tier in _UTILITY:
        if key in found.utilities:
            value = max(1.0, tier - discount)
            out.append(Feature(key, value, f"{key.replace('-', ' ')} power: tier {value:.1f}"))
    return out


#: Mechanics that call for attunement when a permanent item has them (DMG p.136: a persistent benefit beyond a
#: plain bonus): the SRD's flame tongue, ring of resistance, belts, wands of a spellcaster all require it.
ATTUNEMENT_FEATURES = frozenset(
    {
        "damage", "resistance", "immunity", "ability", "raise-ability", "fly", "invisibility", "telepathy",
        "truesight", "regeneration", "saves", "disable", "charm", "teleport", "blindsight", "sever",
    }
)  # fmt: skip


def calls_for_attunement(m: ItemMechanics) -> bool:
    """Whether the item's mechanics call for attunement (consumables never do)."""
    if m.consumable:
        return False
    if m.kind in FOCUS_KINDS and (m.spells or m.bonus):
        return True
    return any(f.key in ATTUNEMENT_FEATURES for f in text_features(m.rules_text(), m.kind))


# --- appraisal -------------------------------------------------------------------------------------------------


def combine(tiers: Iterable[float]) -> float:
    """``log_3(sum(3 ** t))``: the score of several features together."""
    values = [t for t in tiers if t > 0]
    if not values:
        return 0.0
    return math.log(sum(COMBINE_BASE**t for t in values), COMBINE_BASE)


def rarity_for_score(score: float) -> Rarity:
    return Rarity(min(max(math.floor(score + 1e-9), 1), 6))


def features(m: ItemMechanics) -> list[Feature]:
    """Every rated mechanic of an item: bonus, spells (with charges), then what its rules text says."""
    out: list[Feature] = []
    if m.bonus > 0:
        tier = bonus_tier(m.kind, m.bonus)
        target = (
            "attack and damage rolls"
            if m.kind in WEAPON_KINDS
            else "spell attack rolls"
            if m.kind in FOCUS_KINDS
            else "AC"
        )
        out.append(Feature("bonus", tier, f"+{m.bonus} to {target} on a {m.kind.value}: tier {tier:.1f}"))
    many = m.charges is not None and m.charges.max >= MANY_CHARGES
    for i, spell in enumerate(m.spells):
        level = min(max(spell.level, 0), 9)
        tier = spell_tier(level, m.kind)
        extra = ""
        if many and i == 0 and m.kind is not ItemKind.SCROLL:
            tier += CHARGES_TIER_BONUS
            extra = f" (+{CHARGES_TIER_BONUS} for {m.charges.max if m.charges else 0} charges)"
        label = "cantrip" if level == 0 else f"level {level}"
        out.append(Feature("spell", tier, f"casts {spell.name} ({label}){extra}: tier {tier:.1f}"))
    out.extend(text_features(m.rules_text(), m.kind))
    if not out:
        out.append(
            Feature("minor", DEFAULT_TIER, f"no rated mechanic, a minor power: tier {DEFAULT_TIER:.1f}")
        )
    return out


def price_band(rarity: Rarity) -> tuple[int, int]:
    return PRICE_BANDS_GP[rarity]


def price_for(rarity: Rarity, score: float) -> int:
    """A price in gp inside the rarity's band, placed by how far the score reaches into the rarity
    (on a log scale, as the bands grow tenfold), rounded to two significant figures and clamped to the band."""
    low, high = PRICE_BANDS_GP[rarity]
    frac = min(max(score - int(rarity), 0.0), 0.999) if score >= int(rarity) else 0.0
    raw = low * (high / low) ** frac
    digits = max(math.floor(math.log10(raw)) - 1, 0)
    rounded = int(round(raw / 10**digits) * 10**digits)
    return min(max(rounded, low), high)


def appraise(m: ItemMechanics) -> Appraisal:
    """Rate an item's rarity from its mechanics alone (its stated rarity is never read)."""
    feats = features(m)
    score = combine(f.tier for f in feats)
    rarity = rarity_for_score(score)
    low, high = PRICE_BANDS_GP[rarity]
    return Appraisal(rarity, round(score, 3), tuple(feats), low, high)


def cap_violations(m: ItemMechanics, rarity: Rarity) -> list[str]:
    """What about ``m`` exceeds the caps of ``rarity`` (empty when the item respects them)."""
    caps = caps_for(m.kind, rarity)
    out: list[str] = []
    if m.bonus > caps.bonus:
        out.append(f"bonus +{m.bonus} exceeds +{caps.bonus} for a {rarity.label} {m.kind.value}")
    for spell in m.spells:
        if spell.level > caps.spell_level:
            out.append(
                f"{spell.name} is level {spell.level}; a {rarity.label} item casts at most {caps.spell_level}"
            )
        if m.charges is not None and spell.charge_cost > m.charges.max:
            out.append(f"{spell.name} costs {spell.charge_cost} charges; the item holds {m.charges.max}")
    if m.spells and m.charges is not None and m.charges.max > caps.charges:
        out.append(f"{m.charges.max} charges for spells exceed {caps.charges} for {rarity.label}")
    found = read_rules_text(m.rules_text())
    for dice, dtype in found.extra_damage:
        if _damage_avg(dice) > caps.extra_damage_avg:
            out.append(f"extra {dice} {dtype} exceeds {caps.extra_damage_avg:g} average for {rarity.label}")
    for ability, score in found.ability_scores:
        if score > caps.ability_score:
            out.append(f"{ability} {score} exceeds {caps.ability_score} for {rarity.label}")
    for dice in found.healing:
        if _damage_avg(dice) > caps.healing_avg:
            out.append(f"healing {dice} exceeds {caps.healing_avg:g} average for {rarity.label}")
    return out


# --- the SRD as reference --------------------------------------------------------------------------------------

_CATEGORY_KIND = {
    "weapon": ItemKind.WEAPON,
    "armor": ItemKind.ARMOR,
    "ring": ItemKind.RING,
    "rod": ItemKind.ROD,
    "staff": ItemKind.STAFF,
    "wand": ItemKind.WAND,
    "potion": ItemKind.POTION,
    "scroll": ItemKind.SCROLL,
    "ammunition": ItemKind.AMMUNITION,
    "wondrous-items": ItemKind.WONDROUS,
}
_SCROLL_LEVEL_RX = re.compile(r"spell-scroll-(cantrip|(\d)(?:st|nd|rd|th))$")
_ATTUNE_RX = re.compile(r"\(requires attunement(?: by ([^)]*))?\)", re.IGNORECASE)
_CHARGE_COST_RX = r"\s*\((\d+) charges?\)"


class SpellRef(Protocol):
    """What the SRD reader needs of a spell (``rules.spells.Spell`` satisfies it)."""

    @property
    def name(self) -> str: ...

    @property
    def level(self) -> int: ...

    @property
    def school(self) -> str: ...


@lru_cache(maxsize=1024)
def _spell_patterns(name: str) -> tuple[re.Pattern[str], re.Pattern[str]]:
    """(where the text casts ``name``, where it gives a charge cost for it), compiled once per spell."""
    n = re.escape(name)
    cast = re.compile(
        rf"(?:\bcasts?\s+(?:the\s+|a\s+|an\s+)?)({n})\b|\b({n})(?:\s+spell\b|{_CHARGE_COST_RX})",
        re.IGNORECASE,
    )
    return cast, re.compile(rf"\b{n}{_CHARGE_COST_RX}", re.IGNORECASE)


def _find_spells(text: str, spells: Iterable[SpellRef]) -> list[ItemSpell]:
    """Spells named in rules text: a name counts only where the text casts it ("cast fireball", "fireball
    spell", "fireball (3 charges)"), so "shed light" or "this shield" are not read as spells."""
    found: list[tuple[int, ItemSpell]] = []
    masked = text
    lowered = text.lower()
    for spell in sorted(spells, key=lambda s: -len(s.name)):
        if spell.name.lower() not in lowered:
            continue
        rx, cost_rx = _spell_patterns(spell.name)
        m = rx.search(masked)
        if not m:
            continue
        cost_m = cost_rx.search(masked)
        cost = int(cost_m.group(1)) if cost_m else 0
        start, end = m.span(1) if m.group(1) else m.span(2)
        masked = masked[:start] + "#" * (end - start) + masked[end:]
        found.append((start, ItemSpell(spell.name, spell.level, cost, spell.school)))
    return [s for _, s in sorted(found, key=lambda p: p[0])]


def srd_mechanics(index: str, category: str, description: str, spells: Iterable[SpellRef]) -> ItemMechanics:
    """Read an SRD item's mechanics from its rules text, the way :func:`appraise` expects them."""
    kind = _CATEGORY_KIND.get(category, ItemKind.WONDROUS)
    head, _, body = description.partition("\n")
    if kind is ItemKind.ARMOR and head.lower().startswith("armor (shield)"):
        kind = ItemKind.SHIELD
    if kind is ItemKind.WEAPON and "ammunition" in head.lower():
        kind = ItemKind.AMMUNITION
    bonus_m = _BONUS_RX.search(body)
    bonus = int(bonus_m.group(1)) if bonus_m else 0
    attune = _ATTUNE_RX.search(head)
    charges = None
    cm = _CHARGES_RX.search(body)
    if cm:
        rm = _RECHARGE_RX.search(body)
        charges = Charges(int(cm.group(1)), rm.group(1) if rm else "", bool(_DESTROYED_RX.search(body)))
    scroll = _SCROLL_LEVEL_RX.match(index)
    item_spells: list[ItemSpell]
    if scroll:
        level = 0 if scroll.group(1) == "cantrip" else int(scroll.group(2))
        item_spells = [ItemSpell(f"a {scroll.group(1)}-level spell", level)]
        body = ""  # the scroll's boilerplate describes reading, not powers
    else:
        item_spells = _find_spells(body, spells)
    # The bonus, charges and spells are rated from fields; strip them from the text the features read.
    text = _BONUS_RX.sub("", body)
    return ItemMechanics(
        kind=kind,
        bonus=bonus,
        properties=(ItemProperty("Rules", text, "utility"),) if text.strip() else (),
        spells=tuple(item_spells),
        charges=charges,
        requires_attunement=attune is not None,
        attunement_by=(attune.group(1) or "").strip() if attune else "",
    )


@dataclass(frozen=True, slots=True)
class Agreement:
    """How often the appraisal matches a listed rarity, and the misses for inspection."""

    total: int
    agreed: int
    within_one: int
    misses: tuple[tuple[str, str, str, float], ...] = field(default=())  # (index, listed, rated, score)

    @property
    def rate(self) -> float:
        return self.agreed / self.total if self.total else 0.0

    @property
    def rate_within_one(self) -> float:
        return self.within_one / self.total if self.total else 0.0
