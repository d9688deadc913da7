"""Binary assets (generated images) stored once per SHA-256, and the moderation log.

The moderation log keeps the decision and the SHA-256 of the screened text, never the text itself, so an
audit can prove which input was judged without the log becoming a store of what was refused.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from memory_svc import authz, paging, refs
from memory_svc.catalog import Page, check_text
from memory_svc.columns import dumps
from memory_svc.db import Database
from memory_svc.models import Asset, ModerationRecord
from mesh.errors import InvalidArgument, NotFound, Violations

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
MAX_ASSET_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class AssetInput:
    """An asset to store."""

    data: bytes
    kind: str = ""
    mime_type: str = "application/octet-stream"
    width: int = 0
    height: int = 0
    metadata: dict[str, Any] | None = None
    sha256: str = ""
    campaign_id: str = ""


def put_asset(db: Database, asset: AssetInput) -> tuple[Asset, bool]:
    """Store the bytes once; the flag is True when identical bytes were already stored."""
    v = Violations()
    v.check(0 < len(asset.data) <= MAX_ASSET_BYTES, "asset.data", f"must be 1 to {MAX_ASSET_BYTES} bytes")
    check_text(v, asset.kind, "asset.kind", 50)
    check_text(v, asset.mime_type, "asset.mime_type", 100)
    v.check(asset.width >= 0, "asset.width", "must not be negative")
    v.check(asset.height >= 0, "asset.height", "must not be negative")
    digest = hashlib.sha256(asset.data).hexdigest()
    if asset.sha256:
        v.check(asset.sha256.lower() == digest, "asset.sha256", "does not match the SHA-256 of the data")
    try:
        dumps(asset.metadata or {})
    except (TypeError, ValueError) as exc:
        v.add("asset.metadata_json", f"not serialisable as JSON: {exc}")
    v.raise_if_any()
    campaign_id = refs.parse_id(asset.campaign_id, "campaign_id", required=False)
    with db.read() as session:
        if campaign_id is not None:
            refs.campaign(session, str(campaign_id))
        found = session.scalar(select(Asset).where(Asset.sha256 == digest))
        if found is not None:
            return found, True
    try:
        with db.write() as session:
            row = Asset(
                sha256=digest,
                campaign_id=campaign_id,
                kind=asset.kind,
                mime_type=asset.mime_type or "application/octet-stream",
                data=asset.data,
                width=asset.width,
                height=asset.height,
                metadata_json=dict(asset.metadata or {}),
            )
            session.add(row)
        return row, False
    except IntegrityError:
        with db.read() as session:
            found = session.scalar(select(Asset).where(Asset.sha256 == digest))
        if found is None:
            raise
        return found, True


def get_asset(db: Database, sha256: str) -> Asset:
    """An asset by the SHA-256 of its bytes."""
    digest = sha256.strip().lower()
    if not _SHA256.match(digest):
        raise InvalidArgument([("sha256", "must be 64 hexadecimal characters")])
    with db.read() as session:
        found = session.scalar(select(Asset).where(Asset.sha256 == digest))
        if found is None:
            raise NotFound("asset", digest)
        authz.check(found.campaign_id, "asset", digest)
        return found


@dataclass(frozen=True, slots=True)
class DecisionInput:
    """A moderation decision to log."""

    direction: str
    allowed: bool
    categories: Sequence[str] = ()
    backend: str = ""
    reason: str = ""
    text_sha256: str = ""
    campaign_id: str = ""


def log_decision(db: Database, decision: DecisionInput) -> ModerationRecord:
    """Append a moderation decision to the log."""
    v = Violations()
    v.check(decision.direction in ("input", "output"), "decision.direction", "must be 'input' or 'output'")
    for i, category in enumerate(decision.categories):
        check_text(v, category, f"decision.categories[{i}]", 50, required=True)
    check_text(v, decision.backend, "decision.backend", 50)
    check_text(v, decision.reason, "decision.reason", 1000)
    if decision.text_sha256:
        v.check(
            bool(_SHA256.match(decision.text_sha256.lower())), "decision.text_sha256", "must be 64 hex chars"
        )
    campaign_id = refs.parse_id(decision.campaign_id, "decision.campaign_id", required=False)
    v.raise_if_any()
    with db.write() as session:
        if campaign_id is not None:
            refs.campaign(session, str(campaign_id), "decision.campaign_id")
        row = ModerationRecord(
            campaign_id=campaign_id,
            direction=decision.direction,
            allowed=decision.allowed,
            categories=list(decision.categories),
            backend=decision.backend,
            reason=decision.reason,
            text_sha256=decision.text_sha256.lower(),
        )
        session.add(row)
    return row


def list_decisions(db: Database, campaign_ref: str, size: int, token: str) -> Page[ModerationRecord]:
    """Moderation decisions newest first, optionally of one campaign."""
    limit = paging.page_size(size)
    key = paging.decode(token, 1)
    before = key[0] if key is not None else None
    if before is not None and not isinstance(before, int):
        raise InvalidArgument([("page_token", "is not a token this service issued")])
    with db.read() as session:
        query = select(ModerationRecord)
        if campaign_ref:
            query = query.where(ModerationRecord.campaign_id == refs.campaign(session, campaign_ref).id)
        if before is not None:
            query = query.where(ModerationRecord.id < before)
        rows = list(session.scalars(query.order_by(ModerationRecord.id.desc()).limit(limit + 1)))
    if len(rows) > limit:
        rows = rows[:limit]
        return Page(rows, paging.encode([rows[-1].id]))
    return Page(rows, "")
