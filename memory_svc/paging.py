"""Opaque page tokens for keyset pagination: the client gets back the sort key of the last row it saw.

Keyset (not offset) pagination stays correct while rows are added and costs an index seek per page. A token
is URL-safe base64 of a small JSON list; a token that does not decode, or holds anything but 64-bit integers
and short strings, is INVALID_ARGUMENT on ``page_token``.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from mesh.errors import InvalidArgument

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
#: Longest page token accepted (issued ones are far shorter).
MAX_TOKEN_CHARS = 2048


def page_size(requested: int, field: str = "page_size") -> int:
    """The page size to use: 0 means the default; otherwise 1-1000."""
    if requested == 0:
        return DEFAULT_PAGE_SIZE
    if not 1 <= requested <= MAX_PAGE_SIZE:
        raise InvalidArgument([(field, f"must be between 1 and {MAX_PAGE_SIZE}, got {requested}")])
    return requested


def encode(key: list[Any]) -> str:
    """A token for the page after the row whose sort key is ``key``."""
    raw = json.dumps(key, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(token: str, arity: int, field: str = "page_token") -> list[Any] | None:
    """The sort key in ``token`` (None for an empty token); it must be a list of ``arity`` scalars."""
    if not token:
        return None
    if len(token) > MAX_TOKEN_CHARS:
        raise InvalidArgument([(field, "is not a token this service issued")])
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        key = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise InvalidArgument([(field, "is not a token this service issued")]) from exc
    if not isinstance(key, list) or len(key) != arity or not all(_valid_part(k) for k in key):
        raise InvalidArgument([(field, "is not a token this service issued")])
    return key


#: Bounds of a token's parts: sort keys are SQLite integers (64-bit) or short strings.
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_MAX_PART_CHARS = 512


def _valid_part(part: Any) -> bool:
    """A sort-key part this service can have issued: a 64-bit integer (not a bool) or a short string."""
    if isinstance(part, bool):
        return False
    if isinstance(part, int):
        return _INT64_MIN <= part <= _INT64_MAX
    return isinstance(part, str) and len(part) <= _MAX_PART_CHARS and "\x00" not in part


def after_id(token: str, field: str = "page_token") -> int:
    """The id a single-key token points after (0 for the first page)."""
    key = decode(token, 1, field)
    if key is None:
        return 0
    if not isinstance(key[0], int):
        raise InvalidArgument([(field, "is not a token this service issued")])
    return key[0]
