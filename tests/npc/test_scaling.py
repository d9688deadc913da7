"""Scaling SRD stat blocks to a target CR (rules.scaling): the calculator agrees, and the numbers hang together."""

from __future__ import annotations

import re

import pytest

from rules.challenge import CHALLENGE_RATINGS, cr_index, format_cr, proficiency_bonus_for_cr
from rules.cr_calculator import MONSTER_STATISTICS, estimate_cr
from rules.scaling import (
    armor_for,
    cr_for_level,
    hit_points_for,
    scale_damage,
    scale_to_cr,
    slots_for,
)
from rules.srd import Srd
from rules.statblock import Damage

NPC_BASES = ("acolyte", "bandit", "guard", "knight", "mage", "noble", "priest", "veteran", "archmage", "spy",
             "thug", "commoner", "cult-fanatic", "druid", "berserker", "scout", "bandit-captain", "assassin")  # fmt: skip
#: The targets an NPC archetype can ask for: 1/8 up to 20.
TARGETS = [c for c in CHALLENGE_RATINGS if 0.125 <= c <= 20]
PRINTED = re.compile(r"(\d+) \((\d+d\d+)(?: ([+-]) (\d+))?\)")


@pytest.mark.parametrize("base", NPC_BASES)
def test_every_target_rates_on_target_or_one_step_off_with_a_reason(srd: Srd, base: str) -> None:
    off = []
    for target in TARGETS:
        scaled = scale_to_cr(srd.monster(base), target, srd.spell_damage)
        rated = estimate_cr(scaled.block, srd.spell_damage).challenge_rating
        assert rated == scaled.rated, "the reported rating is the calculator's own"
        assert scaled.block.challenge_rating == target
        steps = abs(cr_index(rated) - cr_index(target))
        assert steps <= 1, f"{base} at CR {format_cr(target)} rates {format_cr(rated)}"
        if steps:
            assert scaled.note and format_cr(rated) in scaled.note, "an off-target rating says why"
            off.append(target)
        else:
            assert scaled.note == ""
    assert len(off) <= 2, f"{base}: off target at {off}"


@pytest.mark.parametrize("base", ["veteran", "mage", "priest", "spy", "knight"])
@pytest.mark.parametrize("target", [0.5, 2.0, 5.0, 11.0, 17.0])
def test_numbers_are_recomputed_consistently(srd: Srd, base: str, target: float) -> None:
    block = scale_to_cr(srd.monster(base), target, srd.spell_damage).block
    row = MONSTER_STATISTICS[target]
    pb = proficiency_bonus_for_cr(target)
    assert block.proficiency_bonus == pb
    count, _die = (int(x) for x in block.hit_dice.split("d"))
    assert (block.hit_points, block.hit_dice) == hit_points_for(
        count, block.size, block.abilities.modifier("con")
    )  # type: ignore[arg-type]
    for act in block.actions:
        if act.attack_bonus is not None:
            assert act.attack_bonus == row["attack_bonus"]
            assert f"{row['attack_bonus']:+d} to hit" in act.description
        if act.save is not None:
            assert act.save.dc == row["save_dc"]
        # Every printed "avg (dice)" in the text is one of the action's own damage rolls, average floored.
        rolls = {d.dice: d for d in (*act.damage, *(d for opt in act.damage_options for d in opt))}
        for m in PRINTED.finditer(act.description):
            flat = int(m.group(4)) * (-1 if m.group(3) == "-" else 1) if m.group(4) else 0
            key = m.group(2) + (f"{flat:+d}" if flat else "")
            assert key in rolls, f"{act.name}: stale dice {m.group(0)!r} not in {list(rolls)}"
            assert int(m.group(1)) == int(rolls[key].average)
    for sc in block.spellcasting:
        assert sc.save_dc == row["save_dc"] and sc.attack_bonus == row["attack_bonus"]
        trait = next(t for t in block.traits if t.name.lower().startswith("spellcasting"))
        assert f"spell save DC {sc.save_dc}" in trait.description
        for level, count in sc.slots.items():
            assert f"({count} slot" in trait.description
            assert all(s.level <= max(sc.slots) for s in sc.spells)
            del level


def test_scaling_up_adds_attacks_and_down_removes_them(srd: Srd) -> None:
    up = scale_to_cr(srd.monster("guard"), 12, srd.spell_damage).block
    multi = next(a for a in up.actions if a.multiattack)
    assert sum(p.count for p in multi.multiattack[0]) == 3
    down = scale_to_cr(srd.monster("veteran"), 0.25, srd.spell_damage).block
    assert not any(a.multiattack for a in down.actions)


def test_world_spell_ceiling_turns_high_slots_into_the_highest_allowed() -> None:
    assert slots_for(18, 7) == {1: 4, 2: 3, 3: 3, 4: 3, 5: 3, 6: 1, 7: 3}
    assert slots_for(9) == {1: 4, 2: 3, 3: 3, 4: 3, 5: 1}


def test_helpers() -> None:
    assert [cr_for_level(n) for n in (1, 2, 3, 9, 18, 20)] == [0.25, 0.5, 2.0, 6.0, 12.0, 13.0]
    assert scale_damage(Damage("1d8+3", "slashing", 7.5), 2.0).dice == "3d8+3"
    assert scale_damage(Damage("2d6+3", "slashing", 10.0), 0.1).dice == "1"  # CR 0: "1 slashing damage"
    assert scale_damage(Damage("1d10+4", "piercing", 9.5), 0.3).dice == "1d4"
    assert armor_for(18, 0, "plate armor", True) == "plate armor"
    assert armor_for(20, 0, "chain mail, shield", True) == "plate armor, shield"
    assert armor_for(23, 0, "chain mail, shield", True) == "+3 plate armor, shield"
    assert armor_for(14, 2, "natural armor", False) == "natural armor"
