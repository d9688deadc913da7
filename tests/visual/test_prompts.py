"""Prompts from lore: the world's style on every prompt, subjects from lore facts, CLIP's token budget."""

from __future__ import annotations

from pathlib import Path

import pytest

from lore import load_world
from lore.errors import UnknownChoice
from mesh.errors import InvalidArgument
from tests.visual.conftest import WORLD, WORLDS
from visual_svc.prompts import TOKEN_BUDGET, PromptBuilder, estimate_tokens, lore_subject
from visual_svc.spec import ImageKind, ImageRequest, Subject, SubjectRef, request_violations
from visual_svc.styles import DEFAULT_STYLE, StyleBook

BOOK = StyleBook(WORLDS, WORLD)


def test_the_world_lore_sets_the_style() -> None:
    ws = BOOK.for_world("")
    world = load_world(WORLDS / WORLD)
    assert ws.world_id == WORLD and ws.world is not None
    assert ws.style.name == world.art_style.preset == "ashen-reach-painterly"
    built = PromptBuilder().build(ImageKind.PORTRAIT, Subject("Maud", "a stern fen priest"), "", ws.style)
    assert built.prompt.startswith("portrait of Maud")
    assert "muted painterly oil illustration" in built.prompt
    assert "anime" in built.negative_prompt and "extra fingers" in built.negative_prompt
    assert built.style == "ashen-reach-painterly"


def test_a_world_without_lore_gets_the_default_style_and_an_unknown_one_is_refused(tmp_path: Path) -> None:
    empty = StyleBook(tmp_path, "nowhere")
    assert empty.for_world("").style == DEFAULT_STYLE
    with pytest.raises(UnknownChoice) as err:
        BOOK.for_world("atlantis", "spec.world_id")
    assert isinstance(err.value, InvalidArgument)
    assert err.value.violations[0][0] == "spec.world_id" and "ashen-reach" in err.value.violations[0][1]


def test_a_broken_world_falls_back_to_the_default_style(tmp_path: Path) -> None:
    broken = tmp_path / "brokenland"
    broken.mkdir()
    (broken / "world.md").write_text("---\nkind: world\nid: brokenland\n---\n# Broken\n")
    ws = StyleBook(tmp_path, "brokenland").for_world("brokenland")
    assert ws.style == DEFAULT_STYLE and ws.world is None


def test_lore_references_become_subjects() -> None:
    world = load_world(WORLDS / WORLD)
    kind, item = lore_subject(world, "item:hesper-lantern")
    assert kind is ImageKind.ITEM
    assert item.name == "The Lantern of Saint Hesper" and "artifact" in item.traits
    assert "brass lantern" in item.description
    kind, region = lore_subject(world, "region:The Salt Fen")  # aliases work
    assert kind is ImageKind.LOCATION and region.name == "The Brinefen" and "swamp" in region.traits
    kind, site = lore_subject(world, "site:hollow-oak")
    assert kind is ImageKind.LOCATION and any(t.startswith("in ") for t in site.traits)
    kind, creature = lore_subject(world, "creature:ashhound")
    assert kind is ImageKind.PORTRAIT and creature.description


def test_secret_lore_is_treated_as_unknown() -> None:
    world = load_world(WORLDS / WORLD)
    assert world.items.get("kindled-torc").secret
    with pytest.raises(UnknownChoice) as err:
        lore_subject(world, "item:kindled-torc", "spec.lore_ref")
    field, why = err.value.violations[0]
    assert field == "spec.lore_ref" and "kindled-torc" in why
    assert "kindled-torc'" not in why.split("valid:")[1]  # the secret is not listed as a choice either


def test_long_descriptions_are_cut_to_the_budget_and_keep_the_style() -> None:
    style = BOOK.for_world("").style
    long = ". ".join(f"The {i}th detail of an enormously elaborate embroidered cloak" for i in range(40))
    built = PromptBuilder().build(
        ImageKind.PORTRAIT, Subject("Sister Maud Varrow", long, ("human", "priest")), "", style
    )
    assert estimate_tokens(built.prompt) <= TOKEN_BUDGET
    assert built.prompt.startswith("portrait of Sister Maud Varrow, human, priest")
    assert "muted painterly oil illustration" in built.prompt and "The 0th detail" in built.prompt
    assert "The 39th detail" not in built.prompt
    assert estimate_tokens(built.negative_prompt) <= TOKEN_BUDGET


def test_kinds_frame_the_subject() -> None:
    style = DEFAULT_STYLE
    b = PromptBuilder()
    assert "wide establishing shot" in b.build(ImageKind.LOCATION, Subject("Saltmarrow"), "", style).prompt
    item = b.build(ImageKind.ITEM, Subject("Hesper's Lantern"), "", style)
    assert "single object" in item.prompt and "hands" in item.negative_prompt
    scene = b.build(ImageKind.PORTRAIT, Subject(), "a woman with a lantern", style)
    assert scene.prompt.startswith("portrait of a woman with a lantern")
    again = b.build(ImageKind.PORTRAIT, Subject(), "a woman with a lantern", style)
    assert again == scene  # deterministic


def test_request_limits_name_the_field() -> None:
    def fields(**kw: object) -> list[str]:
        base: dict[str, object] = {"subject": SubjectRef(text="a knight"), "steps": 20}
        base.update(kw)
        return [f for f, _ in request_violations(ImageRequest(**base), 1024, "spec.").items]  # type: ignore[arg-type]

    assert fields() == []
    assert fields(width=100) == ["spec.width"]
    assert fields(height=2048) == ["spec.height"]
    assert fields(width=32) == ["spec.width"]
    assert fields(steps=0) == ["spec.steps"] and fields(steps=500) == ["spec.steps"]
    assert fields(subject=SubjectRef(text="  ")) == ["spec.prompt"]
    assert fields(subject=SubjectRef(lore_ref="spell:fireball")) == ["spec.lore_ref"]
    assert fields(subject=SubjectRef(entity=Subject(name="Maud"))) == []
    assert fields(scheduler="karras") == ["spec.scheduler"]
    assert fields(seed=-1) == ["spec.seed"]
    assert fields(guidance_scale=31.0) == ["spec.guidance_scale"]
