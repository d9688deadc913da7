"""Load a world folder into typed, cross-checked facts, cached so services can call it on every request.

Facts of one kind may be spread over several documents; the loader merges them, checks every reference (a
culture's regions, a faith's deities, an item's theme and effects against the magic system...) and marks facts
from ``audience: dm`` documents as secret. The cache key is every document's path, mtime and size, so an edited
world is reloaded on the next call and an unchanged one costs a few ``stat`` calls.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel

from lore.catalog import Catalog
from lore.chunking import DEFAULT_MAX_CHARS, Chunk, chunk_document
from lore.documents import LoreDocument, parse_document
from lore.errors import LoreFormatError, UnknownChoice
from lore.facts import (
    TERRAINS,
    Archetype,
    ArtStyle,
    Calendar,
    Creature,
    Culture,
    Deity,
    Era,
    Faction,
    Faith,
    Guild,
    HistoricalEvent,
    House,
    Item,
    ItemTheme,
    MagicSystem,
    Rank,
    Region,
    Site,
    SuccessionRule,
    Term,
    TradeGood,
)
from lore.money import Coinage

NameKind = Literal["given_male", "given_female", "given_neutral", "family", "epithets"]
F = TypeVar("F", bound=BaseModel)

_WORLD_ID = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


@dataclass(frozen=True, slots=True)
class _Sourced:
    """Where a fact was declared, for error messages: document path and field path."""

    path: str
    where: str


def _labels(fact: Any) -> list[str]:
    labels: list[str] = fact.labels()
    return labels


@dataclass(frozen=True, eq=False)
class World:
    """A loaded world: its documents and every structured fact, with lookups that name valid choices."""

    root: Path
    id: str
    name: str
    summary: str
    art_style: ArtStyle
    calendar: Calendar
    documents: tuple[LoreDocument, ...]
    eras: Catalog[Era]
    events: tuple[HistoricalEvent, ...]
    cultures: Catalog[Culture]
    regions: Catalog[Region]
    deities: Catalog[Deity]
    faiths: Catalog[Faith]
    ranks: Catalog[Rank]
    succession: tuple[SuccessionRule, ...]
    houses: Catalog[House]
    coinage: Coinage | None
    trade_goods: Catalog[TradeGood]
    guilds: Catalog[Guild]
    magic: MagicSystem | None
    item_themes: Catalog[ItemTheme]
    archetypes: Catalog[Archetype]
    creatures: Catalog[Creature]
    items: Catalog[Item]
    sites: Catalog[Site]
    factions: Catalog[Faction]
    terms: Catalog[Term]
    signature: tuple[tuple[str, int, int], ...] = field(default=(), repr=False)

    # --- documents --------------------------------------------------------------------------------------------

    def document(self, path: str) -> LoreDocument:
        """The document at ``path`` relative to the world folder."""
        for doc in self.documents:
            if doc.path == path:
                return doc
        raise UnknownChoice("document", "document", path, [d.path for d in self.documents])

    def documents_of_kind(self, kind: str) -> list[LoreDocument]:
        return [d for d in self.documents if d.kind == kind]

    def chunks(self, max_chars: int = DEFAULT_MAX_CHARS) -> list[Chunk]:
        """Every document chunked, in document order (what memory ingests)."""
        return [chunk for doc in self.documents for chunk in chunk_document(doc, max_chars)]

    # --- geography and people ---------------------------------------------------------------------------------

    def region(self, ref: str, field: str = "region") -> Region:
        return self.regions.get(ref, field)

    def terrains_for(self, ref: str, field: str = "region") -> list[str]:
        """The terrains of a region named by id or name (the encounter builder's vocabulary)."""
        return list(self.regions.get(ref, field).terrains)

    def regions_with_terrain(self, terrain: str, field: str = "terrain") -> list[Region]:
        _check_terrain(terrain, field)
        return [r for r in self.regions if terrain in r.terrains]

    def subregions(self, ref: str, field: str = "region") -> list[Region]:
        parent = self.regions.get(ref, field).id
        return [r for r in self.regions if r.parent == parent]

    def culture(self, ref: str, field: str = "culture") -> Culture:
        return self.cultures.get(ref, field)

    def cultures_in(self, region_ref: str, field: str = "region") -> list[Culture]:
        """Cultures living in a region or in any region above it."""
        region: Region | None = self.regions.get(region_ref, field)
        line: set[str] = set()
        while region is not None:
            line.add(region.id)
            region = self.regions.find(region.parent) if region.parent else None
        return [c for c in self.cultures if line & set(c.regions)]

    def names(self, culture: str, kind: NameKind, field: str = "culture") -> list[str]:
        """One of a culture's name lists: the only names a generator may use for that culture."""
        return list(getattr(self.cultures.get(culture, field).names, kind))

    def deity(self, ref: str, field: str = "deity") -> Deity:
        return self.deities.get(ref, field)

    def faith(self, ref: str, field: str = "faith") -> Faith:
        return self.faiths.get(ref, field)

    def faith_deities(self, ref: str, field: str = "faith") -> list[Deity]:
        return [self.deities.get(d) for d in self.faiths.get(ref, field).deities]

    def rank(self, ref: str, field: str = "rank") -> Rank:
        """A feudal rank by id, title, female title or alias ("Countess" finds the earl's rank)."""
        return self.ranks.get(ref, field)

    def ranked(self) -> list[Rank]:
        """Ranks from the monarch (order 1) down."""
        return sorted(self.ranks, key=lambda r: r.order)

    def house(self, ref: str, field: str = "house") -> House:
        return self.houses.get(ref, field)

    def faction(self, ref: str, field: str = "faction") -> Faction:
        return self.factions.get(ref, field)

    def site(self, ref: str, field: str = "site") -> Site:
        return self.sites.get(ref, field)

    def term(self, ref: str, field: str = "term") -> Term:
        return self.terms.get(ref, field)

    # --- NPCs, creatures, items -------------------------------------------------------------------------------

    def archetype(self, ref: str, field: str = "archetype") -> Archetype:
        return self.archetypes.get(ref, field)

    def creature(self, ref: str, field: str = "creature") -> Creature:
        return self.creatures.get(ref, field)

    def creatures_for_terrain(self, terrain: str, field: str = "terrain") -> list[Creature]:
        _check_terrain(terrain, field)
        return [c for c in self.creatures if terrain in c.terrains]

    def item(self, ref: str, field: str = "item") -> Item:
        return self.items.get(ref, field)

    def item_theme(self, ref: str, field: str = "theme") -> ItemTheme:
        return self.item_themes.get(ref, field)

    # --- money ------------------------------------------------------------------------------------------------

    def _coins(self) -> Coinage:
        if self.coinage is None:
            raise LoreFormatError(self.id, [("economy", "this world declares no currencies")])
        return self.coinage

    def to_cp(
        self, amount: float | int | Decimal | str, currency: str | None = None, field: str = "amount"
    ) -> int:
        """An amount of one of the world's coins in its smallest coin."""
        return self._coins().to_cp(amount, currency, field)

    def gp_to_cp(self, gp: float | int | Decimal | str, field: str = "price_gp") -> int:
        return self._coins().gp_to_cp(gp, field)

    def format_price(
        self,
        gp: float | int | Decimal | str,
        style: Literal["short", "long"] = "short",
        field: str = "price_gp",
    ) -> str:
        """A 5e price in gp written in the world's coins, e.g. ``12 cr 5 mk``."""
        return self._coins().format_price(gp, style, field)


def _check_terrain(terrain: str, field: str) -> None:
    if terrain not in TERRAINS:
        raise UnknownChoice(field, "terrain", terrain, TERRAINS)


# --- building ------------------------------------------------------------------------------------------------


class _Builder:
    """Merges facts from every document and collects reference errors per document."""

    def __init__(self, documents: Sequence[LoreDocument]) -> None:
        self.documents = documents
        self.problems: dict[str, list[tuple[str, str]]] = {}

    def problem(self, source: _Sourced, sub: str, message: str) -> None:
        self.problems.setdefault(source.path, []).append((f"{source.where}{sub}", message))

    def collect(self, attr: str) -> list[tuple[_Sourced, Any]]:
        out: list[tuple[_Sourced, Any]] = []
        for doc in self.documents:
            for index, fact in enumerate(getattr(doc.front_matter, attr)):
                if doc.dm_only and not fact.secret:
                    fact = fact.model_copy(update={"secret": True})
                out.append((_Sourced(doc.path, f"{attr}[{index}]"), fact))
        return out

    def catalog(
        self,
        resource: str,
        sourced: list[tuple[_Sourced, F]],
        key: Callable[[F], str] = lambda f: str(getattr(f, "id")),  # noqa: B009
        labels: Callable[[F], Iterable[str]] = _labels,
    ) -> Catalog[F]:
        seen: dict[str, _Sourced] = {}
        unique: list[F] = []
        for source, fact in sourced:
            ident = key(fact)
            if ident in seen:
                first = seen[ident]
                self.problem(
                    source, ".id", f"duplicate {resource} id {ident!r} (first in {first.path} {first.where})"
                )
                continue
            seen[ident] = source
            unique.append(fact)
        return Catalog(resource, unique, key=key, labels=labels)

    def refs(
        self, source: _Sourced, sub: str, values: Iterable[str | None], valid: Catalog[Any], what: str
    ) -> None:
        for value in values:
            if value is not None and value not in valid.ids():
                self.problem(
                    source, sub, f"unknown {what} {value!r}; valid: {', '.join(sorted(valid.ids()))}"
                )

    def single(self, kind: str) -> LoreDocument | None:
        """The one document of a kind that holds world-wide settings, or None; two of them is an error."""
        docs = [d for d in self.documents if d.kind == kind]
        if len(docs) > 1:
            paths = ", ".join(d.path for d in docs)
            raise LoreFormatError(
                docs[1].path, [("kind", f"only one {kind!r} document allowed; found {paths}")]
            )
        return docs[0] if docs else None

    def raise_if_any(self) -> None:
        for path, problems in self.problems.items():
            raise LoreFormatError(path, problems)


def build_world(
    root: Path, documents: Sequence[LoreDocument], signature: tuple[tuple[str, int, int], ...] = ()
) -> World:
    """Assemble and cross-check a world from parsed documents (``load_world`` reads and caches them)."""
    b = _Builder(documents)
    world_doc = b.single("world")
    if world_doc is None:
        raise LoreFormatError(root.name, [("world.md", "a world needs one document of kind 'world'")])
    wfm = world_doc.front_matter
    assert wfm.id is not None and wfm.name is not None and wfm.summary is not None
    assert wfm.art_style is not None and wfm.calendar is not None

    regions_src = b.collect("regions")
    regions = b.catalog("region", regions_src)
    for src, region in regions_src:
        b.refs(src, ".parent", [region.parent], regions, "region")
    for src, region in regions_src:  # a parent chain must end
        seen = {region.id}
        current = regions.find(region.parent) if region.parent else None
        while current is not None and current.parent:
            if current.parent in seen:
                b.problem(src, ".parent", f"region parents form a cycle through {current.parent!r}")
                break
            seen.add(current.parent)
            current = regions.find(current.parent)

    eras_src = b.collect("eras")
    eras = b.catalog("era", eras_src)
    events_src = b.collect("events")
    for src, event in events_src:
        b.refs(src, ".era", [event.era], eras, "era")
        b.refs(src, ".regions", event.regions, regions, "region")
    events = tuple(sorted((e for _, e in events_src), key=lambda e: e.year))

    cultures_src = b.collect("cultures")
    cultures = b.catalog("culture", cultures_src)
    for src, culture in cultures_src:
        b.refs(src, ".regions", culture.regions, regions, "region")

    deities = b.catalog("deity", b.collect("deities"))
    faiths_src = b.collect("faiths")
    faiths = b.catalog("faith", faiths_src)
    for src, faith in faiths_src:
        b.refs(src, ".deities", faith.deities, deities, "deity")
        b.refs(src, ".regions", faith.regions, regions, "region")

    ranks_src = b.collect("ranks")
    ranks = b.catalog("rank", ranks_src)
    orders = sorted(r.order for r in ranks)
    if orders and orders != list(range(1, len(orders) + 1)):
        b.problem(ranks_src[0][0], "", f"rank orders must run 1..{len(orders)} without gaps; found {orders}")
    houses_src = b.collect("houses")
    houses = b.catalog("house", houses_src)
    for src, house in houses_src:
        b.refs(src, ".rank", [house.rank], ranks, "rank")
        b.refs(src, ".region", [house.region], regions, "region")

    coinage: Coinage | None = None
    currencies_src = b.collect("currencies")
    economy = b.single("economy")
    if currencies_src:
        currencies = b.catalog("currency", currencies_src)
        if economy is None:
            b.problem(currencies_src[0][0], "", "currencies need an 'economy' document with base_currency")
        else:
            efm = economy.front_matter
            assert efm.base_currency is not None and efm.gp_equivalent_cp is not None
            try:
                coinage = Coinage(currencies, efm.base_currency, efm.gp_equivalent_cp)
            except ValueError as exc:
                b.problem(_Sourced(economy.path, "base_currency"), "", str(exc))
    trade_src = b.collect("trade_goods")
    for src, good in trade_src:
        b.refs(src, ".regions", good.regions, regions, "region")
    trade_goods = b.catalog("trade good", trade_src)
    guilds = b.catalog("guild", b.collect("guilds"))

    magic_doc = b.single("magic")
    magic = magic_doc.front_matter.magic if magic_doc is not None else None
    themes_src: list[tuple[_Sourced, ItemTheme]] = []
    if magic_doc is not None and magic is not None:
        themes_src = [
            (_Sourced(magic_doc.path, f"magic.item_themes[{i}]"), t) for i, t in enumerate(magic.item_themes)
        ]
        for src, theme in themes_src:
            banned = sorted(set(theme.effects) & set(magic.forbidden_effects))
            if banned:
                b.problem(src, ".effects", f"forbidden by the magic system: {', '.join(banned)}")
    item_themes = b.catalog("item theme", themes_src)
    items_src = b.collect("items")
    for src, item in items_src:
        item_theme = item_themes.find(item.theme)
        if item_theme is None:
            b.refs(src, ".theme", [item.theme], item_themes, "item theme")
            continue
        for sub, used, allowed in (
            (".effects", item.effects, item_theme.effects),
            (".damage_types", item.damage_types, item_theme.damage_types),
        ):
            outside = [u for u in used if u not in allowed]
            if outside:
                b.problem(
                    src,
                    sub,
                    f"{', '.join(outside)} not allowed by theme {item_theme.id!r}; allowed: {', '.join(allowed) or 'none'}",
                )
    items = b.catalog("item", items_src)

    archetypes = b.catalog("archetype", b.collect("archetypes"))
    creatures = b.catalog("creature", b.collect("creatures"))
    sites_src = b.collect("sites")
    for src, site in sites_src:
        b.refs(src, ".region", [site.region], regions, "region")
    sites = b.catalog("site", sites_src)
    factions_src = b.collect("factions")
    for src, faction in factions_src:
        b.refs(src, ".region", [faction.region], regions, "region")
    factions = b.catalog("faction", factions_src)
    terms = b.catalog("term", b.collect("terms"), key=lambda t: t.term.casefold(), labels=lambda t: [t.term])
    b.raise_if_any()

    return World(
        root=root,
        id=wfm.id,
        name=wfm.name,
        summary=wfm.summary,
        art_style=wfm.art_style,
        calendar=wfm.calendar,
        documents=tuple(documents),
        eras=eras,
        events=events,
        cultures=cultures,
        regions=regions,
        deities=deities,
        faiths=faiths,
        ranks=ranks,
        succession=tuple(s for _, s in b.collect("succession")),
        houses=houses,
        coinage=coinage,
        trade_goods=trade_goods,
        guilds=guilds,
        magic=magic,
        item_themes=item_themes,
        archetypes=archetypes,
        creatures=creatures,
        items=items,
        sites=sites,
        factions=factions,
        terms=terms,
        signature=signature,
    )


# --- loading and caching -------------------------------------------------------------------------------------

_CACHE_SIZE = 16
_cache: OrderedDict[Path, World] = OrderedDict()
_cache_lock = threading.Lock()


def _document_paths(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*.md")):
        rel = path.relative_to(root)
        if not any(part.startswith((".", "_")) for part in rel.parts):
            yield path


def world_signature(root: Path) -> tuple[tuple[str, int, int], ...]:
    """(relative path, mtime in ns, size) of every document: changes whenever a document is edited or added."""
    out = []
    for path in _document_paths(root):
        stat = path.stat()
        out.append((path.relative_to(root).as_posix(), stat.st_mtime_ns, stat.st_size))
    return tuple(out)


def load_world(path: str | Path) -> World:
    """Load (or return the cached) world in folder ``path``; reloads when any document changed."""
    root = Path(path).resolve()
    if not root.is_dir():
        raise LoreFormatError(str(path), [("path", "world folder does not exist")])
    signature = world_signature(root)
    with _cache_lock:
        cached = _cache.get(root)
        if cached is not None and cached.signature == signature:
            _cache.move_to_end(root)
            return cached
    documents = [parse_document(p, root) for p in _document_paths(root)]
    world = build_world(root, documents, signature)
    with _cache_lock:
        _cache[root] = world
        _cache.move_to_end(root)
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return world


def clear_world_cache() -> None:
    """Forget every cached world (tests, or after replacing a world folder wholesale)."""
    with _cache_lock:
        _cache.clear()


def available_worlds(worlds_dir: str | Path) -> list[str]:
    """Ids of the world folders (those with a world.md) under ``worlds_dir``."""
    base = Path(worlds_dir)
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir() if (p / "world.md").is_file() and _WORLD_ID.match(p.name))


def world_path(worlds_dir: str | Path, world_id: str, field: str = "world_id") -> Path:
    """The folder of ``world_id`` under ``worlds_dir``; an unknown or malformed id lists the valid ones."""
    valid = available_worlds(worlds_dir)
    if world_id not in valid:
        raise UnknownChoice(field, "world", world_id, valid)
    return Path(worlds_dir) / world_id
