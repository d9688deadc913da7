"""Bad input and illegal moves fail with errors naming the field or the rule, and record nothing."""

from __future__ import annotations

import pytest

from mesh.errors import DomainError, InvalidArgument
from rules.combat.actions import Declared
from rules.combat.engine import end_combat, take_action
from rules.combat.errors import CombatOver, IllegalAction, NotYourTurn
from tests.rules.combat.conftest import make_fight, patch, set_turn


def _refused(state, sources, declared: Declared) -> DomainError:  # type: ignore[no-untyped-def]
    before = state
    with pytest.raises(DomainError) as err:
        take_action(state, sources, declared)
    assert state == before  # nothing recorded: the state is a value and no event was returned
    return err.value


def test_out_of_turn_names_whose_turn_it_is() -> None:
    state, _, sources = make_fight()
    current = state.current
    other = next(c for c in state.order if c != current.id and c.startswith("pc:") and c != current.id)
    err = _refused(state, sources, Declared(other, "dodge"))
    assert isinstance(err, NotYourTurn)
    assert err.current == current.id and current.name in str(err)


def test_a_creature_at_zero_hit_points_cannot_act() -> None:
    state, _, sources = make_fight()
    state = set_turn(state, "pc:fighter")
    state = patch(state, "pc:fighter", hp=0, conditions=("unconscious",))
    err = _refused(state, sources, Declared("pc:fighter", "dodge"))
    assert isinstance(err, IllegalAction) and "0 hit points" in str(err)


def test_unknown_spell_weapon_item_kind_and_target_name_the_field() -> None:
    state, _, sources = make_fight()
    wiz = set_turn(state, "pc:wizard")
    foe = next(c for c in state.order if c.startswith("m:"))
    cases = [
        (wiz, Declared("pc:wizard", "cast", (foe,), spell="wish-for-victory"), "action.spell"),
        (
            wiz,
            Declared("pc:wizard", "cast", (foe,), spell="cure-wounds"),
            "action.spell",
        ),  # not a wizard spell
        (wiz, Declared("pc:wizard", "attack", (foe,), weapon="greatsword"), "action.weapon"),
        (wiz, Declared("pc:wizard", "attack", ("m:dragon-9",), weapon="dagger"), "action.targets[0]"),
        (wiz, Declared("pc:wizard", "use", (), item="elixir-of-life"), "action.item"),
        (wiz, Declared("pc:wizard", "juggle"), "action.kind"),
        (wiz, Declared("pc:nobody", "dodge"), "actor"),
        (
            wiz,
            Declared("pc:wizard", "cast", (foe,), spell="magic-missile", slot_level=12),
            "action.slot_level",
        ),
    ]
    for state_, declared, field in cases:
        err = _refused(state_, sources, declared)
        assert isinstance(err, InvalidArgument), (declared, err)
        assert err.violations[0][0] == field, (declared, err)


def test_no_slot_left_out_of_range_and_used_action_name_the_rule() -> None:
    state, _, sources = make_fight()
    foe = next(c for c in state.order if c.startswith("m:"))
    wiz = set_turn(state, "pc:wizard", slots=(0,) * 9)
    err = _refused(wiz, sources, Declared("pc:wizard", "cast", (foe,), spell="magic-missile"))
    assert isinstance(err, IllegalAction) and "no level 1 spell slot left" in str(err)
    assert "cast" in err.legal and "end_turn" in err.legal  # what is still possible
    far = patch(set_turn(state, "pc:wizard", position="far"), foe, position="far")
    err = _refused(far, sources, Declared("pc:wizard", "cast", (foe,), spell="burning-hands"))
    assert isinstance(err, IllegalAction) and "out of range" in str(err) and "15 ft" in str(err)
    used = set_turn(state, "pc:wizard", action_used=True)
    err = _refused(used, sources, Declared("pc:wizard", "dodge"))
    assert isinstance(err, IllegalAction) and "dodge is not possible now" in str(err)
    rogue = set_turn(state, "pc:rogue")
    err = _refused(rogue, sources, Declared("pc:rogue", "second_wind"))
    assert isinstance(err, IllegalAction)
    fighter = set_turn(state, "pc:fighter")
    err = _refused(fighter, sources, Declared("pc:fighter", "attack", (foe, foe), weapon="longsword"))
    assert isinstance(err, IllegalAction) and "2 attacks declared, 1 left" in str(err)


def test_a_finished_combat_takes_nothing() -> None:
    state, _, sources = make_fight()
    ended, events = end_combat(state, "the party parleys")
    assert ended.status == "ended" and events[0].text.endswith("the party parleys")
    with pytest.raises(CombatOver):
        take_action(ended, sources, Declared(ended.current.id, "dodge"))
