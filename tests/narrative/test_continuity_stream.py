"""The continuity guard in narrative_svc's stream, against a scripted model server speaking OpenAI's SSE protocol."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import pytest

from dungeonmaster.v1 import memory_pb2, narrative_pb2
from tests.narrative.conftest import Mesh
from tests.narrative.scripted_model import ScriptedModel

DEAD = memory_pb2.ContextPiece(
    source=memory_pb2.CONTEXT_SOURCE_CHARACTER_STATE,
    source_id="char-9",
    title="Captain Aldric Voss",
    text="Captain Aldric Voss (NPC, human veteran level 5): HP 0/58; conditions: dead.",
)
STREAM = [
    "The tavern ",
    "falls quiet. ",
    "Captain Voss ",
    "steps forward ",
    'and says, "You ',
    'owe me 30 gold." ',
    "Rain drums on ",
    "the roof.",
]
REPAIRED = "Captain Voss's empty chair creaks in the draught, and somebody mutters that he owed 30 gold."


async def narrate(
    mesh: Mesh, request: narrative_pb2.NarrateRequest
) -> list[tuple[float, narrative_pb2.NarrateResponse]]:
    return [(time.monotonic(), m) async for m in mesh.stub.Narrate(request, timeout=20)]


async def test_a_dead_npc_speaking_is_repaired_before_the_client_sees_it(
    start_narrative: Callable[..., AbstractAsyncContextManager[Mesh]], caplog: pytest.LogCaptureFixture
) -> None:
    with ScriptedModel(streams=[STREAM], answers=[REPAIRED], pause_s=0.05) as model:
        async with start_narrative(vllm_urls=[model.url], text_load_poll_s=0.2) as mesh:
            mesh.memory.add_campaign("c1")
            request = narrative_pb2.NarrateRequest(
                campaign_id="c1", action="I wait by the fire", context=[DEAD], seed=5, max_tokens=200
            )
            with caplog.at_level(logging.WARNING, logger="narrative_svc.continuity"):
                arrivals = await narrate(mesh, request)
    messages = [m for _, m in arrivals]
    text = "".join(m.text for m in messages)
    assert messages[-1].done and messages[-1].info.backend == "vllm"
    # The sentence in which the dead speak never reached the client; its repair did, in its place.
    assert "steps forward" not in text and "You owe me" not in text
    assert text == f"The tavern falls quiet. {REPAIRED} Rain drums on the roof."
    # Held back only a sentence at a time: the first sentence arrived before the model had finished.
    first = next(t for t, m in arrivals if m.text)
    assert first < model.sent[-1][0]
    # The repair prompt stated the fact; the repair is logged with it and recorded with the narration.
    repair_prompt = json.dumps(model.bodies[-1])
    assert "Captain Aldric Voss is dead." in repair_prompt
    logged = [r for r in caplog.records if getattr(r, "continuity_fact", None)]
    assert [(r.continuity_fact, r.continuity_action) for r in logged] == [  # type: ignore[attr-defined]
        ("Captain Aldric Voss is dead.", "regenerated")
    ]
    narration = mesh.memory.campaigns["c1"].events[-1]
    assert narration.kind == memory_pb2.EVENT_KIND_DM_NARRATION and narration.content == text
    repairs = json.loads(narration.metadata_json)["continuity_repairs"]
    assert repairs[0]["fact"] == "Captain Aldric Voss is dead." and repairs[0]["rule"] == "dead-acts"


async def test_a_repair_that_still_contradicts_is_dropped_and_numbers_are_kept_or_dropped_whole(
    start_narrative: Callable[..., AbstractAsyncContextManager[Mesh]],
) -> None:
    # The rewrite still has the dead man talking, then one that changes the rules' number: both are refused.
    answers = ['Voss says, "You owe me 30 gold."', "A voice in the rafters demands 40 gold."]
    with ScriptedModel(streams=[STREAM, STREAM], answers=answers) as model:
        async with start_narrative(vllm_urls=[model.url], text_load_poll_s=0.2) as mesh:
            for seed in (1, 2):
                request = narrative_pb2.NarrateRequest(action="I wait", context=[DEAD], seed=seed)
                messages = [m for _, m in await narrate(mesh, request)]
                assert "".join(m.text for m in messages) == "The tavern falls quiet. Rain drums on the roof."


async def test_guard_off_lets_the_model_text_through(
    start_narrative: Callable[..., AbstractAsyncContextManager[Mesh]],
) -> None:
    with ScriptedModel(streams=[STREAM]) as model:
        async with start_narrative(
            vllm_urls=[model.url], text_load_poll_s=0.2, narrative_continuity_guard=False
        ) as mesh:
            request = narrative_pb2.NarrateRequest(action="I wait", context=[DEAD], seed=3)
            messages = [m for _, m in await narrate(mesh, request)]
    assert "".join(m.text for m in messages) == "".join(STREAM)


async def test_the_optional_model_judge_catches_what_the_rules_pass(
    start_narrative: Callable[..., AbstractAsyncContextManager[Mesh]], caplog: pytest.LogCaptureFixture
) -> None:
    stream = ["The fog lifts. ", "The bridge to Highcrag ", "stands whole and proud. ", "Crows call."]
    answers = [
        '{"contradicts": false, "fact": ""}',
        '{"contradicts": true, "fact": "The bridge to Highcrag was burned."}',
        "The charred bridge to Highcrag is still smoking.",
        '{"contradicts": false, "fact": ""}',
    ]
    with ScriptedModel(streams=[stream], answers=answers) as model:
        async with start_narrative(
            vllm_urls=[model.url], text_load_poll_s=0.2, narrative_continuity_judge=True
        ) as mesh:
            request = narrative_pb2.NarrateRequest(action="I look around", context=[DEAD], seed=8)
            with caplog.at_level(logging.WARNING, logger="narrative_svc.continuity"):
                messages = [m for _, m in await narrate(mesh, request)]
    text = "".join(m.text for m in messages)
    assert text == "The fog lifts. The charred bridge to Highcrag is still smoking. Crows call."
    judged = [
        json.dumps(b)
        for b in model.bodies
        if "continuity record" in json.dumps(b) or "Record:" in json.dumps(b)
    ]
    assert len(judged) == 3 and all("Captain Aldric Voss is dead." in b for b in judged)
    logged = [r for r in caplog.records if getattr(r, "continuity_fact", None)]
    assert [r.continuity_fact for r in logged] == ["The bridge to Highcrag was burned."]  # type: ignore[attr-defined]
