"""Per-world art styles: the preset a world's lore declares (``art_style`` in its world.md), or a safe default.

Every picture of a campaign is dressed in its world's positive and negative style phrases, so portraits, vistas
and item art look like one campaign. A world without lore on disk (or with a broken folder) falls back to a
neutral fantasy-illustration preset; a world id that names no world at all is the caller's mistake.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from lore import World, available_worlds, load_world, world_path
from lore.errors import LoreFormatError

log = logging.getLogger("visual_svc.styles")


@dataclass(frozen=True, slots=True)
class StylePreset:
    """A named pair of style phrases added to every prompt."""

    name: str
    positive: str
    negative: str


DEFAULT_STYLE = StylePreset(
    name="fantasy-illustration",
    positive="detailed fantasy illustration, painterly, natural lighting, muted palette, fine brushwork",
    negative="photo, 3d render, anime, cartoon, modern clothing, text, watermark, signature",
)


@dataclass(frozen=True, slots=True)
class WorldStyle:
    """The style of a world and, when its lore loaded, the world itself (for lore references)."""

    world_id: str
    style: StylePreset
    world: World | None


class StyleBook:
    """Finds the style of a world by id (the folder name under ``worlds_dir``)."""

    def __init__(self, worlds_dir: Path, default_world: str) -> None:
        self.worlds_dir = Path(worlds_dir)
        self.default_world = default_world

    def for_world(self, world_id: str, field: str = "world_id") -> WorldStyle:
        """The world's style; unknown explicit ids raise UnknownChoice (INVALID_ARGUMENT naming ``field``)."""
        wanted = world_id.strip()
        if not wanted and self.default_world not in available_worlds(self.worlds_dir):
            return WorldStyle(self.default_world, DEFAULT_STYLE, None)
        ident = wanted or self.default_world
        path = world_path(self.worlds_dir, ident, field)
        try:
            world = load_world(path)
        except LoreFormatError as exc:
            log.warning(
                "world lore unreadable, using the default style", extra={"world": ident, "error": str(exc)}
            )
            return WorldStyle(ident, DEFAULT_STYLE, None)
        art = world.art_style
        return WorldStyle(ident, StylePreset(art.preset, art.positive, art.negative), world)
