"""load_world caches by every document's (path, mtime, size) so services may call it on each request."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from lore import LoreFormatError, UnknownChoice, available_worlds, load_world, world_path


def _bump(path: Path, old: str, new: str) -> None:
    stat = path.stat()
    path.write_text(path.read_text(encoding="utf-8").replace(old, new), encoding="utf-8")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


def test_unchanged_world_is_served_from_cache(world_copy: Path) -> None:
    first = load_world(world_copy)
    assert load_world(world_copy) is first
    assert load_world(str(world_copy / ".." / world_copy.name)) is first  # same folder, other spelling


def test_edited_document_is_reloaded(world_copy: Path) -> None:
    first = load_world(world_copy)
    _bump(world_copy / "nobility.md", "head: Duke Odo Salwick", "head: Duchess Idonea Salwick")
    second = load_world(world_copy)
    assert second is not first
    assert second.house("salwick").head == "Duchess Idonea Salwick"
    assert first.house("salwick").head == "Duke Odo Salwick"


def test_added_document_is_picked_up(world_copy: Path) -> None:
    first = load_world(world_copy)
    (world_copy / "extra").mkdir()
    (world_copy / "extra" / "ballads.md").write_text(
        "---\nkind: lore\ntitle: Ballads\n---\n## The Eel King\n\nA song of the fen.\n", encoding="utf-8"
    )
    second = load_world(world_copy)
    assert second is not first
    assert second.document("extra/ballads.md").title == "Ballads"
    assert any(c.key == "extra/ballads.md#Ballads > The Eel King#0" for c in second.chunks())


def test_hidden_and_underscore_files_are_ignored(world_copy: Path) -> None:
    (world_copy / "_draft.md").write_text("not even front matter", encoding="utf-8")
    (world_copy / ".notes.md").write_text("nor this", encoding="utf-8")
    assert len(load_world(world_copy).documents) == 17


def test_concurrent_loads_agree(world_copy: Path) -> None:
    with ThreadPoolExecutor(max_workers=4) as pool:
        worlds = list(pool.map(lambda _: load_world(world_copy), range(8)))
    assert {w.signature for w in worlds} == {worlds[0].signature}
    assert load_world(world_copy) in worlds


def test_missing_folder() -> None:
    with pytest.raises(LoreFormatError, match="world folder does not exist"):
        load_world("/nonexistent/world")


def test_world_path_lists_available_worlds(world_copy: Path) -> None:
    base = world_copy.parent
    assert available_worlds(base) == ["ashen-reach"]
    assert world_path(base, "ashen-reach") == world_copy
    with pytest.raises(UnknownChoice) as err:
        world_path(base, "../etc", field="world_id")
    assert err.value.violations == [("world_id", "unknown world '../etc'; valid: ashen-reach")]
