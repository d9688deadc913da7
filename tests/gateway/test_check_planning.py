"""The planner decides which check an action calls for: the SRD skills, the DC from the situation, no roll
when the outcome is certain, and the same fields through the model's JSON schema."""

from __future__ import annotations

import json

import pytest

from gateway.check_rules import SKILLS, check_difficulty, check_for
from gateway.planner import PLAN_SCHEMA, Planner, plan_by_rules
from mesh.settings import Settings
from mesh.text import get_text_model
from rules.checks import DIFFICULTY_DC
from rules.classes import load_character_data
from tests.gateway.slow_model import SlowModel

#: action -> (kind, skill or ability): at least one action for each of the 18 SRD skills.
MAPPING: list[tuple[str, str, str]] = [
    ("I search the body for clues", "skill", "investigation"),
    ("I examine the strange mural", "skill", "investigation"),
    ("I climb the cliff", "skill", "athletics"),
    ("I jump across the chasm", "skill", "athletics"),
    ("I swim to the far bank", "skill", "athletics"),
    ("I try to persuade the guard to let us through", "skill", "persuasion"),
    ("I sneak past the sleeping ogre", "skill", "stealth"),
    ("I hide behind the crates", "skill", "stealth"),
    ("I try to recall the history of the ruined keep", "skill", "history"),
    ("Do I recall anything about the runes on the portal?", "skill", "arcana"),
    ("I recall what I know about the god of the drowned shrine", "skill", "religion"),
    ("I listen at the door", "skill", "perception"),
    ("I lie to the captain about our cargo", "skill", "deception"),
    ("I threaten the smuggler with the noose", "skill", "intimidation"),
    ("I pick the lock of the chest", "ability", "dex"),
    ("I pickpocket the merchant", "skill", "sleight-of-hand"),
    ("I follow the tracks into the marsh", "skill", "survival"),
    ("I search for tracks near the well", "skill", "survival"),
    ("I balance along the narrow ledge", "skill", "acrobatics"),
    ("I calm the horse before it bolts", "skill", "animal-handling"),
    ("I tend to his wounds", "skill", "medicine"),
    ("I identify the herb growing by the stream", "skill", "nature"),
    ("I read her intentions as she speaks", "skill", "insight"),
    ("I sing a tavern song for coin", "skill", "performance"),
]

CERTAIN = [
    "I walk to the inn",
    "I sit by the fire and eat my stew",
    "I greet the innkeeper",
    "I lie down to rest",
    "I draw my sword and attack the bandits",  # a fight: combat decides it, not a check
]


@pytest.mark.parametrize(("action", "kind", "what"), MAPPING)
def test_actions_map_to_the_srd_check(action: str, kind: str, what: str) -> None:
    plan = plan_by_rules(action)
    assert (plan.check_kind, plan.check_what) == (kind, what), plan
    assert plan.check is not None and plan.check_difficulty in DIFFICULTY_DC
    assert any("check" in reason for reason in plan.reasons), plan.reasons


def test_the_table_covers_every_srd_skill() -> None:
    assert set(SKILLS) == set(load_character_data().skills)
    assert {what for _, kind, what in MAPPING if kind == "skill"} == set(SKILLS)


@pytest.mark.parametrize("action", CERTAIN)
def test_certain_actions_need_no_check(action: str) -> None:
    plan = plan_by_rules(action)
    assert plan.check is None and plan.check_kind == "" and check_for(action) is None


@pytest.mark.parametrize(
    ("action", "difficulty", "dc"),
    [
        ("I climb the cliff", "medium", 15),
        ("I climb the low wall", "easy", 10),
        ("I climb the sheer cliff", "hard", 20),
        ("I climb the icy tower", "very_hard", 25),
        ("I jump the impossible gap", "nearly_impossible", 30),
    ],
)
def test_the_dc_comes_from_the_situation(action: str, difficulty: str, dc: int) -> None:
    assert check_difficulty(action) == difficulty
    assert plan_by_rules(action).check_difficulty == difficulty
    assert DIFFICULTY_DC[difficulty] == dc  # the DMG's ladder


def test_rules_are_deterministic_and_schema_valid() -> None:
    from mesh.text.schema import validate_json

    for action, _, _ in MAPPING:
        plan = plan_by_rules(action)
        assert plan == plan_by_rules(action)
        data, problems = validate_json(json.dumps(plan.as_json()), PLAN_SCHEMA, None)
        assert data is not None, problems


async def test_the_model_plans_checks_through_the_same_schema() -> None:
    answer = {
        **plan_by_rules("I walk to the inn").as_json(),
        "check_kind": "skill",
        "check_what": "acrobatics",
        "check_difficulty": "hard",
        "reasons": ["the floor is slick with oil"],
    }
    bogus = {**answer, "check_kind": "skill", "check_what": "dex"}  # a skill check naming an ability
    with SlowModel(delay_s=0.1) as server:
        server.answers += [json.dumps(answer), json.dumps(bogus)]
        model = get_text_model(Settings(vllm_urls=[server.url], text_timeout_s=5, text_connect_timeout_s=1))
        await model.start()
        try:
            planned = await Planner(model).plan("I cross the oily floor", seed=7)
            inconsistent = await Planner(model).plan("I cross the oily floor", seed=8)
        finally:
            await model.close()
    assert planned.source == "model"
    assert (planned.check_kind, planned.check_what, planned.check_difficulty) == (
        "skill",
        "acrobatics",
        "hard",
    )
    assert inconsistent.source == "model" and inconsistent.check is None
    schema = server.bodies[0]["response_format"]["json_schema"]["schema"]  # type: ignore[index]
    assert set(schema["required"]) >= {"check_kind", "check_what", "check_difficulty"}
