"""The turn planner with a model server configured: the text layer's JSON-schema call, rules as the fallback."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest_asyncio

from gateway.planner import PLAN_SCHEMA, Planner, plan_by_rules
from mesh.settings import Settings
from mesh.text import TextModel, get_text_model
from tests.gateway.slow_model import SlowModel

PLAN = {
    "encounter": False,
    "npc": True,
    "item": False,
    "terrain": "urban",
    "difficulty": "medium",
    "theme": "",
    "npc_archetype": "sage",
    "reasons": ["the player asks the fire for company: a storyteller joins"],
    "check_kind": "",
    "check_what": "",
    "check_difficulty": "",
}


@pytest_asyncio.fixture(loop_scope="package")
async def served() -> AsyncIterator[tuple[SlowModel, TextModel]]:
    with SlowModel(delay_s=0.1) as server:
        model = get_text_model(Settings(vllm_urls=[server.url], text_timeout_s=5, text_connect_timeout_s=1))
        await model.start()
        try:
            yield server, model
        finally:
            await model.close()


async def test_model_decides_with_the_plan_schema(served: tuple[SlowModel, TextModel]) -> None:
    server, model = served
    server.answers.append(json.dumps(PLAN))
    plan = await Planner(model).plan("I sit by the fire", seed=3)
    assert plan.source == "model" and plan.npc and plan.npc_archetype == "sage" and not plan.encounter
    assert plan_by_rules("I sit by the fire").npc is False  # the model, not the rules, decided
    body = server.bodies[-1]
    assert body["response_format"]["json_schema"]["schema"] == PLAN_SCHEMA  # type: ignore[index]
    assert "I sit by the fire" in json.dumps(body["messages"])


async def test_invalid_answers_fall_back_to_the_rules(served: tuple[SlowModel, TextModel]) -> None:
    server, model = served
    server.answers += [
        "not json at all",
        json.dumps({**PLAN, "difficulty": "apocalyptic"}),
    ]  # answer, then repair
    plan = await Planner(model).plan("I draw my sword and attack the bandits", seed=4)
    assert plan == plan_by_rules("I draw my sword and attack the bandits")
    assert plan.source == "rules" and plan.encounter


async def test_unreachable_model_server_falls_back_to_the_rules() -> None:
    with SlowModel() as server:
        url = server.url
    model = get_text_model(
        Settings(vllm_urls=[url], text_timeout_s=2, text_connect_timeout_s=0.5, text_max_attempts=1)
    )
    await model.start()
    try:
        plan = await Planner(model).plan("I search the chest", seed=5)
    finally:
        await model.close()
    assert plan.source == "rules" and plan.item
