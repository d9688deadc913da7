"""Parse one world document: YAML front matter (structured facts) plus a markdown body (prose for retrieval).

Each document declares a ``kind``; the kind decides which fact keys its front matter must and may carry, so a
geography file cannot silently hold the pantheon and a missing rank table fails at load time, not when an NPC is
generated. Every error names the file and the field path (``geography.md: regions[2].terrains[0]: ...``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lore.errors import LoreFormatError
from lore.facts import (
    Archetype,
    ArtStyle,
    Calendar,
    Creature,
    Culture,
    Currency,
    Deity,
    Era,
    Faction,
    Faith,
    Guild,
    HistoricalEvent,
    House,
    Item,
    MagicSystem,
    Rank,
    Region,
    Site,
    Slug,
    SuccessionRule,
    Term,
    TradeGood,
)

DocumentKind = Literal[
    "world",
    "timeline",
    "cultures",
    "geography",
    "religion",
    "nobility",
    "economy",
    "magic",
    "npc_templates",
    "creatures",
    "items",
    "sites",
    "factions",
    "glossary",
    "appendix",
    "lore",
]
DOCUMENT_KINDS: tuple[str, ...] = get_args(DocumentKind)
Audience = Literal["player", "dm"]

#: Keys any document may carry.
COMMON_KEYS = frozenset({"kind", "title", "audience", "pinned", "tags", "keywords"})

#: Fact lists that may be spread over several documents and are merged by the world loader.
LIST_FACT_KEYS = frozenset(
    {
        "eras",
        "events",
        "cultures",
        "regions",
        "deities",
        "faiths",
        "ranks",
        "succession",
        "houses",
        "currencies",
        "trade_goods",
        "guilds",
        "archetypes",
        "creatures",
        "items",
        "sites",
        "factions",
        "terms",
    }
)

#: kind -> (keys it must carry, further keys it may carry). Free-form kinds may carry any list of facts.
KIND_KEYS: Mapping[str, tuple[frozenset[str], frozenset[str]]] = MappingProxyType(
    {
        "world": (frozenset({"id", "name", "summary", "art_style", "calendar"}), frozenset()),
        "timeline": (frozenset({"eras", "events"}), frozenset()),
        "cultures": (frozenset({"cultures"}), frozenset()),
        "geography": (frozenset({"regions"}), frozenset()),
        "religion": (frozenset({"deities", "faiths"}), frozenset()),
        "nobility": (frozenset({"ranks", "succession"}), frozenset({"houses"})),
        "economy": (
            frozenset({"currencies", "base_currency", "gp_equivalent_cp"}),
            frozenset({"trade_goods", "guilds"}),
        ),
        "magic": (frozenset({"magic"}), frozenset()),
        "npc_templates": (frozenset({"archetypes"}), frozenset()),
        "creatures": (frozenset({"creatures"}), frozenset()),
        "items": (frozenset({"items"}), frozenset()),
        "sites": (frozenset({"sites"}), frozenset()),
        "factions": (frozenset({"factions"}), frozenset()),
        "glossary": (frozenset({"terms"}), frozenset()),
        "appendix": (frozenset(), LIST_FACT_KEYS),
        "lore": (frozenset(), LIST_FACT_KEYS),
    }
)


class FrontMatter(BaseModel):
    """Everything a front matter block may hold; ``KIND_KEYS`` decides which parts a given kind uses."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    kind: DocumentKind
    title: str = ""
    audience: Audience = "player"
    pinned: bool = False
    tags: list[str] = Field(default_factory=list)
    keywords: list[str] = Field(default_factory=list)

    # world
    id: Slug | None = None
    name: str | None = None
    summary: str | None = None
    art_style: ArtStyle | None = None
    calendar: Calendar | None = None
    # timeline
    eras: list[Era] = Field(default_factory=list)
    events: list[HistoricalEvent] = Field(default_factory=list)
    # cultures, geography, religion
    cultures: list[Culture] = Field(default_factory=list)
    regions: list[Region] = Field(default_factory=list)
    deities: list[Deity] = Field(default_factory=list)
    faiths: list[Faith] = Field(default_factory=list)
    # nobility
    ranks: list[Rank] = Field(default_factory=list)
    succession: list[SuccessionRule] = Field(default_factory=list)
    houses: list[House] = Field(default_factory=list)
    # economy
    currencies: list[Currency] = Field(default_factory=list)
    base_currency: Slug | None = None
    gp_equivalent_cp: int | None = Field(default=None, ge=1)
    trade_goods: list[TradeGood] = Field(default_factory=list)
    guilds: list[Guild] = Field(default_factory=list)
    # magic, NPCs, creatures, items, sites, factions, glossary
    magic: MagicSystem | None = None
    archetypes: list[Archetype] = Field(default_factory=list)
    creatures: list[Creature] = Field(default_factory=list)
    items: list[Item] = Field(default_factory=list)
    sites: list[Site] = Field(default_factory=list)
    factions: list[Faction] = Field(default_factory=list)
    terms: list[Term] = Field(default_factory=list)


@dataclass(frozen=True, slots=True)
class LoreDocument:
    """One parsed world document. ``metadata`` holds the kind's facts as plain JSON-ready data."""

    path: str
    kind: DocumentKind
    title: str
    audience: Audience
    pinned: bool
    tags: tuple[str, ...]
    keywords: tuple[str, ...]
    metadata: Mapping[str, Any]
    body: str
    front_matter: FrontMatter = field(repr=False)
    body_line: int = 1

    @property
    def dm_only(self) -> bool:
        """True when the whole document is for the DM's eyes only."""
        return self.audience == "dm"


_FENCE = re.compile(r"^---[ \t]*$")
_FENCE_END = re.compile(r"^(?:---|\.\.\.)[ \t]*$")
_H1 = re.compile(r"^#[ \t]+(.+?)[ \t]*#*[ \t]*$", re.MULTILINE)


class _UniqueKeyLoader(yaml.SafeLoader):
    """Safe YAML loader that rejects duplicate mapping keys (PyYAML silently keeps the last one)."""


def _construct_unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if not isinstance(key, str | int | float | bool | None):  # "? [a]: 1" would make an unhashable key
            raise yaml.constructor.ConstructorError(
                None, None, "mapping keys must be plain values", key_node.start_mark
            )
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping)


def split_front_matter(text: str, path: str) -> tuple[str, str, int]:
    """Return (front matter YAML, body, body's first line number); a document must open with ``---``."""
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    if not lines or not _FENCE.match(lines[0]):
        raise LoreFormatError(path, [("front matter", "document must start with a '---' front matter block")])
    for index in range(1, len(lines)):
        if _FENCE_END.match(lines[index]):
            return "\n".join(lines[1:index]), "\n".join(lines[index + 1 :]), index + 2
    raise LoreFormatError(path, [("front matter", "no closing '---' line")])


def _field_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "front matter"


def _check_kind_keys(raw: Mapping[str, Any], path: str) -> None:
    kind = raw.get("kind")
    if kind is None:
        raise LoreFormatError(path, [("kind", f"missing; one of {', '.join(DOCUMENT_KINDS)}")])
    if kind not in KIND_KEYS:
        raise LoreFormatError(path, [("kind", f"unknown kind {kind!r}; valid: {', '.join(DOCUMENT_KINDS)}")])
    required, optional = KIND_KEYS[kind]
    allowed = COMMON_KEYS | required | optional
    problems = [(key, "required for kind " + repr(kind)) for key in sorted(required) if raw.get(key) is None]
    problems += [
        (str(key), f"not allowed in a {kind!r} document; allowed: {', '.join(sorted(allowed))}")
        for key in raw
        if key not in allowed
    ]
    if problems:
        raise LoreFormatError(path, problems)


def parse_document_text(text: str, path: str) -> LoreDocument:
    """Parse a document's text; ``path`` is its path relative to the world folder (used in keys and errors)."""
    yaml_text, body, body_line = split_front_matter(text, path)
    try:
        raw = yaml.load(yaml_text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"front matter line {mark.line + 2}" if mark is not None else "front matter"
        problem = getattr(exc, "problem", None) or str(exc)
        raise LoreFormatError(path, [(where, f"invalid YAML: {problem}")]) from exc
    if not isinstance(raw, dict):
        raise LoreFormatError(path, [("front matter", "must be a YAML mapping of keys to values")])
    _check_kind_keys(raw, path)
    try:
        front = FrontMatter.model_validate(raw)
    except ValidationError as exc:
        problems = [(_field_path(err["loc"]), err["msg"]) for err in exc.errors()]
        raise LoreFormatError(path, problems) from exc

    title = front.title
    if not title:
        match = _H1.search(body)
        title = match.group(1) if match else Path(path).stem.replace("_", " ").replace("-", " ").title()
    fact_keys = [key for key in raw if key not in COMMON_KEYS]
    metadata = front.model_dump(mode="json", include=set(fact_keys))
    return LoreDocument(
        path=path,
        kind=front.kind,
        title=title,
        audience=front.audience,
        pinned=front.pinned,
        tags=tuple(front.tags),
        keywords=tuple(front.keywords),
        metadata=MappingProxyType(metadata),
        body=body.strip("\n"),
        front_matter=front,
        body_line=body_line + len(body) - len(body.lstrip("\n")),
    )


def parse_document(path: Path, root: Path | None = None) -> LoreDocument:
    """Read and parse one markdown file; errors name it relative to ``root`` (the world folder) when given."""
    rel = path.relative_to(root).as_posix() if root is not None else path.name
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise LoreFormatError(rel, [("encoding", f"not UTF-8 ({exc.reason} at byte {exc.start})")]) from exc
    return parse_document_text(text, rel)
