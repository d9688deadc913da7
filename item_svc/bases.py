"""Base items a magic item is made from (longsword, chain mail, arrow ...), read from the SRD equipment table.

Weapons, armor, shields and ammunition come from the same 5e-bits SQLite file as the bestiary, so a generated
"+1 glaive" names a real SRD weapon; the other kinds have a short list of forms (a ring, a cloak, a wand).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from rules.items import ItemKind
from rules.srd import srd_path

#: Forms of the kinds the SRD equipment table has no rows for.
FORMS: dict[ItemKind, tuple[str, ...]] = {
    ItemKind.WONDROUS: (
        "cloak", "amulet", "boots", "belt", "bracers", "circlet", "brooch", "gloves", "lantern", "horn",
        "pendant", "bell", "mask", "torc",
    ),
    ItemKind.RING: ("ring",),
    ItemKind.ROD: ("rod",),
    ItemKind.STAFF: ("staff",),
    ItemKind.WAND: ("wand",),
    ItemKind.POTION: ("potion",),
    ItemKind.SCROLL: ("scroll",),
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class BaseItems:
    """Names of base items by kind."""

    by_kind: dict[ItemKind, tuple[str, ...]]

    def for_kind(self, kind: ItemKind) -> tuple[str, ...]:
        return self.by_kind.get(kind) or FORMS[kind]


def _natural(name: str) -> str:
    """ "Crossbow, hand" -> "hand crossbow"."""
    head, _, tail = name.lower().partition(", ")
    return f"{tail} {head}" if tail else head


@lru_cache(maxsize=4)
def _load(path: Path) -> BaseItems:
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = [json.loads(d) for (d,) in con.execute('SELECT data FROM equipment ORDER BY "index"')]
    finally:
        con.close()
    weapons = [
        _natural(r["name"]) for r in rows if r["equipment_category"]["index"] == "weapon" and "damage" in r
    ]
    armor = [
        r["name"].lower()
        for r in rows
        if r["equipment_category"]["index"] == "armor"
        and r.get("armor_category") in ("Light", "Medium", "Heavy")
    ]
    ammo = [r["name"].lower() for r in rows if r.get("gear_category", {}).get("index") == "ammunition"]
    by_kind = {
        ItemKind.WEAPON: tuple(weapons),
        ItemKind.ARMOR: tuple(armor),
        ItemKind.SHIELD: ("shield",),
        ItemKind.AMMUNITION: tuple(ammo),
        **FORMS,
    }
    return BaseItems(by_kind)


def load_bases(path: Path | None = None) -> BaseItems:
    """Base items from the SRD file (read once per process)."""
    return _load(path or srd_path("2014"))
