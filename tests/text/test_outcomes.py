"""Outcomes decided by the rules: the facts a model must honour and the offline writer's own telling of them."""

from __future__ import annotations

import random
import re

import pytest

from mesh.text.outcomes import DEGREES, Outcome, fact, load_tables, outcome_from_variables, tell
from mesh.text.procedural import ProceduralBackend
from mesh.text.procedural import load_tables as narration_tables
from mesh.text.templates import PromptLibrary
from mesh.text.types import GenParams
from rules.classes import load_character_data


def _lines(check: str, result: str) -> list[str]:
    skills = load_tables()["skills"]
    return [str(line) for line in (skills.get(check) or skills["default"])[result]]


def _told_as(text: str, check: str, actor: str) -> set[str]:
    """Which results' phrase lines (success/failure) of ``check`` appear in ``text``."""
    return {
        result
        for result in ("success", "failure")
        if any(line.format(actor=actor) in text for line in _lines(check, result))
    }


def test_every_srd_skill_has_its_own_success_and_failure_lines() -> None:
    skills = load_tables()["skills"]
    for skill in load_character_data().skills:
        assert skill in skills, skill
        success, failure = set(skills[skill]["success"]), set(skills[skill]["failure"])
        assert len(success) >= 2 and len(failure) >= 2 and not success & failure, skill


def test_tables_are_plain_prose() -> None:
    def walk(node: object) -> list[str]:
        if isinstance(node, dict):
            return [s for v in node.values() for s in walk(v)]
        if isinstance(node, list):
            return [s for v in node for s in walk(v)]
        return [str(node)]

    for line in walk(load_tables()):
        assert not re.search(r"[*_#`>\[\]]", line), line


@pytest.mark.parametrize("degree", DEGREES)
def test_tell_follows_the_result_and_colours_the_degree(degree: str) -> None:
    success = degree in ("critical", "success")
    outcome = Outcome("Bree", "investigation", success, degree, 25 if success else 3, 15)
    told = tell(outcome, random.Random(4))
    assert _told_as(told, "investigation", "Bree") == {"success" if success else "failure"}
    tables = load_tables()
    assert any(line in told for line in tables["critical"]) == (degree == "critical")
    assert any(line in told for line in tables["fumble"]) == (degree == "fumble")


def test_tell_is_deterministic_under_the_seed_and_varied_across_seeds() -> None:
    outcome = Outcome("Ash", "athletics", True, "success", 17, 15)
    assert tell(outcome, random.Random(9)) == tell(outcome, random.Random(9))
    assert len({tell(outcome, random.Random(seed)) for seed in range(20)}) >= 2


def test_ability_checks_and_unknown_checks_are_told_too() -> None:
    lock = Outcome("Bree", "dex", False, "failure", 9, 15)
    assert lock.label == "Dexterity" and _told_as(tell(lock, random.Random(1)), "dex", "Bree") == {"failure"}
    odd = Outcome("Cor", "con", True, "success", 16, 10)
    assert _told_as(tell(odd, random.Random(1)), "default", "Cor") == {"success"}
    assert Outcome("Bree", "sleight-of-hand", True, "success").label == "Sleight of Hand"


def test_fact_states_the_result_for_the_model() -> None:
    text = fact(Outcome("Bree", "investigation", False, "fumble", 4, 15))
    assert text == "Bree's Investigation check (4 against DC 15) is a bad failure: the attempt fails."
    assert "succeeds" in fact(Outcome("Ash", "athletics", True, "critical", 26, 15))


def test_variables_round_trip() -> None:
    outcome = Outcome("Bree", "stealth", True, "success", 18, 15)
    assert outcome_from_variables(outcome.as_variables()) == outcome
    assert outcome_from_variables({"actor": "x"}) is None


def test_the_model_prompt_carries_the_outcome_as_a_fact_it_must_honour() -> None:
    outcome = Outcome("Bree", "investigation", False, "failure", 11, 15)
    messages = PromptLibrary().messages(
        "narrate",
        {
            "action": "I search the body",
            "actor": "Bree",
            "tone": "",
            "audience": "player",
            "outcomes": [outcome.as_variables()],
        },
        (),
    )
    user = messages[-1].content
    assert fact(outcome) in user and "never the opposite" in user
    bare = PromptLibrary().messages(
        "narrate", {"action": "I walk", "actor": "Bree", "tone": "", "audience": "player"}, ()
    )
    assert "already decided" not in bare[-1].content


@pytest.mark.parametrize("success", [True, False])
async def test_offline_narration_tells_the_outcome_instead_of_a_generic_closer(success: bool) -> None:
    backend = ProceduralBackend()
    outcome = Outcome("Bree", "investigation", success, "success" if success else "failure", 15, 15)
    consequences = [str(c) for c in narration_tables("narration")["consequences"]]
    for seed in range(1, 13):
        prompt = backend.prompts.prompt(
            "narrate",
            {
                "action": "I search the body for clues",
                "actor": "Bree",
                "tone": "",
                "audience": "player",
                "outcomes": [outcome.as_variables()],
            },
        )
        text, _ = backend.write(prompt, GenParams(max_tokens=400, seed=seed))
        assert _told_as(text, "investigation", "Bree") == {"success" if success else "failure"}, text
        assert not any(c in text for c in consequences), text
        sentences = [s for s in re.split(r"(?<=[.!?])\s+", text) if s]
        assert len(sentences) == len(set(sentences)), text
