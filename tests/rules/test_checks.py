"""Checks and saves: exact probabilities over 20,000 seeded rolls, advantage/disadvantage and modifier
properties, the conditions that change checks, group/contested/passive checks and bad input."""

from __future__ import annotations

import random
from collections.abc import Callable
from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mesh.errors import InvalidArgument
from rules.checks import (
    DIFFICULTY_DC,
    ability_check,
    check_modifiers,
    contest,
    contested_check,
    group_check,
    passive_score,
    resolve_dc,
    roll_d20_test,
    saving_throw,
    skill_check,
    success_probability,
)
from rules.sheets import CharacterChoices, CharacterSheet, build_sheet, pregenerated

SKILLS = ("athletics", "stealth", "investigation", "perception", "persuasion", "arcana", "sleight-of-hand")


@cache
def _sheet(class_index: str, level: int) -> CharacterSheet:
    return pregenerated(class_index, level)


def _exact(modifier: int, dc: int, advantage: bool) -> float:
    """Counted over the 20 faces, independently of the code under test."""
    p = sum(1 for face in range(1, 21) if face + modifier >= dc) / 20
    return 1 - (1 - p) ** 2 if advantage else p


def test_difficulty_dcs_are_the_dmgs() -> None:
    assert DIFFICULTY_DC == {
        "very_easy": 5,
        "easy": 10,
        "medium": 15,
        "hard": 20,
        "very_hard": 25,
        "nearly_impossible": 30,
    }
    assert resolve_dc(difficulty="hard") == 20 and resolve_dc(dc=13) == 13


@pytest.mark.parametrize("advantage", [False, True])
def test_success_rate_over_20000_seeded_checks_matches_the_exact_probability(advantage: bool) -> None:
    # A fighter 1 with Athletics +5; DCs 5..25 take turns so every check's own `success` is exercised.
    sheet = _sheet("fighter", 1)
    modifier = sheet.skills["athletics"].modifier
    assert modifier == 5
    n = 20_000
    dcs = range(5, 26)
    totals = []
    for seed in range(n):
        dc = dcs[seed % len(dcs)]
        r = skill_check(sheet, "athletics", dc, advantage=advantage, seed=seed)
        assert r.success == (r.total >= dc) and r.seed == seed
        assert len(r.rolls) == (2 if advantage else 1)
        totals.append(r.total)
    for dc in dcs:
        rate = sum(t >= dc for t in totals) / n
        assert abs(rate - _exact(modifier, dc, advantage)) <= 0.01, (dc, rate)
        mode = "advantage" if advantage else "normal"
        assert success_probability(modifier, dc, mode) == pytest.approx(_exact(modifier, dc, advantage))


@settings(max_examples=200, deadline=None)
@given(
    seed=st.integers(min_value=0, max_value=2**32),
    skill=st.sampled_from(SKILLS),
    dc=st.integers(min_value=1, max_value=40),
    class_index=st.sampled_from(
        ["rogue", "bard", "monk", "wizard"]
    ),  # no armour imposing Stealth disadvantage
    level=st.sampled_from([1, 2, 6, 11, 20]),
)
def test_advantage_straight_disadvantage_are_ordered_and_modifiers_sum(
    seed: int, skill: str, dc: int, class_index: str, level: int
) -> None:
    sheet = _sheet(class_index, level)
    straight = skill_check(sheet, skill, dc, seed=seed)
    adv = skill_check(sheet, skill, dc, advantage=True, seed=seed)
    dis = skill_check(sheet, skill, dc, disadvantage=True, seed=seed)
    both = skill_check(sheet, skill, dc, advantage=True, disadvantage=True, seed=seed)
    assert adv.total >= straight.total >= dis.total
    assert adv.success >= straight.success >= dis.success
    assert both == straight and both.mode == "normal"  # advantage and disadvantage cancel
    assert adv.rolls == dis.rolls and adv.rolls[0] == straight.rolls[0]  # same stream
    assert adv.natural == max(adv.rolls) and dis.natural == min(dis.rolls)
    for r in (straight, adv, dis):
        assert r.total == r.kept + sum(v for _, v in r.modifiers)
        assert r.modifier == sheet.skills[skill].modifier
        assert r.margin == r.total - dc
        assert r.degree == (
            "critical"
            if r.margin >= 10
            else "success"
            if r.margin >= 0
            else "failure"
            if r.margin > -10
            else "fumble"
        )
        assert r.kept == (
            max(r.natural, 10) if sheet.reliable_talent and sheet.skills[skill].proficient else r.natural
        )
    assert skill_check(sheet, skill, dc, seed=seed) == straight  # deterministic


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**32), ability=st.sampled_from(["str", "dex", "con", "wis"]))
def test_saves_and_ability_checks_add_the_right_parts(seed: int, ability: str) -> None:
    sheet = _sheet("paladin", 5)
    save = saving_throw(sheet, ability, 12, seed=seed)
    assert save.modifier == sheet.saving_throws[ability].modifier
    assert ("proficiency" in dict(save.modifiers)) == sheet.saving_throws[ability].proficient
    check = ability_check(sheet, ability, 12, seed=seed)
    assert check.modifiers == ((ability, sheet.ability_modifiers[ability]),)


def test_natural_20_does_not_pass_an_impossible_check() -> None:
    sheet = _sheet("wizard", 1)  # Athletics -1
    twenties = [
        r for s in range(400) if (r := skill_check(sheet, "athletics", 30, seed=s)).natural == 20
    ]  # fmt: skip
    assert twenties and all(not r.success and r.total == 19 for r in twenties)


def test_expertise_jack_of_all_trades_and_reliable_talent_parts() -> None:
    rogue = _sheet("rogue", 11)
    expert = next(s for s, e in rogue.skills.items() if e.expertise)
    _, parts = check_modifiers(rogue, "skill", expert)
    assert dict(parts)["expertise"] == dict(parts)["proficiency"] == 4
    low = [r for s in range(200) if (r := skill_check(rogue, expert, 15, seed=s)).natural < 10]
    assert low and all(r.kept == 10 for r in low)  # Reliable Talent
    bard = _sheet("bard", 2)
    unskilled = next(s for s, e in bard.skills.items() if not e.proficient)
    _, parts = check_modifiers(bard, "skill", unskilled)
    assert dict(parts)["jack_of_all_trades"] == 1
    _, parts = check_modifiers(bard, "ability", "str")
    assert dict(parts)["jack_of_all_trades"] == 1
    _, parts = check_modifiers(_sheet("bard", 1), "skill", unskilled)
    assert "jack_of_all_trades" not in dict(parts)
    champion = _sheet("fighter", 7)
    assert champion.remarkable_athlete
    unskilled_dex = next(s for s, e in champion.skills.items() if not e.proficient and e.ability == "dex")
    _, parts = check_modifiers(champion, "skill", unskilled_dex)
    assert dict(parts)["remarkable_athlete"] == 2  # half of +3, rounded up


def test_conditions_that_change_checks_and_saves() -> None:
    sheet = _sheet("fighter", 5)
    for condition in ("poisoned", "frightened"):
        r = skill_check(sheet, "athletics", 10, conditions=[condition], seed=1)
        assert r.mode == "disadvantage" and condition in r.notes[0]
        assert (
            skill_check(sheet, "athletics", 10, conditions=[condition], advantage=True, seed=1).mode
            == "normal"
        )
    assert skill_check(sheet, "athletics", 10, exhaustion=1, seed=1).mode == "disadvantage"
    assert skill_check(sheet, "athletics", 10, conditions=["exhaustion"], seed=1).mode == "disadvantage"
    assert saving_throw(sheet, "con", 10, exhaustion=2, seed=1).mode == "normal"
    assert saving_throw(sheet, "con", 10, exhaustion=3, seed=1).mode == "disadvantage"
    assert saving_throw(sheet, "con", 10, conditions=["poisoned"], seed=1).mode == "normal"  # checks only
    for condition in ("paralyzed", "stunned", "unconscious", "petrified"):
        for ability in ("str", "dex"):
            r = saving_throw(sheet, ability, 1, conditions=[condition], advantage=True, seed=1)
            assert not r.success and r.auto_fail == condition and r.rolls == ()
        assert saving_throw(sheet, "con", 1, conditions=[condition], seed=1).success
    assert saving_throw(sheet, "dex", 10, conditions=["restrained"], seed=1).mode == "disadvantage"
    assert saving_throw(sheet, "dex", 10, dodging=True, seed=1).mode == "advantage"
    blind = skill_check(sheet, "perception", 1, conditions=["blinded"], sight=True, seed=1)
    assert not blind.success and blind.auto_fail == "blinded"
    assert skill_check(sheet, "perception", 1, conditions=["blinded"], hearing=True, seed=1).success
    assert not skill_check(sheet, "perception", 1, conditions=["deafened"], hearing=True, seed=1).success
    assert skill_check(sheet, "athletics", 10, conditions=["prone", "grappled"], seed=1).mode == "normal"
    assert sheet.stealth_disadvantage  # chain mail
    assert skill_check(sheet, "stealth", 10, seed=1).mode == "disadvantage"


def test_group_contested_and_passive() -> None:
    party = [_sheet(c, 3) for c in ("fighter", "rogue", "wizard", "cleric")]
    g = group_check(party, "skill", "stealth", 12, seed=5)
    assert len(g.results) == 4 and g.successes == sum(r.success for r in g.results)
    assert g.success == (g.successes >= 2)
    assert group_check(party, "skill", "stealth", 12, seed=5) == g
    c = contested_check(party[0], "athletics", party[1], "acrobatics", seed=9)
    assert c.first.dc is None and c.second.what == "acrobatics"
    assert c.winner == (
        None if c.first.total == c.second.total else 0 if c.first.total > c.second.total else 1
    )
    ties = [
        contested_check(party[0], "athletics", party[0], "athletics", seed=s) for s in range(60)
    ]  # fmt: skip
    assert any(t.winner is None for t in ties) and all(
        (t.winner is None) == (t.first.total == t.second.total) for t in ties
    )
    ogre = roll_d20_test(
        kind="skill", what="athletics", ability="str", modifiers=[("str", 4)], dc=None, seed=3
    )
    assert contest(c.first, ogre).winner in (0, 1, None)
    rogue = party[1]
    assert passive_score(rogue, "perception") == rogue.passive_perception
    assert passive_score(rogue, "perception", advantage=True) == rogue.passive_perception + 5
    assert passive_score(rogue, "perception", disadvantage=True) == rogue.passive_perception - 5
    assert passive_score(rogue, "perception", advantage=True, disadvantage=True) == rogue.passive_perception


def test_to_json_reports_everything() -> None:
    r = skill_check(_sheet("rogue", 5), "Sleight of Hand", None, advantage=True, seed=4)
    j = r.to_json()
    assert j["what"] == "sleight-of-hand" and len(j["rolls"]) == 2 and j["seed"] == 4 and j["dc"] is None
    assert sum(m["value"] for m in j["modifiers"]) + j["kept"] == j["total"]
    unseeded = skill_check(_sheet("rogue", 5), "stealth", 10)
    assert isinstance(unseeded.seed, int)  # a fresh seed is reported so the roll can be replayed
    assert skill_check(_sheet("rogue", 5), "stealth", 10, seed=unseeded.seed) == unseeded
    stream = random.Random(1)
    a = skill_check(_sheet("rogue", 5), "stealth", 10, rng=stream)
    b = skill_check(_sheet("rogue", 5), "stealth", 10, rng=stream)
    assert a.seed is None and (a.rolls, b.rolls) != ((), ())


def test_bad_input_names_the_field() -> None:
    sheet = _sheet("fighter", 1)
    cases: list[tuple[Callable[[], object], str]] = [
        (lambda: skill_check(sheet, "basket-weaving", 10), "skill"),
        (lambda: ability_check(sheet, "luck", 10), "ability"),
        (lambda: saving_throw(sheet, "charm", 10), "ability"),
        (lambda: skill_check(sheet, "stealth", 10, conditions=["sleepy"]), "conditions[0]"),
        (lambda: skill_check(sheet, "stealth", 10, exhaustion=7), "exhaustion"),
        (lambda: resolve_dc(dc=0), "dc"),
        (lambda: resolve_dc(dc=41), "dc"),
        (lambda: resolve_dc(difficulty="trivial"), "difficulty"),
        (lambda: group_check([], "skill", "stealth", 10), "characters"),
        (lambda: check_modifiers(sheet, "attack", "str"), "kind"),
    ]
    for call, field in cases:
        with pytest.raises(InvalidArgument) as exc:
            call()
        assert exc.value.violations[0][0] == field
    with pytest.raises(InvalidArgument) as exc:
        skill_check(sheet, "basket-weaving", 10)
    assert "valid: acrobatics" in exc.value.violations[0][1]


def test_checks_work_for_any_built_sheet() -> None:
    sheet = build_sheet(CharacterChoices("Gnome", "wizard", "gnome", "rock-gnome", level=3))
    r = skill_check(sheet, "arcana", resolve_dc(difficulty="medium"), seed=2)
    assert r.modifier == sheet.skills["arcana"].modifier
