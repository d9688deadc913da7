"""GenerateEncounter's domain: XP in the requested band, reproducible, terrain-true, bad input named."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from encounter_svc.bestiary import Bestiary
from encounter_svc.builder import build_encounter, generate_encounter
from encounter_svc.models import Encounter, EncounterRequest, PartyMember, Prose, WorldCreature
from mesh.errors import InvalidArgument
from rules.difficulty import REQUESTABLE, Difficulty, evaluate
from rules.srd import load_srd
from rules.terrain import TERRAINS, Terrain, terrains_of


def _request(
    level: int = 5, size: int = 4, terrain: str = "forest", difficulty: str = "medium", **kw: object
) -> EncounterRequest:
    return EncounterRequest(
        party=tuple(PartyMember(level) for _ in range(size)),
        terrains=(terrain,),
        difficulty=difficulty,
        seed=kw.pop("seed", 7),  # type: ignore[arg-type]
        **kw,  # type: ignore[arg-type]
    )


def _in_band(e: Encounter) -> bool:
    assert e.xp is not None
    value = e.xp.value_for(e.difficulty)
    return e.band[0] <= value < e.band[1]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    level=st.integers(1, 20),
    size=st.integers(1, 8),
    difficulty=st.sampled_from(REQUESTABLE),
    terrain=st.sampled_from(TERRAINS),
    seed=st.integers(1, 2**62),
)
def test_generated_xp_lies_in_the_band_or_says_why(
    level: int, size: int, difficulty: Difficulty, terrain: Terrain, seed: int
) -> None:
    e = build_encounter(_request(level, size, terrain.value, difficulty.value, seed=seed))
    if e.unmet_reason:
        assert "no group" in e.unmet_reason
        return
    assert _in_band(e)
    # The breakdown is the evaluator's own arithmetic on the creatures returned.
    assert e.xp == evaluate([level] * size, [g.stat_block.xp for g in e.creatures for _ in range(g.count)])
    assert 1 <= e.creature_count <= 12
    for group in e.creatures:
        assert terrain in terrains_of(group.stat_block.index)


@settings(max_examples=60, deadline=None)
@given(
    level=st.integers(1, 20),
    size=st.integers(1, 8),
    difficulty=st.sampled_from(REQUESTABLE),
    seed=st.integers(1, 2**62),
    kind=st.sampled_from(["combat", "social", "hazard"]),
)
def test_same_seed_same_encounter(
    level: int, size: int, difficulty: Difficulty, seed: int, kind: str
) -> None:
    req = _request(level, size, "swamp", difficulty.value, seed=seed, kind=kind)
    assert generate_encounter(req) == generate_encounter(req)


def test_every_cell_of_the_grid_is_met() -> None:
    """Exhaustive for two terrains: all 20 levels x 8 party sizes x 7 difficulties land in their band."""
    for terrain in ("underwater", "arctic"):  # the two thinnest pools
        for level in range(1, 21):
            for size in range(1, 9):
                for difficulty in REQUESTABLE:
                    e = build_encounter(
                        _request(level, size, terrain, difficulty.value, seed=level * 31 + size)
                    )
                    assert not e.unmet_reason, (terrain, level, size, difficulty)
                    assert _in_band(e)


def test_seeds_vary_the_encounter() -> None:
    names = {
        tuple(g.stat_block.index for g in build_encounter(_request(seed=s)).creatures) for s in range(1, 40)
    }
    assert len(names) >= 10


def test_concurrent_generation_is_deterministic() -> None:
    reqs = [_request(level=1 + s % 20, size=1 + s % 8, seed=s) for s in range(1, 81)]
    sequential = [generate_encounter(r) for r in reqs]
    with ThreadPoolExecutor(max_workers=8) as pool:
        assert list(pool.map(generate_encounter, reqs)) == sequential


def test_seed_zero_picks_and_reports_one() -> None:
    e = build_encounter(_request(seed=0))
    assert e.seed != 0
    again = build_encounter(_request(seed=e.seed))
    assert [g.stat_block.index for g in again.creatures] == [g.stat_block.index for g in e.creatures]


def test_region_with_several_terrains_and_world_creatures() -> None:
    bog_witch = WorldCreature(
        name="Saltmarsh Bog Witch",
        cr=3,
        terrains=("swamp",),
        based_on="green-hag",
        description="Reeks of brine.",
    )
    bestiary = Bestiary(load_srd(), [bog_witch])
    pool = bestiary.pool([Terrain.SWAMP, Terrain.COASTAL])
    indices = {m.index for m in pool.monsters}
    assert "world-saltmarsh-bog-witch" in indices and "sahuagin" in indices and "crocodile" in indices
    witch = bestiary.monster("world-saltmarsh-bog-witch")
    assert witch.name == "Saltmarsh Bog Witch" and witch.xp == 700 and witch.source.startswith("world:")
    assert witch.hit_points == load_srd().monster("green-hag").hit_points  # the base's mechanics
    # With the theme set to the witch's name, the generator fields her.
    req = EncounterRequest(
        party=(PartyMember(4),) * 4, terrains=("swamp", "coastal"), difficulty="medium", theme="witch",
        seed=3, region="Saltmarsh", world_creatures=(bog_witch,),
    )  # fmt: skip
    e = build_encounter(req, bestiary)
    assert any(g.stat_block.index == "world-saltmarsh-bog-witch" for g in e.creatures)
    assert e.region == "Saltmarsh" and e.terrains == ("swamp", "coastal")
    for g in e.creatures:
        assert bestiary.terrains(g.stat_block.index) & {Terrain.SWAMP, Terrain.COASTAL}


def test_world_creature_from_lore_dict() -> None:
    wc = WorldCreature.from_lore(
        {
            "name": "Marsh Drake",
            "cr": "1/2",
            "terrains": ["swamp"],
            "based_on": "crocodile",
            "description": "x",
        }
    )
    assert wc.cr == 0.5 and wc.index == "world-marsh-drake"
    with pytest.raises(InvalidArgument) as err:
        Bestiary(load_srd(), [WorldCreature("X", 1, ("lava",), "crocodile")])
    assert err.value.violations[0][0] == "world_creatures[0].terrains"
    with pytest.raises(InvalidArgument) as err:
        Bestiary(load_srd(), [WorldCreature("X", 1, ("swamp",), "beholder")])
    assert err.value.violations[0][0] == "world_creatures[0].based_on"


def test_theme_biases_the_choice() -> None:
    for seed in range(1, 15):
        e = build_encounter(_request(level=6, terrain="urban", difficulty="hard", theme="undead", seed=seed))
        assert e.creatures and all(g.stat_block.type == "undead" for g in e.creatures)
    odd = build_encounter(_request(theme="spaceships"))
    assert any("theme" in n for n in odd.notes) and _in_band(odd)


def test_cr_cap_keeps_monsters_near_the_party() -> None:
    for seed in range(1, 30):
        e = build_encounter(_request(level=3, size=4, difficulty="easy", seed=seed))
        assert all(g.stat_block.challenge_rating <= 3 for g in e.creatures)


def test_hazards_match_the_tier() -> None:
    # Levels 11-16, Deadly: DC 16-20, attack +9 to +12, 18d10 damage (DMG pp.120-121).
    for seed in range(1, 20):
        e = build_encounter(
            _request(level=12, difficulty="deadly", kind="hazard", terrain="mountain", seed=seed)
        )
        assert 1 <= len(e.hazards) <= 3 and e.creatures == () and e.xp is None
        for h in e.hazards:
            assert h.severity == "deadly" and 16 <= h.save_dc <= 20
            assert h.damage.dice == "18d10" and h.damage.average == 99.0
            assert h.attack_bonus == 0 or 9 <= h.attack_bonus <= 12
    easy = build_encounter(_request(level=2, difficulty="easy", kind="hazard", seed=5))
    assert all(
        h.severity == "setback" and 10 <= h.save_dc <= 11 and h.damage.dice == "1d10" for h in easy.hazards
    )


def test_social_encounter_has_stakes_and_dcs() -> None:
    e = build_encounter(_request(level=7, difficulty="hard", kind="social", terrain="urban", seed=9))
    assert e.social is not None and e.creatures
    assert len(e.social.checks) == 3
    assert [int(c.rsplit(" ", 1)[1]) for c in e.social.checks] == [16, 17, 18]  # base 15 + tier 2
    assert _in_band(e)  # if talks fail, the fight is still fair


def test_treasure_is_rolled_and_sensible() -> None:
    e = build_encounter(_request(level=5, terrain="urban", difficulty="deadly", seed=11))
    again = build_encounter(_request(level=5, terrain="urban", difficulty="deadly", seed=11))
    assert e.treasure == again.treasure
    per = {"cp": 1, "sp": 10, "ep": 50, "gp": 100, "pp": 1000}
    assert e.treasure.coins_cp == sum(per[c] * n for c, n in e.treasure.coins.items())
    beasts = build_encounter(_request(level=1, terrain="grassland", theme="elephant rhinoceros lion", seed=2))
    assert all(g.stat_block.abilities.intelligence < 6 for g in beasts.creatures)
    assert beasts.treasure.coins_cp == 0  # animals carry no purses


def test_prose_is_a_separate_step() -> None:
    seen: list[Encounter] = []

    def writer(encounter: Encounter, rng: random.Random) -> Prose:
        seen.append(encounter)
        return Prose("T", "D", "X", ())

    req = _request(seed=21)
    mechanics = build_encounter(req)
    written = generate_encounter(req, writer=writer)
    assert seen == [mechanics] and written.prose.title == "T"
    procedural = generate_encounter(req)
    assert procedural.creatures == written.creatures and procedural.xp == written.xp
    assert (
        procedural.prose.description
        and procedural.prose.tactics
        and len(procedural.prose.terrain_features) == 2
    )
    assert procedural.prose == generate_encounter(req).prose


@pytest.mark.parametrize(
    ("kw", "field", "must_mention"),
    [
        ({"size": 0}, "party", "at least one"),
        ({"level": 0}, "party[0].level", "1-20"),
        ({"level": 21}, "party[0].level", "1-20"),
        ({"terrain": "jungle"}, "terrain", "underdark"),
        ({"difficulty": "impossible"}, "difficulty", "deadly"),
        ({"kind": "dance"}, "kind", "hazard"),
        ({"max_creatures": 0}, "max_creatures", "1-30"),
    ],
)
def test_bad_input_names_the_field(kw: dict[str, object], field: str, must_mention: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        build_encounter(_request(**kw))  # type: ignore[arg-type]
    fields = dict(err.value.violations)
    assert field in fields and must_mention in fields[field]
    assert field in str(err.value)


def test_all_bad_fields_reported_at_once() -> None:
    req = EncounterRequest(
        party=(PartyMember(0), PartyMember(22)), terrains=("lava",), difficulty="x", seed=1
    )
    with pytest.raises(InvalidArgument) as err:
        build_encounter(req)
    assert [f for f, _ in err.value.violations] == [
        "party[0].level",
        "party[1].level",
        "terrain",
        "difficulty",
    ]


def test_list_monsters_by_terrain_and_cr() -> None:
    bestiary = Bestiary(load_srd(), [WorldCreature("Ice Troll", 6, ("arctic",), "troll")])
    arctic = bestiary.list_monsters("arctic", 5, 8)
    assert arctic and all(5 <= m.challenge_rating <= 8 for m in arctic)
    assert [m.challenge_rating for m in arctic] == sorted(m.challenge_rating for m in arctic)
    assert "Ice Troll" in [m.name for m in arctic] and "Mammoth" in [m.name for m in arctic]
    assert len(bestiary.list_monsters()) == 335
    with pytest.raises(InvalidArgument) as err:
        bestiary.list_monsters("moon", 3, 1)
    assert [f for f, _ in err.value.violations] == ["terrain", "max_challenge_rating"]
    with pytest.raises(InvalidArgument) as err:
        bestiary.list_monsters("", 3, 1)
    assert err.value.violations[0][0] == "max_challenge_rating"
