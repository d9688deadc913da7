"""GenerateItem's mechanics over 200 seeds per rarity: within the caps, rated at the rarity they were made for,
following the world's magic system, priced inside the band; same seed, same item."""

from __future__ import annotations

import asyncio
import collections
import re

import pytest

from item_svc.forge import ForgedItem, ItemForge
from item_svc.generator import ItemGenerator, ItemRequest, Preference
from item_svc.prose import number_problems
from lore import World
from mesh.errors import InvalidArgument
from rules.items import (
    PRICE_BANDS_GP,
    ItemKind,
    Rarity,
    appraise,
    calls_for_attunement,
    cap_violations,
    read_rules_text,
)
from rules.spells import SpellBook

SEEDS = range(1, 201)


def _forge(forge: ItemForge, req: ItemRequest) -> ForgedItem:
    return asyncio.run(forge.generate("", req))


def _check_world_magic(item: ForgedItem, world: World, spells: SpellBook) -> None:
    magic = world.magic
    assert magic is not None
    theme = world.item_theme(item.theme.id)
    mech = item.mechanics
    for effect in item.effects:
        assert effect in theme.effects and effect not in magic.forbidden_effects
    for prop in mech.properties:
        assert prop.effect == "" or prop.effect in theme.effects
    found = read_rules_text(mech.rules_text())
    for _, dtype in found.extra_damage:
        assert dtype in theme.damage_types, (dtype, theme.id)
    for dtype in found.resistances:
        assert dtype in theme.damage_types
    for s in mech.spells:
        spell = spells.get(s.name)
        assert spell.level == s.level <= magic.max_spell_level
        assert spell.school in (*magic.schools_allowed, *magic.schools_restricted)
        assert spell.school not in magic.schools_forbidden
        assert not spell.damage_types or set(spell.damage_types) & set(theme.damage_types)


@pytest.mark.parametrize("rarity", list(Rarity))
def test_two_hundred_seeds_per_rarity(
    forge: ItemForge, world: World, spells: SpellBook, rarity: Rarity
) -> None:
    kinds: collections.Counter[str] = collections.Counter()
    agree = referenced = 0
    for seed in SEEDS:
        item = _forge(forge, ItemRequest(None, rarity, allow_curse=seed % 2 == 0, seed=seed))
        mech = item.mechanics
        kinds[mech.kind.value] += 1
        assert cap_violations(mech, rarity) == [], (seed, mech)
        rated = appraise(mech)
        agree += rated.rarity == rarity
        referenced += item.reference.startswith("srd:")
        low, high = PRICE_BANDS_GP[rarity]
        assert low <= item.value.gp <= high and item.value.display
        assert re.search(r"\d", item.value.display)
        _check_world_magic(item, world, spells)
        if mech.consumable:
            assert not mech.requires_attunement and mech.curse is None
        elif calls_for_attunement(mech) or mech.curse is not None:
            assert mech.requires_attunement
        assert (
            number_problems(
                {"name": item.prose.name, "description": item.prose.description, "lore": item.prose.lore},
                mech,
            )
            == []
        )
    print(
        f"\n{rarity.label}: appraisal agrees {agree}/200; SRD reference {referenced}/200; kinds {dict(kinds)}"
    )
    assert agree == 200


@pytest.mark.parametrize("kind", list(ItemKind))
def test_each_kind_at_each_rarity_it_can_have(forge: ItemForge, kind: ItemKind) -> None:
    made = 0
    for rarity in Rarity:
        try:
            item = _forge(forge, ItemRequest(kind, rarity, seed=3))
        except InvalidArgument as exc:
            assert "cannot make" in exc.violations[0][1]
            continue
        made += 1
        assert item.mechanics.kind is kind and item.rarity is rarity
        assert appraise(item.mechanics).rarity is rarity and not cap_violations(item.mechanics, rarity)
    assert made >= 4, f"{kind.value}: only {made} rarities possible"


def test_requested_theme_and_attunement(forge: ItemForge, world: World) -> None:
    for seed in range(1, 41):
        item = _forge(forge, ItemRequest(ItemKind.WEAPON, Rarity.RARE, theme="Ember-forged", seed=seed))
        assert item.theme.id == "ember"
        for _, dtype in read_rules_text(item.mechanics.rules_text()).extra_damage:
            assert dtype == "fire"
    required = [
        _forge(forge, ItemRequest(ItemKind.RING, Rarity.UNCOMMON, attunement=Preference.REQUIRED, seed=s))
        for s in range(1, 31)
    ]
    assert all(i.mechanics.requires_attunement for i in required)
    none = [
        _forge(forge, ItemRequest(ItemKind.WEAPON, Rarity.UNCOMMON, attunement=Preference.NONE, seed=s))
        for s in range(1, 31)
    ]
    assert sum(not i.mechanics.requires_attunement for i in none) >= 25  # a plain +1 needs none


def test_same_seed_same_item(forge: ItemForge) -> None:
    req = ItemRequest(None, Rarity.VERY_RARE, allow_curse=True, seed=77)
    a, b = _forge(forge, req), _forge(forge, req)
    assert (a.id, a.mechanics, a.prose, a.value) == (b.id, b.mechanics, b.prose, b.value)
    c = _forge(forge, ItemRequest(None, Rarity.VERY_RARE, allow_curse=True, seed=78))
    assert (c.mechanics, c.prose) != (a.mechanics, a.prose)


def test_curses_only_when_allowed(forge: ItemForge) -> None:
    plain = [_forge(forge, ItemRequest(ItemKind.WEAPON, Rarity.RARE, seed=s)) for s in SEEDS]
    assert all(i.mechanics.curse is None for i in plain)
    cursed = [
        _forge(forge, ItemRequest(ItemKind.WEAPON, Rarity.RARE, allow_curse=True, seed=s)) for s in SEEDS
    ]
    count = sum(i.mechanics.curse is not None for i in cursed)
    assert 30 <= count <= 110, count


def test_what_the_world_cannot_make_is_refused(
    forge: ItemForge, generator: ItemGenerator, world: World
) -> None:
    # The Ashen Reach allows no spell above 7th level; a legendary scroll holds a 9th-level spell.
    with pytest.raises(InvalidArgument) as err:
        generator.generate(world, ItemRequest(ItemKind.SCROLL, Rarity.LEGENDARY, seed=1))
    assert err.value.violations[0][0] == "rarity" and "level 7" in err.value.violations[0][1]
    with pytest.raises(InvalidArgument) as err:
        _forge(forge, ItemRequest(None, Rarity.RARE, theme="void-glass", seed=1))
    assert err.value.violations[0][0] == "theme" and "ember" in err.value.violations[0][1]
