"""Item prose from a model: used when honest, repaired once, replaced when it breaks the schema or states a
number the mechanics do not have."""

from __future__ import annotations

import json

from item_svc.forge import ItemForge
from item_svc.generator import ItemRequest
from rules.items import ItemKind, Rarity
from tests.npc.fake_model import CannedModel

REQ = ItemRequest(ItemKind.WEAPON, Rarity.UNCOMMON, theme="ember", seed=12)


def _with(forge: ItemForge, model: CannedModel) -> ItemForge:
    return ItemForge(forge.worlds_dir, forge.default_world, forge.generator, text=model)


def _answer(**changes: str) -> str:
    data = {
        "name": "Cinderkiss",
        "description": "A longsword whose fuller holds a seam of glowing ember.",
        "lore": "Forged by the Emberwrights in the years after the Ashfall.",
    }
    data.update(changes)
    return json.dumps(data)


async def test_honest_answer_is_used(forge: ItemForge) -> None:
    item = await _with(forge, CannedModel([_answer()])).generate("", REQ)
    assert item.prose.name == "Cinderkiss" and not item.info.procedural and not item.prose_replaced


async def test_changed_bonus_is_replaced(forge: ItemForge) -> None:
    plain = await forge.generate("", REQ)
    assert plain.mechanics.bonus in (0, 1)
    liar = _answer(name="Cinderkiss, +3", lore="It deals an extra 6d6 fire damage and has 12 charges.")
    item = await _with(forge, CannedModel([liar])).generate("", REQ)
    assert item.prose_replaced and item.info.procedural
    assert item.prose == plain.prose and item.mechanics == plain.mechanics


async def test_broken_then_fixed_is_repaired(forge: ItemForge) -> None:
    model = CannedModel(['{"name": 3}', _answer(name="Emberwake")])
    item = await _with(forge, model).generate("", REQ)
    assert item.prose.name == "Emberwake" and not item.prose_replaced and len(model.seen) == 2


async def test_schema_breaks_are_replaced(forge: ItemForge) -> None:
    plain = await forge.generate("", REQ)
    for bad in (
        "not json",
        _answer(name=""),
        json.dumps({"name": "x" * 200, "description": "d" * 30, "lore": "l" * 30}),
    ):
        item = await _with(forge, CannedModel([bad])).generate("", REQ)
        assert item.prose_replaced and item.prose == plain.prose, bad
