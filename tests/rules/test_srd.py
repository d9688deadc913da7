"""The SRD loader: finds the file, maps the real JSON records to our stat blocks, carries the licence."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mesh.errors import NotFound
from rules.challenge import XP_BY_CR
from rules.srd import SRD_PATH_ENV, SrdMissing, load_srd, read_srd, srd_path
from rules.statblock import Ability

ROOT = Path(__file__).resolve().parents[2]


def test_whole_bestiary_loads() -> None:
    srd = load_srd()
    assert len(srd.monsters) == 334
    assert len(srd.magic_items) == 362
    assert srd.monster("goblin") is srd.monsters["goblin"]
    with pytest.raises(NotFound):
        srd.monster("beholder")  # not in the SRD


def test_goblin_maps_every_field() -> None:
    g = load_srd().monster("goblin")
    assert (g.name, g.size, g.type, g.subtype, g.alignment) == (
        "Goblin",
        "Small",
        "humanoid",
        "goblinoid",
        "neutral evil",
    )
    assert (g.armor_class, g.armor_description) == (15, "leather armor, shield")
    assert (g.hit_points, g.hit_dice, g.hit_points_roll) == (7, "2d6", "2d6")
    assert (g.speeds.walk, g.speeds.fly) == (30, 0)
    assert g.abilities.dexterity == 14 and g.abilities.modifier(Ability.DEX) == 2
    assert g.skills == {"stealth": 6} and g.saving_throws == {}
    assert (g.senses.passive_perception, g.senses.darkvision) == (9, 60)
    assert g.languages == "Common, Goblin"
    assert (g.challenge_rating, g.challenge_display, g.xp, g.proficiency_bonus) == (0.25, "1/4", 50, 2)
    assert g.traits[0].name == "Nimble Escape"
    scimitar = g.action("Scimitar")
    assert scimitar is not None and scimitar.attack_bonus == 4
    assert [(d.dice, d.damage_type, d.average) for d in scimitar.damage] == [("1d6+2", "slashing", 5.5)]
    assert g.source == "srd:goblin"


def test_dragon_maps_saves_breath_and_legendary_actions() -> None:
    d = load_srd().monster("adult-red-dragon")
    assert d.hit_points_roll == "19d12+133"
    assert d.saving_throws == {Ability.DEX: 6, Ability.CON: 13, Ability.WIS: 7, Ability.CHA: 11}
    assert d.damage_immunities == ("fire",)
    assert (d.speeds.walk, d.speeds.climb, d.speeds.fly) == (40, 40, 80)
    assert (d.senses.blindsight, d.senses.darkvision) == (60, 120)
    breath = d.action("Fire Breath")
    assert breath is not None and breath.save is not None
    assert (breath.save.dc, breath.save.ability, breath.damage[0].dice) == (21, Ability.DEX, "18d6")
    assert breath.usage is not None and breath.usage.display() == "Recharge 5-6"
    multi = d.action("Multiattack")
    assert multi is not None and [(p.action, p.count) for p in multi.multiattack[0]][1:] == [
        ("Bite", 1),
        ("Claw", 2),
    ]
    wing = d.action("Wing Attack (Costs 2 Actions)")
    assert wing is not None and wing.legendary_cost == 2
    assert d.legendary_actions_per_round == 3
    assert d.traits[0].usage is not None and d.traits[0].usage.display() == "3/Day"


def test_options_spells_and_alternate_armor() -> None:
    srd = load_srd()
    brass = srd.monster("adult-brass-dragon").action("Breath Weapons")
    assert brass is not None and brass.damage_options[0][0].dice == "13d6"
    captain = srd.monster("bandit-captain").action("Multiattack")
    assert captain is not None and len(captain.multiattack) == 2  # melee routine or two daggers thrown
    archmage = srd.monster("archmage")
    assert (archmage.armor_class, archmage.armor_description) == (12, "15 with mage armor")
    sc = archmage.spellcasting[0]
    assert sc.caster_level == 18 and sc.save_dc == 17 and sc.slots[9] == 1
    assert "fire bolt" in srd.spell_damage and srd.spell_damage["fireball"].dice_at(5) == "10d6"


# The file's XP typos that the loader corrects from the CR table (index -> the file's figure).
KNOWN_XP_TYPOS = {
    "riding-horse": 25,
    "brass-dragon-wyrmling": 100,
    "deep-gnome-svirfneblin": 50,
    "dretch": 25,
}


def test_xp_comes_from_the_cr_table() -> None:
    srd = load_srd()
    import json
    import sqlite3

    con = sqlite3.connect(srd.path)
    raw = {r[0]: json.loads(r[1])["xp"] for r in con.execute('SELECT "index", data FROM monsters')}
    con.close()
    mismatched = {k: v for k, v in raw.items() if srd.monsters[k].xp != v}
    assert mismatched == KNOWN_XP_TYPOS
    for block in srd:
        expected = (
            0 if raw[block.index] == 0 and block.challenge_rating == 0 else XP_BY_CR[block.challenge_rating]
        )
        assert block.xp == expected


def test_attribution_in_notice() -> None:
    srd = load_srd()
    assert srd.metadata["license"] == "CC-BY-4.0"
    assert "System Reference Document 5.1" in srd.attribution
    assert srd.attribution in (ROOT / "NOTICE").read_text()


def test_env_override_and_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copy = tmp_path / "srd.sqlite3"
    shutil.copy(srd_path(), copy)
    monkeypatch.setenv(SRD_PATH_ENV, str(copy))
    assert srd_path() == copy
    assert len(read_srd(copy).monsters) == 334
    monkeypatch.setenv(SRD_PATH_ENV, str(tmp_path / "empty"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(SrdMissing) as err:
        srd_path()
    assert "make setup" in str(err.value) and SRD_PATH_ENV in str(err.value)


def test_fetcher_is_idempotent_and_quick() -> None:
    import subprocess
    import sys
    import time

    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "fetch_srd.py")], capture_output=True, text=True, check=True
    )
    assert time.perf_counter() - start < 5  # files present: no download
    assert "dnd5e-2014-en-" in out.stdout and "dnd5e-2024-en-" in out.stdout
