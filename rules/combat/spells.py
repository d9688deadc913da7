"""SRD damage and healing spells, as combat needs them: range, attack roll or saving throw, half on a
save, area, dice by slot or by caster level, healing, concentration. Read once per process."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from mesh.errors import NotFound
from rules.srd import srd_path

_FEET = re.compile(r"(\d+)\s*feet")
#: Most creatures an area spell may catch under the band model, by the area's size in feet.
AREA_TARGETS_PER_5_FT = 1


@dataclass(frozen=True, slots=True)
class CombatSpell:
    index: str
    name: str
    level: int
    classes: tuple[str, ...]
    range_ft: int  # Touch 5; Self with an area: the area's size
    attack: str  # "ranged" | "melee" | "" (no attack roll)
    save: str  # ability of the save, "" if none
    half_on_save: bool
    area: str  # "sphere", "cone"... or ""
    area_size: int
    damage_type: str
    by_slot: Mapping[int, str]
    by_level: Mapping[int, str]  # cantrips
    heal_by_slot: Mapping[int, str]  # "1d8 + MOD"
    concentration: bool
    bonus_action: bool

    @property
    def heals(self) -> bool:
        return bool(self.heal_by_slot)

    @property
    def max_targets(self) -> int:
        if not self.area:
            return 1
        return max(2, 1 + self.area_size // 5 * AREA_TARGETS_PER_5_FT)

    def dice(self, slot: int, caster_level: int) -> str:
        """Damage (or healing) dice cast with a ``slot`` (upcast) or, for a cantrip, at ``caster_level``."""
        table = self.heal_by_slot or self.by_slot
        if table:
            return table[max(k for k in table if k <= max(slot, self.level))]
        usable = [k for k in self.by_level if k <= max(caster_level, 1)]
        return self.by_level[max(usable)] if usable else ""


def _map(d: Mapping[str, object]) -> CombatSpell | None:
    damage = d.get("damage") or {}
    heal = d.get("heal_at_slot_level") or {}
    assert isinstance(damage, dict) and isinstance(heal, dict)
    by_slot = {int(k): str(v).replace(" ", "") for k, v in damage.get("damage_at_slot_level", {}).items()}
    by_level = {
        int(k): str(v).replace(" ", "") for k, v in damage.get("damage_at_character_level", {}).items()
    }
    if not (by_slot or by_level or heal):
        return None
    area = d.get("area_of_effect") or {}
    assert isinstance(area, dict)
    rng = str(d.get("range", ""))
    m = _FEET.search(rng)
    range_ft = int(m.group(1)) if m else 5 if rng == "Touch" else int(area.get("size", 5))
    dc = d.get("dc") or {}
    assert isinstance(dc, dict)
    return CombatSpell(
        index=str(d["index"]),
        name=str(d["name"]),
        level=int(str(d["level"])),
        classes=tuple(str(c["index"]) for c in d.get("classes") or []),  # type: ignore[attr-defined]
        range_ft=range_ft,
        attack=str(d.get("attack_type", "")),
        save=str(dc["dc_type"]["index"]) if dc else "",
        half_on_save=dc.get("dc_success") == "half",
        area=str(area.get("type", "")),
        area_size=int(area.get("size", 0)),
        damage_type=str(damage["damage_type"]["index"]) if damage.get("damage_type") else "",
        by_slot=by_slot,
        by_level=by_level,
        heal_by_slot={int(k): str(v).replace(" ", "") for k, v in heal.items()},
        concentration=bool(d.get("concentration")),
        bonus_action="bonus" in str(d.get("casting_time", "")),
    )


@lru_cache(maxsize=4)
def _load(path: Path) -> Mapping[str, CombatSpell]:
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = [json.loads(r) for (r,) in con.execute('SELECT data FROM spells ORDER BY "index"')]
    finally:
        con.close()
    spells = [s for s in map(_map, rows) if s is not None]
    return {s.index: s for s in spells}


def combat_spells(path: Path | None = None) -> Mapping[str, CombatSpell]:
    """Every SRD spell that deals damage or heals, by index."""
    return _load(path or srd_path("2014"))


def find_spell(ref: str) -> CombatSpell:
    spells = combat_spells()
    key = ref.strip().lower().replace(" ", "-").replace("'", "")
    if key in spells:
        return spells[key]
    raise NotFound("combat spell", ref)
