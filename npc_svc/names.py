"""NPC names drawn only from the culture's name lists, written the way the culture writes them.

A culture's ``naming`` line says how names are built ("Given name, then 'ap' and a parent's given name";
"One given name, then 'of the' and the herd-band's name"); the connector words are read from it, and every
part of a name comes from one of the culture's lists, so a test can split any name back into list entries.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Literal

from lore.facts import Culture

Gender = Literal["male", "female", "neutral"]
#: Share of epithets: one NPC in five is known by one ("Aldric Cotter the Elder").
EPITHET_CHANCE = 0.2
#: Naming-rule connectors we recognise, as they appear quoted in a culture's ``naming`` line.
_QUOTED = re.compile(r"[\"“]([a-z' ]{1,12})[\"”]", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class NpcName:
    """A name's parts. ``second`` is a family name or, for patronymic cultures, a parent's given name."""

    given: str
    second: str
    connector: str = ""  # "ap", "of the"; empty for "Given Family"
    epithet: str = ""
    gender: Gender = "neutral"
    second_is_given: bool = False

    @property
    def full(self) -> str:
        parts = [self.given]
        if self.connector:
            parts.append(self.connector)
        parts.append(self.second)
        if self.epithet:
            parts.append(self.epithet)
        return " ".join(parts)


def connector_for(culture: Culture) -> tuple[str, bool]:
    """(connector, whether the second part is a parent's given name) from the culture's naming line."""
    text = culture.naming.lower()
    m = _QUOTED.search(culture.naming)
    if m:
        word = m.group(1).strip()
        patronymic = "parent" in text or "father" in text or "mother" in text
        return word, patronymic
    return "", False


def pick_name(culture: Culture, rng: random.Random) -> NpcName:
    """A name for an NPC of ``culture``: gender by the seed (neutral names one time in ten)."""
    roll = rng.random()
    gender: Gender = "male" if roll < 0.45 else "female" if roll < 0.9 else "neutral"
    lists = culture.names
    given_pool = {"male": lists.given_male, "female": lists.given_female, "neutral": lists.given_neutral}[
        gender
    ]
    given = rng.choice(given_pool)
    connector, patronymic = connector_for(culture)
    if patronymic:
        second = rng.choice([n for n in lists.given() if n != given] or lists.given())
    else:
        second = rng.choice(lists.family)
    epithet = rng.choice(lists.epithets) if lists.epithets and rng.random() < EPITHET_CHANCE else ""
    return NpcName(given, second, connector, epithet, gender, patronymic)


def pronouns(gender: Gender) -> tuple[str, str, str]:
    """(subject, object, possessive)."""
    return {"male": ("he", "him", "his"), "female": ("she", "her", "her")}.get(
        gender, ("they", "them", "their")
    )
