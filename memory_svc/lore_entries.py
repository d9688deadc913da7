"""Versioned world lore: one copy of each text, a new version per change, soft deletes, outbox in the same commit.

An entry is identified by its stable key within a world. Changing what a reader sees (text, title, keywords,
audience, pinning, category or metadata) adds version n+1 and marks version n superseded; an identical write
adds nothing. Text is normalised and stored once per SHA-256 in ``lore_texts``, shared by every entry and
version that says the same thing. Each change queues the matching vector-index change (upsert the new version,
delete the old) in the same transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from lore.chunking import content_hash, normalize_text
from memory_svc import outbox, paging, refs
from memory_svc.catalog import Page, check_text
from memory_svc.columns import dumps, utcnow
from memory_svc.db import Database
from memory_svc.kinds import Audience, OutboxOp, VectorScope
from memory_svc.models import KEY_LEN, KEYWORD_LEN, PATH_LEN, LoreEntry, LoreKeyword, LoreText
from mesh.errors import AlreadyExists, InvalidArgument, NotFound, Violations

#: Largest lore text accepted through the entry RPCs (ingest chunks are far smaller).
MAX_CONTENT_CHARS = 1_000_000
_IN_CHUNK = 500


@dataclass(frozen=True, slots=True)
class EntryFields:
    """Everything a version of an entry says; two versions with equal fields are the same version."""

    title: str
    content: str
    category: str = ""
    keywords: tuple[str, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)
    audience: int = Audience.PLAYER
    pinned: bool = False
    source_path: str = ""

    def normalised(self) -> EntryFields:
        """The fields with normalised text and trimmed, de-duplicated keywords."""
        seen: dict[str, None] = {}
        for kw in self.keywords:
            k = kw.strip()
            if k and k.lower() not in {s.lower() for s in seen}:
                seen[k] = None
        return EntryFields(
            title=self.title.strip(),
            content=normalize_text(self.content),
            category=self.category.strip(),
            keywords=tuple(seen),
            metadata=self.metadata,
            audience=int(self.audience) if self.audience in (1, 2) else int(Audience.PLAYER),
            pinned=self.pinned,
            source_path=self.source_path,
        )


def check_fields(v: Violations, f: EntryFields, prefix: str) -> None:
    """Record violations of an entry's fields under ``prefix`` (e.g. ``entry``)."""
    if not f.content.strip():
        v.add(f"{prefix}.content", "must not be empty")
    elif len(f.content) > MAX_CONTENT_CHARS:
        v.add(f"{prefix}.content", f"must be at most {MAX_CONTENT_CHARS} characters, got {len(f.content)}")
    check_text(v, f.title, f"{prefix}.title", PATH_LEN)
    check_text(v, f.category, f"{prefix}.category", 50)
    check_text(v, f.source_path, f"{prefix}.source_path", PATH_LEN)
    for i, kw in enumerate(f.keywords):
        check_text(v, kw, f"{prefix}.keywords[{i}]", KEYWORD_LEN)
    try:
        dumps(f.metadata)
    except (TypeError, ValueError) as exc:
        v.add(f"{prefix}.metadata_json", f"not serialisable as JSON: {exc}")


def same_version(entry: LoreEntry, f: EntryFields, sha: str) -> bool:
    """True when ``entry`` already says exactly what ``f`` says (normalised)."""
    return (
        entry.text.sha256 == sha
        and entry.title == f.title
        and entry.category == f.category
        and tuple(entry.keywords) == f.keywords
        and dumps(entry.metadata_json) == dumps(f.metadata)
        and entry.audience == f.audience
        and entry.pinned == f.pinned
        and entry.source_path == f.source_path
    )


class TextStore:
    """Get-or-create of ``lore_texts`` rows by hash inside one transaction, with a per-transaction cache."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._ids: dict[str, int] = {}

    def ensure(self, texts: dict[str, str]) -> dict[str, int]:
        """Ids of the texts keyed by hash, inserting those not stored yet (a few statements for any number)."""
        wanted = sorted(h for h in texts if h not in self._ids)
        for start in range(0, len(wanted), _IN_CHUNK):
            part = wanted[start : start + _IN_CHUNK]
            for sha, tid in self.session.execute(
                select(LoreText.sha256, LoreText.id).where(LoreText.sha256.in_(part))
            ):
                self._ids[sha] = tid
        new = [
            {"sha256": h, "content": texts[h], "created_at": utcnow()} for h in wanted if h not in self._ids
        ]
        if new:
            result = self.session.execute(
                insert(LoreText).returning(LoreText.sha256, LoreText.id, sort_by_parameter_order=True), new
            )
            for sha, tid in result:
                self._ids[sha] = tid
        return {h: self._ids[h] for h in texts}


@dataclass(frozen=True, slots=True)
class NewVersion:
    """A version to add: its key, normalised fields and content hash, and the version it supersedes."""

    key: str
    fields: EntryFields
    sha: str
    version: int
    supersedes: int | None = None


def insert_versions(
    session: Session, texts: TextStore, world_id: int, items: Sequence[NewVersion]
) -> list[int]:
    """Add versions in bulk, mark what they supersede, and queue the index changes; returns the new ids."""
    if not items:
        return []
    text_ids = texts.ensure({item.sha: item.fields.content for item in items})
    now = utcnow()
    rows = [
        {
            "world_id": world_id,
            "key": item.key,
            "version": item.version,
            "text_id": text_ids[item.sha],
            "category": item.fields.category,
            "title": item.fields.title,
            "metadata_json": item.fields.metadata,
            "audience": item.fields.audience,
            "pinned": item.fields.pinned,
            "superseded": False,
            "deleted": False,
            "source_path": item.fields.source_path,
            "created_at": now,
        }
        for item in items
    ]
    ids = list(
        session.execute(
            insert(LoreEntry).returning(LoreEntry.id, sort_by_parameter_order=True), rows
        ).scalars()
    )
    keywords = [
        {"entry_id": eid, "position": i, "keyword": kw}
        for eid, item in zip(ids, items, strict=True)
        for i, kw in enumerate(item.fields.keywords)
    ]
    if keywords:
        session.execute(insert(LoreKeyword), keywords)
    old = [item.supersedes for item in items if item.supersedes is not None]
    for start in range(0, len(old), _IN_CHUNK):
        session.execute(
            update(LoreEntry)
            .where(LoreEntry.id.in_(old[start : start + _IN_CHUNK]))
            .values(superseded=True, superseded_at=now)
            .execution_options(synchronize_session=False)
        )
    outbox.enqueue(session, VectorScope.LORE, world_id, ids, OutboxOp.UPSERT)
    outbox.enqueue(session, VectorScope.LORE, world_id, old, OutboxOp.DELETE)
    return ids


def soft_delete(session: Session, entries: Sequence[LoreEntry]) -> None:
    """Mark live versions deleted and queue their removal from the index."""
    now = utcnow()
    by_world: dict[int, list[int]] = {}
    for entry in entries:
        if not entry.deleted:
            entry.deleted = True
            entry.deleted_at = now
            by_world.setdefault(entry.world_id, []).append(entry.id)
    for world_id, ids in by_world.items():
        outbox.enqueue(session, VectorScope.LORE, world_id, ids, OutboxOp.DELETE)


def latest(session: Session, world_id: int, key: str) -> LoreEntry | None:
    """The newest version of ``key`` (deleted or not), or None."""
    return session.scalar(
        select(LoreEntry)
        .where(LoreEntry.world_id == world_id, LoreEntry.key == key)
        .order_by(LoreEntry.version.desc())
        .limit(1)
    )


def create_entry(db: Database, world_ref: str, key: str, fields: EntryFields) -> LoreEntry:
    """Create an entry (version 1), or a new version of a key whose entry was deleted."""
    f = fields.normalised()
    v = Violations()
    check_fields(v, f, "entry")
    check_text(v, key, "entry.key", KEY_LEN)
    v.raise_if_any()
    key = key.strip() or f"entry/{uuid.uuid4().hex[:16]}"
    with db.write() as session:
        world = refs.world(session, world_ref)
        previous = latest(session, world.id, key)
        if previous is not None and not previous.deleted:
            raise AlreadyExists("lore entry", key)
        version = NewVersion(key, f, content_hash(f.content), (previous.version if previous else 0) + 1)
        (entry_id,) = insert_versions(session, TextStore(session), world.id, [version])
    return get_entry(db, str(entry_id), "", 0, Audience.DM)


def _resolve(session: Session, entry_ref: str, world_ref: str, version: int) -> LoreEntry:
    """An entry by version id, or by key within a world; ``version`` picks a version of the same key."""
    text = entry_ref.strip()
    if not text:
        raise InvalidArgument([("entry_id", "must not be empty")])
    numeric = text.isascii() and text.isdigit()  # "²".isdigit() is true but int() refuses it
    by_id = session.get(LoreEntry, int(text)) if numeric and len(text) <= 18 else None
    if by_id is not None and (not world_ref or refs.world(session, world_ref).id == by_id.world_id):
        if version == 0:
            return by_id
        key, world_id = by_id.key, by_id.world_id
    else:
        if not world_ref:
            if numeric:
                raise NotFound("lore entry", text)
            raise InvalidArgument([("world_id", "is required when entry_id is a key")])
        world_id = refs.world(session, world_ref).id
        key = text
    query = select(LoreEntry).where(LoreEntry.world_id == world_id, LoreEntry.key == key)
    if version:
        query = query.where(LoreEntry.version == version)
    found = session.scalar(query.order_by(LoreEntry.version.desc()).limit(1))
    if found is None:
        raise NotFound("lore entry", f"{key} v{version}" if version else key)
    return found


def get_entry(db: Database, entry_ref: str, world_ref: str, version: int, audience: Audience) -> LoreEntry:
    """An entry version by id, or the newest (or a given) version of a key; DM-only entries look absent to
    players."""
    if version < 0:
        raise InvalidArgument([("version", "must not be negative")])
    with db.read() as session:
        entry = _resolve(session, entry_ref, world_ref, version)
        if entry.audience > audience:
            raise NotFound("lore entry", entry_ref)
        return entry


def list_entries(
    db: Database, world_ref: str, category: str, audience: Audience, size: int, token: str
) -> Page[LoreEntry]:
    """A world's live entries in id order, optionally of one category."""
    limit = paging.page_size(size)
    after = paging.after_id(token)
    with db.read() as session:
        world = refs.world(session, world_ref)
        query = select(LoreEntry).where(
            LoreEntry.world_id == world.id,
            LoreEntry.superseded.is_(False),
            LoreEntry.deleted.is_(False),
            LoreEntry.audience <= int(audience),
            LoreEntry.id > after,
        )
        if category:
            query = query.where(LoreEntry.category == category)
        rows = list(session.scalars(query.order_by(LoreEntry.id).limit(limit + 1)).unique())
    if len(rows) > limit:
        rows = rows[:limit]
        return Page(rows, paging.encode([rows[-1].id]))
    return Page(rows, "")


def update_entry(
    db: Database, entry_ref: str, world_ref: str, content: str, title: str, keywords: Sequence[str]
) -> tuple[LoreEntry, bool]:
    """Change an entry's text (and optionally title/keywords); True when a new version was created."""
    with db.write() as session:
        current = _resolve(session, entry_ref, world_ref, 0)
        if current.superseded:
            newest = latest(session, current.world_id, current.key)
            assert newest is not None
            current = newest
        if current.deleted:
            raise NotFound("lore entry", entry_ref)
        f = EntryFields(
            title=title or current.title,
            content=content or current.text.content,
            category=current.category,
            keywords=tuple(keywords) if keywords else tuple(current.keywords),
            metadata=current.metadata_json,
            audience=current.audience,
            pinned=current.pinned,
            source_path=current.source_path,
        ).normalised()
        v = Violations()
        check_fields(v, f, "entry")
        v.raise_if_any()
        sha = content_hash(f.content)
        if same_version(current, f, sha):
            return current, False
        version = NewVersion(current.key, f, sha, current.version + 1, supersedes=current.id)
        (entry_id,) = insert_versions(session, TextStore(session), current.world_id, [version])
    return get_entry(db, str(entry_id), "", 0, Audience.DM), True


def delete_entry(db: Database, entry_ref: str, world_ref: str) -> LoreEntry:
    """Soft-delete an entry's live version; it stays in SQL and never comes back from retrieval."""
    with db.write() as session:
        entry = _resolve(session, entry_ref, world_ref, 0)
        if entry.superseded:
            newest = latest(session, entry.world_id, entry.key)
            assert newest is not None
            entry = newest
        soft_delete(session, [entry])
        entry_id = entry.id
    return get_entry(db, str(entry_id), "", 0, Audience.DM)


def live_entries(
    session: Session, world_id: int, ids: Iterable[int], audience: Audience
) -> dict[int, LoreEntry]:
    """Of ``ids``, those that are live and visible to ``audience`` (the SQL join after a vector search)."""
    wanted = list(ids)
    if not wanted:
        return {}
    rows = session.scalars(
        select(LoreEntry).where(
            LoreEntry.id.in_(wanted),
            LoreEntry.world_id == world_id,
            LoreEntry.superseded.is_(False),
            LoreEntry.deleted.is_(False),
            LoreEntry.audience <= int(audience),
        )
    ).unique()
    return {row.id: row for row in rows}


def pinned_entries(session: Session, world_id: int, audience: Audience) -> list[LoreEntry]:
    """A world's live pinned entries visible to ``audience``, in key order."""
    return list(
        session.scalars(
            select(LoreEntry)
            .where(
                LoreEntry.world_id == world_id,
                LoreEntry.pinned.is_(True),
                LoreEntry.superseded.is_(False),
                LoreEntry.deleted.is_(False),
                LoreEntry.audience <= int(audience),
            )
            .order_by(LoreEntry.id)
        ).unique()
    )
