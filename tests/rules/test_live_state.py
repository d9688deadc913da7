"""Live state: damage through temporary hit points, dying and death saves, healing, rests, slots, resources,
XP and level-up, and validation of stored states."""

from __future__ import annotations

import random

import pytest

from mesh.errors import FailedPrecondition, InvalidArgument
from rules.live_state import (
    LiveState,
    add_temp_hp,
    apply_damage,
    death_save,
    gain_xp,
    heal,
    level_up,
    long_rest,
    new_state,
    short_rest,
    spend_slot,
    use_resource,
)
from rules.progression import XP_THRESHOLDS, award_xp, level_for_xp, split_award, xp_to_next_level
from rules.sheets import pregenerated, with_level


def test_xp_thresholds_and_levels() -> None:
    assert len(XP_THRESHOLDS) == 20 and XP_THRESHOLDS[1] == 300 and XP_THRESHOLDS[-1] == 355_000
    assert [level_for_xp(x) for x in (0, 299, 300, 899, 900, 354_999, 355_000, 10**6)] == [
        1,
        1,
        2,
        2,
        3,
        19,
        20,
        20,
    ]
    assert xp_to_next_level(250) == 50 and xp_to_next_level(400_000) == 0
    assert award_xp(250, 700) == (950, 1, 3)  # two levels at once
    assert split_award(1000, 3) == 333
    with pytest.raises(InvalidArgument):
        award_xp(0, -5)


def test_damage_goes_through_temp_hp_then_drops_to_zero() -> None:
    sheet = pregenerated("fighter", 5)
    s = add_temp_hp(new_state(sheet), 5)
    assert add_temp_hp(s, 3).temp_hp == 5  # temporary hit points do not stack
    s = apply_damage(sheet, s, 8)
    assert (s.temp_hp, s.hp) == (0, sheet.hp_max - 3)
    s = apply_damage(sheet, s, s.hp + 2)
    assert s.hp == 0 and "unconscious" in s.conditions and not s.dead
    s = apply_damage(sheet, s, 1, critical=True)
    assert s.death_failures == 2
    s = heal(sheet, s, 4)
    assert s.hp == 4 and "unconscious" not in s.conditions and s.death_failures == 0
    assert apply_damage(sheet, new_state(sheet), 2 * sheet.hp_max).dead  # massive damage


def test_death_saves() -> None:
    sheet = pregenerated("wizard", 1)
    dying = apply_damage(sheet, new_state(sheet), sheet.hp_max)
    outcomes = set()
    for seed in range(200):
        s, rng = dying, random.Random(seed)
        while not (s.dead or s.stable or s.hp > 0):
            s, roll = death_save(s, rng)
            assert 1 <= roll <= 20
        outcomes.add("dead" if s.dead else "stable" if s.stable else "up")
        assert s.dead == (s.death_failures >= 3)
    assert outcomes == {"dead", "stable", "up"}
    with pytest.raises(FailedPrecondition):
        death_save(new_state(sheet), random.Random(1))


def test_short_and_long_rest() -> None:
    sheet = pregenerated("fighter", 5)  # d10, Con +2
    s = apply_damage(sheet, new_state(sheet), 30)
    s = use_resource(sheet, s, "second_wind_uses")
    s = use_resource(sheet, s, "action_surges")
    with pytest.raises(FailedPrecondition):
        use_resource(sheet, s, "second_wind_uses")
    rested, rolls = short_rest(sheet, s, 2, random.Random(3))
    assert len(rolls) == 2 and rested.hp == min(sheet.hp_max, s.hp + sum(r + 2 for r in rolls))
    assert rested.hit_dice == 3 and rested.resources_used == {}
    with pytest.raises(InvalidArgument) as exc:
        short_rest(sheet, rested, 4, random.Random(1))
    assert exc.value.violations[0][0] == "hit_dice_to_spend"
    tired = LiveState(hp=1, hit_dice=0, exhaustion=2, temp_hp=4)
    after = long_rest(sheet, tired)
    assert (after.hp, after.hit_dice, after.exhaustion, after.temp_hp) == (sheet.hp_max, 2, 1, 0)
    with pytest.raises(FailedPrecondition):
        long_rest(sheet, LiveState(hp=0, hit_dice=1))


def test_spell_slots_and_pact_magic() -> None:
    wizard = pregenerated("wizard", 3)
    s = spend_slot(wizard, spend_slot(wizard, new_state(wizard), 1), 2)
    assert s.slots_used[:2] == (1, 1)
    s = spend_slot(wizard, spend_slot(wizard, s, 2), 1)
    with pytest.raises(FailedPrecondition):
        spend_slot(wizard, s, 2)
    assert short_rest(wizard, s, 0, random.Random(1))[0].slots_used == s.slots_used
    assert long_rest(wizard, s).slots_used == (0,) * 9
    warlock = pregenerated("warlock", 5)
    w = spend_slot(warlock, new_state(warlock), 3)
    assert short_rest(warlock, w, 0, random.Random(1))[0].slots_used == (0,) * 9


def test_rage_is_unlimited_at_20() -> None:
    barbarian = pregenerated("barbarian", 20)
    s = new_state(barbarian)
    for _ in range(20):
        s = use_resource(barbarian, s, "rage_count")
    assert s.resources_used == {}


def test_xp_award_and_level_up() -> None:
    sheet = pregenerated("cleric", 4)
    s = apply_damage(sheet, new_state(sheet), 5)
    s, level = gain_xp(s, XP_THRESHOLDS[4] - s.xp)
    assert level == 5
    up = with_level(sheet, level)
    carried = level_up(sheet, up, s)
    assert carried.hp == s.hp + up.hp_max - sheet.hp_max and carried.hit_dice == 5


def test_state_json_round_trips_and_validates() -> None:
    sheet = pregenerated("monk", 5)
    s = use_resource(sheet, apply_damage(sheet, new_state(sheet), 3), "ki_points", 2)
    assert LiveState.from_json(s.to_json(), sheet) == s
    bad = {
        **s.to_json(),
        "hp": sheet.hp_max + 1,
        "conditions": ["sleepy"],
        "resources_used": {"ki_points": 9},
    }
    with pytest.raises(InvalidArgument) as exc:
        LiveState.from_json(bad, sheet)
    fields = {f for f, _ in exc.value.violations}
    assert {"hp", "conditions[0]", "resources_used.ki_points"} <= fields
    with pytest.raises(InvalidArgument) as exc:
        LiveState.from_json({**s.to_json(), "hp": "lots", "mood": 1})
    assert {"hp", "mood"} <= {f for f, _ in exc.value.violations}
