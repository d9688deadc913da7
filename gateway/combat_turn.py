"""Fights in play: a turn that starts a fight starts one, and a character's words during a fight are its action.

A fight is run by encounter_svc (``StartCombat`` / ``TakeAction``, every step recorded in memory); the gateway
only finds the campaign's active fight (its newest combat event names it), maps the player's words to a declared
action ("I attack the goblin", "I cast fire bolt at the orc"), and turns the resolved steps into outcomes the
narration must state. An action out of turn is refused before anything is recorded, naming whose turn it is.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from dungeonmaster.v1 import common_pb2, encounter_pb2, memory_pb2, narrative_pb2
from rules.combat.errors import NotYourTurn

#: Request ids of recorded fight steps: ``combat:<combat id>:<step>`` (encounter_svc.combat_memory).
STEP_PREFIX = "combat:"

#: Step events told in the narration, in the order they happened.
TOLD = ("attack", "damage", "cast", "heal", "save", "condition", "death_save", "flee", "end")

#: Most outcomes one narration is given (narrative_svc accepts 8): the latest steps are kept.
MAX_TOLD = 8

#: Words that declare an action other than an attack or a spell.
SIMPLE_ACTIONS: tuple[tuple[str, str], ...] = (
    ("second wind", "second_wind"),
    ("action surge", "action_surge"),
    ("disengage", "disengage"),
    ("dodge", "dodge"),
    ("dash", "dash"),
    ("flee", "flee"),
    ("hide", "hide"),
    ("rage", "rage"),
)

_CAST = re.compile(
    r"\bcasts?\s+(?:a\s+|an\s+|the\s+|my\s+)?(?P<spell>[a-z' -]+?)(?:\s+(?:at|on|against|toward|towards|to)\b|[.!,]|$)"
)
#: Words that speak rather than strike: during a fight they take the turn (talk is free), never a weapon attack.
_TALK = re.compile(
    r"\b(ask|asks|tell|tells|say|says|talk|talks|speak|speaks|shout|shouts|call|calls|plead|pleads|persuade|"
    r"persuades|demand|demands|beg|begs|warn|warns|whisper|whispers|yell|yells|bargain|bargains|parley)\b"
)
_STRIKE = re.compile(
    r"\b(attack|attacks|strike|strikes|hit|hits|swing|swings|stab|stabs|slash|slashes|shoot|shoots|fire|fires|"
    r"loose|looses|throw|throws|punch|punches|kick|kicks|charge|charges|lunge|lunges|smite|smites|cut|cuts|"
    r"fight|fights|kill|kills)\b"
)
_RANGED_WORDS = re.compile(r"\b(shoot|shoots|fire|fires|arrow|bolt|bow|crossbow|throw|throws)\b")


class CombatServices(Protocol):
    """The calls a fight in play makes (``gateway.clients.ServiceClients`` implements them)."""

    async def list_events(self, request: memory_pb2.ListEventsRequest) -> memory_pb2.ListEventsResponse: ...
    async def list_characters(
        self, request: memory_pb2.ListCharactersRequest
    ) -> memory_pb2.ListCharactersResponse: ...
    async def generate_encounter(
        self, request: encounter_pb2.GenerateEncounterRequest
    ) -> encounter_pb2.GenerateEncounterResponse: ...
    async def start_combat(
        self, request: encounter_pb2.StartCombatRequest
    ) -> encounter_pb2.StartCombatResponse: ...
    async def take_action(
        self, request: encounter_pb2.TakeActionRequest
    ) -> encounter_pb2.TakeActionResponse: ...
    async def get_combat(
        self, request: encounter_pb2.GetCombatRequest
    ) -> encounter_pb2.GetCombatResponse: ...


@dataclass(frozen=True, slots=True)
class Fought:
    """A fight step of a turn, as the rules resolved it: streamed before the narration, which states it."""

    combat_id: str
    started: bool
    state: encounter_pb2.CombatState
    events: tuple[encounter_pb2.CombatEvent, ...]
    fallen: tuple[str, ...]
    next_actor: str

    def outcomes(self) -> list[narrative_pb2.NarrationOutcome]:
        """The step's attacks, damage, spells and falls as stated outcomes, then who fell and how it ended."""
        lines = [e.text for e in self.events if e.kind in TOLD and e.text]
        lines.extend(f"{name} falls." for name in self.fallen if not any(name in line for line in lines))
        if self.state.status not in ("", "active") and not any(e.kind == "end" for e in self.events):
            lines.append(f"The fight ends: {self.state.status}.")
        return [
            narrative_pb2.NarrationOutcome(statement=line[:1000], success=True, degree="success")
            for line in lines[-MAX_TOLD:]
        ]


def name_of(state: encounter_pb2.CombatState, combatant_id: str) -> str:
    """A combatant's name (its id when unknown)."""
    return next((c.name for c in state.combatants if c.id == combatant_id), combatant_id)


def combat_id_for(turn_id: str) -> str:
    """The id of a fight a turn starts: a replay of the turn finds the same fight."""
    return "turn-" + hashlib.sha256(turn_id.encode()).hexdigest()[:20]


async def active_combat(services: CombatServices, campaign_id: str) -> encounter_pb2.CombatState | None:
    """The campaign's fight in progress, if any: the one its newest combat event belongs to."""
    page = await services.list_events(
        memory_pb2.ListEventsRequest(
            campaign_id=campaign_id,
            kinds=[memory_pb2.EVENT_KIND_COMBAT],
            page_size=1,
            audience=common_pb2.AUDIENCE_PLAYER,
        )
    )
    if not page.events or not page.events[0].request_id.startswith(STEP_PREFIX):
        return None
    combat_id = page.events[0].request_id[len(STEP_PREFIX) :].rpartition(":")[0]
    if not combat_id:
        return None
    reply = await services.get_combat(
        encounter_pb2.GetCombatRequest(campaign_id=campaign_id, combat_id=combat_id)
    )
    return reply.combat if reply.combat.status == "active" else None


def _fallen(before: encounter_pb2.CombatState | None, after: encounter_pb2.CombatState) -> tuple[str, ...]:
    up = {c.id for c in before.combatants if c.hit_points > 0 and not c.dead} if before else None
    return tuple(
        c.name for c in after.combatants if (c.hit_points <= 0 or c.dead) and (up is None or c.id in up)
    )


def _fought(
    before: encounter_pb2.CombatState | None,
    state: encounter_pb2.CombatState,
    events: Sequence[encounter_pb2.CombatEvent],
) -> Fought:
    return Fought(
        combat_id=state.combat_id,
        started=before is None,
        state=state,
        events=tuple(events),
        fallen=_fallen(before, state),
        next_actor=name_of(state, state.current) if state.status == "active" else "",
    )


def _named_target(text: str, foes: Sequence[encounter_pb2.Combatant]) -> encounter_pb2.Combatant | None:
    """The foe the words name: its full name, then its kind ("the goblin")."""
    for foe in foes:
        if foe.name.lower() in text:
            return foe
    for foe in foes:
        kind = foe.source.removeprefix("srd:").replace("-", " ")
        if (kind and kind in text) or foe.name.lower().rstrip(" 0123456789") in text:
            return foe
    return None


def _attacks(sheet_json: str) -> list[dict[str, Any]]:
    try:
        return [a for a in json.loads(sheet_json).get("attacks") or [] if isinstance(a, dict)]
    except (ValueError, AttributeError):
        return []


def _weapon_and_target(
    text: str, attacks: Sequence[dict[str, Any]], foes: Sequence[encounter_pb2.Combatant]
) -> tuple[str, encounter_pb2.Combatant | None]:
    """The weapon the words name, else one that reaches the foe under the range model (melee needs the foe on the
    melee line, else a ranged weapon); an unnamed foe is the first engaged one, else the first standing."""
    named = _named_target(text, foes)
    engaged = [f for f in foes if f.position == "engaged"]
    target = named or (engaged[0] if engaged else foes[0] if foes else None)
    for a in attacks:
        if str(a.get("name", "")).lower() in text or str(a.get("index", "")).replace("-", " ") in text:
            return str(a.get("index", "")), target
    melee = [str(a.get("index", "")) for a in attacks if not a.get("ranged")]
    ranged = [str(a.get("index", "")) for a in attacks if a.get("ranged")]
    wants_ranged = bool(_RANGED_WORDS.search(text)) or (target is not None and target.position != "engaged")
    if wants_ranged and ranged:
        return ranged[0], target
    if melee:
        return melee[0], target
    return (ranged or [""])[0], target


def declare(
    text: str, state: encounter_pb2.CombatState, actor_id: str, sheet_json: str
) -> encounter_pb2.CombatAction:
    """The action a character's words declare: a spell cast, a named simple action, words spoken (the turn
    passes), else a weapon attack."""
    low = " ".join(text.lower().split())
    actor = next((c for c in state.combatants if c.id == actor_id), None)
    side = actor.side if actor else "party"
    foes = [
        c
        for c in (next((x for x in state.combatants if x.id == cid), None) for cid in state.order)
        if c is not None and c.side != side and c.hit_points > 0 and not c.dead and not c.fled
    ]
    cast = _CAST.search(low)
    if cast:
        target = _named_target(low, foes) or (foes[0] if foes else None)
        return encounter_pb2.CombatAction(
            kind="cast",
            spell=cast.group("spell").strip(),
            targets=[target.id] if target else [],
            end_turn=True,
        )
    for words, kind in SIMPLE_ACTIONS:
        if re.search(rf"\b{words}\b", low):
            return encounter_pb2.CombatAction(kind=kind, end_turn=True)
    attacks = _attacks(sheet_json)
    names_weapon = any(str(a.get("name", "")).lower() in low for a in attacks if a.get("name"))
    if _TALK.search(low) and not _STRIKE.search(low) and not names_weapon:
        # "I ask Janke about the tunnel" mid-fight: the words are spoken and the turn passes, no blow is struck.
        return encounter_pb2.CombatAction(kind="end_turn", end_turn=True)
    weapon, target = _weapon_and_target(low, attacks, foes)
    melee = any(str(a.get("index", "")) == weapon and not a.get("ranged") for a in attacks)
    if melee and target is not None and target.position != "engaged" and actor is not None:
        # No foe on the melee line to reach and nothing to shoot with: step up to the line instead.
        if actor.position != "engaged":
            return encounter_pb2.CombatAction(kind="move", position="engaged", end_turn=True)
        return encounter_pb2.CombatAction(kind="dodge", end_turn=True)
    return encounter_pb2.CombatAction(
        kind="attack", weapon=weapon, targets=[target.id] if target else [], end_turn=True
    )


def ensure_turn(state: encounter_pb2.CombatState, character_id: str) -> None:
    """FAILED_PRECONDITION naming whose turn it is, unless it is this character's."""
    if state.current != character_id:
        raise NotYourTurn(name_of(state, character_id), state.current, name_of(state, state.current))


async def act(
    services: CombatServices,
    req: Any,
    state: encounter_pb2.CombatState,
    character: memory_pb2.Character,
) -> Fought:
    """The acting character's words as its action in the fight; out of turn is refused, naming whose turn it is."""
    ensure_turn(state, character.id)
    action = declare(req.input, state, character.id, character.sheet_json)
    reply = await services.take_action(
        encounter_pb2.TakeActionRequest(
            campaign_id=req.campaign_id,
            combat_id=state.combat_id,
            actor=character.id,
            action=action,
            step=state.step,
        )
    )
    return _fought(state, reply.combat, reply.events)


async def start(
    services: CombatServices,
    req: Any,
    encounter_request: encounter_pb2.GenerateEncounterRequest,
    seed: int,
) -> tuple[encounter_pb2.Encounter, Fought] | None:
    """Generate the turn's encounter for the campaign's stored characters and start the fight against it.

    None when the campaign has no stored character with a sheet (the turn then only builds the encounter)."""
    stored = await services.list_characters(
        memory_pb2.ListCharactersRequest(campaign_id=req.campaign_id, is_npc=False, page_size=100)
    )
    heroes = [c for c in stored.characters if c.sheet_json and 1 <= c.level <= 20][:12]
    if not heroes:
        return None
    encounter_request.party.CopyFrom(
        common_pb2.Party(
            members=[
                common_pb2.PartyMember(
                    name=c.name, level=c.level, character_class=c.character_class, character_id=c.id
                )
                for c in heroes
            ]
        )
    )
    built = await services.generate_encounter(encounter_request)
    monsters = [
        group.stat_block.source.removeprefix("srd:")
        for group in built.encounter.creatures
        for _ in range(max(0, group.count))
        if group.stat_block.source.startswith("srd:")
    ]
    if not monsters:
        return None
    reply = await services.start_combat(
        encounter_pb2.StartCombatRequest(
            campaign_id=req.campaign_id,
            session_id=req.session_id,
            character_ids=[c.id for c in heroes],
            monsters=monsters[:20],
            seed=seed,
            combat_id=combat_id_for(req.turn_id),
        )
    )
    return built.encounter, _fought(None, reply.combat, reply.events)
