"""The offline procedural backend: deterministic under the seed, honest provenance, grounded in the context."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mesh.settings import Settings
from mesh.text import ContextItem, GenParams, ModelOutputInvalid, build_prompt, get_text_model
from mesh.text.procedural import ProceduralBackend
from mesh.text.schema import validate_json
from mesh.text.vllm import VLLMBackend

LORE = (
    ContextItem(
        "The Gull Tower has stood empty since the Long Winter of 1102.", title="Gull Tower", source="lore"
    ),
    ContextItem(
        "Mara the innkeeper hides the lost signet of House Varrow.", title="Mara", source="pinned", priority=0
    ),
)


def narrate_prompt(model: ProceduralBackend, action: str = "I climb the tower") -> Any:
    prompt, _ = build_prompt(
        model, "narrate", {"action": action, "actor": "Aria", "tone": "", "audience": "player"}, LORE, 300
    )
    return prompt


async def text_of(model: ProceduralBackend, seed: int, action: str = "I climb the tower") -> tuple[str, Any]:
    chunks = [c async for c in model.stream(narrate_prompt(model, action), GenParams(seed=seed))]
    assert chunks[-1].done and all(not c.done for c in chunks[:-1])
    return "".join(c.text for c in chunks), chunks[-1]


def test_factory_picks_procedural_without_urls_and_vllm_with_them() -> None:
    assert isinstance(get_text_model(Settings(vllm_urls=[])), ProceduralBackend)
    model = get_text_model(Settings(vllm_urls="http://127.0.0.1:9/v1, http://127.0.0.1:10"))
    assert isinstance(model, VLLMBackend)
    assert [e.base_url for e in model.pool.endpoints] == ["http://127.0.0.1:9", "http://127.0.0.1:10"]


async def test_same_seed_same_text_different_seed_different_text() -> None:
    model = ProceduralBackend()
    a1, _ = await text_of(model, 42)
    a2, _ = await text_of(model, 42)
    others = {(await text_of(model, s))[0] for s in (1, 2, 3, 4)}
    assert a1 == a2
    assert len(others | {a1}) == 5


async def test_narration_quotes_the_context_and_is_marked_procedural() -> None:
    model = ProceduralBackend()
    text, last = await text_of(model, 9)
    assert "Gull Tower has stood empty since the Long Winter of 1102" in text
    # The pinned overview is told only when the action asks about it.
    assert "Mara the innkeeper hides the lost signet" not in text
    asked, _ = await text_of(model, 9, action="I ask Mara the innkeeper about the lost signet")
    assert "Mara the innkeeper hides the lost signet" in asked
    assert "you climb the tower" in text and '"' not in text.split("\n")[0]
    info = last.info
    assert (info.backend, info.procedural, info.seed, info.prompt_tokens, info.completion_tokens) == (
        "procedural",
        True,
        9,
        0,
        0,
    )
    assert last.finish_reason == "stop"


async def test_streams_in_several_chunks_and_respects_max_tokens() -> None:
    model = ProceduralBackend()
    chunks = [c async for c in model.stream(narrate_prompt(model), GenParams(seed=3, max_tokens=20))]
    text = "".join(c.text for c in chunks)
    assert len(chunks) > 3
    assert chunks[-1].finish_reason == "length"
    assert model.count_tokens(text) <= 20


async def test_plot_twist_json_is_valid_and_names_known_cast() -> None:
    from narrative_svc.twists import TWIST_SCHEMA, cast_check

    model = ProceduralBackend()
    variables = {"situation": "a feast", "npcs": ["Mara", "Tolk"], "factions": ["House Varrow"]}
    prompt, mt = build_prompt(model, "plot_twist", variables, LORE, 600)
    result = await model.complete_json(
        prompt,
        TWIST_SCHEMA,
        GenParams(seed=5, max_tokens=mt),
        check=cast_check(["Mara", "Tolk"], ["House Varrow"]),
    )
    assert validate_json(json.dumps(result.data), TWIST_SCHEMA)[0] is not None
    assert set(result.data["affected_npcs"]) <= {"Mara", "Tolk"}
    assert result.data["affected_factions"] == ["House Varrow"]
    assert result.info.procedural and not result.fallback
    again = await model.complete_json(prompt, TWIST_SCHEMA, GenParams(seed=5, max_tokens=mt))
    assert again.data == result.data


async def test_generic_schema_filler_and_caller_fallback() -> None:
    model = ProceduralBackend()
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string", "maxLength": 30, "minLength": 3},
            "mood": {"enum": ["calm", "angry"]},
            "tags": {
                "type": "array",
                "items": {"type": "string", "maxLength": 10},
                "minItems": 1,
                "maxItems": 3,
            },
            "age": {"type": "integer", "minimum": 18, "maximum": 90},
        },
        "required": ["name", "mood", "tags", "age"],
        "additionalProperties": False,
    }
    prompt = model.prompts.prompt(
        "narrate", {"action": "x", "actor": "", "tone": "", "audience": "player"}, LORE
    )
    from dataclasses import replace

    generic = await model.complete_json(replace(prompt, task="npc"), schema, GenParams(seed=1))
    assert validate_json(json.dumps(generic.data), schema)[0] is not None
    own = await model.complete_json(
        prompt,
        schema,
        GenParams(seed=1),
        fallback=lambda seed: {"name": "Orla", "mood": "calm", "tags": ["sailor"], "age": 40 + seed % 10},
    )
    assert own.fallback and own.info.procedural and own.data["name"] == "Orla" and own.data["age"] == 41


async def test_invalid_fallback_is_a_caller_bug() -> None:
    model = ProceduralBackend()
    prompt = model.prompts.prompt("narrate", {"action": "x", "actor": "", "tone": "", "audience": "player"})
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    with pytest.raises(ValueError, match="violates its own schema"):
        await model.complete_json(prompt, schema, GenParams(seed=1), fallback=lambda seed: {"n": "three"})
    assert issubclass(ModelOutputInvalid, Exception)
