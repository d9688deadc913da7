"""What a turn needs besides narration: an encounter, an NPC, an item — decided from the player's action.

Offline the decision is made by rules (keywords and simple intent patterns), deterministic and explainable. With
a model server configured, the text model answers a small JSON schema instead, and the rules' answer is its
fallback when the model's output is invalid; either way the result is the same typed ``TurnPlan``.
"""

from __future__ import annotations

import logging
import re
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from gateway.check_rules import ABILITIES, CHECK_DIFFICULTIES, SKILLS, PlannedCheck, check_for
from mesh.errors import DomainError
from mesh.text.types import GenParams, JsonResult, Message, Prompt

log = logging.getLogger("gateway.planner")

TERRAINS: tuple[str, ...] = (
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
)

#: Words that name a terrain (first match in the text wins).
TERRAIN_WORDS: dict[str, tuple[str, ...]] = {
    "swamp": ("swamp", "marsh", "fen", "bog", "mire", "brinefen", "wetland"),
    "forest": ("forest", "woods", "wood", "grove", "thicket", "jungle", "wildwood"),
    "mountain": ("mountain", "peak", "pass", "cliff", "crag", "summit"),
    "underdark": (
        "cave",
        "cavern",
        "tunnel",
        "underdark",
        "mine",
        "crypt",
        "tomb",
        "dungeon",
        "catacomb",
        "sewer",
    ),
    "desert": ("desert", "dune", "dunes", "sands", "wastes", "badlands"),
    "coastal": ("coast", "shore", "beach", "harbor", "harbour", "cove", "docks", "sea cliff", "reef"),
    "underwater": ("underwater", "beneath the waves", "sea floor", "seafloor"),
    "urban": ("city", "street", "alley", "market", "town", "tavern", "inn", "square", "sewers", "village"),
    "hill": ("hill", "hills", "highland", "downs", "barrow"),
    "grassland": ("plain", "plains", "field", "fields", "meadow", "grassland", "steppe", "road"),
    "arctic": ("snow", "ice", "glacier", "tundra", "frozen", "arctic"),
}

_FIGHT = re.compile(
    r"\b(attack|attacks|fight|fights|ambush|charge|strike|stab|slash|shoot|fire (?:an|my) arrow|kill|battle|"
    r"draw (?:my|our|his|her|their) (?:sword|blade|axe|bow|weapon)s?|cast \w+ at|swing (?:at|my))\b"
)
_VENTURE = re.compile(
    r"\b(enter|enters|venture|ventures|descend|descends|explore|explores|wade|wades|sneak|sneaks|creep|creeps|"
    r"head|heads|push|pushes|delve|delves|press on|step|steps|climb|climbs|travel|travels)\b"
)
_DANGER_PLACES = re.compile(
    r"\b(swamp|marsh|fen|bog|mire|forest|woods|cave|cavern|crypt|tomb|ruins?|dungeon|tunnel|underdark|sewers?|"
    r"wastes|jungle|lair|barrow|catacombs?|haunted|dark)\b"
)
_MEET = re.compile(
    r"\b(talk|talks|speak|speaks|chat|greet|greets|approach|approaches|ask|asks|meet|meets|hail|hails|question|"
    r"bargain|haggle|introduce|introduces|call out to|wave to|bow to)\b"
)
_PERSON = re.compile(
    r"\b(stranger|merchant|trader|peddler|guard|guards|innkeeper|barkeep|bartender|priest|priestess|cleric|noble|"
    r"lord|lady|baron|baroness|knight|traveler|traveller|hermit|old man|old woman|blacksmith|smith|farmer|sage|"
    r"scholar|soldier|captain|sailor|monk|beggar|thief|witch|wizard|mage|hunter|ranger|bard|someone|figure|"
    r"woman|man|child|elder|villager|pilgrim|mercenary|fisherman|fisher|ferryman|boatman|miller|shepherd|herbalist|"
    r"healer|apothecary|alchemist|cook|servant|steward|squire|courier|messenger|tinker|miner|woodcutter|trapper|"
    r"widow|orphan|prisoner|jailer|watchman|sergeant|scout|envoy|herald|abbot|nun|oracle|seer)\b"
)
_LOOT = re.compile(
    r"\b(search|searches|loot|loots|open|opens|pry|pries|rummage|rummages|examine|examines|inspect|inspects|"
    r"check|checks|plunder|dig|digs)\b"
)
_CONTAINER = re.compile(
    r"\b(chest|coffer|box|body|bodies|corpse|corpses|hoard|treasure|altar|sarcophagus|crate|satchel|pack|"
    r"reliquary|strongbox|vault|cache|remains)\b"
)
_TREASURE = re.compile(r"\b(treasure|hoard|loot|a magic|magical (?:item|sword|ring|amulet|staff|wand))\b")

#: Person word -> archetype hint for npc_svc (it falls back to the seed's choice when the world lacks it).
ARCHETYPES: dict[str, str] = {
    "merchant": "merchant",
    "trader": "merchant",
    "peddler": "merchant",
    "guard": "guard",
    "guards": "guard",
    "soldier": "guard",
    "captain": "guard",
    "innkeeper": "innkeeper",
    "barkeep": "innkeeper",
    "bartender": "innkeeper",
    "priest": "priest",
    "priestess": "priest",
    "cleric": "priest",
    "monk": "priest",
    "noble": "noble",
    "lord": "noble",
    "lady": "noble",
    "baron": "noble",
    "baroness": "noble",
    "knight": "knight",
    "sage": "sage",
    "scholar": "sage",
    "wizard": "archmage",
    "mage": "archmage",
    "thief": "spy",
    "hunter": "scout",
    "ranger": "scout",
    "bard": "bard",
    "mercenary": "veteran",
}

_THEMES: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "undead",
        re.compile(r"\b(crypt|tomb|grave|graveyard|skeleton|zombie|ghost|ghoul|undead|barrow|catacombs?)\b"),
    ),
    ("bandits", re.compile(r"\b(bandit|bandits|brigand|brigands|outlaw|outlaws|highwayman|thieves)\b")),
    ("beasts", re.compile(r"\b(wolf|wolves|bear|boar|beast|beasts|spider|spiders)\b")),
    ("goblinoids", re.compile(r"\b(goblin|goblins|hobgoblin|bugbear|orc|orcs)\b")),
)


@dataclass(frozen=True, slots=True)
class TurnPlan:
    """What to build for a turn and why."""

    encounter: bool = False
    npc: bool = False
    item: bool = False
    terrain: str = ""
    difficulty: str = "medium"
    theme: str = ""
    npc_archetype: str = ""
    reasons: tuple[str, ...] = ()
    source: str = "rules"
    check_kind: str = ""
    """"skill" or "ability" when the action's outcome is uncertain and must be rolled; "" for no check."""
    check_what: str = ""
    """The skill index ("investigation") or ability ("dex") of the check."""
    check_difficulty: str = ""
    """The check's difficulty name (``rules.checks.DIFFICULTY_DC``), which gives its DC."""

    @property
    def check(self) -> PlannedCheck | None:
        """The planned check, if any."""
        if not self.check_kind:
            return None
        return PlannedCheck(self.check_kind, self.check_what, self.check_difficulty or "medium", "")

    def as_json(self) -> dict[str, Any]:
        """The schema form (see ``PLAN_SCHEMA``)."""
        data = asdict(self)
        data["reasons"] = list(self.reasons)
        data.pop("source")
        return data


PLAN_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": [
        "encounter",
        "npc",
        "item",
        "terrain",
        "difficulty",
        "theme",
        "npc_archetype",
        "reasons",
        "check_kind",
        "check_what",
        "check_difficulty",
    ],
    "properties": {
        "encounter": {"type": "boolean"},
        "npc": {"type": "boolean"},
        "item": {"type": "boolean"},
        "terrain": {"type": "string", "enum": ["", *TERRAINS]},
        "difficulty": {"type": "string", "enum": ["easy", "medium", "hard", "deadly"]},
        "theme": {"type": "string", "maxLength": 40},
        "npc_archetype": {"type": "string", "maxLength": 40},
        "reasons": {"type": "array", "maxItems": 4, "items": {"type": "string", "maxLength": 120}},
        "check_kind": {"type": "string", "enum": ["", "skill", "ability"]},
        "check_what": {"type": "string", "enum": ["", *SKILLS, *ABILITIES]},
        "check_difficulty": {"type": "string", "enum": ["", *CHECK_DIFFICULTIES]},
    },
}


def terrain_of(text: str) -> str:
    """The terrain a text names, or "" (the earliest mention wins)."""
    lowered = text.lower()
    best = ""
    best_at = len(lowered) + 1
    for terrain, words in TERRAIN_WORDS.items():
        for word in words:
            match = re.search(rf"\b{re.escape(word)}\b", lowered)
            if match and match.start() < best_at:
                best, best_at = terrain, match.start()
    return best


def plan_by_rules(action: str) -> TurnPlan:
    """Decide from keywords and intent patterns; the same action always gives the same plan."""
    text = action.lower()
    reasons: list[str] = []
    fight = _FIGHT.search(text)
    venture = _VENTURE.search(text) and _DANGER_PLACES.search(text)
    encounter = bool(fight or venture)
    if fight:
        reasons.append(f"starts a fight ({fight.group(0)!r})")
    elif venture:
        reasons.append("enters dangerous terrain")
    person = _PERSON.search(text)
    npc = bool(_MEET.search(text) and person)
    archetype = ""
    if npc and person is not None:
        reasons.append(f"meets someone ({person.group(0)!r})")
        archetype = ARCHETYPES.get(person.group(0), "")
    item = bool((_LOOT.search(text) and _CONTAINER.search(text)) or _TREASURE.search(text))
    if item:
        reasons.append("looks for treasure")
    difficulty = "medium"
    if re.search(r"\b(ambush|dragon|boss|lair|horde)\b", text):
        difficulty = "hard"
    elif re.search(r"\b(sneak|scout|carefully|quietly)\b", text):
        difficulty = "easy"
    theme = next((name for name, pattern in _THEMES if pattern.search(text)), "")
    check = check_for(action)
    if check is not None:
        reasons.append(check.reason)
    return TurnPlan(
        encounter=encounter,
        npc=npc,
        item=item,
        terrain=terrain_of(text),
        difficulty=difficulty,
        theme=theme,
        npc_archetype=archetype,
        reasons=tuple(reasons),
        check_kind=check.kind if check else "",
        check_what=check.what if check else "",
        check_difficulty=check.difficulty if check else "",
    )


class JsonModel(Protocol):
    """The part of ``mesh.text.model.TextModel`` the planner uses."""

    async def complete_json(
        self,
        prompt: Prompt,
        schema: dict[str, Any],
        params: GenParams,
        *,
        fallback: Any = None,
        check: Any = None,
    ) -> JsonResult: ...


SYSTEM = (
    "You are the planner of a tabletop game master. Given a player's action, decide whether the turn needs a "
    "combat or hazard encounter (the party starts a fight or enters dangerous terrain), a new NPC (the party "
    "meets or talks to a new person), or an item (the party searches for or finds treasure). When the outcome "
    "of the action is uncertain, name the check the rules must roll first: check_kind 'skill' with one of the "
    "18 SRD skills, or 'ability' with an ability, and check_difficulty from how hard the situation makes it; "
    "leave the three check fields empty when the action simply succeeds or is a fight. Answer with JSON only, "
    "matching the schema."
)


class Planner:
    """Rules offline; the text model with a JSON schema (rules as fallback) when a model server is configured."""

    def __init__(self, model: JsonModel | None = None) -> None:
        self.model = model

    async def plan(self, action: str, seed: int) -> TurnPlan:
        """The plan for ``action``."""
        rules = plan_by_rules(action)
        if self.model is None:
            return rules
        prompt = Prompt(
            task="plan_turn",
            messages=(Message("system", SYSTEM), Message("user", f"Player action: {action}")),
            variables={"action": action},
        )
        try:
            result = await self.model.complete_json(
                prompt,
                PLAN_SCHEMA,
                GenParams(max_tokens=200, temperature=0.0, seed=seed),
                fallback=lambda _seed: rules.as_json(),
            )
        except DomainError as exc:  # model server down or too slow: the rules still decide
            log.warning("planning by model failed, using rules: %s", exc.message)
            return rules
        if result.fallback:
            return rules
        data = result.data
        return TurnPlan(
            encounter=bool(data["encounter"]),
            npc=bool(data["npc"]),
            item=bool(data["item"]),
            terrain=str(data["terrain"]) or rules.terrain,
            difficulty=str(data["difficulty"]),
            theme=str(data["theme"]),
            npc_archetype=str(data["npc_archetype"]),
            reasons=tuple(str(r) for r in data["reasons"]),
            source="model",
            **_model_check(data),
        )


def _model_check(data: dict[str, Any]) -> dict[str, str]:
    """The model's check fields, made consistent: a kind needs a matching skill or ability, else no check."""
    kind, what = str(data.get("check_kind", "")), str(data.get("check_what", ""))
    difficulty = str(data.get("check_difficulty", "")) or "medium"
    if (kind == "skill" and what in SKILLS) or (kind == "ability" and what in ABILITIES):
        return {"check_kind": kind, "check_what": what, "check_difficulty": difficulty}
    return {}
