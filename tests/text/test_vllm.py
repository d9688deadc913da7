"""The vLLM backend against a real (tiny, random-weight) vLLM server: streaming, structured output, concurrency,
retries and deadlines (cancellation is shown end to end in tests/narrative). The text is gibberish; the protocol is
real."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from mesh import context as call_context
from mesh.errors import DeadlineExceeded
from mesh.metrics import REGISTRY
from mesh.text import GenParams, ModelOutputInvalid, Prompt, build_prompt
from mesh.text.local_vllm import LocalVLLM
from mesh.text.schema import validate_json
from mesh.text.types import Message
from mesh.text.vllm import ModelRequestRejected, VLLMBackend

# The first test may build .vllm-venv (about 3 minutes) and start the server: allow well over the default.
pytestmark = [pytest.mark.vllm, pytest.mark.slow, pytest.mark.timeout(900)]

DEAD = "http://127.0.0.1:9"  # port 9 (discard) has no listener on loopback: connection refused at once

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 24},
        "mood": {"enum": ["calm", "wary", "angry"]},
        "age": {"type": "integer", "minimum": 16, "maximum": 90},
        "hooks": {
            "type": "array",
            "items": {"type": "string", "maxLength": 20},
            "minItems": 1,
            "maxItems": 3,
        },
    },
    "required": ["name", "mood", "age", "hooks"],
    "additionalProperties": False,
}


def prompt(text: str = "Describe the innkeeper.", task: str = "npc") -> Prompt:
    return Prompt(task, (Message("system", "You are a game master."), Message("user", text)))


@pytest.fixture
async def backend(vllm_server: LocalVLLM) -> AsyncIterator[VLLMBackend]:
    model = VLLMBackend([vllm_server.base_url + "/v1"], load_poll_s=0.2, backoff_initial_s=0.01)
    await model.start()
    try:
        yield model
    finally:
        await model.close()


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_discovers_model_window_and_tokenizer(backend: VLLMBackend, vllm_server: LocalVLLM) -> None:
    assert backend.model == "tiny"
    assert backend.context_window == vllm_server.max_model_len == 2048
    assert await backend.ready() == (True, "")
    # The calibrated estimate never under-counts the real tokenizer on a real prompt.
    p, _ = build_prompt(
        backend,
        "narrate",
        {"action": "I open the gate", "actor": "Aria", "tone": "", "audience": "player"},
        (),
        100,
    )
    answer = await backend._post(
        backend.pool.endpoints[0],
        "/tokenize",
        {"model": "tiny", "messages": [{"role": m.role, "content": m.content} for m in p.messages]},
        time.monotonic() + 5,
    )
    assert backend.count_messages(p.messages) >= answer["count"]


async def test_streams_several_chunks_with_usage_and_provenance(backend: VLLMBackend) -> None:
    before = metric("dm_text_tokens_total", backend="vllm", model="tiny", kind="completion")
    chunks = [c async for c in backend.stream(prompt(), GenParams(max_tokens=24, seed=5, temperature=1.0))]
    assert len(chunks) >= 4 and chunks[-1].done and not any(c.done for c in chunks[:-1])
    info = chunks[-1].info
    assert info is not None
    assert (info.backend, info.model, info.seed, info.procedural) == ("vllm", "tiny", 5, False)
    assert info.prompt_tokens > 0 and 0 < info.completion_tokens <= 24
    assert chunks[-1].finish_reason in ("stop", "length")
    after = metric("dm_text_tokens_total", backend="vllm", model="tiny", kind="completion")
    assert after - before == info.completion_tokens
    again = [c async for c in backend.stream(prompt(), GenParams(max_tokens=24, seed=5, temperature=1.0))]
    assert "".join(c.text for c in again) == "".join(c.text for c in chunks), "same seed, same text"


async def test_structured_outputs_all_validate(backend: VLLMBackend) -> None:
    results = await asyncio.gather(
        *(
            backend.complete_json(
                prompt(f"Invent NPC number {i}."), SCHEMA, GenParams(max_tokens=150, seed=100 + i)
            )
            for i in range(24)
        )
    )
    assert len(results) == 24
    for r in results:
        assert validate_json(json.dumps(r.data), SCHEMA)[0] is not None
        assert not r.fallback and not r.info.procedural and r.info.backend == "vllm"
    first_try = sum(not r.repaired for r in results)
    assert first_try == 24, f"guidance backend: every first answer strictly valid ({first_try}/24)"


async def test_invalid_answer_is_repaired_once_then_falls_back(backend: VLLMBackend) -> None:
    calls: list[dict[str, Any]] = []

    def never_happy(data: dict[str, Any]) -> list[str]:
        calls.append(data)
        return ["age: the rules engine computed 42; keep it"]

    result = await backend.complete_json(
        prompt(),
        SCHEMA,
        GenParams(max_tokens=150, seed=3),
        check=never_happy,
        fallback=lambda seed: {"name": "Orla", "mood": "calm", "age": 42, "hooks": ["a debt"]},
    )
    assert len(calls) == 2, "the first answer and exactly one repair"
    assert result.fallback and result.info.procedural and result.info.backend == "procedural"
    assert result.data["age"] == 42 and len(result.problems) == 2
    assert result.info.completion_tokens > 0, "the model's spent tokens are still reported"
    with pytest.raises(ModelOutputInvalid) as err:
        await backend.complete_json(prompt(), SCHEMA, GenParams(max_tokens=150, seed=3), check=never_happy)
    assert err.value.reason == "MODEL_OUTPUT_INVALID"


async def test_refused_connection_fails_over_before_the_first_token(vllm_server: LocalVLLM) -> None:
    model = VLLMBackend([DEAD, vllm_server.base_url], load_poll_s=0, backoff_initial_s=0.01)
    await model.start()
    try:
        before = metric("dm_text_failovers_total", phase="before_first_token")
        for seed in range(6):
            chunks = [c async for c in model.stream(prompt(), GenParams(max_tokens=8, seed=seed))]
            assert chunks[-1].info is not None and chunks[-1].info.backend == "vllm"
        dead, live = model.pool.endpoints
        assert live.served >= 0 and dead.failures >= 1 and not dead.discovered
        assert metric("dm_text_failovers_total", phase="before_first_token") >= before
    finally:
        await model.close()


async def test_a_4xx_answer_is_not_retried(vllm_server: LocalVLLM) -> None:
    live = vllm_server.base_url
    model = VLLMBackend([live, live + "/v1"], load_poll_s=0, backoff_initial_s=0.01)
    await model.start()
    try:
        before = metric("dm_text_requests_total", endpoint=live, outcome="rejected")
        with pytest.raises(ModelRequestRejected) as err:
            await model.complete(prompt(), GenParams(max_tokens=8, seed=1, top_p=7.0))
        assert "400" in str(err.value)
        assert metric("dm_text_requests_total", endpoint=live, outcome="rejected") - before == 1
    finally:
        await model.close()


async def test_deadline_of_the_incoming_call_bounds_the_request(backend: VLLMBackend) -> None:
    async def run() -> None:
        call_context.bind(timeout=0.15)
        async for _ in backend.stream(prompt(), GenParams(max_tokens=450, seed=2, temperature=1.0)):
            pass

    started = time.perf_counter()
    with pytest.raises(DeadlineExceeded):
        await asyncio.create_task(run())  # own context: the bound deadline does not leak into other tests
    assert time.perf_counter() - started < 2.0
