"""Who sees what at a shared table: whispers (events for some players' keys only) and who a viewer is.

A whisper's recipients are stored as ``,key-a,key-b,`` so one portable LIKE finds a key on SQLite and SQL
Server alike. A viewer is the caller's key id; a caller with the DM audience sees every whisper (``None``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import ColumnElement, or_

from memory_svc.kinds import Audience
from memory_svc.models import KEY_ID_LEN, Event
from mesh.errors import Violations

MAX_RECIPIENTS = 16


def check_recipients(v: Violations, recipients: Sequence[str], field: str) -> None:
    """Field checks of a recipients list (at most 16 key ids of 1-128 characters without commas)."""
    v.check(len(recipients) <= MAX_RECIPIENTS, field, f"at most {MAX_RECIPIENTS} key ids")
    for i, key in enumerate(recipients):
        ok = 0 < len(key.strip()) <= KEY_ID_LEN and "," not in key
        v.check(ok, f"{field}[{i}]", f"must be a key id of 1-{KEY_ID_LEN} characters without commas")


def encode(recipients: Iterable[str]) -> str | None:
    """The stored form of a recipients list; None for everyone."""
    keys = sorted({k.strip() for k in recipients if k.strip()})
    return f",{','.join(keys)}," if keys else None


def decode(stored: str | None) -> list[str]:
    """The recipients list of a stored value."""
    return [k for k in (stored or "").split(",") if k]


def viewer_of(audience: Audience, key_id: str) -> str | None:
    """The key whose whispers a caller sees; None (every whisper) for the DM audience."""
    return None if audience == Audience.DM else key_id


def may_see(recipients: Iterable[str], viewer: str | None) -> bool:
    """Whether a viewer sees something sent to ``recipients`` (empty: everyone)."""
    keys = [k for k in recipients if k]
    return viewer is None or not keys or viewer in keys


def whisper_filter(viewer: str | None) -> ColumnElement[bool] | None:
    """The SQL condition hiding other players' whispers from ``viewer``; None when nothing is hidden."""
    if viewer is None:
        return None
    if not viewer:
        return Event.recipients.is_(None)
    escaped = viewer.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return or_(Event.recipients.is_(None), Event.recipients.like(f"%,{escaped},%", escape="\\"))
