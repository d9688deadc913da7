"""The sample world parses into complete, consistent facts, and lookups name the valid choices."""

from __future__ import annotations

import re

import pytest

from lore import DOCUMENT_KINDS, TERRAINS, UnknownChoice, World
from mesh.errors import InvalidArgument

REQUIRED_KINDS = set(DOCUMENT_KINDS) - {"appendix", "lore"}


def test_every_document_kind_is_present(world: World) -> None:
    kinds = {doc.kind for doc in world.documents}
    assert REQUIRED_KINDS <= kinds
    assert {"appendix", "lore"} <= kinds
    assert world.id == "ashen-reach" and world.name == "The Ashen Reach"


def test_world_is_substantial(world: World) -> None:
    words = sum(len(doc.body.split()) for doc in world.documents)
    assert 8_000 <= words <= 15_000, words
    assert len(world.regions) >= 8
    assert len(world.cultures) >= 4
    assert len(world.archetypes) >= 10
    assert len(world.factions) >= 8


def test_regions_use_only_known_terrains_and_include_fen_and_capital(world: World) -> None:
    for region in world.regions:
        assert region.terrains and set(region.terrains) <= set(TERRAINS), region.id
    fen = world.region("The Brinefen")
    assert {"swamp", "coastal"} <= set(fen.terrains)
    capital = world.region("cindermoot")
    assert capital.terrains == ["urban"]
    assert any(s.kind == "capital" for s in capital.settlements)
    assert capital.parent == "crownlands"
    assert [r.id for r in world.subregions("crownlands")] == ["cindermoot"]


def test_every_terrain_has_a_region_and_a_creature(world: World) -> None:
    for terrain in TERRAINS:
        assert world.regions_with_terrain(terrain), terrain
        assert world.creatures_for_terrain(terrain), terrain


def test_culture_name_lists_are_rich(world: World) -> None:
    for culture in world.cultures:
        names = culture.names
        assert len(names.given_male) >= 25, culture.id
        assert len(names.given_female) >= 25, culture.id
        assert len(names.given_neutral) >= 25, culture.id
        assert len(names.family) >= 20, culture.id
        assert len(names.epithets) >= 5, culture.id
        assert world.cultures_in(culture.regions[0])
    assert "Maelis" in world.names("Veyrish", "given_female")
    assert "Saske" in world.names("brinefolk", "given_female")


def test_ranks_run_monarch_to_esquire(world: World) -> None:
    ranked = world.ranked()
    assert [r.order for r in ranked] == list(range(1, 11))
    assert [r.title for r in ranked] == [
        "King",
        "Prince",
        "Duke",
        "Marquess",
        "Earl",
        "Viscount",
        "Baron",
        "Baronet",
        "Knight",
        "Esquire",
    ]
    assert world.rank("Queen").id == "monarch"
    assert world.rank("countess").id == "earl"
    assert world.rank("Count").id == "earl"
    assert any(rule.applies_to == "the Crown" for rule in world.succession)
    for house in world.houses:
        assert house.rank in world.ranks.ids()


def test_faiths_reference_known_deities(world: World) -> None:
    lantern = world.faith("The Lantern Church")
    assert [d.name for d in world.faith_deities(lantern.id)] == ["Aurel", "Oradin", "Ilvane", "Veskhara"]
    assert lantern.clergy_titles[-1] == "High Lamp"
    assert world.deity("the grey mother").id == "veskhara"


def test_currency_conversion_and_prices(world: World) -> None:
    assert world.to_cp(3, "crown") == 300
    assert world.to_cp(2, "Harrow ship") == 100
    assert world.to_cp("1.5", "mk") == 15
    assert world.gp_to_cp(15) == 1500
    assert world.format_price(15) == "15 cr"
    assert world.format_price(12.5) == "12 cr 5 mk"
    assert world.format_price(0.07, style="long") == "7 pence"
    assert world.format_price(1.01, style="long") == "1 crown, 1 penny"
    assert world.format_price(0) == "0 d"
    assert world.format_price(0.001) == "1 d"  # a positive price never reads as free


def test_negative_price_is_invalid_argument(world: World) -> None:
    with pytest.raises(InvalidArgument) as err:
        world.format_price(-1, field="item.price_gp")
    assert err.value.violations[0][0] == "item.price_gp"


def test_magic_items_follow_their_theme(world: World) -> None:
    assert world.magic is not None
    forbidden = set(world.magic.forbidden_effects)
    for item in world.items:
        theme = world.item_theme(item.theme)
        assert set(item.effects) <= set(theme.effects), item.id
        assert set(item.damage_types) <= set(theme.damage_types), item.id
        assert not set(item.effects) & forbidden
    assert "necromancy" in world.magic.schools_forbidden
    assert "resurrection" in forbidden


def test_archetypes_cover_the_common_roles(world: World) -> None:
    wanted = {
        "merchant",
        "guard",
        "archmage",
        "priest",
        "noble",
        "knight",
        "bandit",
        "spy",
        "sage",
        "innkeeper",
    }
    assert wanted <= set(world.archetypes.ids())
    knight = world.archetype("Knight")
    assert knight.base_statblock == "knight" and knight.default_cr == 3
    assert world.archetype("guard").default_cr == pytest.approx(1 / 8)


def test_dm_only_document_facts_are_secret(world: World) -> None:
    assert world.faith("the-kindled").secret
    assert world.deity("Ithrax").secret
    assert world.creature("kindled-husk").secret
    assert not world.faith("lantern-church").secret
    assert world.document("secrets.md").dm_only
    assert {e.name for e in world.events if e.secret} >= {"Hollis Venn becomes the Voice"}
    assert "the-kindled" not in {f.id for f in world.faiths.public()}
    assert "lantern-church" in {f.id for f in world.faiths.public()}
    assert len(world.faiths.public()) == len(world.faiths) - 1


def test_pinned_documents(world: World) -> None:
    pinned = {doc.path for doc in world.documents if doc.pinned}
    assert "world.md" in pinned
    assert all(chunk.pinned for chunk in world.chunks() if chunk.document_path == "world.md")


def test_calendar_and_art_style(world: World) -> None:
    assert world.calendar.current_year == 412
    assert world.calendar.days_per_year == 365
    assert world.art_style.preset == "ashen-reach-painterly"
    assert "watermark" in world.art_style.negative


@pytest.mark.parametrize(
    ("lookup", "ref", "resource", "some_valid"),
    [
        ("rank", "Emperor", "rank", "duke"),
        ("region", "Atlantis", "region", "brinefen"),
        ("culture", "Elvish", "culture", "kethrin"),
        ("archetype", "pirate king", "archetype", "innkeeper"),
        ("faith", "Sun Cult", "faith", "old-tide"),
        ("creature", "beholder", "creature", "fen-lurker"),
        ("item_theme", "chrono", "item theme", "orrathi"),
        ("terrains_for", "Narnia", "region", "gloamwood"),
    ],
)
def test_unknown_lookup_lists_valid_choices(
    world: World, lookup: str, ref: str, resource: str, some_valid: str
) -> None:
    with pytest.raises(UnknownChoice) as err:
        getattr(world, lookup)(ref, field="request.thing")
    exc = err.value
    assert isinstance(exc, InvalidArgument) and isinstance(exc, LookupError)
    field, description = exc.violations[0]
    assert field == "request.thing"
    assert description.startswith(f"unknown {resource} {ref!r}; valid: ")
    assert some_valid in exc.valid
    assert some_valid in description


def test_unknown_rank_message_lists_every_rank(world: World) -> None:
    with pytest.raises(UnknownChoice) as err:
        world.rank("Emperor")
    assert err.value.violations == [
        (
            "rank",
            "unknown rank 'Emperor'; valid: baron, baronet, duke, earl, esquire, knight, marquess, monarch, prince, viscount",
        )
    ]


def test_unknown_currency_and_terrain(world: World) -> None:
    with pytest.raises(UnknownChoice, match=r"unknown currency 'doubloon'; valid: .*crown"):
        world.to_cp(1, "doubloon")
    with pytest.raises(UnknownChoice, match="unknown terrain 'lava'; valid: arctic, coastal"):
        world.creatures_for_terrain("lava")


def test_lookups_are_case_and_space_insensitive(world: World) -> None:
    assert world.region("  the   BRINEFEN ").id == "brinefen"
    assert world.region("Rime March").id == "frostmarch"
    assert world.culture("FENFOLK").id == "brinefolk"
    assert world.term("ember rights").term == "Ember Rights"
    assert "brinefen" in world.regions and "nowhere" not in world.regions


# --- consistency across documents -------------------------------------------------------------------------------


def _prose(world: World, path: str) -> str:
    return world.document(path).body


def test_structured_names_appear_in_their_prose(world: World) -> None:
    geography = _prose(world, "geography.md")
    for region in world.regions:
        assert region.name.removeprefix("The ") in geography, region.name
        for settlement in region.settlements:
            assert settlement.name in geography, settlement.name
    religion = _prose(world, "religion.md")
    for deity in world.deities:
        if not deity.secret:
            assert deity.name in religion, deity.name
    magic = _prose(world, "magic.md")
    for theme in world.item_themes:
        assert theme.name.lower() in magic.lower(), theme.name


def test_house_heads_and_faction_leaders_are_described(world: World) -> None:
    people = _prose(world, "people.md")
    for house in world.houses:
        surname = house.head.split()[-1]
        assert re.search(rf"\*\*[^*]*{surname}\*\*", people), house.head
    everything = "\n".join(doc.body for doc in world.documents)
    for faction in world.factions:
        leader = faction.leader.split(",")[0].split()[-1]
        assert leader in everything, (faction.id, faction.leader)


def test_dates_agree_between_timeline_and_prose(world: World) -> None:
    years = {event.name: event.year for event in world.events}
    assert years["The Ashfall"] == 0
    assert years["Battle of Skellan's Ford"] == 389
    assert years["Prince Corvan vanishes"] == 409
    everything = "\n".join(doc.body for doc in world.documents)
    assert "409 AA" in _prose(world, "nobility.md")
    assert "Skellan's Ford" in everything and "389 AA" in everything
    for event in world.events:
        assert any(e.id == event.era for e in world.eras)
        era = world.eras.get(event.era)
        assert era.start <= event.year and (era.end is None or event.year <= era.end), event.name
    assert world.calendar.current_year == max(e.year for e in world.events)


def test_stat_block_references_exist_in_the_srd(world: World) -> None:
    """Archetypes and world creatures start from real SRD stat blocks with the CR the rules code will use."""
    import json
    import sqlite3

    srd = pytest.importorskip("rules.srd")
    try:
        path = srd.srd_path("2014")
    except srd.SrdMissing:
        pytest.skip("SRD data not fetched (scripts/fetch_srd.py)")
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as con:
        cr = {
            index: json.loads(data)["challenge_rating"]
            for index, data in con.execute('SELECT "index", data FROM monsters')
        }
    for archetype in world.archetypes:
        assert cr.get(archetype.base_statblock) == archetype.default_cr, archetype.id
    for creature in world.creatures:
        assert cr.get(creature.based_on) == creature.cr, creature.id
