"""The offline scene writer: narrates a turn as a scene, not as a list of quotes.

It tells the action where it happens (openings chosen by place, time of day and tone), what the rules decided
(a check's outcome, told from the outcome tables), what was found or who was fought, and lets a person the
action addresses answer in their own voice (a rumour drawn from the lore that answers the action, what they want
from their sheet). Lore is used by relevance: memory's hits for the action, best first; the campaign's pinned
overview only when the action asks about it. Every fact is rewritten as a plain sentence (markdown removed), and
nothing the campaign's recent narration already said (fact or stock phrase) is said again. Deterministic under
the seed: every choice comes from the request's ``random.Random``.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from typing import Any

from mesh.text.outcomes import Outcome, outcome_from_variables, stated, tell
from mesh.text.types import ContextItem, Prompt

_STOP = frozenset(
    """the and for with from into onto about that this those these there their them they what when where which
    while your you yours have has had was were will would could should then than just very some more most over
    under after before again around ask asks tell look looks find search draw attack enter walk take give""".split()
)
PLACES: dict[str, tuple[str, ...]] = {
    "tavern": ("tavern", "inn", "barkeep", "bartender", "innkeeper", "taproom", "alehouse", "common room"),
    "water": ("harbor", "harbour", "dock", "docks", "pier", "ship", "boat", "river", "sea", "shore", "wharf"),
    "dungeon": ("crypt", "cave", "tunnel", "cellar", "vault", "sewer", "dungeon", "barrow", "tomb", "mine"),
    "ruin": ("ruin", "ruins", "ruined", "watchtower", "tower", "shrine", "temple", "abbey", "chapel", "keep"),
    "town": ("street", "market", "square", "town", "city", "gate", "shop", "alley", "village", "guildhall"),
    "road": ("road", "track", "bridge", "caravan", "path", "crossroads", "highway"),
    "wild": (
        "forest",
        "wood",
        "woods",
        "hill",
        "hills",
        "mountain",
        "moor",
        "field",
        "camp",
        "glade",
        "marsh",
    ),
}
TIMES: dict[str, tuple[str, ...]] = {
    "night": ("night", "midnight", "moon", "moonlight", "nightfall", "dark"),
    "dawn": ("dawn", "sunrise", "morning", "daybreak"),
    "dusk": ("dusk", "sunset", "evening", "twilight"),
}
ROLES = (
    (
        "old man old woman barkeep bartender innkeeper merchant guard ferryman priestess priest captain stranger "
        "blacksmith smith farmer hermit sage soldier sergeant knight noble mayor fisherman sailor monk witch trader "
        "peddler hunter elder servant steward scholar bandit thief woman man child healer"
    )
    .replace("old man", "old_man")
    .replace("old woman", "old_woman")
    .split()
)
_TALK = re.compile(
    r"\b(ask|asks|talk|talks|speak|speaks|greet|greets|question|questions|haggle|haggles|bargain|barter|"
    r"chat|tell|tells|persuade|persuades|convince|plead|bribe|bribes|intimidate|threaten|threatens|say|says)\b",
    re.I,
)
_FIGHT = re.compile(
    r"\b(?:attack|attacks|strike|strikes|swing at|swings at|shoot|shoots|stab|stabs|charge|charges|fight|"
    r"fights|punch|punches|slash at|slashes at|lunge at|lunges at)\s+(?:at\s+)?(?P<target>the [a-z]+(?: (?!on\b|in\b|at\b|by\b|with\b|from\b|near\b|across\b|behind\b|and\b)[a-z]+)?|[A-Z][\w'-]+(?: [A-Z][\w'-]+)?)",
)
_SEARCH = re.compile(
    r"\b(search|searches|look for|looks for|examine|examines|inspect|inspects|rummage|rummages|investigate|"
    r"investigates|loot|loots|pat down|go through|goes through)\b",
    re.I,
)
_ABOUT = re.compile(r"\babout (?P<topic>[\w' -]+)", re.I)
_WANTS = re.compile(r"\bwants?(?: to)?:? (?P<want>[^;.]+)", re.I)
_NPC_LINE = re.compile(r"^(?P<name>[^()\n:]+?) \(NPC[^)]*\): (?P<body>.*)$", re.S)
_NORM = re.compile(r"[^a-z0-9]+")
_WORDS = re.compile(r"[A-Za-z][A-Za-z'-]+")
_LOWER_OK = frozenset(
    """the a an every some each all most many few one no its this that there in on at by across beneath under
    over from to of for with after before when while only nobody everyone anyone something nothing these those
    they it he she we here once both such""".split()
)


def normalize(text: str) -> str:
    """Lower case letters and digits, single spaces: how sentences are compared for repetition."""
    return _NORM.sub(" ", text.lower()).strip()


def keywords(text: str) -> set[str]:
    """Content words of ``text`` (lower case, plural "s" dropped)."""
    out = set()
    for w in _WORDS.findall(text.lower()):
        if len(w) >= 4 and w not in _STOP:
            out.add(w[:-1] if w.endswith("s") and len(w) > 4 else w)
    return out


class Recent:
    """What the campaign's recent narration already said, and what this narration has said so far."""

    def __init__(self, texts: Sequence[str]) -> None:
        self._text = " " + " ".join(normalize(t) for t in texts) + " "
        self._said: set[str] = set()

    def seen(self, sentence: str) -> bool:
        n = normalize(sentence)
        return not n or n in self._said or f" {n} " in self._text

    def say(self, sentence: str) -> str:
        self._said.add(normalize(sentence))
        return sentence

    def pick(
        self, rng: random.Random, options: Sequence[Any], *, capital: bool = True, **fill: Any
    ) -> str | None:
        """A fresh option (formatted with ``fill``), or None when every one was said recently."""
        for option in rng.sample(list(options), len(options)):
            sentence = str(option).format(**fill)
            sentence = _sentence_case(sentence) if capital else sentence
            if not self.seen(sentence):
                return self.say(sentence)
        return None


def _kind(text: str, table: dict[str, tuple[str, ...]]) -> str:
    low = f" {text.lower()} "
    for kind, words in table.items():
        if any(re.search(rf"\b{re.escape(w)}\b", low) for w in words):
            return kind
    return ""


def _sentence_case(text: str) -> str:
    return text[:1].upper() + text[1:] if text else text


_QUESTION_WORD = re.compile(r"(?:who|whom|whose|which|why|how)\b", re.I)


def _question_led(fact: str) -> bool:
    """True for a fact that opens like a question ("Who backs whom at the Moot: ..."), which cannot follow
    "that" or "They say" and is given after a colon instead."""
    return bool(_QUESTION_WORD.match(fact))


def _inline(fact: str) -> str:
    """A fact to follow "They say": lower-cased first word unless it is a name."""
    first = fact.split(" ", 1)[0]
    return fact[:1].lower() + fact[1:] if first.lower() in _LOWER_OK else fact


#: Context the campaign log fills (the players' own actions, earlier narration, states): never quoted back.
_LOG_SOURCES = frozenset({"campaign", "recent_event", "character_state"})


def relevant_facts(items: Sequence[ContextItem], action: str, first_sentence: Any) -> list[tuple[str, str]]:
    """(title, fact sentence) of the context that answers the action, best first.

    Retrieval hits (lore, the caller's context; never the campaign log) rank by keyword overlap with the action, then by
    their score; the pinned overview counts only when the action asks about it (shares two words with it, or
    names its title).
    """
    want = keywords(action)
    ranked: list[tuple[int, float, int, str, str]] = []
    for order, item in enumerate(items):
        if item.source in _LOG_SOURCES or not item.text.strip():
            continue
        words = keywords(f"{item.title} {item.text}")
        overlap = len(want & words)
        if item.source == "pinned":
            title_hit = bool(item.title) and bool(keywords(item.title)) and keywords(item.title) <= want
            if overlap < 2 and not title_hit:
                continue
        sentence = first_sentence(item.text)
        if sentence and not sentence.endswith("…"):  # a whole sentence of prose, not a table or a cut run-on
            ranked.append((-overlap, -item.score, order, item.title, sentence))
    ranked.sort()
    seen: set[str] = set()
    out = []
    for _, _, _, title, sentence in ranked:
        if sentence not in seen:
            seen.add(sentence)
            out.append((title, sentence))
    return out


def _npcs(items: Sequence[ContextItem]) -> dict[str, str]:
    """Known NPCs of the context: name -> their sheet line."""
    out = {}
    for item in items:
        if item.source == "character_state":
            m = _NPC_LINE.match(item.text.strip())
            if m:
                out[m.group("name").strip()] = m.group("body")
    return out


def _speaker(action: str, npcs: dict[str, str]) -> tuple[str, str] | None:
    """Who the action talks to: (how to call them, their sheet line), or None when it talks to nobody."""
    if not _TALK.search(action):
        return None
    for name, sheet in npcs.items():
        if any(
            part in action for part in [name, *[w for w in name.split() if len(w) > 3 and w[0].isupper()]]
        ):
            return name, sheet
    low = action.lower()
    for role in (r.replace("_", " ") for r in ROLES):
        if re.search(rf"\b{re.escape(role)}\b", low):
            # The NPC the party knows in that role answers by name, with their sheet.
            for name, sheet in npcs.items():
                if re.search(rf"\b{re.escape(role)}\b", sheet.lower()):
                    return name, sheet
            return f"the {role}", ""
    return None


def write_scene(prompt: Prompt, rng: random.Random) -> str:
    """The scene for one action (see the module docstring)."""
    # The procedural backend registers this writer, so its helpers are imported when first used.
    from mesh.text.procedural import first_sentence, load_tables, second_person

    t = load_tables("scene")
    v = prompt.variables
    tone = str(v.get("tone", "")).strip().lower()
    actor = str(v.get("actor") or "The party").strip()
    action = str(v.get("action", "")).strip().rstrip(".!?")
    recent = Recent([c.text for c in prompt.context if c.source == "recent_event"])
    facts = [
        (title, s)
        for title, s in relevant_facts(prompt.context, action, first_sentence)
        if not recent.seen(s)
    ]
    told = second_person(action) or (action if action[:1].isupper() else f"{actor} acts: {action}")
    fill: dict[str, Any] = {"action": told, "action_cap": _sentence_case(told), "actor": actor}
    paragraphs: list[list[str]] = []

    # 1. Where and when: an opening for the place, a line for the time of day or the tone.
    place = (
        "fight"
        if _FIGHT.search(action)
        else _kind(action, PLACES) or _kind(" ".join(x for x, _ in facts[:1]), PLACES)
    )
    opening = recent.pick(rng, t["openers"].get(place) or t["openers"]["default"], **fill) or recent.pick(
        rng, t["openers"]["default"], **fill
    )
    first = [opening or recent.say(_sentence_case(told) + ".")]
    time_of_day = _kind(action, TIMES)
    mood = (t["times"].get(time_of_day) if time_of_day else None) or t["tones"].get(tone) or []
    extra = recent.pick(rng, mood) if mood else None
    if extra:
        first.append(extra)
    paragraphs.append(first)

    # 2. What the rules decided, what was found, whom the blow meets.
    outcomes = _outcomes(v)
    result = [_tell_fresh(outcome, rng, recent) for outcome in outcomes]
    line: str | None
    # A fight step's stated outcomes say who hit whom: no made-up clash line beside them.
    fight = None if any(o.statement for o in outcomes) else _FIGHT.search(action)
    if fight:
        line = recent.pick(rng, t["fight"], target=fight.group("target"))
        if line:
            result.append(line)
    if _SEARCH.search(action):
        success = all(o.success for o in outcomes) if outcomes else True
        if success:
            thing = recent.pick(rng, t["things"], capital=False)
            line = recent.pick(rng, t["found"]["success"], thing=thing) if thing else None
        else:
            line = recent.pick(rng, t["found"]["failure"])
        if line:
            result.append(line)
    if result:
        paragraphs.append(result)

    # 3. Someone the action addresses answers, in their voice: a rumour from the lore, what they want.
    speaker = _speaker(action, _npcs(prompt.context))
    if speaker is not None:
        who, sheet = speaker
        manner = recent.pick(rng, t["speech_manners"], capital=False, speaker=who) or f"{who} says"
        words: str
        if facts:
            _, fact = facts.pop(0)
            rumour = rng.choice(t["rumour_leads"])
            words = fact.rstrip(".") if _question_led(fact) else f"{rumour} {_inline(fact).rstrip('.')}"
        else:
            words = (recent.pick(rng, t["small_talk"]) or "I have nothing more to say").rstrip(".")
        speech = [recent.say(f'"{words}," {manner}.')]
        want = _WANTS.search(sheet)
        if want:
            line = recent.pick(rng, t["want_lines"], want=_first_person(want.group("want").strip()))
            if line:
                speech.append(f'"{line}"')
        paragraphs.append(speech)

    # 4. The lore that answers the action, each fact once, each with its own lead.
    leads = rng.sample(t["fact_leads"], len(t["fact_leads"]))
    lore: list[str] = []
    for _, fact in facts[:3]:
        fresh = [x for x in leads if not recent.seen(x)]
        if not fresh:
            break
        lead = next((x for x in fresh if x.endswith(":") or not _question_led(fact)), None)
        if lead is None:
            continue
        leads.remove(lead)
        recent.say(lead)
        joined = f"{lead} {_inline(fact) if not lead.endswith(':') else fact}"
        lore.append(recent.say(joined))
    if lore:
        paragraphs.insert(1, lore)

    # 5. A consequence when nothing else happened, and a closer that was not used lately.
    end: list[str] = []
    if not result and speaker is None:
        line = recent.pick(rng, t["consequences"])
        if line:
            end.append(line)
    closers = t["closers"].get(tone) or t["closers"]["default"]
    closer: str | None = recent.pick(rng, closers) or recent.pick(rng, t["closers"]["default"])
    if closer:
        end.append(closer)
    if end:
        paragraphs.append(end)
    return "\n\n".join(" ".join(p) for p in paragraphs if p)


def _first_person(text: str) -> str:
    """A want from a sheet ("to find her brother") as the NPC says it ("to find my brother")."""
    return re.sub(r"\b(her|his|their)\b", "my", re.sub(r"\b(she|he|they)\b", "I", text))


def _outcomes(variables: dict[str, Any]) -> list[Outcome]:
    found = (outcome_from_variables(o) for o in variables.get("outcomes") or () if isinstance(o, dict))
    return [o for o in found if o is not None]


def _tell_fresh(outcome: Outcome, rng: random.Random, recent: Recent) -> str:
    """The outcome told with a line the recent narration did not use (the first telling if every one was)."""
    if outcome.statement:
        return recent.say(stated(outcome))  # a stated fact is told as written, however often
    first = ""
    for _ in range(8):
        line = tell(outcome, rng)
        first = first or line
        if not recent.seen(line):
            return recent.say(line)
    # Every phrasing was used lately: the outcome must still be told, so in plain words with its numbers.
    who = outcome.actor or "Your"
    numbers = f" ({outcome.total} against {outcome.dc})" if outcome.dc else ""
    plain = f"{who}'s {outcome.label} attempt ends in {outcome.verdict}{numbers}."
    return recent.say(plain if not recent.seen(plain) else first)
