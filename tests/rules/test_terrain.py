"""Our terrain table: valid names, real SRD indices, and enough creatures everywhere for levels 1-20."""

from __future__ import annotations

import pytest

from mesh.errors import InvalidArgument
from rules.srd import load_srd
from rules.terrain import (
    MONSTER_TERRAINS,
    TERRAINS,
    UNMAPPED,
    Terrain,
    check_terrain,
    check_terrains,
    monsters_in,
)

ELEVEN = {"arctic", "coastal", "desert", "forest", "grassland", "hill", "mountain", "swamp", "underdark",
          "underwater", "urban"}  # fmt: skip


def test_the_eleven_terrains() -> None:
    assert {t.value for t in TERRAINS} == ELEVEN
    assert all(set(v) <= set(Terrain) and v for v in MONSTER_TERRAINS.values())


def test_every_index_is_a_real_srd_monster_and_every_monster_is_placed_or_explained() -> None:
    srd = load_srd()
    assert set(MONSTER_TERRAINS) <= set(srd.monsters)
    assert set(UNMAPPED) <= set(srd.monsters)
    assert not set(UNMAPPED) & set(MONSTER_TERRAINS)
    assert set(MONSTER_TERRAINS) | set(UNMAPPED) == set(srd.monsters)
    share = len(MONSTER_TERRAINS) / len(srd.monsters)
    print(f"\nterrain table covers {len(MONSTER_TERRAINS)}/{len(srd.monsters)} SRD monsters ({share:.0%})")
    assert share >= 0.9


@pytest.mark.parametrize("terrain", list(Terrain))
def test_every_terrain_spans_the_tiers(terrain: Terrain) -> None:
    srd = load_srd()
    crs = [srd.monsters[i].challenge_rating for i in monsters_in([terrain])]
    assert sum(cr <= 1 for cr in crs) >= 5, "too few low-level creatures"
    for low, high in ((0, 4), (5, 10), (11, 16), (17, 30)):
        assert any(low <= cr <= high for cr in crs), f"no creature of CR {low}-{high}"
    assert len({srd.monsters[i].type for i in monsters_in([terrain])}) >= 4, "too little variety"


def test_sensible_examples() -> None:
    assert MONSTER_TERRAINS["polar-bear"] == {Terrain.ARCTIC}
    assert Terrain.SWAMP in MONSTER_TERRAINS["adult-black-dragon"]
    assert Terrain.UNDERWATER in MONSTER_TERRAINS["kraken"]
    assert Terrain.UNDERDARK in MONSTER_TERRAINS["drow"]
    assert Terrain.URBAN in MONSTER_TERRAINS["guard"]
    assert "werewolf-wolf" in UNMAPPED and "werewolf-human" in MONSTER_TERRAINS


def test_unknown_terrain_lists_the_valid_ones() -> None:
    with pytest.raises(InvalidArgument) as err:
        check_terrain("jungle")
    field, description = err.value.violations[0]
    assert field == "terrain"
    assert all(name in description for name in ELEVEN)
    with pytest.raises(InvalidArgument) as err2:
        check_terrains(["swamp", "lava"])
    assert err2.value.violations[0][0] == "terrain[1]"
    assert check_terrains(["Swamp", "coastal", "swamp"]) == (Terrain.SWAMP, Terrain.COASTAL)
