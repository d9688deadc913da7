"""Front matter is validated per kind; every error names the file and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from lore import LoreFormatError, load_world, parse_document, parse_document_text
from mesh.errors import FailedPrecondition

GEOGRAPHY = """---
kind: geography
regions:
  - id: brinefen
    name: The Brinefen
    terrains: [swamp, coastal]
    biome: salt marsh
    climate: foggy
---
# Geography

## The Brinefen

Salt and fog.
"""


def _error(text: str, path: str = "geography.md") -> LoreFormatError:
    with pytest.raises(LoreFormatError) as err:
        parse_document_text(text, path)
    return err.value


def test_valid_document_parses() -> None:
    doc = parse_document_text(GEOGRAPHY, "geography.md")
    assert doc.kind == "geography" and doc.title == "Geography" and doc.audience == "player"
    assert doc.metadata["regions"][0]["terrains"] == ["swamp", "coastal"]
    assert doc.body.startswith("# Geography") and doc.body_line == 10
    assert not doc.pinned and not doc.dm_only


def test_bad_terrain_names_file_and_field_path() -> None:
    err = _error(GEOGRAPHY.replace("[swamp, coastal]", "[swamp, lava]"))
    assert err.path == "geography.md"
    assert err.field == "regions[0].terrains[1]"
    assert str(err).startswith("geography.md: regions[0].terrains[1]: ")
    assert "'coastal'" in str(err)  # pydantic lists the allowed literals
    assert isinstance(err, FailedPrecondition) and isinstance(err, ValueError)


def test_missing_required_field_of_a_fact() -> None:
    err = _error(GEOGRAPHY.replace("    biome: salt marsh\n", ""))
    assert err.field == "regions[0].biome"
    assert "Field required" in str(err)


def test_misspelled_key_is_rejected_not_dropped() -> None:
    err = _error(GEOGRAPHY.replace("terrains:", "terrain:"))
    assert {field for field, _ in err.problems} == {"regions[0].terrain", "regions[0].terrains"}


def test_key_not_allowed_in_kind() -> None:
    text = GEOGRAPHY.replace("kind: geography\n", "kind: geography\ndeities: []\n")
    err = _error(text)
    assert err.field == "deities"
    assert "not allowed in a 'geography' document" in str(err)


def test_kind_without_its_required_key() -> None:
    err = _error("---\nkind: nobility\nranks: []\n---\nbody\n", "nobility.md")
    assert err.field == "succession"
    assert str(err) == "nobility.md: succession: required for kind 'nobility'"


def test_unknown_kind_lists_valid_kinds() -> None:
    err = _error("---\nkind: bestiary\n---\n", "x.md")
    assert err.field == "kind" and "unknown kind 'bestiary'" in str(err) and "creatures" in str(err)


def test_yaml_syntax_error_reports_line() -> None:
    err = _error("---\nkind: glossary\nterms: [unclosed\n---\n", "glossary.md")
    assert err.path == "glossary.md" and err.field.startswith("front matter line ")
    assert "invalid YAML" in str(err)


def test_duplicate_yaml_key_is_an_error() -> None:
    err = _error("---\nkind: glossary\nterms: []\nterms: []\n---\n", "glossary.md")
    assert "duplicate key 'terms'" in str(err)


def test_missing_or_unclosed_front_matter() -> None:
    assert _error("# Just markdown\n").field == "front matter"
    assert "no closing" in str(_error("---\nkind: glossary\n"))


def test_non_mapping_front_matter() -> None:
    assert "must be a YAML mapping" in str(_error("---\n- a\n- b\n---\n"))


def test_crlf_and_bom_are_accepted() -> None:
    text = "\ufeff" + GEOGRAPHY.replace("\n", "\r\n")
    doc = parse_document_text(text, "geography.md")
    assert "\r" not in doc.body and doc.metadata["regions"][0]["id"] == "brinefen"


def test_title_falls_back_to_file_name(tmp_path: Path) -> None:
    path = tmp_path / "old_roads.md"
    path.write_text("---\nkind: lore\n---\nNo heading here.\n", encoding="utf-8")
    assert parse_document(path, tmp_path).title == "Old Roads"


def test_non_utf8_file_names_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.md"
    path.write_bytes(b"---\nkind: lore\n---\n\xff\xfe broken")
    with pytest.raises(LoreFormatError, match=r"^bad\.md: encoding: not UTF-8"):
        parse_document(path, tmp_path)


def test_broken_world_file_is_named_by_load_world(world_copy: Path) -> None:
    path = world_copy / "nobility.md"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("order: 4,", "order: four,"), encoding="utf-8")
    with pytest.raises(LoreFormatError) as err:
        load_world(world_copy)
    assert err.value.path == "nobility.md"
    assert err.value.field == "ranks[3].order"


def test_dangling_reference_is_named(world_copy: Path) -> None:
    path = world_copy / "cultures.md"
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text.replace("regions: [frostmarch]", "regions: [frostmarch, atlantis]"), encoding="utf-8"
    )
    with pytest.raises(LoreFormatError) as err:
        load_world(world_copy)
    assert err.value.path == "cultures.md"
    assert err.value.field == "cultures[3].regions"
    assert "unknown region 'atlantis'; valid: ashwaste" in str(err.value)


def test_item_effect_outside_its_theme_is_rejected(world_copy: Path) -> None:
    path = world_copy / "items.md"
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text.replace("effects: [swim-speed, water-breathing]", "effects: [swim-speed, flight]"), "utf-8"
    )
    with pytest.raises(LoreFormatError) as err:
        load_world(world_copy)
    assert err.value.path == "items.md" and err.value.field == "items[3].effects"
    assert "flight not allowed by theme 'tide'" in str(err.value)


def test_rank_orders_must_be_contiguous(world_copy: Path) -> None:
    path = world_copy / "nobility.md"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("order: 10,", "order: 11,"), encoding="utf-8")
    with pytest.raises(LoreFormatError, match=r"rank orders must run 1\.\.10 without gaps"):
        load_world(world_copy)


def test_duplicate_ids_across_documents(world_copy: Path) -> None:
    (world_copy / "more_regions.md").write_text(
        "---\nkind: geography\nregions:\n  - {id: brinefen, name: Other Fen, terrains: [swamp], biome: b,"
        " climate: c}\n---\n# More\n",
        encoding="utf-8",
    )
    with pytest.raises(LoreFormatError) as err:
        load_world(world_copy)
    assert err.value.path == "more_regions.md"
    assert "duplicate region id 'brinefen' (first in geography.md regions[2])" in str(err.value)


def test_world_needs_a_world_document(world_copy: Path) -> None:
    (world_copy / "world.md").unlink()
    with pytest.raises(LoreFormatError, match="a world needs one document of kind 'world'"):
        load_world(world_copy)
