"""EvaluateEncounter's domain: the rating of a group the DM chose, with the whole breakdown."""

from __future__ import annotations

import pytest

from encounter_svc.builder import CreatureRef, evaluate_encounter, explain
from mesh.errors import InvalidArgument
from rules.difficulty import Difficulty


def test_known_case_by_monster_and_by_cr() -> None:
    # Five CR 1 creatures (bugbears) against three level-5 characters: 2,000 adjusted XP, Medium.
    groups, xp = evaluate_encounter([5, 5, 5], [CreatureRef(monster="bugbear", count=5)])
    assert groups[0].stat_block.name == "Bugbear" and groups[0].count == 5
    assert (xp.raw_xp, xp.multiplier, xp.adjusted_xp, xp.rating_2014) == (1000, 2.0, 2000, Difficulty.MEDIUM)
    _, by_cr = evaluate_encounter([5, 5, 5], [CreatureRef(challenge_rating=1, count=5)])
    assert by_cr == xp


def test_mixed_group_with_weak_creatures() -> None:
    refs = [CreatureRef(monster="adult-red-dragon"), CreatureRef(monster="kobold", count=6)]
    _, xp = evaluate_encounter([15] * 4, refs)
    assert xp.raw_xp == 18_000 + 6 * 25 and xp.monsters_counted == 1 and xp.multiplier == 1.0
    assert any("weak" in line for line in explain(xp))
    _, counted = evaluate_encounter([15] * 4, refs, count_weak=True)
    assert counted.multiplier == 2.5  # seven creatures


def test_party_size_shift_reported() -> None:
    _, xp = evaluate_encounter([8] * 7, [CreatureRef(monster="troll")])
    assert xp.multiplier == 0.5 and xp.adjusted_xp == 900
    assert "party-size shift" in explain(xp)[1]


@pytest.mark.parametrize(
    ("levels", "refs", "field"),
    [
        ([], [CreatureRef(monster="orc")], "party"),
        ([0], [CreatureRef(monster="orc")], "party[0].level"),
        ([21], [CreatureRef(monster="orc")], "party[0].level"),
        ([3], [], "creatures"),
        ([3], [CreatureRef(monster="beholder")], "creatures[0].monster"),
        (
            [3],
            [CreatureRef(monster="orc"), CreatureRef(challenge_rating=0.3)],
            "creatures[1].challenge_rating",
        ),
        ([3], [CreatureRef(monster="orc", count=0)], "creatures[0].count"),
        ([3], [CreatureRef(monster="orc", count=101)], "creatures[0].count"),
    ],
)
def test_bad_input(levels: list[int], refs: list[CreatureRef], field: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        evaluate_encounter(levels, refs)
    assert err.value.violations[0][0] == field
