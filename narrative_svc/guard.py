"""The rule-based continuity guard: does a sentence of narration contradict the campaign's recorded facts?

Rules look for a known entity and what the sentence makes it do: a dead or unconscious character acting or
speaking, a named item used by someone other than its holder (or used at all when lost), a place given another
ruler, a domain another deity, a met NPC another name or met "for the first time", a character placed somewhere
other than where the record has them. Mentions that only talk *about* someone are consistent: a ghost or spirit, a
memory or flashback ("once", "years ago", "you recall"), an object of a preposition ("the grave of", "mourn"), a
possessive ("Voss's sword").

``SentenceBuffer`` cuts a stream into sentences, holding text back only until a sentence ends, so the guard adds
no delay beyond the sentence being checked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from narrative_svc.continuity import Continuity, Fact, same_entity

LIVE_VERBS = frozenset(
    """says said speaks spoke whispers whispered shouts shouted laughs laughed smiles smiled nods nodded walks
    walked steps stepped stands stood draws drew attacks attacked raises raised grins grinned looks looked turns
    turned greets greeted waves waved asks asked replies replied answers answered beckons beckoned points pointed
    runs ran strikes struck swings swung leans leaned watches watched offers offered hands handed tells told calls
    called cries cried mutters muttered grunts grunted sighs sighed winks winked shrugs shrugged gestures gestured
    approaches approached enters entered opens opened bows bowed growls growled sits sat pours poured slams slammed
    charges charged lunges lunged parries parried blocks blocked casts cast climbs climbed fights fought argues
    argued insists insisted agrees agreed refuses refused demands demanded begs begged hurries hurried
    strides strode rises rose wakes woke stirs stirred opens grabs grabbed eats drinks drank wields wielded
    breathes breathed blinks blinked sneers sneered chuckles chuckled explains explained cackles cackled
    descends descended kneels knelt follows followed leads led""".split()
)
SPEECH_VERBS = frozenset(
    "says said whispers whispered replies replied asks asked adds added shouts shouted mutters muttered "
    "answers answered calls called growls growled insists insisted".split()
)
#: Words that make a mention of a dead or absent person a memory, an apparition or mere talk about them.
NOT_PRESENT = re.compile(
    r"\b(ghost|ghostly|spirit|shade|phantom|apparition|wraith|corpse|body|bodies|remains|grave|graves|tomb|"
    r"memory|memories|remember|remembers|remembered|recall|recalls|recalled|once|used to|in life|late|mourn|"
    r"mourns|mourned|mourning|funeral|buried|burial|dream|dreams|dreamed|vision|visions|years ago|long ago|"
    r"before (?:his|her|their) death|portrait|statue|effigy|epitaph|name|legend|tale|tales|story|stories|"
    r"rumou?r|had been|had|would have|never again|no longer|avenge|avenged|killed|slain|slew|murder|murdered|"
    r"death|died|dead|speak of|speaks of|spoke of|talk of|talks about|talked about|mention|mentions|mentioned|"
    r"echo of|flashback|in the past|back then|that night|formerly|former)\b",
    re.I,
)
BEFORE_OBJECT = frozenset(
    "of about for over to with from against avenge mourn bury burying buried honour honor find found".split()
)
USE_VERBS = re.compile(
    r"\b(draws?|drew|wields?|wielded|swings?|swung|raises?|raised|brandish(?:es)?|brandished|unsheathes?|"
    r"unsheathed|grips?|gripped|holds?|held|lifts?|lifted|hefts?|hefted|levels?|levelled|strikes? with|"
    r"struck with|slashes with|carries|carried|clutch(?:es)?|clutched|hands|handed|gives|gave|passes|passed)\b"
)
RULER_TITLES = (
    r"(?:king|queen|lord|lady|duke|duchess|baron|baroness|count|countess|prince|princess|regent|ruler|"
    r"sovereign|emperor|empress|high lord|archduke|mayor)"
)
_NAME = r"[A-Z][\w'-]+(?: [A-Z][\w'-]+){0,2}"
_PLACE = r"(?:the )?[A-Z][\w'-]+(?: (?:of )?[A-Z][\w'-]+){0,2}"
_RULED = [
    re.compile(
        rf"\b(?P<name>{_NAME}),? (?:now |still )?(?:rules|governs|reigns over|holds the throne of) (?P<place>{_PLACE})"
    ),
    re.compile(rf"\b(?P<place>{_PLACE}) is (?:now )?ruled by (?P<name>{_NAME})"),
    re.compile(rf"\b(?P<name>{_NAME}), (?:the )?(?:new )?{RULER_TITLES} of (?P<place>{_PLACE})", re.I),
    re.compile(rf"\b[Tt]he (?:new )?{RULER_TITLES} of (?P<place>{_PLACE}),? (?:is )?(?P<name>{_NAME})"),
    re.compile(rf"\b(?P<place>{_PLACE})'s (?:new )?{RULER_TITLES},? (?P<name>{_NAME})"),
]
GODS = r"(?:god|goddess|deity|patron)"
_DEIFIED = [
    re.compile(
        rf"\b(?P<name>{_NAME}),? (?:is )?(?:the )?{GODS} of (?P<domain>(?:the )?[\w'-]+(?: [\w'-]+)?)"
    ),
    re.compile(rf"\b(?:the )?{GODS} of (?P<domain>(?:the )?[\w'-]+(?: [\w'-]+)?),? (?P<name>{_NAME})"),
]
_PRESENT_AT = re.compile(
    rf"\b(?P<name>{_NAME}) (?:is|sits|stands|waits|remains|lingers|works|is waiting|is sitting|is standing|"
    rf"sleeps|hides|is hiding) (?:here )?(?:in|at|inside|within) (?P<place>{_PLACE})"
)
_FIRST_MEETING = re.compile(
    rf"\b(?:(?:meet|meets|met) (?P<a>{_NAME}) for the first time|[Aa] stranger (?:named|called) (?P<b>{_NAME})|"
    rf"(?P<c>{_NAME}),? a stranger\b|introduces (?:himself|herself|themselves) as (?P<d>{_NAME}))"
)
_WORD = re.compile(r"[\w'’-]+|[^\w\s]")


@dataclass(frozen=True, slots=True)
class Violation:
    """A sentence that contradicts ``fact``; ``rule`` names the check that saw it."""

    fact: Fact
    rule: str
    sentence: str


def _tokens(text: str) -> list[str]:
    return _WORD.findall(text)


def _acts(sentence: str, alias: str) -> bool:
    """Whether ``alias`` is the subject of a live verb (or the speaker of a quote) in ``sentence``."""
    for m in re.finditer(rf"(?<![\w'-]){re.escape(alias)}(?![\w-])", sentence):
        after = sentence[m.end() :]
        if after.startswith(("'s", "’s", "'")):
            continue  # a possessive: Voss's sword, not Voss
        before = _tokens(sentence[: m.start()])
        if before and before[-1].lower() in BEFORE_OBJECT:
            continue
        if before and before[-1].lower() in SPEECH_VERBS and ('"' in sentence or "“" in sentence):
            return True
        words = _tokens(after)
        i = 0
        if words and words[0] == ",":  # an appositive: "Voss, pale as ever, says"
            close = next((j for j in range(1, min(len(words), 10)) if words[j] == ","), None)
            i = close + 1 if close is not None else 1
        steps = 0
        while i < len(words) and steps < 3:
            w = words[i].lower()
            if w in LIVE_VERBS:
                return True
            if (
                w in ("is", "was")
                and i + 1 < len(words)
                and words[i + 1].lower() in ("alive", "here", "standing")
            ):
                return True
            if w.endswith("ly") or w in (
                "slowly",
                "suddenly",
                "then",
                "still",
                "again",
                "himself",
                "herself",
            ):
                i += 1
                steps += 1
                continue
            break
    return False


def _find_alias(sentence: str, table: dict[str, Fact]) -> list[tuple[str, Fact]]:
    return [
        (alias, fact)
        for alias, fact in table.items()
        if alias in sentence and re.search(rf"(?<![\w'-]){re.escape(alias)}(?![\w-])", sentence)
    ]


def _check_presence(sentence: str, facts: Continuity) -> Violation | None:
    for table, rule in ((facts.dead, "dead-acts"), (facts.unconscious, "unconscious-acts")):
        hits = _find_alias(sentence, table)
        if not hits:
            continue
        if NOT_PRESENT.search(sentence) and rule == "dead-acts":
            # Talk about the dead, a memory, a ghost: consistent, unless the dead one is said to be alive.
            if not re.search(r"\b(?:is|was) (?:alive|unharmed|well)\b", sentence):
                continue
        for alias, fact in hits:
            if _acts(sentence, alias):
                return Violation(fact, rule, sentence)
    return None


def _check_items(sentence: str, facts: Continuity) -> Violation | None:
    for alias, fact in _find_alias(sentence, facts.lost):
        pos = sentence.find(alias)
        if USE_VERBS.search(sentence[max(0, pos - 40) : pos]) and not NOT_PRESENT.search(sentence):
            return Violation(fact, "lost-item-used", sentence)
    for alias, fact in _find_alias(sentence, facts.held):
        pos = sentence.find(alias)
        lead = sentence[max(0, pos - 60) : pos]
        verbs = list(USE_VERBS.finditer(lead))
        verb = verbs[-1] if verbs else None
        if verb is None or NOT_PRESENT.search(sentence):
            continue
        actor_text = lead[: verb.start()]
        actors = [a for a in facts.people if re.search(rf"(?<![\w'-]){re.escape(a)}(?![\w-])", actor_text)]
        if actors and not any(same_entity(facts.people[a], fact.value) for a in actors):
            return Violation(fact, "item-holder", sentence)
    return None


def _check_world(sentence: str, facts: Continuity) -> Violation | None:
    past = re.search(
        r"\b(once|formerly|former|before|years ago|long ago|used to|in the old days|late)\b", sentence
    )
    if facts.rulers and not past:
        for pattern in _RULED:
            for m in pattern.finditer(sentence):
                fact = facts.rulers.get(m.group("place").lower()) or facts.rulers.get(
                    m.group("place").lower().removeprefix("the ")
                )
                if fact is not None and not same_entity(m.group("name"), fact.value):
                    return Violation(fact, "ruler", sentence)
    if facts.deities:
        for pattern in _DEIFIED:
            for m in pattern.finditer(sentence):
                domain = m.group("domain").lower()
                fact = facts.deities.get(domain) or facts.deities.get(domain.removeprefix("the "))
                if fact is not None and not same_entity(m.group("name"), fact.value):
                    return Violation(fact, "deity", sentence)
    return None


def _check_people(sentence: str, facts: Continuity) -> Violation | None:
    for role, fact in facts.names.items():
        if role not in sentence:
            continue
        for m in re.finditer(
            rf"\b[Tt]he {re.escape(role)},? (?:named |called )?(?P<a>{_NAME})|(?P<b>{_NAME}),? the {re.escape(role)}\b",
            sentence,
        ):
            name = m.group("a") or m.group("b")
            if name and not same_entity(name, fact.value) and name not in ("You", "The"):
                return Violation(fact, "npc-name", sentence)
    for m in _FIRST_MEETING.finditer(sentence):
        name = next(g for g in m.groups() if g)
        if any(a.lower() in facts.met for a in (name, *name.split())):
            return Violation(Fact("met", name), "already-met", sentence)
    if facts.located and not re.search(
        r"\b(once|before|years ago|used to|earlier|yesterday|last)\b", sentence
    ):
        for m in _PRESENT_AT.finditer(sentence):
            where = facts.located.get(m.group("name"))
            place = m.group("place").lower().removeprefix("the ")
            known = {p.lower().removeprefix("the ") for p in facts.places}
            if where is not None and place in known and place != where.value.lower().removeprefix("the "):
                return Violation(where, "location", sentence)
    return None


def check_sentence(sentence: str, facts: Continuity) -> Violation | None:
    """The first contradiction between ``sentence`` and ``facts``, or None."""
    if facts.empty or not sentence.strip():
        return None
    for check in (_check_presence, _check_items, _check_world, _check_people):
        found = check(sentence, facts)
        if found is not None:
            return found
    return None


_END = re.compile(r"[.!?…]+[\"'”’)]*(?:\s+|$)")


class SentenceBuffer:
    """Cuts streamed text into whole sentences; text is held only until its sentence ends."""

    def __init__(self) -> None:
        self._pending = ""

    def feed(self, text: str) -> list[str]:
        """The sentences completed by ``text`` (each with its trailing space)."""
        self._pending += text
        out: list[str] = []
        start = 0
        for m in _END.finditer(self._pending):
            if m.end() == len(self._pending) and not m.group().endswith((" ", "\n")):
                break  # "Mr." or a sentence still going: wait for what follows the mark
            out.append(self._pending[start : m.end()])
            start = m.end()
        self._pending = self._pending[start:]
        return out

    def flush(self) -> str:
        """Whatever is left at the end of the stream."""
        rest, self._pending = self._pending, ""
        return rest
