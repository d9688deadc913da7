"""Creature templates change what they must, and the CR follows (recomputed, or rebalanced to a target)."""

from __future__ import annotations

import pytest

from lore import World
from mesh.errors import InvalidArgument
from npc_svc.builder import CreatureBuilder
from rules.challenge import cr_index
from rules.cr_calculator import estimate_cr
from rules.srd import Srd
from rules.templates import TEMPLATES, apply_template, get_template


@pytest.mark.parametrize("base", ["wolf", "ogre", "knight", "giant-spider", "bandit-captain"])
def test_undead_template_adds_undead_immunities_and_senses(srd: Srd, base: str) -> None:
    monster = srd.monster(base)
    block = apply_template(monster, get_template("undead")).block
    assert block.type == "undead"
    assert "poison" in block.damage_immunities
    assert {"poisoned", "exhaustion"} <= set(block.condition_immunities)
    assert block.senses.darkvision >= 60
    assert any(t.name == "Undead Fortitude" for t in block.traits)
    assert block.hit_points == monster.hit_points  # the template changes kind, not the numbers


def test_each_template_sets_its_kind(srd: Srd) -> None:
    wolf = srd.monster("wolf")
    expect = {
        "undead": ("undead", "poison", None),
        "fey-touched": ("fey", None, "charmed"),
        "aberrant": ("aberration", None, "frightened"),
        "fiendish": ("fiend", "fire", "poisoned"),
        "celestial": ("celestial", None, "charmed"),
    }
    assert set(expect) == set(TEMPLATES)
    for tid, (kind, immunity, condition) in expect.items():
        block = apply_template(wolf, TEMPLATES[tid]).block
        assert block.type == kind
        if immunity:
            assert immunity in block.damage_immunities
        if condition:
            assert condition in block.condition_immunities
    aberrant = apply_template(wolf, TEMPLATES["aberrant"]).block
    assert "telepathy 60 ft." in aberrant.languages and aberrant.senses.darkvision == 120
    assert any(a.name.startswith("Psychic Lash") for a in aberrant.actions)


@pytest.mark.parametrize("tid", sorted(TEMPLATES))
@pytest.mark.parametrize("base", ["wolf", "ogre", "knight", "owlbear"])
def test_cr_follows_the_template(creatures: CreatureBuilder, srd: Srd, tid: str, base: str) -> None:
    built = creatures.build(base, tid, None, seed=1)
    rated = estimate_cr(built.block, srd.spell_damage).challenge_rating
    assert built.block.challenge_rating == built.rated == rated, "listed CR is the calculator's rating"
    base_rated = estimate_cr(srd.monster(base), srd.spell_damage).challenge_rating
    assert cr_index(rated) >= cr_index(base_rated), "a template adds defenses or damage, never removes them"
    assert any(line.startswith("challenge rating") for line in built.changes)


def test_templates_that_add_damage_raise_the_cr(creatures: CreatureBuilder, srd: Srd) -> None:
    for base in ("wolf", "ogre", "knight"):
        base_rated = estimate_cr(srd.monster(base), srd.spell_damage).challenge_rating
        assert cr_index(creatures.build(base, "celestial", None, seed=1).rated) > cr_index(base_rated)


@pytest.mark.parametrize("target", [0.5, 3.0, 8.0, 15.0])
def test_rebalanced_to_a_target(creatures: CreatureBuilder, target: float) -> None:
    built = creatures.build("wolf", "undead", target, seed=1)
    assert built.block.challenge_rating == target
    steps = abs(cr_index(built.rated) - cr_index(target))
    assert steps <= 1 and (steps == 0) == (built.note == "")
    assert "poison" in built.block.damage_immunities, "rebalancing keeps what the template added"
    assert any(line.startswith("rebalanced to CR") for line in built.changes)


def test_world_flavours_the_name(creatures: CreatureBuilder, world: World) -> None:
    assert creatures.build("wolf", "undead", None, seed=1).block.name == "Undead Wolf"
    named = creatures.build("wolf", "undead", None, seed=1, world_id="ashen-reach").block.name
    kin = [c.name for c in world.creatures if c.based_on == "wolf"]
    regions = [r.name.replace("The ", "the ", 1) for r in world.regions]
    assert named in [f"Undead {k}" for k in kin] or any(named == f"Undead Wolf of {r}" for r in regions), (
        named
    )
    assert named == creatures.build("wolf", "undead", None, seed=1, world_id="ashen-reach").block.name


def test_bad_creature_requests(creatures: CreatureBuilder) -> None:
    with pytest.raises(InvalidArgument) as err:
        creatures.build("wolf-king", "vampiric", 31, seed=1)
    fields = dict(err.value.violations)
    assert set(fields) == {"base_monster", "template", "challenge_rating"}
    assert "wolf" in fields["base_monster"]  # close matches
    assert "undead" in fields["template"] and "fey-touched" in fields["template"]
