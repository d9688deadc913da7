"""Typed facts a world's front matter declares: regions, cultures, ranks, coins, magic rules and the rest.

These are the structured lore the NPC, item, encounter and visual services read, so every model forbids unknown
keys (a typo such as ``terrain:`` for ``terrains:`` must fail loudly rather than drop data) and pins enumerations
to the SRD vocabulary the rules code understands (terrains, damage types, schools, alignments, rarities).
"""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction
from typing import Annotated, Literal, TypeVar, get_args

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

Terrain = Literal[
    "arctic",
    "coastal",
    "desert",
    "forest",
    "grassland",
    "hill",
    "mountain",
    "swamp",
    "underdark",
    "underwater",
    "urban",
]
TERRAINS: tuple[str, ...] = get_args(Terrain)

DamageType = Literal[
    "acid",
    "bludgeoning",
    "cold",
    "fire",
    "force",
    "lightning",
    "necrotic",
    "piercing",
    "poison",
    "psychic",
    "radiant",
    "slashing",
    "thunder",
]
DAMAGE_TYPES: tuple[str, ...] = get_args(DamageType)

School = Literal[
    "abjuration",
    "conjuration",
    "divination",
    "enchantment",
    "evocation",
    "illusion",
    "necromancy",
    "transmutation",
]

Alignment = Literal[
    "lawful-good",
    "neutral-good",
    "chaotic-good",
    "lawful-neutral",
    "neutral",
    "chaotic-neutral",
    "lawful-evil",
    "neutral-evil",
    "chaotic-evil",
    "unaligned",
]

Rarity = Literal["common", "uncommon", "rare", "very rare", "legendary", "artifact"]
ItemType = Literal["armor", "potion", "ring", "rod", "scroll", "staff", "wand", "weapon", "wondrous item"]

#: Ids are lower-case slugs so they can be used in keys, URLs and SQL without quoting.
Slug = Annotated[str, Field(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$", max_length=80)]
Text = Annotated[str, Field(min_length=1)]


def _parse_cr(value: object) -> object:
    """Accept challenge ratings as SRD floats (0.125) or the printed fractions ("1/8")."""
    if isinstance(value, str):
        try:
            return float(Fraction(value.strip()))
        except (ValueError, ZeroDivisionError):
            return value
    return value


ChallengeRating = Annotated[float, BeforeValidator(_parse_cr), Field(ge=0, le=30)]


class Fact(BaseModel):
    """Base of every fact: frozen, strict about keys, and markable as a DM-only secret."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    #: True for facts players must not see (set explicitly, or by an ``audience: dm`` document).
    secret: bool = False


FactT = TypeVar("FactT", bound=Fact)


def public_facts(facts: Iterable[FactT]) -> list[FactT]:
    """The facts a player may know exist (every one not marked secret)."""
    return [f for f in facts if not f.secret]


class NamedFact(Fact):
    """A fact found by id or by (case-insensitive) name or alias."""

    id: Slug
    name: Text
    aliases: list[Text] = Field(default_factory=list)

    def labels(self) -> list[str]:
        """Every string that names this fact (id, name, aliases)."""
        return [self.id, self.name, *self.aliases]


# --- world -----------------------------------------------------------------------------------------------------


class ArtStyle(Fact):
    """A per-world image style so every generated picture of the world looks alike."""

    preset: Slug
    positive: Text
    negative: Text


class Month(Fact):
    name: Text
    days: int = Field(ge=1, le=60)
    season: Text


class Festival(Fact):
    name: Text
    month: Text
    day: int = Field(ge=1, le=60)
    description: Text


class Calendar(Fact):
    """How the world counts time, so dates in narration and timelines agree."""

    era_name: Text
    era_abbreviation: Text
    current_year: int
    days_per_week: int = Field(ge=1)
    weekdays: list[Text]
    months: list[Month] = Field(min_length=1)
    festivals: list[Festival] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> Calendar:
        if len(self.weekdays) != self.days_per_week:
            raise ValueError(
                f"weekdays lists {len(self.weekdays)} names but days_per_week is {self.days_per_week}"
            )
        months = {m.name for m in self.months}
        for festival in self.festivals:
            if festival.month not in months:
                raise ValueError(f"festival {festival.name!r} falls in unknown month {festival.month!r}")
        return self

    @property
    def days_per_year(self) -> int:
        return sum(m.days for m in self.months)


# --- timeline --------------------------------------------------------------------------------------------------


class Era(NamedFact):
    start: int
    end: int | None = None
    summary: Text


class HistoricalEvent(Fact):
    year: int
    name: Text
    era: Slug
    summary: Text
    regions: list[Slug] = Field(default_factory=list)


# --- cultures --------------------------------------------------------------------------------------------------


class NameLists(Fact):
    """The only names an NPC of this culture may be given."""

    given_male: list[Text] = Field(min_length=1)
    given_female: list[Text] = Field(min_length=1)
    given_neutral: list[Text] = Field(min_length=1)
    family: list[Text] = Field(min_length=1)
    epithets: list[Text] = Field(default_factory=list)

    @model_validator(mode="after")
    def _no_duplicates(self) -> NameLists:
        for field in ("given_male", "given_female", "given_neutral", "family", "epithets"):
            values: list[str] = getattr(self, field)
            folded = [v.casefold() for v in values]
            dupes = sorted({v for v, f in zip(values, folded, strict=True) if folded.count(f) > 1})
            if dupes:
                raise ValueError(f"{field} repeats {', '.join(dupes)}")
        return self

    def given(self) -> list[str]:
        """All given names of every gender, in file order."""
        return [*self.given_male, *self.given_female, *self.given_neutral]


class Culture(NamedFact):
    regions: list[Slug] = Field(min_length=1)
    languages: list[Text] = Field(min_length=1)
    values: list[Text] = Field(min_length=1)
    naming: Text = "Given name, then family name."
    names: NameLists


# --- geography -------------------------------------------------------------------------------------------------


class Settlement(Fact):
    name: Text
    kind: Literal["capital", "city", "town", "village", "fortress", "outpost", "ruin", "monastery", "port"]
    population: int | None = Field(default=None, ge=0)


class Region(NamedFact):
    terrains: list[Terrain] = Field(min_length=1)
    biome: Text
    parent: Slug | None = None
    climate: Text
    settlements: list[Settlement] = Field(default_factory=list)
    description: str = ""


# --- religion --------------------------------------------------------------------------------------------------


class Deity(NamedFact):
    title: Text
    domains: list[Text] = Field(min_length=1)
    alignment: Alignment
    symbol: Text


class Faith(NamedFact):
    deities: list[Slug]
    clergy_titles: list[Text] = Field(min_length=1, description="Lowest rank first.")
    regions: list[Slug] = Field(default_factory=list)


# --- nobility --------------------------------------------------------------------------------------------------


class Rank(Fact):
    """A feudal rank; ``order`` 1 is the monarch and larger numbers rank lower."""

    id: Slug
    title: Text
    title_female: Text
    order: int = Field(ge=1)
    holding: Text
    style: Text
    style_female: str = ""
    aliases: list[Text] = Field(default_factory=list)
    duties: str = ""

    def labels(self) -> list[str]:
        return [self.id, self.title, self.title_female, *self.aliases]


class SuccessionRule(Fact):
    applies_to: Text
    rule: Text
    description: Text


class House(NamedFact):
    rank: Slug
    seat: Text
    region: Slug
    words: Text
    arms: Text
    head: Text


# --- economy ---------------------------------------------------------------------------------------------------


class Currency(NamedFact):
    abbreviation: Text
    plural: str = ""
    metal: Text
    value_cp: int = Field(ge=1, description="Worth in the world's smallest coin.")
    circulation: Literal["realm", "regional"] = "realm"
    #: False for coins too rare to quote prices in (a gold sovereign): prices skip them when formatted.
    used_in_prices: bool = True

    @property
    def plural_name(self) -> str:
        return self.plural or f"{self.name}s"


class TradeGood(NamedFact):
    regions: list[Slug] = Field(min_length=1)
    unit: Text
    price_gp: float = Field(ge=0)


class Guild(NamedFact):
    seat: Text
    trade: Text


# --- magic -----------------------------------------------------------------------------------------------------


class MagicSource(NamedFact):
    description: Text


class MagicCost(NamedFact):
    description: Text


class ItemTheme(NamedFact):
    """What magic items of one tradition may do: their damage types and effects, and what they never do."""

    damage_types: list[DamageType]
    effects: list[Slug] = Field(min_length=1)
    forbidden: list[Slug] = Field(default_factory=list, description="Effects or damage types never allowed.")

    @model_validator(mode="after")
    def _no_overlap(self) -> ItemTheme:
        clash = set(self.forbidden) & (set(self.effects) | set(self.damage_types))
        if clash:
            raise ValueError(f"both allowed and forbidden: {', '.join(sorted(clash))}")
        return self


class MagicSystem(Fact):
    schools_allowed: list[School] = Field(min_length=1)
    schools_restricted: list[School] = Field(default_factory=list)
    schools_forbidden: list[School] = Field(default_factory=list)
    max_spell_level: int = Field(9, ge=0, le=9)
    sources: list[MagicSource] = Field(min_length=1)
    costs: list[MagicCost] = Field(min_length=1)
    item_themes: list[ItemTheme] = Field(min_length=1)
    forbidden_effects: list[Slug] = Field(default_factory=list)
    rules: list[Text] = Field(min_length=1)

    @model_validator(mode="after")
    def _schools_partition(self) -> MagicSystem:
        groups = (self.schools_allowed, self.schools_restricted, self.schools_forbidden)
        seen: set[str] = set()
        for group in groups:
            twice = seen & set(group)
            if twice:
                raise ValueError(f"school listed in more than one group: {', '.join(sorted(twice))}")
            seen |= set(group)
        return self


# --- NPCs, creatures, items, factions, sites -------------------------------------------------------------------


class Archetype(NamedFact):
    """An NPC template: an SRD stat block to start from plus the personality tables to draw from."""

    base_statblock: Slug
    default_cr: ChallengeRating
    cr_range: tuple[ChallengeRating, ChallengeRating]
    personality_tags: list[Text] = Field(min_length=3)
    ideals: list[Text] = Field(min_length=2)
    bonds: list[Text] = Field(min_length=2)
    flaws: list[Text] = Field(min_length=2)
    motivations: list[Text] = Field(min_length=2)
    mannerisms: list[Text] = Field(min_length=2)
    voices: list[Text] = Field(min_length=2)
    secrets: list[Text] = Field(min_length=2)

    @model_validator(mode="after")
    def _cr_in_range(self) -> Archetype:
        low, high = self.cr_range
        if not low <= self.default_cr <= high:
            raise ValueError(f"default_cr {self.default_cr} is outside cr_range [{low}, {high}]")
        return self


class Creature(NamedFact):
    cr: ChallengeRating
    terrains: list[Terrain] = Field(min_length=1)
    based_on: Slug
    description: Text


class Item(NamedFact):
    rarity: Rarity
    type: ItemType
    attunement: bool = False
    attunement_by: str = ""
    theme: Slug
    effects: list[Slug] = Field(default_factory=list)
    damage_types: list[DamageType] = Field(default_factory=list)
    description: Text

    @model_validator(mode="after")
    def _attunement_by_needs_attunement(self) -> Item:
        if self.attunement_by and not self.attunement:
            raise ValueError("attunement_by is set but attunement is false")
        return self


class Faction(NamedFact):
    kind: Literal["guild", "order", "church", "cult", "house", "company", "gang", "circle", "court", "crown"]
    region: Slug
    goals: list[Text] = Field(min_length=1)
    leader: str = ""


class Site(NamedFact):
    region: Slug
    kind: Literal["dungeon", "ruin", "lair", "temple", "fortress", "wilderness", "city-quarter", "wreck"]
    level_range: tuple[int, int]
    description: Text
    rooms: list[Text] = Field(default_factory=list)
    traps: list[Text] = Field(default_factory=list)
    treasure: list[Text] = Field(default_factory=list)

    @field_validator("level_range")
    @classmethod
    def _levels(cls, value: tuple[int, int]) -> tuple[int, int]:
        low, high = value
        if not 1 <= low <= high <= 20:
            raise ValueError("level_range must be [low, high] with 1 <= low <= high <= 20")
        return value


class Term(Fact):
    term: Text
    definition: Text
