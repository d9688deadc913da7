"""NPC prose through the real vLLM backend: a dead server degrades to the procedural writer (and says so); the
tiny random-weight vLLM server answers against the schema, and whatever it writes, the numbers stay computed."""

from __future__ import annotations

import pytest

from mesh.text.local_vllm import LocalVLLM
from mesh.text.vllm import VLLMBackend
from npc_svc.builder import NpcGenerator
from npc_svc.choices import NpcRequest
from npc_svc.prose import check_prose

REQ = NpcRequest(archetype="priest", culture="brinefolk", challenge_rating=2, seed=21)


async def test_unreachable_model_server_falls_back_to_procedural(generator: NpcGenerator) -> None:
    dead = VLLMBackend(
        ["http://127.0.0.1:9/v1"], model="tiny", context_window=4096, max_attempts=1, timeout_s=2
    )
    try:
        result = await NpcGenerator(generator.worlds, generator.srd, generator.spells, text=dead).generate(
            "", REQ
        )
    finally:
        await dead.close()
    plain = (await generator.generate("", REQ)).npc
    assert result.info.procedural and result.prose_replaced
    assert result.npc.prose == plain.prose and result.npc.stat_block == plain.stat_block


@pytest.mark.vllm
@pytest.mark.slow
async def test_tiny_vllm_prose_keeps_every_number(vllm_server: LocalVLLM, generator: NpcGenerator) -> None:
    server = vllm_server
    model = VLLMBackend([server.base_url + "/v1"], load_poll_s=0.2, backoff_initial_s=0.01)
    await model.start()
    try:
        result = await NpcGenerator(generator.worlds, generator.srd, generator.spells, text=model).generate(
            "", REQ
        )
    finally:
        await model.close()
    plain = (await generator.generate("", REQ)).npc
    assert result.npc.stat_block == plain.stat_block and result.npc.name == plain.name
    if result.prose_replaced:  # the random model's answer failed the schema or the check twice
        assert result.info.procedural and result.npc.prose == plain.prose
    else:
        assert result.info.backend == "vllm" and not result.info.procedural
        assert check_prose(result.npc.prose.as_dict(), result.npc.stat_block) == []
    print(f"\nvLLM NPC prose: replaced={result.prose_replaced} repaired={result.prose_repaired}")
    print(f"  info={result.info}\n  problems={result.prose_problems}")
