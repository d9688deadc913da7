"""Keyword search in SQL: SQLite FTS5 or SQL Server full-text, used when the vector store cannot be searched.

The user's words become a disjunction of quoted terms (``"salt" OR "marsh"``), passed as a bound parameter,
so no query syntax of the engine (NEAR, *, column filters, quotes) can be injected. Function words are left
out: matching "the" or "of" ranks nearly every row of a large world (most of the keyword stage's time at 100k
chunks) and adds nothing the dense side does not. Ranks are turned into
reciprocal-rank scores on the same scale as Milvus' RRF fusion.
"""

from __future__ import annotations

import re

from sqlalchemy import text
from sqlalchemy.orm import Session

from memory_svc.kinds import Audience
from memory_svc.vector_store import RRF_K, Hit

_WORD = re.compile(r"\w+", re.UNICODE)
MAX_TERMS = 32
#: English function words that match almost every chunk (SQL Server's full-text has its own stoplist).
STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being below between
    both but by can could did do does doing down during each few for from further had has have having he her
    here hers him his how i if in into is it its itself just me more most my no nor not now of off on once only
    or other our ours out over own same she should so some such than that the their theirs them then there
    these they this those through to too under until up very was we were what when where which while who whom
    why will with would you your yours""".split()
)


def match_expression(query: str) -> str | None:
    """A safe OR-of-terms full-text expression for ``query`` (None when it has no words but function words)."""
    terms: list[str] = []
    for word in _WORD.findall(query.lower()):
        if word not in terms and word not in STOPWORDS:
            terms.append(word)
        if len(terms) == MAX_TERMS:
            break
    if not terms:
        return None
    return " OR ".join(f'"{t}"' for t in terms)


def _hits(ids: list[int]) -> list[Hit]:
    return [Hit(rid, 1.0 / (RRF_K + rank + 1)) for rank, rid in enumerate(ids)]


def lore_hits(
    session: Session, dialect: str, world_id: int, query: str, top_k: int, audience: Audience
) -> list[Hit]:
    """Live lore entries of a world whose text matches the query's words, best first."""
    expr = match_expression(query)
    if expr is None:
        return []
    params = {"q": expr, "w": world_id, "a": int(audience), "k": top_k}
    if dialect == "mssql":
        sql = (
            "SELECT TOP (:k) e.id FROM CONTAINSTABLE(lore_texts, content, :q) AS ft "
            "JOIN lore_entries e ON e.text_id = ft.[KEY] "
            "WHERE e.world_id = :w AND e.superseded = 0 AND e.deleted = 0 AND e.audience <= :a "
            "ORDER BY ft.[RANK] DESC, e.id"
        )
    else:
        sql = (
            "SELECT e.id FROM lore_texts_fts JOIN lore_entries e ON e.text_id = lore_texts_fts.rowid "
            "WHERE lore_texts_fts MATCH :q AND e.world_id = :w AND e.superseded = 0 AND e.deleted = 0 "
            "AND e.audience <= :a ORDER BY bm25(lore_texts_fts), e.id LIMIT :k"
        )
    return _hits([int(r[0]) for r in session.execute(text(sql), params)])


def event_hits(
    session: Session, dialect: str, campaign_id: int, query: str, top_k: int, audience: Audience
) -> list[Hit]:
    """Events of a campaign whose text matches the query's words, best first."""
    expr = match_expression(query)
    if expr is None:
        return []
    params = {"q": expr, "c": campaign_id, "a": int(audience), "k": top_k}
    if dialect == "mssql":
        sql = (
            "SELECT TOP (:k) e.id FROM CONTAINSTABLE(events, content, :q) AS ft "
            "JOIN events e ON e.id = ft.[KEY] WHERE e.campaign_id = :c AND e.audience <= :a "
            "ORDER BY ft.[RANK] DESC, e.id"
        )
    else:
        sql = (
            "SELECT e.id FROM events_fts JOIN events e ON e.id = events_fts.rowid "
            "WHERE events_fts MATCH :q AND e.campaign_id = :c AND e.audience <= :a "
            "ORDER BY bm25(events_fts), e.id LIMIT :k"
        )
    return _hits([int(r[0]) for r in session.execute(text(sql), params)])
