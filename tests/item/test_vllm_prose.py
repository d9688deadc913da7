"""Item prose through the real vLLM backend (tiny random-weight model): the mechanics never change."""

from __future__ import annotations

import pytest

from item_svc.forge import ItemForge
from item_svc.generator import ItemRequest
from item_svc.prose import number_problems
from mesh.text.local_vllm import LocalVLLM
from mesh.text.vllm import VLLMBackend
from rules.items import ItemKind, Rarity

REQ = ItemRequest(ItemKind.WAND, Rarity.RARE, theme="orrathi", seed=4)


async def test_unreachable_model_server_falls_back_to_procedural(forge: ItemForge) -> None:
    dead = VLLMBackend(
        ["http://127.0.0.1:9/v1"], model="tiny", context_window=4096, max_attempts=1, timeout_s=2
    )
    try:
        item = await ItemForge(forge.worlds_dir, forge.default_world, forge.generator, text=dead).generate(
            "", REQ
        )
    finally:
        await dead.close()
    plain = await forge.generate("", REQ)
    assert item.info.procedural and item.prose_replaced and item.prose == plain.prose


@pytest.mark.vllm
@pytest.mark.slow
async def test_tiny_vllm_item_prose_keeps_the_mechanics(vllm_server: LocalVLLM, forge: ItemForge) -> None:
    server = vllm_server
    model = VLLMBackend([server.base_url + "/v1"], load_poll_s=0.2, backoff_initial_s=0.01)
    await model.start()
    try:
        item = await ItemForge(forge.worlds_dir, forge.default_world, forge.generator, text=model).generate(
            "", REQ
        )
    finally:
        await model.close()
    plain = await forge.generate("", REQ)
    assert item.mechanics == plain.mechanics and item.value == plain.value
    data = {"name": item.prose.name, "description": item.prose.description, "lore": item.prose.lore}
    assert number_problems(data, item.mechanics) == []
    if item.prose_replaced:
        assert item.info.procedural and item.prose == plain.prose
    else:
        assert item.info.backend == "vllm"
    print(
        f"\nvLLM item prose: replaced={item.prose_replaced}\n  info={item.info}\n  problems={item.prose_problems}"
    )
