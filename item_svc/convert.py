"""Domain items <-> ``dungeonmaster.v1`` messages. No grpc, no logic."""

from __future__ import annotations

from dungeonmaster.v1 import common_pb2, item_pb2
from item_svc.forge import ForgedItem, Value
from rules.items import Charges, Curse, ItemKind, ItemMechanics, ItemProperty, ItemSpell, Rarity

KIND_TO_PB: dict[ItemKind, int] = {
    ItemKind.WEAPON: item_pb2.ITEM_TYPE_WEAPON,
    ItemKind.ARMOR: item_pb2.ITEM_TYPE_ARMOR,
    ItemKind.SHIELD: item_pb2.ITEM_TYPE_SHIELD,
    ItemKind.WONDROUS: item_pb2.ITEM_TYPE_WONDROUS,
    ItemKind.RING: item_pb2.ITEM_TYPE_RING,
    ItemKind.ROD: item_pb2.ITEM_TYPE_ROD,
    ItemKind.STAFF: item_pb2.ITEM_TYPE_STAFF,
    ItemKind.WAND: item_pb2.ITEM_TYPE_WAND,
    ItemKind.POTION: item_pb2.ITEM_TYPE_POTION,
    ItemKind.SCROLL: item_pb2.ITEM_TYPE_SCROLL,
    ItemKind.AMMUNITION: item_pb2.ITEM_TYPE_AMMUNITION,
}
PB_TO_KIND: dict[int, ItemKind] = {v: k for k, v in KIND_TO_PB.items()}
#: Rarity enum numbers equal ``rules.items.Rarity`` values (COMMON = 1 ... ARTIFACT = 6).
PB_TO_RARITY: dict[int, Rarity] = {int(r): r for r in Rarity}


def price_pb(value: Value) -> common_pb2.Price:
    return common_pb2.Price(copper=value.copper, gold=float(value.gp), display=value.display)


def item_pb(item: ForgedItem) -> item_pb2.MagicItem:
    m = item.mechanics
    msg = item_pb2.MagicItem(
        id=item.id,
        name=item.prose.name,
        item_type=KIND_TO_PB[m.kind],  # type: ignore[arg-type]
        base_item=m.base_item,
        rarity=int(item.rarity),  # type: ignore[arg-type]
        requires_attunement=m.requires_attunement,
        attunement_by=m.attunement_by,
        bonus=m.bonus,
        description=item.prose.description,
        lore=item.prose.lore,
        value=price_pb(item.value),
        theme=item.theme.id,
        source="generated",
        reference=item.reference,
    )
    for p in m.properties:
        msg.properties.add(name=p.name, description=p.description, kind=p.kind, effect=p.effect)
    for s in m.spells:
        msg.spells.add(name=s.name, level=s.level, charge_cost=s.charge_cost, school=s.school)
    if m.charges is not None:
        msg.charges.CopyFrom(
            item_pb2.Charges(
                max=m.charges.max, recharge=m.charges.recharge, may_be_destroyed=m.charges.may_be_destroyed
            )
        )
    if m.curse is not None:
        msg.curse.CopyFrom(
            item_pb2.Curse(name=m.curse.name, description=m.curse.description, removal=m.curse.removal)
        )
    return msg


def mechanics_from_pb(item: item_pb2.MagicItem) -> ItemMechanics:
    """The mechanics of a MagicItem message (its stated rarity is not read); ``item_type`` must be valid."""
    charges = None
    if item.HasField("charges") and item.charges.max > 0:
        charges = Charges(item.charges.max, item.charges.recharge, item.charges.may_be_destroyed)
    curse = None
    if item.HasField("curse") and item.curse.name:
        curse = Curse(item.curse.name, item.curse.description, item.curse.removal)
    return ItemMechanics(
        kind=PB_TO_KIND[item.item_type],
        bonus=item.bonus,
        properties=tuple(ItemProperty(p.name, p.description, p.kind, p.effect) for p in item.properties),
        spells=tuple(ItemSpell(s.name, s.level, s.charge_cost, s.school) for s in item.spells),
        charges=charges,
        curse=curse,
        requires_attunement=item.requires_attunement,
        attunement_by=item.attunement_by,
        base_item=item.base_item,
    )
