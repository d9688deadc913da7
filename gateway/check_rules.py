"""Which check an action calls for, decided by rules: the offline planner's answer and the model's fallback.

A game master rolls only when the outcome is uncertain: "I walk to the inn" just happens, "I climb the sheer
cliff" is an Athletics check. The table below maps intent phrases to the SRD's 18 skills (and to a Dexterity
check with thieves' tools for locks and traps); the first matching row wins, so the more specific rows come
first ("search for tracks" is Survival, "search the body" Investigation). The DC comes from the words that say
how hard the situation is (the DMG's 10/15/20/25 ladder), medium when nothing says otherwise. Fights are not
checks: combat resolves them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: Check difficulty names (rules.checks.DIFFICULTY_DC's keys) a plan may carry.
CHECK_DIFFICULTIES: tuple[str, ...] = (
    "very_easy",
    "easy",
    "medium",
    "hard",
    "very_hard",
    "nearly_impossible",
)

#: The SRD skills by index, and the abilities, that a planned check may name.
SKILLS: tuple[str, ...] = (
    "acrobatics",
    "animal-handling",
    "arcana",
    "athletics",
    "deception",
    "history",
    "insight",
    "intimidation",
    "investigation",
    "medicine",
    "nature",
    "perception",
    "performance",
    "persuasion",
    "religion",
    "sleight-of-hand",
    "stealth",
    "survival",
)
ABILITIES: tuple[str, ...] = ("str", "dex", "con", "int", "wis", "cha")


@dataclass(frozen=True, slots=True)
class PlannedCheck:
    """A check the turn must roll before it narrates: ``kind`` "skill" (``what`` a skill) or "ability"."""

    kind: str
    what: str
    difficulty: str
    reason: str


def _rx(*phrases: str) -> re.Pattern[str]:
    return re.compile(r"\b(?:" + "|".join(phrases) + r")\b")


_SUBJECT = r"(?:the|a|an|his|her|their|its|this|that|my|our)"

#: (kind, what, pattern, why) — first match wins; more specific rows first.
CHECK_TABLE: tuple[tuple[str, str, re.Pattern[str], str], ...] = (
    (
        "skill",
        "survival",
        _rx(
            r"track(?:s|ing)?",
            r"follow (?:the )?(?:trail|tracks|footprints|spoor)",
            r"forage|foraging",
            r"hunt for (?:food|game)",
            r"find (?:our|my|the) way",
            r"navigate|navigates",
        ),
        "follows a trail or finds the way",
    ),
    (
        "ability",
        "dex",
        _rx(r"pick(?:s)? (?:the |a |its )?lock", r"lockpick\w*", r"disarm(?:s)? (?:the |a )?trap"),
        "works a lock or trap with thieves' tools",
    ),
    (
        "skill",
        "sleight-of-hand",
        _rx(
            r"pickpocket\w*",
            r"pick (?:his|her|their|a|the) pocket",
            r"steal|steals|swipe|swipes|pilfer|pilfers|filch|filches",
            r"palm|palms",
            r"slip (?:it|the \w+) into my",
            r"cut (?:his|her|their|the) purse",
        ),
        "tries something by sleight of hand",
    ),
    (
        "skill",
        "medicine",
        _rx(
            r"stabili[sz]e\w*",
            r"tend (?:to )?(?:the |his |her |their |my )?wounds?",
            r"bandage\w*",
            r"first aid",
            r"diagnos\w*",
            r"treat (?:the |his |her |their )?(?:wound|wounds|illness|poison)",
            r"cause of death",
        ),
        "treats a wound or reads a body",
    ),
    (
        "skill",
        "insight",
        _rx(
            r"read (?:his|her|their|the \w+'s) (?:face|intentions|mood|expression)",
            r"sense (?:his |her |their )?motive",
            r"(?:tell|see) (?:if|whether) (?:he|she|they|it)(?:'s| is| are)? (?:lying|honest|telling the truth)",
            r"gauge|gauges",
            r"trust (?:him|her|them)",
        ),
        "reads someone's intentions",
    ),
    (
        "skill",
        "investigation",
        _rx(
            r"search|searches|searching",
            r"investigate|investigates|investigating",
            r"examine|examines|inspect|inspects|scrutini[sz]e",
            r"look (?:for|closely at) (?:clues|a clue|traps|a trap|hidden|secret)",
            r"(?:look|check) for (?:clues|traps|secret doors?|hidden)",
            r"study|studies",
            r"deduce|deduces|decipher|deciphers|piece together",
            r"rummage|rummages",
        ),
        "searches or studies for clues",
    ),
    (
        "skill",
        "athletics",
        _rx(
            r"climb|climbs|climbing|scale|scales",
            r"jump|jumps|leap|leaps",
            r"swim|swims|swimming",
            r"force (?:open )?(?:the |a )?(?:door|gate|lid|bars)",
            r"break (?:down|open) (?:the |a )?(?:door|gate)",
            r"shove|shoves|grapple|grapples|wrestle|wrestles",
            r"lift (?:the |a )?(?:boulder|portcullis|gate|stone|beam)",
            r"haul (?:myself|yourself)",
        ),
        "a feat of strength",
    ),
    (
        "skill",
        "acrobatics",
        _rx(
            r"balance|balances",
            r"tumble|tumbles|somersault|flip over",
            r"squeeze (?:through|past)",
            r"tightrope|narrow ledge",
            r"slip free|wriggle free|escape the bonds",
        ),
        "a feat of agility",
    ),
    (
        "skill",
        "stealth",
        _rx(
            r"sneak|sneaks|sneaking",
            r"hide|hides|hiding",
            r"creep|creeps|creeping",
            r"slip (?:past|by|away|through) (?:unseen|unnoticed|quietly)?",
            r"move (?:silently|quietly|unseen)",
            r"stay (?:hidden|out of sight)",
        ),
        "moves unseen",
    ),
    (
        "skill",
        "intimidation",
        _rx(
            r"intimidate|intimidates",
            r"threaten|threatens",
            r"menace|menaces",
            r"scare|scares|frighten|frightens",
            r"glare (?:at|down)",
        ),
        "intimidates",
    ),
    (
        "skill",
        "deception",
        _rx(
            r"lie(?! down)|lies(?! down)|lying(?! down)",
            r"bluff|bluffs",
            r"deceive|deceives",
            r"trick|tricks",
            r"pretend|pretends|pose as|poses as",
            r"disguise (?:myself|ourselves)",
            r"con (?:him|her|them|the)",
            r"feint",
        ),
        "deceives",
    ),
    (
        "skill",
        "persuasion",
        _rx(
            r"persuade|persuades",
            r"convince|convinces",
            r"plead|pleads|beg|begs",
            r"negotiate|negotiates|bargain|bargains|haggle|haggles",
            r"talk (?:him|her|them|the \w+) (?:into|out of)",
            r"win (?:him|her|them) over",
        ),
        "persuades",
    ),
    (
        "skill",
        "animal-handling",
        _rx(
            r"calm (?:the |a )?(?:horse|pony|mule|dog|hound|wolf|beast|animal|mount)",
            r"soothe (?:the |a )?\w+",
            r"tame|tames|befriend the (?:dog|wolf|beast|animal)",
            r"ride (?:the |a )?(?:horse|pony|mount)",
            r"handle (?:the |a )?(?:horse|dog|animal|beast)",
        ),
        "handles an animal",
    ),
    (
        "skill",
        "religion",
        _rx(
            r"(?:recall|remember|know) (?:anything |what )?(?:about )?(?:the )?(?:god|gods|deity|faith|rite|ritual|"
            r"temple|shrine|cult|holy|prayer)\w*",
            r"identify (?:the )?(?:holy|divine|sacred|unholy) \w+",
            r"(?:holy|unholy) symbol",
        ),
        "recalls religious lore",
    ),
    (
        "skill",
        "arcana",
        _rx(
            r"identify (?:the |a |this )?(?:spell|magic|rune|runes|sigil|enchantment|glyph)",
            r"(?:recall|remember|know) (?:anything |what )?(?:about )?(?:the )?(?:spell|magic|arcane|rune|runes|"
            r"sigil|glyph|portal|enchantment)\w*",
            r"detect (?:the )?magic without",
            r"(?:read|decode|understand) (?:the )?(?:runes|glyphs|sigils|arcane)",
        ),
        "recalls arcane lore",
    ),
    (
        "skill",
        "nature",
        _rx(
            r"identify (?:the |a |this )?(?:plant|herb|herbs|mushroom|fungus|beast|creature|tracks? of|animal|"
            r"poison|weather)",
            r"(?:recall|remember|know) (?:anything |what )?(?:about )?(?:the )?(?:plant|herb|beast|creature|"
            r"weather|terrain)\w*",
            r"predict (?:the )?weather",
        ),
        "recalls the lore of nature",
    ),
    (
        "skill",
        "history",
        _rx(
            r"recall|recalls|remember|remembers",
            r"(?:the )?history of",
            r"know (?:anything )?about",
            r"recogni[sz]e (?:the |this |that )?(?:crest|banner|heraldry|ruins|coin|name|emblem)",
        ),
        "recalls what history says",
    ),
    (
        "skill",
        "perception",
        _rx(
            r"listen|listens|eavesdrop\w*",
            r"notice|notices",
            r"spot|spots",
            r"keep (?:a )?watch|stand guard|keep an eye out",
            r"scan (?:the )?\w+",
            r"look (?:out )?for (?:danger|movement|signs|anyone|enemies)",
            r"peer (?:into|through|at)",
        ),
        "watches or listens",
    ),
    (
        "skill",
        "performance",
        _rx(
            r"perform|performs",
            r"sing|sings|dance|dances|juggle|juggles",
            r"play (?:a |my |the )?(?:song|tune|lute|flute|fiddle|drum|harp)",
            r"recite|recites|tell a (?:story|tale)",
        ),
        "performs",
    ),
)

#: Words that make a check harder or easier than medium (DMG DCs), strongest first.
_HARDER: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("nearly_impossible", _rx("impossible", "sheer ice", "in a hurricane")),
    (
        "very_hard",
        _rx("very hard", "slick", "icy", "raging", "storm", "masterwork", "heavily guarded"),
    ),
    (
        "hard",
        _rx(
            "sheer",
            "hard",
            "difficult",
            "crumbling",
            "rushing",
            "wary",
            "suspicious",
            "hostile",
            "ancient",
            "sturdy",
            "hurriedly",
            "quickly",
            "under fire",
            "in the dark",
        ),
    ),
    ("easy", _rx("low", "easy", "simple", "gentle", "calm water", "friendly", "carefully", "take my time")),
    ("very_easy", _rx("trivial", "very easy")),
)
_FIGHT = re.compile(
    r"\b(attack|attacks|fight|fights|stab|slash|shoot|strike|kill|cast \w+ at|swing (?:at|my))\b"
)


def check_difficulty(text: str) -> str:
    """The check's difficulty from the words describing the situation ("medium" when none does)."""
    lowered = text.lower()
    for difficulty, pattern in _HARDER:
        if pattern.search(lowered):
            return difficulty
    return "medium"


def check_for(action: str) -> PlannedCheck | None:
    """The check ``action`` calls for, or None when its outcome is certain (or it is a fight)."""
    text = action.lower()
    if _FIGHT.search(text):
        return None
    for kind, what, pattern, why in CHECK_TABLE:
        match = pattern.search(text)
        if match:
            label = what.replace("-", " ").title() if kind == "skill" else f"{what.upper()} (thieves' tools)"
            return PlannedCheck(
                kind, what, check_difficulty(text), f"{why} ({match.group(0)!r}): {label} check"
            )
    return None
