"""The campaign's facts as the continuity guard checks them: who is dead or unconscious, who is where, who holds
which named item (and which are lost), which NPCs the party has met under which name, who rules where and which
deity has which domain.

Built from structured records (``Continuity.build``) or from the context memory retrieved for a turn
(``from_context``: character-state lines as memory writes them, campaign events and lore sentences), so the
guard needs no extra round trip. Names are matched by their full form and by each distinctive word of it
("Captain Aldric Voss" also answers to "Voss" and "Aldric"), case-sensitively, as prose names people.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from mesh.text import ContextItem

#: Words of a name that do not identify its bearer on their own.
TITLES = frozenset(
    "captain lord lady sir dame king queen prince princess duke duchess baron baroness count countess mayor "
    "brother sister father mother old young the of master mistress elder high priest priestess regent "
    "sergeant commander general doctor saint".split()
)


@dataclass(frozen=True, slots=True)
class Fact:
    """One recorded fact. ``kind``: dead, unconscious, location, holder, lost, ruler, deity, name, met."""

    kind: str
    subject: str
    value: str = ""

    @property
    def statement(self) -> str:
        """The fact as a plain sentence (what a repair prompt states and what the repair log records)."""
        return {
            "dead": f"{self.subject} is dead.",
            "unconscious": f"{self.subject} is unconscious.",
            "location": f"{self.subject} is at {self.value}.",
            "holder": f"{self.subject} is held by {self.value}.",
            "lost": f"{self.subject} is lost; nobody holds it.",
            "ruler": f"{self.value} rules {self.subject}.",
            "deity": f"{self.value} is the deity of {self.subject}.",
            "name": f"The {self.subject} the party met is named {self.value}.",
            "met": f"The party has already met {self.subject}.",
            "judged": self.subject if self.subject.endswith(".") else f"{self.subject}.",
        }[self.kind]


@dataclass(frozen=True, slots=True)
class CharacterRecord:
    """What the record says of one character."""

    name: str
    npc: bool = True
    dead: bool = False
    unconscious: bool = False
    location: str = ""
    carrying: tuple[str, ...] = ()
    role: str = ""
    met: bool = True


def aliases(name: str) -> list[str]:
    """The forms a name is recognised by: the full name and each distinctive word of it."""
    words = [w for w in re.findall(r"[A-Z][\w'-]+", name) if w.lower() not in TITLES and len(w) >= 3]
    out = [name.strip()]
    if len(words) > 1 or (words and words[0] != name.strip()):
        out.extend(words)
    return out


def same_entity(a: str, b: str) -> bool:
    """Whether two names name the same entity (equal, or one is a distinctive word of the other)."""
    a, b = a.strip().lower(), b.strip().lower()
    if a == b:
        return True
    return a in {x.lower() for x in aliases(b.title() if b.islower() else b)} or b in {
        x.lower() for x in aliases(a.title() if a.islower() else a)
    }


@dataclass(slots=True)
class Continuity:
    """The facts, indexed for the guard: alias -> fact for people and items, place/domain/role -> fact."""

    dead: dict[str, Fact] = field(default_factory=dict)
    unconscious: dict[str, Fact] = field(default_factory=dict)
    located: dict[str, Fact] = field(default_factory=dict)
    held: dict[str, Fact] = field(default_factory=dict)
    lost: dict[str, Fact] = field(default_factory=dict)
    rulers: dict[str, Fact] = field(default_factory=dict)
    deities: dict[str, Fact] = field(default_factory=dict)
    names: dict[str, Fact] = field(default_factory=dict)
    met: set[str] = field(default_factory=set)
    places: set[str] = field(default_factory=set)
    people: dict[str, str] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        characters: Iterable[CharacterRecord] = (),
        *,
        lost: Iterable[str] = (),
        rulers: Mapping[str, str] | None = None,
        deities: Mapping[str, str] | None = None,
        places: Iterable[str] = (),
    ) -> Continuity:
        """Facts from structured records."""
        c = cls()
        for ch in characters:
            c.add_character(ch)
        for item in lost:
            c._index(c.lost, item, Fact("lost", item))
        for place, ruler in (rulers or {}).items():
            c.rulers[place.lower()] = Fact("ruler", place, ruler)
            c.places.add(place)
            c._person(ruler)
        for domain, deity in (deities or {}).items():
            c.deities[domain.lower()] = Fact("deity", domain, deity)
            c._person(deity)
        c.places.update(places)
        return c

    def add_character(self, ch: CharacterRecord) -> None:
        """Index one character's facts."""
        self._person(ch.name)
        if ch.dead:
            self._index(self.dead, ch.name, Fact("dead", ch.name))
        elif ch.unconscious:
            self._index(self.unconscious, ch.name, Fact("unconscious", ch.name))
        if ch.location:
            self._index(self.located, ch.name, Fact("location", ch.name, ch.location))
            self.places.add(ch.location)
        for item in ch.carrying:
            if item[:1].isupper():  # a named item ("Dawnbreaker"), not "rope" or "a torch"
                self._index(self.held, item, Fact("holder", item, ch.name))
        if ch.npc and ch.met:
            self.met.update(a.lower() for a in aliases(ch.name))
            if ch.role:
                self.names[ch.role.lower()] = Fact("name", ch.role.lower(), ch.name)

    def _person(self, name: str) -> None:
        for alias in aliases(name):
            self.people[alias] = name

    @staticmethod
    def _index(table: dict[str, Fact], name: str, fact: Fact) -> None:
        for alias in aliases(name):
            table.setdefault(alias, fact)

    def statements(self) -> list[str]:
        """Every fact once, as plain sentences (what a model judge is told)."""
        tables = (self.dead, self.unconscious, self.located, self.held, self.lost, self.rulers, self.deities)
        out = [f.statement for table in (*tables, self.names) for f in table.values()]
        return list(dict.fromkeys(out))

    @property
    def empty(self) -> bool:
        """Nothing to check against."""
        return not (
            self.dead
            or self.unconscious
            or self.located
            or self.held
            or self.lost
            or self.rulers
            or self.deities
            or self.names
            or self.met
        )


# --- reading memory's context ----------------------------------------------------------------------------------
_STATE = re.compile(r"^(?P<name>[^()\n:]+?) \((?P<role>NPC|PC)[^)]*\): (?P<body>.*)$", re.S)
_HP = re.compile(r"HP (-?\d+)/(\d+)")
_DIED = re.compile(
    r"\b(?P<name>[A-Z][\w'-]+(?: [A-Z][\w'-]+){0,3}) (?:died|dies|was (?:killed|slain|executed)|is dead|lies dead)\b"
)
_RULES = re.compile(
    r"\b(?P<ruler>(?:[A-Z][\w'-]+ ){0,3}[A-Z][\w'-]+) (?:rules|governs|reigns over) (?P<place>(?:the )?[A-Z][\w'-]+(?: [A-Z][\w'-]+){0,2})"
)
_DEITY = re.compile(
    r"\b(?P<name>[A-Z][\w'-]+(?: [A-Z][\w'-]+){0,2}),? (?:is )?(?:the )?(?:god|goddess|deity) of (?P<domain>(?:the )?[\w'-]+(?: [\w'-]+)?)"
)
_NAMED = re.compile(r"\b(?:the|a) (?P<role>[a-z]+) (?:named|called) (?P<name>[A-Z][\w'-]+(?: [A-Z][\w'-]+)?)")
_AT = re.compile(r"\b(?:location|at|in): (?P<place>[A-Z][\w' -]+)")


def parse_state_line(text: str) -> CharacterRecord | None:
    """A character-state line as memory writes it ("Name (NPC, ...): HP 0/12; conditions: dead; carrying: ...")."""
    m = _STATE.match(text.strip())
    if m is None:
        return None
    body = m.group("body")
    conditions = re.search(r"conditions: ([^;.]*)", body)
    conds = {c.strip().lower() for c in conditions.group(1).split(",")} if conditions else set()
    hp = _HP.search(body)
    npc = m.group("role") == "NPC"
    zero = hp is not None and int(hp.group(1)) <= 0 and int(hp.group(2)) > 0
    carrying = re.search(r"carrying: ([^;]*)", body)
    items = tuple(i.strip().rstrip(".") for i in carrying.group(1).split(",")) if carrying else ()
    place = _AT.search(body)
    return CharacterRecord(
        name=m.group("name").strip(),
        npc=npc,
        dead="dead" in conds or (npc and zero),
        unconscious="unconscious" in conds or (not npc and zero),
        location=place.group("place").strip().rstrip(".") if place else "",
        carrying=items,
    )


def from_context(items: Sequence[ContextItem]) -> Continuity:
    """Facts from a turn's context: character-state lines, and deaths, rulers, deities and names in the text."""
    c = Continuity()
    states = [parse_state_line(i.text) for i in items if i.source == "character_state"]
    for record in states:
        if record is not None:
            c.add_character(record)
    for item in items:
        if item.source == "character_state":
            continue
        text = item.text
        for m in _DIED.finditer(text):
            name = m.group("name")
            if name.split()[0].lower() not in {"the", "a", "an", "it", "he", "she", "they", "you"}:
                c._index(c.dead, name, Fact("dead", name))
                c._person(name)
        for m in _RULES.finditer(text):
            place = m.group("place")
            c.rulers.setdefault(place.lower(), Fact("ruler", place, m.group("ruler")))
            c.places.add(place)
            c._person(m.group("ruler"))
        for m in _DEITY.finditer(text):
            domain = m.group("domain")
            c.deities.setdefault(domain.lower(), Fact("deity", domain, m.group("name")))
            c._person(m.group("name"))
        if item.source in ("recent_event", "campaign"):
            for m in _NAMED.finditer(text):
                c.names.setdefault(m.group("role"), Fact("name", m.group("role"), m.group("name")))
                c.met.update(a.lower() for a in aliases(m.group("name")))
                c._person(m.group("name"))
    return c
