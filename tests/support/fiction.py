"""What out-of-fiction text looks like: table talk about rules, services and dice that players must never be told.

Shared by the tests that check the sample world's player-visible lore and what retrieval gives a player.
"""

from __future__ import annotations

import re

#: Words only a game master's notes use: rules editions, stat blocks, XP, the mesh's own services, dice and DCs.
OUT_OF_FICTION = re.compile(
    r"\b5e\b|\bSRD\b|\bstat ?blocks?\b|\bXP\b|\bchallenge (?:rating|range)|\bCR ?\d"
    r"|\b(?:encounter|NPC|item|memory|narrative|visual) (?:service|builder|generator)s?\b"
    r"|\bDMs?\b|\bgame rules\b|\bfront matter\b|`|\b\d*d\d+\b|\bDC ?\d+|\broll(?:ed|s)? (?:on|once|twice)\b"
    r"|\b(?:the|a) party (?!of\b)|\b(?:low|high) fantasy\b|\bparty levels?\b|\bsupplementary material\b|\bbased_on\b|\bhit points\b|\bsaving throws?\b",
    re.IGNORECASE,
)


def out_of_fiction(text: str) -> list[str]:
    """The out-of-fiction phrases in ``text`` (empty when it reads as the world's own words)."""
    return [m.group(0) for m in OUT_OF_FICTION.finditer(text)]


#: A sentence about the document rather than the world ("These are the common sorts of people...", "Common terms
#: of..."): quoted as lore it reads as gibberish.
DOCUMENT_NOTE = re.compile(
    r"^(?:These are the|This (?:document|section|chapter|page)\b|Common terms\b|Tables and\b|Each \w+ below\b"
    r"|See (?:also|below|above)\b|The following\b)",
    re.IGNORECASE,
)
