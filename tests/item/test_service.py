"""ItemService over gRPC: GenerateItem, AppraiseItem on generated and SRD items, and bad input refused with the
valid values listed."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from dungeonmaster.v1 import item_pb2, item_pb2_grpc
from lore import World
from mesh.status import unpack_details
from rules.items import PRICE_BANDS_GP, Rarity
from rules.srd import load_srd


async def test_generate_item(item_stub: item_pb2_grpc.ItemServiceStub, world: World) -> None:
    req = item_pb2.GenerateItemRequest(
        item_type=item_pb2.ITEM_TYPE_WAND, rarity=item_pb2.RARITY_RARE, theme="orrathi", seed=5
    )
    reply = await item_stub.GenerateItem(req)
    item = reply.item
    assert item.item_type == item_pb2.ITEM_TYPE_WAND and item.rarity == item_pb2.RARITY_RARE
    assert item.theme == "orrathi" and item.source == "generated" and item.id.startswith("item-")
    assert item.name and item.description and item.lore
    low, high = PRICE_BANDS_GP[Rarity.RARE]
    assert low <= item.value.gold <= high and item.value.copper == int(item.value.gold) * 100
    coins = [c.name.lower() for c in world.coinage.currencies]  # type: ignore[union-attr]
    assert any(c in item.value.display.lower() for c in coins), item.value.display
    assert reply.info.procedural and reply.info.seed == 5
    # A known-good SRD item of the same kind and rarity is named as the rules reference.
    ref = load_srd().magic_item(item.reference.removeprefix("srd:"))
    assert item.reference.startswith("srd:") and ref.rarity == "rare" and ref.category == "wand"
    again = await item_stub.GenerateItem(req)
    assert again.item == reply.item


async def test_appraise_agrees_with_generated_items(item_stub: item_pb2_grpc.ItemServiceStub) -> None:
    agree = total = 0
    for rarity in range(1, 7):
        for seed in range(1, 11):
            made = await item_stub.GenerateItem(item_pb2.GenerateItemRequest(rarity=rarity, seed=seed))  # type: ignore[arg-type]
            sent = item_pb2.MagicItem()
            sent.CopyFrom(made.item)
            sent.rarity = item_pb2.RARITY_UNSPECIFIED  # the appraiser must not read it
            rated = await item_stub.AppraiseItem(
                item_pb2.AppraiseItemRequest(item=sent, world_id="ashen-reach")
            )
            total += 1
            agree += rated.rarity == rarity
            assert (
                rated.price_low.gold <= made.item.value.gold <= rated.price_high.gold
                or rated.rarity != rarity
            )
    print(f"\nAppraiseItem over gRPC agrees with GenerateItem's rarity: {agree}/{total}")
    assert agree == total


async def test_appraise_an_srd_style_item(item_stub: item_pb2_grpc.ItemServiceStub) -> None:
    flame_tongue = item_pb2.MagicItem(
        name="Flame Tongue",
        item_type=item_pb2.ITEM_TYPE_WEAPON,
        base_item="longsword",
        properties=[
            item_pb2.ItemProperty(
                name="Flames",
                kind="damage",
                description="While the sword is ablaze, it deals an extra 2d6 fire damage to any target it hits. "
                "The flames shed bright light in a 40-foot radius.",
            )
        ],
    )
    rated = await item_stub.AppraiseItem(item_pb2.AppraiseItemRequest(item=flame_tongue))
    assert rated.rarity == item_pb2.RARITY_RARE
    assert any("2d6 fire" in r for r in rated.reasons) and rated.score >= 3
    assert rated.price_low.display == "501 gp" and rated.price_high.gold == 5000
    wand = item_pb2.MagicItem(
        item_type=item_pb2.ITEM_TYPE_WAND,
        spells=[item_pb2.ItemSpell(name="Fireball", level=3, charge_cost=1)],
        charges=item_pb2.Charges(max=7, recharge="1d6 + 1 at dawn", may_be_destroyed=True),
    )
    assert (
        await item_stub.AppraiseItem(item_pb2.AppraiseItemRequest(item=wand))
    ).rarity == item_pb2.RARITY_RARE


async def _violations(call: grpc.aio.UnaryUnaryCall) -> dict[str, str]:  # type: ignore[type-arg]
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = await rpc_status.aio.from_call(call)
    bad = [d for d in unpack_details(status) if isinstance(d, error_details_pb2.BadRequest)]
    assert bad
    return {v.field: v.description for v in bad[0].field_violations}


@pytest.mark.parametrize(
    ("fields", "field", "listed"),
    [
        ({}, "rarity", "RARITY_VERY_RARE"),
        ({"rarity": 42}, "rarity", "RARITY_LEGENDARY"),
        ({"rarity": 2, "item_type": 77}, "item_type", "ITEM_TYPE_WAND"),
        ({"rarity": 2, "theme": "void-glass"}, "theme", "hollow"),
        ({"rarity": 2, "world_id": "nowhere"}, "world_id", "ashen-reach"),
        ({"rarity": 5, "item_type": 10}, "rarity", "level 7"),
    ],
)
async def test_bad_generate_requests(
    item_stub: item_pb2_grpc.ItemServiceStub, fields: dict[str, object], field: str, listed: str
) -> None:
    found = await _violations(item_stub.GenerateItem(item_pb2.GenerateItemRequest(**fields)))  # type: ignore[arg-type]
    assert field in found and listed in found[field], found


async def test_bad_appraise_requests(item_stub: item_pb2_grpc.ItemServiceStub) -> None:
    found = await _violations(item_stub.AppraiseItem(item_pb2.AppraiseItemRequest()))
    assert "item" in found
    bad = item_pb2.MagicItem(bonus=9, spells=[item_pb2.ItemSpell(name="x", level=12)])
    found = await _violations(item_stub.AppraiseItem(item_pb2.AppraiseItemRequest(item=bad)))
    assert {"item.item_type", "item.bonus", "item.spells[0].level"} <= set(found)
    assert "ITEM_TYPE_WEAPON" in found["item.item_type"]
