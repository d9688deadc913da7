"""Resolving a stored character's check: the sheet and live conditions from campaign memory, the roll by
``rules.checks``, the outcome recorded once as a campaign event.

The check id is the event's idempotency key: resolving the same check id again returns the roll recorded the
first time (``replayed``) and records nothing, so a retried turn can never roll twice. Memory is reached through
:class:`CheckMemory` (``encounter_svc.check_memory`` over gRPC), so this module has no transport.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from mesh.errors import InvalidArgument
from rules.checks import CheckResult, check, normalize_ability, normalize_skill, resolve_dc
from rules.classes import ABILITY_NAMES, load_character_data
from rules.sheets import CharacterSheet

MAX_CHECK_ID = 120
MAX_REASON = 1000
#: Prefix of a check's event idempotency key in the campaign log (other writers use other prefixes).
REQUEST_PREFIX = "check:"


@dataclass(frozen=True, slots=True)
class StoredCharacter:
    """A player character as memory holds it: the sheet and what its current state says about checks."""

    id: str
    name: str
    sheet: CharacterSheet
    conditions: tuple[str, ...] = ()
    exhaustion: int = 0


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    """The campaign event a check is kept in; ``duplicate`` when its key had been recorded before."""

    id: str
    metadata: Mapping[str, Any]
    duplicate: bool


class CheckMemory(Protocol):
    """Campaign memory as checks use it; implementations raise ``mesh.errors`` errors."""

    async def character(self, campaign_id: str, character_id: str) -> StoredCharacter:
        """The character of that campaign with its sheet (NotFound naming character_id otherwise)."""
        ...

    async def record_check(
        self,
        campaign_id: str,
        session_id: str,
        request_id: str,
        actor: str,
        content: str,
        metadata: Mapping[str, Any],
    ) -> RecordedEvent:
        """Record the check event under ``request_id`` (a repeat returns the first event)."""
        ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class CheckRequest:
    """What to roll. ``what`` is a skill (kind "skill") or an ability; exactly one of ``dc``/``difficulty``."""

    campaign_id: str
    character_id: str
    kind: str
    what: str
    dc: int | None = None
    difficulty: str | None = None
    advantage: bool = False
    disadvantage: bool = False
    check_id: str = ""
    seed: int | None = None
    session_id: str = ""
    turn_id: str = ""
    reason: str = ""
    needs_sight: bool = False
    needs_hearing: bool = False


@dataclass(frozen=True, slots=True)
class ResolvedCheck:
    """The roll (its JSON form, as the log keeps it), who rolled, the event and whether it was a replay."""

    result: Mapping[str, Any]
    character_id: str
    character_name: str
    event_id: str
    replayed: bool


def validate(request: CheckRequest) -> tuple[str, int]:
    """The normalised skill or ability and the DC; InvalidArgument naming the request's fields."""
    if request.kind == "skill":
        what = normalize_skill(request.what)
    else:
        what = normalize_ability(request.what)
    if request.dc is not None and request.difficulty:
        raise InvalidArgument([("dc", "give dc or difficulty, not both")])
    dc = resolve_dc(request.dc, request.difficulty)
    if len(request.check_id) > MAX_CHECK_ID:
        raise InvalidArgument([("check_id", f"at most {MAX_CHECK_ID} characters")])
    if len(request.reason) > MAX_REASON:
        raise InvalidArgument([("reason", f"at most {MAX_REASON} characters")])
    return what, dc


def describe(name: str, result: CheckResult, reason: str) -> str:
    """One line for the campaign log: who, what, the dice, the total against the DC, the outcome."""
    if result.kind == "skill":
        label = " ".join(w if w == "of" else w.capitalize() for w in result.what.split("-")) + " check"
    elif result.kind == "save":
        label = ABILITY_NAMES[result.ability].title() + " saving throw"
    else:
        label = ABILITY_NAMES[result.ability].title() + " check"
    if result.auto_fail:
        dice = f"fails automatically ({result.auto_fail})"
    else:
        kept = (
            f"d20 {result.kept}" if len(result.rolls) == 1 else f"d20 {list(result.rolls)} kept {result.kept}"
        )
        dice = f"{kept} {result.modifier:+d} = {result.total}"
    outcome = {"critical": "a critical success", "fumble": "a bad failure"}.get(result.degree, result.degree)
    head = f"{name}: {reason.strip()} — " if reason.strip() else f"{name}: "
    return f"{head}{label}, DC {result.dc}: {dice}: {outcome}."


async def resolve_check(memory: CheckMemory, request: CheckRequest) -> ResolvedCheck:
    """Roll the character's check by the rules and record it once under its check id."""
    what, dc = validate(request)
    character = await memory.character(request.campaign_id, request.character_id)
    known = set(load_character_data().conditions)
    result = check(
        character.sheet,
        request.kind,
        what,
        dc,
        advantage=request.advantage,
        disadvantage=request.disadvantage,
        conditions=[c for c in character.conditions if c.strip().lower() in known],
        exhaustion=min(max(character.exhaustion, 0), 6),
        **(
            {"sight": request.needs_sight, "hearing": request.needs_hearing} if request.kind != "save" else {}
        ),
        seed=request.seed,
    )
    check_id = request.check_id or uuid.uuid4().hex
    rolled = result.to_json()
    metadata = {
        "check": rolled,
        "check_id": check_id,
        "character_id": character.id,
        "turn_id": request.turn_id,
        "reason": request.reason,
    }
    event = await memory.record_check(
        request.campaign_id,
        request.session_id,
        REQUEST_PREFIX + check_id,
        character.name,
        describe(character.name, result, request.reason),
        metadata,
    )
    recorded = event.metadata.get("check") if event.duplicate else rolled
    if not isinstance(recorded, Mapping):
        recorded = rolled  # a foreign event under this key: report this roll, still record nothing new
    return ResolvedCheck(
        result=recorded,
        character_id=str(event.metadata.get("character_id", character.id))
        if event.duplicate
        else character.id,
        character_name=character.name,
        event_id=event.id,
        replayed=event.duplicate,
    )
