"""The SRD 5.1 spell list (name, level, school), read from the same 5e-bits SQLite file as the bestiary.

Magic items cast spells and the item rules cap them by level and by the world's allowed schools, so the
generator and the appraiser both need every spell's level and school; nothing else of a spell is read.
Loaded once per process and path (319 rows, a few milliseconds).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from mesh.errors import NotFound
from rules.srd import srd_path

#: The eight schools of magic, as the SRD spells them.
SCHOOLS: tuple[str, ...] = (
    "abjuration",
    "conjuration",
    "divination",
    "enchantment",
    "evocation",
    "illusion",
    "necromancy",
    "transmutation",
)


@dataclass(frozen=True, slots=True)
class Spell:
    """One SRD spell: ``level`` 0 is a cantrip."""

    index: str
    name: str
    level: int
    school: str
    damage_types: tuple[str, ...] = ()
    classes: tuple[str, ...] = ()


@dataclass(frozen=True)
class SpellBook:
    """Every SRD spell by index, with lookups by (case-insensitive) name."""

    spells: Mapping[str, Spell]

    by_name: Mapping[str, Spell] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {s.name.casefold(): s for s in self.spells.values()})

    def get(self, ref: str) -> Spell:
        """A spell by index ("fireball") or name ("Fireball")."""
        found = self.spells.get(ref) or self.by_name.get(ref.strip().casefold())
        if found is None:
            raise NotFound("spell", ref)
        return found

    def find(self, ref: str) -> Spell | None:
        try:
            return self.get(ref)
        except NotFound:
            return None

    def names_by_length(self) -> list[Spell]:
        """Spells with the longest names first: the order in which to look for names inside rules text."""
        return sorted(self.spells.values(), key=lambda s: -len(s.name))

    def __iter__(self) -> Iterator[Spell]:
        return iter(self.spells.values())

    def __len__(self) -> int:
        return len(self.spells)


def _map(data: Mapping[str, Any]) -> Spell:
    dtype = (data.get("damage") or {}).get("damage_type")
    return Spell(
        index=str(data["index"]),
        name=str(data["name"]),
        level=int(data["level"]),
        school=str(data["school"]["index"]),
        damage_types=(str(dtype["index"]),) if dtype else (),
        classes=tuple(str(c["index"]) for c in data.get("classes") or []),
    )


@lru_cache(maxsize=4)
def _load(path: Path) -> SpellBook:
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = [json.loads(d) for (d,) in con.execute('SELECT data FROM spells ORDER BY "index"')]
    finally:
        con.close()
    return SpellBook({s.index: s for s in map(_map, rows)})


def load_spells(path: Path | None = None) -> SpellBook:
    """The SRD 2014 spells, read once per process and path."""
    return _load(path or srd_path("2014"))
