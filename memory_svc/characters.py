"""Characters (PCs and NPCs) and their states over time, with "as of time T" reads.

A player character may carry its sheet (validated JSON from the rules engine, see ``memory_svc.sheets``); its
states then also carry the live numbers the rules track (hit dice, slots, XP...), checked against the sheet and
kept in the same history. Reads and updates may be scoped to a campaign: a character of another campaign is
then NotFound, exactly like one that does not exist.

The current state is one row per character. Writing a new state updates that row; the database keeps the old
one in ``character_states_history`` with its validity period (SQL Server temporal table, or the SQLite
trigger), so "as of T" is the row whose period contains T. Updates are idempotent under a request id.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, select, text
from sqlalchemy.orm import Session

from memory_svc import paging, refs, sheets
from memory_svc.catalog import DESCRIPTION_MAX, Page, check_text
from memory_svc.db import Database
from memory_svc.kinds import Audience
from memory_svc.models import (
    KEY_ID_LEN,
    NAME_LEN,
    REQUEST_ID_LEN,
    Campaign,
    Character,
    CharacterState,
    Location,
    character_states_history,
)
from mesh.errors import InvalidArgument, NotFound, Violations
from rules.live_state import new_state

#: Period end of the current row (SQL Server writes 9999-12-31 23:59:59.9999999).
END_OF_TIME_YEAR = 9999
STATE_COLUMNS = (
    "character_id",
    "hit_points",
    "max_hit_points",
    "temporary_hit_points",
    "conditions",
    "inventory",
    "location_id",
    "notes",
    "request_id",
    "valid_from",
    "valid_to",
    "live",
)


@dataclass(frozen=True, slots=True)
class StateInput:
    """A state to record (the period is set by the database)."""

    hit_points: int = 0
    max_hit_points: int = 0
    temporary_hit_points: int = 0
    conditions: tuple[str, ...] = ()
    inventory: tuple[str, ...] = ()
    location_id: str = ""
    notes: str = ""
    #: Player characters' live numbers (``sheets.LIVE_KEYS``); ignored for characters without a sheet.
    live: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class StateView:
    """A recorded state and its validity period; ``valid_to`` is None for the current state."""

    character_id: int
    hit_points: int
    max_hit_points: int
    temporary_hit_points: int
    conditions: list[str]
    inventory: list[str]
    location_id: int | None
    notes: str
    request_id: str | None
    valid_from: datetime
    valid_to: datetime | None
    live: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class CharacterInput:
    """Fields of a new character."""

    name: str
    is_npc: bool = False
    ancestry: str = ""
    character_class: str = ""
    level: int = 0
    description: str = ""
    secrets: tuple[str, ...] = ()
    stat_block: dict[str, Any] | None = None
    tags: tuple[str, ...] = ()
    owner: str = ""
    """Key id of the player seat that controls it; empty: only the DM role."""
    sheet_json: str = ""


def visible_secrets(character: Character, audience: Audience) -> list[str]:
    """A character's secrets as this audience may see them: all for the DM, none for anyone else."""
    return list(character.secrets) if audience is Audience.DM else []


def _check_state(v: Violations, state: StateInput, prefix: str) -> None:
    v.check(state.hit_points >= -1000, f"{prefix}.hit_points", "must be >= -1000")
    v.check(state.max_hit_points >= 0, f"{prefix}.max_hit_points", "must not be negative")
    v.check(state.temporary_hit_points >= 0, f"{prefix}.temporary_hit_points", "must not be negative")
    for i, item in enumerate(state.conditions):
        check_text(v, item, f"{prefix}.conditions[{i}]", 100, required=True)
    for i, item in enumerate(state.inventory):
        check_text(v, item, f"{prefix}.inventory[{i}]", NAME_LEN, required=True)
    check_text(v, state.notes, f"{prefix}.notes", DESCRIPTION_MAX)


def _location(session: Session, campaign: Campaign, ref: str, field: str) -> int | None:
    location_id = refs.parse_id(ref, field, required=False)
    if location_id is None:
        return None
    location = session.get(Location, location_id)
    if location is None:
        raise NotFound("location", str(location_id))
    if location.world_id != campaign.world_id:
        raise InvalidArgument([(field, "location belongs to another world")])
    return location_id


def _view(row: CharacterState | Row[Any]) -> StateView:
    valid_to = row.valid_to
    return StateView(
        character_id=row.character_id,
        hit_points=row.hit_points,
        max_hit_points=row.max_hit_points,
        temporary_hit_points=row.temporary_hit_points,
        conditions=list(row.conditions or []),
        inventory=list(row.inventory or []),
        location_id=row.location_id,
        notes=row.notes,
        request_id=row.request_id,
        valid_from=row.valid_from,
        valid_to=None if valid_to is None or valid_to.year >= END_OF_TIME_YEAR else valid_to,
        live=row.live,
    )


def scoped_character(session: Session, ref: str, campaign_ref: str = "") -> Character:
    """A character by id; with ``campaign_ref``, NotFound (naming character_id) unless it is that campaign's."""
    character = refs.character(session, ref)
    if campaign_ref.strip():
        campaign_id = refs.parse_id(campaign_ref, "campaign_id")
        if character.campaign_id != campaign_id:
            raise NotFound("character", f"{character.id} in campaign {campaign_id}", field="character_id")
    return character


def _with_sheet(character: Character, state: StateInput, field: str) -> StateInput:
    """A player character's state checked against its sheet: max HP from the sheet, live numbers validated."""
    if character.sheet is None:
        return StateInput(**{**_fields(state), "live": None})
    sheet = sheets.stored_sheet(character.sheet)
    live = sheets.live_document(
        sheet,
        hit_points=state.hit_points,
        temporary_hit_points=state.temporary_hit_points,
        conditions=state.conditions,
        live=state.live or {},
        field=field,
    )
    return StateInput(**{**_fields(state), "max_hit_points": sheet.hp_max, "live": live})


def _fields(state: StateInput) -> dict[str, Any]:
    return {name: getattr(state, name) for name in StateInput.__dataclass_fields__}


def create_character(
    db: Database, campaign_ref: str, data: CharacterInput, initial: StateInput | None
) -> Character:
    """Create a character and, when given, its first state."""
    v = Violations()
    check_text(v, data.name, "character.name", NAME_LEN, required=True)
    check_text(v, data.ancestry, "character.ancestry", 100)
    check_text(v, data.character_class, "character.character_class", 100)
    v.check(0 <= data.level <= 30, "character.level", f"must be between 0 and 30, got {data.level}")
    check_text(v, data.description, "character.description", DESCRIPTION_MAX)
    for i, secret in enumerate(data.secrets):
        check_text(v, secret, f"character.secrets[{i}]", DESCRIPTION_MAX, required=True)
    for i, tag in enumerate(data.tags):
        check_text(v, tag, f"character.tags[{i}]", 50, required=True)
    check_text(v, data.owner, "character.owner", KEY_ID_LEN)
    v.check("," not in data.owner, "character.owner", "a key id has no commas")
    if initial is not None:
        _check_state(v, initial, "initial_state")
    v.check(
        not (data.sheet_json and data.is_npc), "character.sheet_json", "only player characters have a sheet"
    )
    v.raise_if_any()
    stored: dict[str, Any] | None = None
    ancestry, character_class, level = data.ancestry, data.character_class, data.level
    if data.sheet_json:
        stored, sheet = sheets.parse_sheet(data.sheet_json, "character.sheet_json")
        ancestry = sheet.subrace_index or sheet.race_index
        character_class, level = sheet.class_index, sheet.level
        if initial is None:  # a new hero starts rested
            rested = new_state(sheet).to_json()
            initial = StateInput(hit_points=sheet.hp_max, live={k: rested[k] for k in sheets.LIVE_KEYS})
    with db.write() as session:
        campaign = refs.campaign(session, campaign_ref)
        character = Character(
            campaign_id=campaign.id,
            name=data.name.strip(),
            is_npc=data.is_npc,
            ancestry=ancestry,
            character_class=character_class,
            level=level,
            description=data.description,
            secrets=list(data.secrets),
            stat_block=data.stat_block,
            tags=list(data.tags),
            owner=data.owner.strip() or None,
            sheet=stored,
        )
        if initial is not None:
            initial = _with_sheet(character, initial, "initial_state")
        session.add(character)
        session.flush()
        if initial is not None:
            session.add(_new_state(session, campaign, character.id, initial, None))
    return character


def get_character(db: Database, ref: str, campaign_ref: str = "") -> Character:
    """A character by id (of ``campaign_ref``, when given)."""
    with db.read() as session:
        return scoped_character(session, ref, campaign_ref)


def list_characters(
    db: Database, campaign_ref: str, is_npc: bool | None, size: int, token: str
) -> Page[Character]:
    """A campaign's characters in id order, optionally only NPCs or only PCs."""
    limit = paging.page_size(size)
    after = paging.after_id(token)
    with db.read() as session:
        campaign = refs.campaign(session, campaign_ref)
        query = select(Character).where(Character.campaign_id == campaign.id, Character.id > after)
        if is_npc is not None:
            query = query.where(Character.is_npc == is_npc)
        rows = list(session.scalars(query.order_by(Character.id).limit(limit + 1)))
    if len(rows) > limit:
        rows = rows[:limit]
        return Page(rows, paging.encode([rows[-1].id]))
    return Page(rows, "")


def _new_state(
    session: Session, campaign: Campaign, character_id: int, state: StateInput, request_id: str | None
) -> CharacterState:
    return CharacterState(
        character_id=character_id,
        hit_points=state.hit_points,
        max_hit_points=state.max_hit_points,
        temporary_hit_points=state.temporary_hit_points,
        conditions=list(state.conditions),
        inventory=list(state.inventory),
        location_id=_location(session, campaign, state.location_id, "state.location_id"),
        notes=state.notes,
        request_id=request_id,
        live=None if state.live is None else dict(state.live),
    )


def update_state(
    db: Database, character_ref: str, state: StateInput, request_id: str, campaign_ref: str = ""
) -> tuple[StateView, bool]:
    """Record a new current state; the flag is True when ``request_id`` was already applied (nothing written)."""
    v = Violations()
    _check_state(v, state, "state")
    check_text(v, request_id, "request_id", REQUEST_ID_LEN)
    v.raise_if_any()
    rid = request_id or None
    with db.write() as session:
        character = scoped_character(session, character_ref, campaign_ref)
        state = _with_sheet(character, state, "state")
        if rid is not None:
            seen = _state_by_request(session, character.id, rid)
            if seen is not None:
                return seen, True
        campaign = session.get(Campaign, character.campaign_id)
        assert campaign is not None
        current = session.scalar(select(CharacterState).where(CharacterState.character_id == character.id))
        if current is None:
            session.add(_new_state(session, campaign, character.id, state, rid))
        else:
            current.hit_points = state.hit_points
            current.max_hit_points = state.max_hit_points
            current.temporary_hit_points = state.temporary_hit_points
            current.conditions = list(state.conditions)
            current.inventory = list(state.inventory)
            current.location_id = _location(session, campaign, state.location_id, "state.location_id")
            current.notes = state.notes
            current.request_id = rid
            current.live = None if state.live is None else dict(state.live)
        character_id = character.id
    return current_state(db, str(character_id)), False


def _state_by_request(session: Session, character_id: int, request_id: str) -> StateView | None:
    current = session.scalar(
        select(CharacterState).where(
            CharacterState.character_id == character_id, CharacterState.request_id == request_id
        )
    )
    if current is not None:
        return _view(current)
    h = character_states_history.c
    row = session.execute(
        select(*[h[c] for c in STATE_COLUMNS])
        .where(h.character_id == character_id, h.request_id == request_id)
        .order_by(h.valid_from.desc())
        .limit(1)
    ).first()
    return _view(row) if row is not None else None


def current_state(db: Database, character_ref: str, campaign_ref: str = "") -> StateView:
    """The character's current state (NotFound when it has none)."""
    with db.read() as session:
        character = scoped_character(session, character_ref, campaign_ref)
        row = session.scalar(select(CharacterState).where(CharacterState.character_id == character.id))
        if row is None:
            raise NotFound("character state", str(character.id))
        return _view(row)


def state_as_of(db: Database, character_ref: str, as_of: datetime, campaign_ref: str = "") -> StateView:
    """The state that was current at ``as_of`` (naive UTC); NotFound before the first state."""
    with db.read() as session:
        character = scoped_character(session, character_ref, campaign_ref)
        if db.dialect == "mssql":
            row = session.execute(
                text(
                    f"SELECT {', '.join(STATE_COLUMNS)} FROM character_states "
                    "FOR SYSTEM_TIME AS OF :as_of WHERE character_id = :cid"
                ),
                {"as_of": as_of, "cid": character.id},
            ).first()
        else:
            row = _sqlite_as_of(session, character.id, as_of)
        if row is None:
            raise NotFound("character state", f"{character.id} as of {as_of.isoformat()}")
        return _view(row)


def _sqlite_as_of(session: Session, character_id: int, as_of: datetime) -> Row[Any] | None:
    """The same question as FOR SYSTEM_TIME AS OF, asked of the current row and the trigger-kept history."""
    s = CharacterState.__table__.c
    row = session.execute(
        select(*[s[c] for c in STATE_COLUMNS]).where(s.character_id == character_id, s.valid_from <= as_of)
    ).first()
    if row is not None:
        return row
    h = character_states_history.c
    return session.execute(
        select(*[h[c] for c in STATE_COLUMNS])
        .where(h.character_id == character_id, h.valid_from <= as_of, h.valid_to > as_of)
        .order_by(h.valid_from.desc())
        .limit(1)
    ).first()


def current_states(
    session: Session, character_ids: list[int]
) -> dict[int, tuple[Character, StateView | None]]:
    """Characters and their current states by id (those that exist), for retrieval."""
    out: dict[int, tuple[Character, StateView | None]] = {}
    if not character_ids:
        return out
    characters = session.scalars(select(Character).where(Character.id.in_(character_ids))).all()
    states = {
        s.character_id: _view(s)
        for s in session.scalars(select(CharacterState).where(CharacterState.character_id.in_(character_ids)))
    }
    for character in characters:
        out[character.id] = (character, states.get(character.id))
    return out
