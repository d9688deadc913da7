"""SRD magic items as rules references: for a generated item, the SRD item whose mechanics it most resembles.

Every SRD item with a listed rarity is read into mechanics (``rules.items.srd_mechanics``) and reduced to the
set of mechanics the appraiser finds in it (bonus, spell, extra damage, resistance, flying ...). A generated item
points at the SRD item of the same kind and rarity sharing most of those, so a DM can compare it with a
known-good published item; failing that, one of the same rarity and any kind.
"""

from __future__ import annotations

from dataclasses import dataclass

from rules.items import ItemKind, ItemMechanics, Rarity, features, parse_rarity, srd_mechanics
from rules.spells import SpellBook
from rules.srd import Srd


@dataclass(frozen=True, slots=True)
class Reference:
    index: str
    kind: ItemKind
    rarity: Rarity
    keys: frozenset[str]


def feature_keys(m: ItemMechanics) -> frozenset[str]:
    return frozenset(f.key for f in features(m) if f.key != "minor")


class SrdReferences:
    """The SRD's magic items reduced to (kind, rarity, mechanics)."""

    def __init__(self, srd: Srd, spells: SpellBook) -> None:
        refs = []
        for item in srd.magic_items.values():
            if item.rarity == "varies":
                continue
            mech = srd_mechanics(item.index, item.category, item.description, spells)
            refs.append(Reference(item.index, mech.kind, parse_rarity(item.rarity), feature_keys(mech)))
        self.refs = tuple(refs)

    def closest(self, m: ItemMechanics, rarity: Rarity) -> str:
        """ "srd:<index>" of the closest SRD item, or "" when no SRD item of the rarity shares a mechanic."""
        keys = feature_keys(m)
        for pool in (
            [r for r in self.refs if r.kind is m.kind and r.rarity is rarity],
            [r for r in self.refs if r.rarity is rarity],
        ):
            shared = [r for r in pool if r.keys & keys]
            if shared:
                # Most mechanics in common, then fewest differences, then the first by index (deterministic).
                best = min(shared, key=lambda r: (-len(r.keys & keys), len(r.keys ^ keys), r.index))
                return f"srd:{best.index}"
        return ""
