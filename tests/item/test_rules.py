"""Magic item rules (rules.items): the DMG's caps and tables, and the appraiser against the SRD's own rarities."""

from __future__ import annotations

import collections
import itertools

import pytest

from mesh.errors import InvalidArgument
from rules.items import (
    PRICE_BANDS_GP,
    SCROLL_TABLE,
    Agreement,
    ItemKind,
    ItemMechanics,
    ItemProperty,
    ItemSpell,
    Rarity,
    appraise,
    cap_violations,
    caps_for,
    max_bonus,
    max_spell_level,
    parse_rarity,
    price_for,
    srd_mechanics,
)
from rules.spells import SpellBook
from rules.srd import load_srd

#: Floors for the appraiser against the SRD's listed rarities (measured: 50% exact, 86% within one step).
SRD_EXACT_FLOOR = 0.45
SRD_WITHIN_ONE_FLOOR = 0.80


def test_bonus_caps_follow_the_dmg() -> None:
    for kind in (ItemKind.WEAPON, ItemKind.SHIELD, ItemKind.AMMUNITION, ItemKind.WAND):
        assert [max_bonus(kind, r) for r in Rarity] == [0, 1, 2, 3, 3, 3], kind
    assert [max_bonus(ItemKind.ARMOR, r) for r in Rarity] == [0, 0, 1, 2, 3, 3]


def test_spell_levels_by_rarity() -> None:
    assert [max_spell_level(ItemKind.WAND, r) for r in Rarity] == [1, 3, 6, 8, 9, 9]
    assert [max_spell_level(ItemKind.SCROLL, r) for r in Rarity] == [1, 3, 5, 8, 9, 9]
    assert (SCROLL_TABLE[3].save_dc, SCROLL_TABLE[3].attack_bonus, SCROLL_TABLE[9].save_dc) == (15, 7, 19)


def test_caps_grow_with_rarity() -> None:
    for kind in ItemKind:
        caps = [caps_for(kind, r) for r in Rarity]
        for lower, higher in itertools.pairwise(caps):
            assert lower.bonus <= higher.bonus and lower.spell_level <= higher.spell_level
            assert lower.extra_damage_avg <= higher.extra_damage_avg and lower.charges <= higher.charges
            assert lower.ability_score <= higher.ability_score


def test_prices_stay_in_the_band() -> None:
    assert PRICE_BANDS_GP[Rarity.RARE] == (501, 5_000)
    for rarity in Rarity:
        low, high = PRICE_BANDS_GP[rarity]
        for frac in (0.0, 0.1, 0.5, 0.9, 0.999):
            assert low <= price_for(rarity, int(rarity) + frac) <= high
        assert price_for(rarity, int(rarity) + 0.9) >= price_for(rarity, int(rarity) + 0.1)


def test_rarity_names() -> None:
    assert parse_rarity("Very Rare") is Rarity.VERY_RARE and parse_rarity("very-rare") is Rarity.VERY_RARE
    with pytest.raises(InvalidArgument) as err:
        parse_rarity("mythic")
    assert "legendary" in err.value.violations[0][1]


def test_appraise_reads_rules_text() -> None:
    flame = ItemMechanics(
        kind=ItemKind.WEAPON,
        properties=(
            ItemProperty(
                "Flame", "The weapon deals an extra 2d6 fire damage to any target it hits.", "damage"
            ),
        ),
    )
    assert appraise(flame).rarity is Rarity.RARE
    assert appraise(ItemMechanics(kind=ItemKind.WEAPON, bonus=1)).rarity is Rarity.UNCOMMON
    assert appraise(ItemMechanics(kind=ItemKind.ARMOR, bonus=1)).rarity is Rarity.RARE
    scroll = ItemMechanics(kind=ItemKind.SCROLL, spells=(ItemSpell("Fireball", 3),))
    assert appraise(scroll).rarity is Rarity.UNCOMMON
    too_much = ItemMechanics(kind=ItemKind.WEAPON, bonus=3)
    assert cap_violations(too_much, Rarity.RARE) and not cap_violations(too_much, Rarity.VERY_RARE)


def test_srd_items_mostly_respect_the_caps(spells: SpellBook) -> None:
    srd = load_srd()
    items = [i for i in srd.magic_items.values() if i.rarity != "varies"]
    over = []
    for item in items:
        mech = srd_mechanics(item.index, item.category, item.description, spells)
        problems = cap_violations(mech, parse_rarity(item.rarity))
        if problems:
            over.append((item.index, item.rarity, problems[0]))
    print(f"\nSRD items over our caps: {len(over)} of {len(items)}")
    for line in over:
        print("  ", *line)
    assert len(over) <= 0.05 * len(items)


def test_appraisal_agrees_with_the_srd(spells: SpellBook) -> None:
    srd = load_srd()
    misses = []
    total = agreed = near = 0
    confusion: collections.Counter[tuple[str, str]] = collections.Counter()
    for item in srd.magic_items.values():
        if item.rarity == "varies":
            continue
        rated = appraise(srd_mechanics(item.index, item.category, item.description, spells))
        listed = parse_rarity(item.rarity)
        total += 1
        agreed += rated.rarity == listed
        near += abs(rated.rarity - listed) <= 1
        if rated.rarity != listed:
            misses.append((item.index, listed.label, rated.rarity.label, rated.score))
            confusion[(listed.label, rated.rarity.label)] += 1
    result = Agreement(total, agreed, near, tuple(misses))
    print(
        f"\nAppraiseItem vs the SRD's listed rarity: {result.agreed}/{result.total} exact "
        f"({result.rate:.1%}), {result.within_one}/{result.total} within one step ({result.rate_within_one:.1%})"
    )
    print("  most common misses (listed -> rated):", confusion.most_common(6))
    assert result.rate >= SRD_EXACT_FLOOR
    assert result.rate_within_one >= SRD_WITHIN_ONE_FLOOR
