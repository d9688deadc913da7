"""The model path: a schema-valid, honest answer is used; a broken or number-changing one is repaired or
replaced by the procedural writer, never passed through."""

from __future__ import annotations

import json

from npc_svc.builder import NpcGenerator
from npc_svc.choices import NpcRequest
from npc_svc.prose import check_prose
from tests.npc.fake_model import CannedModel

REQ = NpcRequest(
    archetype="knight", rank="baron", culture="veyrish", faith="lantern-church", challenge_rating=3, seed=7
)


def _answer(**changes: object) -> str:
    data: dict[str, object] = {
        "description": "A tall knight in scarred plate, with a lantern pin on the cloak.",
        "traits": ["Patient with squires."],
        "ideals": ["Oaths bind the strong to the weak."],
        "bonds": ["The barony's charter."],
        "flaws": ["Proud to a fault."],
        "motivations": ["Win back the family seat."],
        "mannerisms": ["Taps the sword hilt when thinking."],
        "voice": "Low and measured.",
        "secrets": ["Paid a forger to backdate the charter."],
    }
    data.update(changes)
    return json.dumps(data)


def _gen(generator: NpcGenerator, model: CannedModel) -> NpcGenerator:
    return NpcGenerator(generator.worlds, generator.srd, generator.spells, text=model)


async def test_a_good_answer_is_used(generator: NpcGenerator) -> None:
    model = CannedModel([_answer()])
    result = await _gen(generator, model).generate("", REQ)
    assert result.npc.prose.voice == "Low and measured."
    assert result.info.backend == "fake" and not result.info.procedural
    assert not result.prose_replaced and not result.prose_repaired
    assert "Baron" in model.seen[0].messages[1].content or "baron" in model.prompts[0].messages[1].content


async def test_broken_json_then_a_fix_is_repaired(generator: NpcGenerator) -> None:
    model = CannedModel(['{"description": "unterminated', _answer()])
    result = await _gen(generator, model).generate("", REQ)
    assert result.prose_repaired and result.npc.prose.voice == "Low and measured."
    assert len(model.seen) == 2  # one repair attempt that quotes the problems


async def test_changed_numbers_are_replaced_by_the_procedural_writer(generator: NpcGenerator) -> None:
    procedural = (await generator.generate("", REQ)).npc
    liar = _answer(description="A veteran with AC 25 and 300 hit points, CR 12.")
    model = CannedModel([liar])  # the same lie on the repair attempt
    result = await _gen(generator, model).generate("", REQ)
    assert result.prose_replaced and result.info.procedural
    assert result.npc.prose == procedural.prose
    assert "AC 25" not in result.npc.prose.description
    assert result.npc.stat_block == procedural.stat_block, "the numbers never come from the model"


async def test_schema_breaking_answers_are_replaced(generator: NpcGenerator) -> None:
    procedural = (await generator.generate("", REQ)).npc
    for bad in (_answer(traits=[]), _answer(voice=7), '["not", "an", "object"]', _answer(extra="field")):
        result = await _gen(generator, CannedModel([bad])).generate("", REQ)
        assert result.prose_replaced and result.npc.prose == procedural.prose, bad


async def test_a_leaked_secret_is_rejected(generator: NpcGenerator) -> None:
    secret = "Paid a forger to backdate the charter."
    leak = _answer(description="A tall knight. Everyone knows: " + secret)
    result = await _gen(generator, CannedModel([leak])).generate("", REQ)
    assert result.prose_replaced


async def test_matching_numbers_are_allowed(generator: NpcGenerator) -> None:
    npc = (await generator.generate("", REQ)).npc
    honest = json.loads(_answer(description=f"A knight whose plate gives AC {npc.stat_block.armor_class}."))
    assert check_prose(honest, npc.stat_block) == []
    assert check_prose(json.loads(_answer(description="AC 99")), npc.stat_block)
