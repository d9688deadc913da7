"""Memory that lasts: pinned campaign facts and rolling summaries, for campaigns whose log outgrows any budget.

A DM pins a fact (new text, or an existing event marked important); it is stored as an event of kind
PINNED_FACT and is part of every retrieved context of the campaign, ahead of everything else, so it is never
dropped however many turns follow. Unpinning records another PINNED_FACT event carrying ``unpins``: the log
keeps both. Retrieval also carries the newest session and arc summaries (written by SummarizeSession as events),
so what happened long before the recent events still reaches the narrator in condensed form.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from memory_svc import refs
from memory_svc.campaign_log import EventInput, record_event
from memory_svc.db import Database
from memory_svc.kinds import Audience, EventKind
from memory_svc.models import Event
from mesh.errors import InvalidArgument, NotFound, Violations

MAX_FACT_CHARS = 2000


def pin_fact(
    db: Database, campaign_ref: str, text: str, event_id: str, audience: int, request_id: str
) -> tuple[Event, bool]:
    """Pin ``text`` or the content of event ``event_id``; idempotent under ``request_id``."""
    v = Violations()
    v.check(bool(campaign_ref.strip()), "campaign_id", "must not be empty")
    v.check(bool(text.strip()) != bool(event_id.strip()), "text", "give exactly one of text and event_id")
    v.check(len(text) <= MAX_FACT_CHARS, "text", f"must be at most {MAX_FACT_CHARS} characters")
    v.raise_if_any()
    source_id = refs.parse_id(event_id, "event_id", required=False)
    metadata: dict[str, object] = {"pinned": True}
    content = text.strip()
    if event_id.strip():
        with db.read() as session:
            campaign = refs.campaign(session, campaign_ref)
            source = session.get(Event, source_id)
            if source is None or source.campaign_id != campaign.id:
                raise NotFound("event", f"{event_id} in campaign {campaign_ref}")
            content = source.content[:MAX_FACT_CHARS]
            audience = max(int(audience), source.audience)  # pinning never reveals a DM-only event to players
        metadata["pinned_from"] = source_id
        request_id = request_id or f"pin:{event_id.strip()}"
    if not request_id.strip():
        raise InvalidArgument([("request_id", "must not be empty when pinning text")])
    return record_event(
        db,
        campaign_ref,
        EventInput(
            kind=EventKind.PINNED_FACT, content=content, metadata=metadata, audience=audience, actor="dm"
        ),
        request_id,
    )


def unpin_fact(db: Database, campaign_ref: str, fact_id: str) -> Event:
    """Withdraw pinned fact ``fact_id`` (recorded as an event; repeating it changes nothing)."""
    v = Violations()
    v.check(bool(campaign_ref.strip()), "campaign_id", "must not be empty")
    v.raise_if_any()
    # refs.require_id: ASCII digits within 64 bits ("²".isdigit() is true, and 10**30 overflows SQLite).
    fact_row_id = refs.require_id(fact_id, "fact_id")
    with db.read() as session:
        campaign = refs.campaign(session, campaign_ref)
        fact = session.get(Event, fact_row_id)
        if fact is None or fact.campaign_id != campaign.id or fact.kind != int(EventKind.PINNED_FACT):
            raise NotFound("pinned fact", f"{fact_id} in campaign {campaign_ref}")
        if "unpins" in (fact.metadata_json or {}):
            raise InvalidArgument([("fact_id", "is an unpin record, not a pinned fact")])
    event, _ = record_event(
        db,
        campaign_ref,
        EventInput(
            kind=EventKind.PINNED_FACT,
            content=f"Unpinned: {fact.content}"[:MAX_FACT_CHARS],
            metadata={"unpins": fact.id},
            audience=fact.audience,
            actor="dm",
        ),
        f"unpin:{fact.id}",
    )
    return event


def pinned_facts(session: Session, campaign_id: int, audience: Audience) -> list[Event]:
    """The campaign's pinned facts in force that ``audience`` may see, oldest first."""
    rows = list(
        session.scalars(
            select(Event)
            .where(Event.campaign_id == campaign_id, Event.kind == int(EventKind.PINNED_FACT))
            .order_by(Event.id)
        )
    )
    withdrawn = {int(r.metadata_json["unpins"]) for r in rows if "unpins" in (r.metadata_json or {})}
    return [
        r
        for r in rows
        if "unpins" not in (r.metadata_json or {}) and r.id not in withdrawn and r.audience <= int(audience)
    ]


def list_pinned(db: Database, campaign_ref: str, audience: Audience) -> list[Event]:
    """``pinned_facts`` for a campaign named by the caller."""
    with db.read() as session:
        campaign = refs.campaign(session, campaign_ref)
        return pinned_facts(session, campaign.id, audience)


def latest_summaries(session: Session, campaign_id: int, audience: Audience) -> list[Event]:
    """The newest arc summary and the newest session summary of the campaign (those that exist)."""
    out = []
    for kind in (EventKind.ARC_SUMMARY, EventKind.SESSION_SUMMARY):
        row = session.scalar(
            select(Event)
            .where(Event.campaign_id == campaign_id, Event.kind == int(kind), Event.audience <= int(audience))
            .order_by(Event.occurred_at.desc(), Event.id.desc())
            .limit(1)
        )
        if row is not None:
            out.append(row)
    return out
