"""Column types that render the seed's SQL Server choices and still work on SQLite.

Ids are BIGINT IDENTITY on SQL Server but must be SQLite's ``INTEGER PRIMARY KEY`` (the rowid alias) to
autoincrement there; timestamps are DATETIME2 on SQL Server; JSON lives in NVARCHAR(MAX) (checked by ISJSON /
json_valid constraints in the migration) and is validated here before it reaches the database, so a bad
document fails in Python with the column's name rather than as a constraint error.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Integer, LargeBinary, UnicodeText
from sqlalchemy.dialects import mssql
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from mesh.errors import InvalidArgument

_DATETIME2 = mssql.DATETIME2(precision=7)  # type: ignore[no-untyped-call]
_VARBINARY = mssql.VARBINARY()  # type: ignore[no-untyped-call]

#: BIGINT ids; INTEGER on SQLite so the column aliases the rowid and autoincrements.
BigId = BigInteger().with_variant(Integer(), "sqlite")
#: Timestamps: naive UTC everywhere; DATETIME2(7) on SQL Server.
Timestamp = DateTime().with_variant(_DATETIME2, "mssql")
#: Long-form text: NVARCHAR(MAX) on SQL Server (never the deprecated NTEXT).
LongText = UnicodeText().with_variant(mssql.NVARCHAR(), "mssql")
#: Binary blobs (images, vectors): VARBINARY(MAX) on SQL Server.
Blob = LargeBinary().with_variant(_VARBINARY, "mssql")


def utcnow() -> datetime:
    """Current time as naive UTC (how every timestamp is stored)."""
    return datetime.now(UTC).replace(tzinfo=None)


class JsonDocument(TypeDecorator[Any]):
    """A JSON object or array stored as text; binding anything else raises ValueError naming the shape.

    ``shape`` is ``dict`` or ``list``. Values are written canonically (sorted keys, no spaces) so equal
    documents compare equal as text.
    """

    impl = LongText
    cache_ok = True

    def __init__(self, shape: type[dict[str, Any]] | type[list[Any]] = dict) -> None:
        super().__init__()
        self.shape = shape

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        if not isinstance(value, self.shape):
            raise ValueError(f"expected a JSON {self.shape.__name__}, got {type(value).__name__}")
        return dumps(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        return json.loads(value)


def dumps(value: Any) -> str:
    """Canonical JSON text (sorted keys, compact, UTF-8 kept)."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def parse_json_object(text: str, field: str) -> dict[str, Any]:
    """Parse a request's JSON object text ("" = {}); InvalidArgument names ``field`` when it is not one."""
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidArgument([(field, f"not valid JSON ({exc.msg} at position {exc.pos})")]) from exc
    if not isinstance(value, dict):
        raise InvalidArgument([(field, "must be a JSON object")])
    return value
