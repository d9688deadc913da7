"""A campaign's turn queue in SQL: first come first served, one holder at a time, shared by every gateway.

A caller takes a ticket (once per turn id, so a retry keeps its place); the lowest live ticket of a campaign
holds the lease. Every ticket expires (a waiting one at its caller's deadline, a granted one at the end of its
lease) and expired tickets are swept before each grant, so a crashed gateway blocks a table no longer than
its lease. Tickets are numbered by the database in insertion order, which is arrival order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from memory_svc import refs
from memory_svc.catalog import check_text
from memory_svc.columns import utcnow
from memory_svc.db import Database
from memory_svc.models import NAME_LEN, REQUEST_ID_LEN, Campaign, TurnTicket
from mesh.errors import Violations

DEFAULT_LEASE_MS = 120_000
MAX_LEASE_MS = 600_000


@dataclass(frozen=True, slots=True)
class Grant:
    """The answer of one try: granted (with the log position) or how long until the head's ticket expires."""

    granted: bool
    after_sequence: int = 0
    head_expires_in_s: float = 0.0


def check(turn_id: str, holder: str, lease_ms: int) -> int:
    """Field checks of AcquireTurn; returns the lease in milliseconds."""
    v = Violations()
    v.check(0 < len(turn_id.strip()), "turn_id", "must not be empty")
    check_text(v, turn_id, "turn_id", REQUEST_ID_LEN)
    check_text(v, holder, "holder", NAME_LEN)
    v.check(0 <= lease_ms <= MAX_LEASE_MS, "lease_ms", f"must be between 1 and {MAX_LEASE_MS} (0 = default)")
    v.raise_if_any()
    return lease_ms or DEFAULT_LEASE_MS


def campaign_id(db: Database, campaign_ref: str) -> int:
    """The numeric id of a campaign (NotFound / InvalidArgument for a bad reference)."""
    with db.read() as session:
        return refs.campaign(session, campaign_ref).id


def enqueue(db: Database, campaign: int, turn_id: str, holder: str, wait_until: datetime) -> None:
    """Take a place in the queue (kept when this turn id already has one)."""
    try:
        with db.write() as session:
            found = session.scalar(
                select(TurnTicket).where(TurnTicket.campaign_id == campaign, TurnTicket.turn_id == turn_id)
            )
            if found is None:
                session.add(
                    TurnTicket(
                        campaign_id=campaign,
                        turn_id=turn_id,
                        holder=holder,
                        granted=False,
                        expires_at=wait_until,
                        created_at=utcnow(),
                    )
                )
            elif not found.granted:
                found.expires_at = max(found.expires_at, wait_until)
    except IntegrityError:  # a concurrent retry of the same turn inserted it first: that place is ours
        pass


def try_grant(db: Database, campaign: int, turn_id: str, lease_ms: int) -> Grant:
    """Grant the lease when this turn's ticket is the lowest live one; sweeps expired tickets first."""
    now = utcnow()
    with db.write() as session:
        session.execute(
            delete(TurnTicket).where(TurnTicket.campaign_id == campaign, TurnTicket.expires_at <= now)
        )
        head = session.scalar(
            select(TurnTicket).where(TurnTicket.campaign_id == campaign).order_by(TurnTicket.id).limit(1)
        )
        if head is None or head.turn_id != turn_id:
            wait = (head.expires_at - now).total_seconds() if head is not None else 0.0
            return Grant(False, head_expires_in_s=wait)
        if not head.granted:
            head.granted = True
            head.expires_at = now + timedelta(milliseconds=lease_ms)
        sequence = session.scalar(select(Campaign.last_sequence).where(Campaign.id == campaign)) or 0
        return Grant(True, after_sequence=int(sequence))


def release(db: Database, campaign: int, turn_id: str) -> bool:
    """Give the lease (or the place in the queue) back; True when there was one."""
    with db.write() as session:
        result = session.execute(
            delete(TurnTicket).where(TurnTicket.campaign_id == campaign, TurnTicket.turn_id == turn_id)
        )
    return bool(getattr(result, "rowcount", 0))
