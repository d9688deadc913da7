"""A character's words during a fight as the action it declares (pure: no services)."""

from __future__ import annotations

import json

from dungeonmaster.v1 import encounter_pb2
from gateway.combat_turn import declare

SHEET = json.dumps(
    {
        "attacks": [
            {"index": "longsword", "name": "Longsword", "ranged": False},
            {"index": "longbow", "name": "Longbow", "ranged": True},
        ]
    }
)
MELEE_ONLY = json.dumps({"attacks": [{"index": "mace", "name": "Mace", "ranged": False}]})


def _state(goblin_at: str = "engaged", hero_at: str = "engaged") -> encounter_pb2.CombatState:
    people = [
        encounter_pb2.Combatant(id="7", name="Ash", side="party", hit_points=20, position=hero_at),
        encounter_pb2.Combatant(
            id="m:goblin-1", name="Goblin 1", side="foes", hit_points=7, position=goblin_at, source="goblin"
        ),
        encounter_pb2.Combatant(
            id="m:orc-1", name="Orc 1", side="foes", hit_points=15, position="engaged", source="orc"
        ),
        encounter_pb2.Combatant(
            id="m:wolf-1", name="Wolf 1", side="foes", hit_points=0, dead=True, source="wolf"
        ),
    ]
    return encounter_pb2.CombatState(
        combat_id="c", order=["m:wolf-1", "7", "m:goblin-1", "m:orc-1"], current="7", combatants=people
    )


def test_a_spell_is_cast_at_the_foe_named() -> None:
    action = declare("I cast Fire Bolt at the orc!", _state(), "7", SHEET)
    assert (action.kind, action.spell, list(action.targets)) == ("cast", "fire bolt", ["m:orc-1"])


def test_an_attack_uses_the_weapon_named_or_one_that_reaches() -> None:
    assert declare("I swing my longsword at the goblin", _state(), "7", SHEET).weapon == "longsword"
    named = declare("I attack the goblin", _state(), "7", SHEET)
    assert (named.kind, named.weapon, list(named.targets)) == ("attack", "longsword", ["m:goblin-1"])
    # The goblin is off the melee line: the bow reaches it.
    far = declare("I attack the goblin", _state(goblin_at="near"), "7", SHEET)
    assert (far.weapon, list(far.targets)) == ("longbow", ["m:goblin-1"])
    # No foe named: the first engaged standing foe in initiative order (the dead wolf is skipped).
    assert list(declare("I attack", _state(), "7", SHEET).targets) == ["m:goblin-1"]


def test_a_melee_fighter_out_of_reach_steps_up_and_simple_actions_are_named() -> None:
    step = declare("I attack the goblin", _state(goblin_at="near", hero_at="near"), "7", MELEE_ONLY)
    assert (step.kind, step.position) == ("move", "engaged")
    assert declare("I dodge behind my shield", _state(), "7", SHEET).kind == "dodge"
    assert declare("I use my second wind", _state(), "7", SHEET).kind == "second_wind"
    assert all(declare(t, _state(), "7", SHEET).end_turn for t in ("I attack", "I dash", "I cast fire bolt"))


def test_words_spoken_mid_fight_pass_the_turn_instead_of_striking() -> None:
    for words in ("I ask Janke about the tunnel under the inn", "I shout to the orc to surrender"):
        action = declare(words, _state(), "7", SHEET)
        assert (action.kind, action.weapon, list(action.targets)) == ("end_turn", "", []), words
    # Words that also strike, or name a weapon, are still an attack.
    assert declare("I shout a war cry and attack the orc", _state(), "7", SHEET).kind == "attack"
    assert declare("I tell the goblin to taste my longsword", _state(), "7", SHEET).kind == "attack"
