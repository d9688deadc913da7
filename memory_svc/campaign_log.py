"""The campaign log: events recorded exactly once per client request id, listed newest first.

``record_event`` commits the event and its outbox row before it returns, so an acknowledged event survives a
crash; a retry with the same request id (the client did not see the answer) returns the stored event and
writes nothing. The unique (campaign, request id) constraint settles races between concurrent retries.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lore.chunking import normalize_text
from memory_svc import outbox, paging, refs, seats
from memory_svc.catalog import Page, check_text
from memory_svc.columns import dumps, utcnow
from memory_svc.db import Database
from memory_svc.kinds import Audience, EventKind, OutboxOp, VectorScope
from memory_svc.models import NAME_LEN, REQUEST_ID_LEN, Campaign, Event, GameSession
from mesh.errors import InvalidArgument, Violations

MAX_EVENT_CHARS = 100_000


@dataclass(frozen=True, slots=True)
class EventInput:
    """An event to record."""

    kind: int
    content: str
    actor: str = ""
    metadata: dict[str, Any] | None = None
    audience: int = Audience.PLAYER
    occurred_at: datetime | None = None
    session_id: str = ""
    recipients: tuple[str, ...] = ()


def _existing(session: Session, campaign_id: int, request_id: str) -> Event | None:
    return session.scalar(
        select(Event).where(Event.campaign_id == campaign_id, Event.request_id == request_id)
    )


def record_event(db: Database, campaign_ref: str, data: EventInput, request_id: str) -> tuple[Event, bool]:
    """Store an event once per request id; the flag is True when it had already been recorded."""
    v = Violations()
    if not request_id.strip():
        v.add("request_id", "must not be empty")
    check_text(v, request_id, "request_id", REQUEST_ID_LEN)
    content = normalize_text(data.content)
    check_text(v, content, "event.content", MAX_EVENT_CHARS, required=True)
    check_text(v, data.actor, "event.actor", NAME_LEN)
    seats.check_recipients(v, data.recipients, "event.recipients")
    v.check(data.kind in {int(k) for k in EventKind}, "event.kind", f"unknown event kind {data.kind}")
    try:
        dumps(data.metadata or {})
    except (TypeError, ValueError) as exc:
        v.add("event.metadata_json", f"not serialisable as JSON: {exc}")
    v.raise_if_any()
    session_id = refs.parse_id(data.session_id, "event.session_id", required=False)
    with db.read() as session:
        campaign = refs.campaign(session, campaign_ref)
        found = _existing(session, campaign.id, request_id)
        if found is not None:
            return found, True
    try:
        with db.write() as session:
            if session_id is not None:
                game = refs.game_session(session, str(session_id), "event.session_id")
                if game.campaign_id != campaign.id:
                    raise InvalidArgument([("event.session_id", "session belongs to another campaign")])
            now = utcnow()
            # The counter row's lock is held to commit, so events commit in sequence order (no gap for watchers).
            session.execute(
                update(Campaign)
                .where(Campaign.id == campaign.id)
                .values(last_sequence=Campaign.last_sequence + 1)
            )
            sequence = int(
                session.scalar(select(Campaign.last_sequence).where(Campaign.id == campaign.id)) or 0
            )
            event = Event(
                campaign_id=campaign.id,
                session_id=session_id,
                kind=int(data.kind) or int(EventKind.NOTE),
                actor=data.actor.strip(),
                content=content,
                content_sha256=hashlib.sha256(content.encode("utf-8")).hexdigest(),
                metadata_json=dict(data.metadata or {}),
                audience=int(data.audience) if data.audience in (1, 2) else int(Audience.PLAYER),
                occurred_at=data.occurred_at or now,
                recorded_at=now,
                request_id=request_id,
                sequence=sequence,
                recipients=seats.encode(data.recipients),
            )
            session.add(event)
            session.flush()
            outbox.enqueue(session, VectorScope.EVENTS, campaign.id, [event.id], OutboxOp.UPSERT)
        return event, False
    except IntegrityError:
        with db.read() as session:
            found = _existing(session, campaign.id, request_id)
        if found is None:
            raise
        return found, True


def list_events(
    db: Database,
    campaign_ref: str,
    session_ref: str,
    kinds: Sequence[int],
    audience: Audience,
    size: int,
    token: str,
    viewer: str | None = None,
) -> Page[Event]:
    """A campaign's events newest first (by time, then id), filtered by session, kinds and audience."""
    limit = paging.page_size(size)
    key = paging.decode(token, 2)
    for i, kind in enumerate(kinds):
        if kind not in {int(k) for k in EventKind} or kind == 0:
            raise InvalidArgument([(f"kinds[{i}]", f"unknown event kind {kind}")])
    session_id = refs.parse_id(session_ref, "session_id", required=False)
    with db.read() as session:
        campaign = refs.campaign(session, campaign_ref)
        query = _hide_whispers(
            select(Event).where(Event.campaign_id == campaign.id, Event.audience <= int(audience)), viewer
        )
        if session_id is not None:
            query = query.where(Event.session_id == session_id)
        if kinds:
            query = query.where(Event.kind.in_(list(kinds)))
        if key is not None:
            if not isinstance(key[0], str) or not isinstance(key[1], int):
                raise InvalidArgument([("page_token", "is not a token this service issued")])
            at = datetime.fromisoformat(key[0])
            query = query.where(or_(Event.occurred_at < at, and_(Event.occurred_at == at, Event.id < key[1])))
        rows = list(
            session.scalars(query.order_by(Event.occurred_at.desc(), Event.id.desc()).limit(limit + 1))
        )
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        return Page(rows, paging.encode([last.occurred_at.isoformat(), last.id]))
    return Page(rows, "")


def _hide_whispers(query: Select[Any], viewer: str | None) -> Select[Any]:
    condition = seats.whisper_filter(viewer)
    return query if condition is None else query.where(condition)


def recent_events(
    session: Session, campaign_id: int, audience: Audience, count: int, viewer: str | None = None
) -> list[Event]:
    """The ``count`` newest events a caller of ``audience`` (and key ``viewer``, for whispers) may see."""
    if count <= 0:
        return []
    query = select(Event).where(Event.campaign_id == campaign_id, Event.audience <= int(audience))
    return list(
        session.scalars(
            _hide_whispers(query, viewer).order_by(Event.occurred_at.desc(), Event.id.desc()).limit(count)
        )
    )


def events_after(
    db: Database, campaign_id: int, after: int, audience: Audience, viewer: str | None, limit: int = 500
) -> tuple[list[Event], int]:
    """The visible events with a sequence above ``after`` in log order, and the sequence read up to.

    The cursor moves past events this viewer may not see, so a watcher never re-reads them.
    """
    with db.read() as session:
        top = int(session.scalar(select(Campaign.last_sequence).where(Campaign.id == campaign_id)) or 0)
        if top <= after:
            return [], after
        query = select(Event).where(
            Event.campaign_id == campaign_id,
            Event.sequence > after,
            Event.sequence <= top,
            Event.audience <= int(audience),
        )
        rows = list(session.scalars(_hide_whispers(query, viewer).order_by(Event.sequence).limit(limit)))
    return rows, (rows[-1].sequence if len(rows) == limit else top)


def visible_events(
    session: Session, campaign_id: int, ids: Iterable[int], audience: Audience, viewer: str | None = None
) -> dict[int, Event]:
    """Of ``ids``, the events of this campaign visible to ``audience`` (the SQL join after a vector search)."""
    wanted = list(ids)
    if not wanted:
        return {}
    query = select(Event).where(
        Event.id.in_(wanted), Event.campaign_id == campaign_id, Event.audience <= int(audience)
    )
    rows = session.scalars(_hide_whispers(query, viewer))
    return {row.id: row for row in rows}


def session_number(session: Session, session_id: int | None) -> int | None:
    """The number of a game session (for citations)."""
    if session_id is None:
        return None
    return session.scalar(select(GameSession.number).where(GameSession.id == session_id))
