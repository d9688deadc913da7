"""Player character sheets and live numbers as memory stores them, validated by the rules before any write.

A sheet is accepted only when rebuilding it from its own choices gives exactly the same numbers
(:meth:`rules.sheets.CharacterSheet.from_json`), so a stored sheet never disagrees with the rules. A player
character's live numbers (hit points, hit dice, slots and resources used, conditions, exhaustion, XP, death
saves) are checked against that sheet's maxima. Errors name the request field they came from.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from memory_svc.columns import dumps
from mesh.errors import InvalidArgument
from rules.live_state import LiveState, validate_state
from rules.sheets import CharacterSheet

#: Live numbers kept in ``character_states.live`` (hit points, temporary hit points and conditions have their
#: own columns).
LIVE_KEYS: tuple[str, ...] = (
    "hit_dice",
    "slots_used",
    "resources_used",
    "exhaustion",
    "xp",
    "death_successes",
    "death_failures",
    "stable",
    "dead",
)
#: rules.live_state field -> CharacterState proto field, for error messages.
_STATE_FIELDS: Mapping[str, str] = {
    "hp": "hit_points",
    "temp_hp": "temporary_hit_points",
    "hit_dice": "hit_dice_left",
}
MAX_SHEET_CHARS = 200_000
MAX_CACHED_SHEETS = 1024
#: Sheets already validated, by their canonical JSON text (building one from its choices costs about a ms).
_SHEETS: dict[str, CharacterSheet] = {}


def parse_sheet(text: str, field: str) -> tuple[dict[str, Any], CharacterSheet]:
    """The stored form and the sheet of ``text``; InvalidArgument naming ``field`` (and the sheet's key)."""
    if len(text) > MAX_SHEET_CHARS:
        raise InvalidArgument([(field, f"at most {MAX_SHEET_CHARS} characters")])
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise InvalidArgument([(field, f"not valid JSON: {exc}")]) from None
    if not isinstance(data, dict):
        raise InvalidArgument([(field, "must be a JSON object (a sheet built by BuildCharacter)")])
    try:
        sheet = CharacterSheet.from_json(data)
    except InvalidArgument as exc:
        raise InvalidArgument([(field, f"{f}: {d}") for f, d in exc.violations]) from None
    stored = sheet.to_json()
    _remember(dumps(stored), sheet)
    return stored, sheet


def _remember(canonical: str, sheet: CharacterSheet) -> None:
    if len(_SHEETS) >= MAX_CACHED_SHEETS:
        _SHEETS.clear()
    _SHEETS[canonical] = sheet


def stored_sheet(data: Mapping[str, Any]) -> CharacterSheet:
    """The sheet of a stored document: validated when written, so rebuilt at most once per distinct sheet."""
    canonical = dumps(dict(data))
    sheet = _SHEETS.get(canonical)
    if sheet is None:
        sheet = CharacterSheet.from_json(data)
        _remember(canonical, sheet)
    return sheet


def sheet_text(data: Mapping[str, Any] | None) -> str:
    """The stored sheet as the JSON text the API returns ("" for characters without one)."""
    return "" if data is None else dumps(dict(data))


def live_document(
    sheet: CharacterSheet,
    *,
    hit_points: int,
    temporary_hit_points: int,
    conditions: tuple[str, ...],
    live: Mapping[str, Any],
    field: str,
) -> dict[str, Any]:
    """Check a player character's state against its sheet; the ``live`` column's document.

    ``live`` holds the :data:`LIVE_KEYS` (missing keys take a rested character's value: no slots or resources
    used, nothing else). Violations are named ``<field>.<proto field>``.
    """
    slots = list(live.get("slots_used") or [0] * 9)
    state = LiveState(
        hp=hit_points,
        hit_dice=int(live.get("hit_dice", 0)),
        temp_hp=temporary_hit_points,
        slots_used=tuple(slots),
        resources_used=dict(live.get("resources_used") or {}),
        conditions=tuple(conditions),
        exhaustion=int(live.get("exhaustion", 0)),
        xp=int(live.get("xp", 0)),
        death_successes=int(live.get("death_successes", 0)),
        death_failures=int(live.get("death_failures", 0)),
        stable=bool(live.get("stable", False)),
        dead=bool(live.get("dead", False)),
    )
    if len(slots) != 9:
        raise InvalidArgument([(f"{field}.slots_used", "give 9 counts (spell levels 1..9) or none")])
    try:
        validate_state(state, sheet)
    except InvalidArgument as exc:
        raise InvalidArgument([(_state_field(field, f), d) for f, d in exc.violations]) from None
    full = state.to_json()
    return {k: full[k] for k in LIVE_KEYS}


def _state_field(prefix: str, name: str) -> str:
    head, sep, rest = name.partition("[")
    head, dot, tail = head.partition(".")
    return f"{prefix}.{_STATE_FIELDS.get(head, head)}{dot}{tail}{sep}{rest}"
