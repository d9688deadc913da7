"""Opaque page tokens for keyset pagination: the client gets back the sort key of the last row it saw.

Keyset (not offset) pagination stays correct while rows are added and costs an index seek per page. A token
is URL-safe base64 of a small JSON list; a token that does not decode is INVALID_ARGUMENT on ``page_token``.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from mesh.errors import InvalidArgument

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


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
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        key = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise InvalidArgument([(field, "is not a token this service issued")]) from exc
    if not isinstance(key, list) or len(key) != arity or not all(isinstance(k, int | str) for k in key):
        raise InvalidArgument([(field, "is not a token this service issued")])
    return key


def after_id(token: str, field: str = "page_token") -> int:
    """The id a single-key token points after (0 for the first page)."""
    key = decode(token, 1, field)
    if key is None:
        return 0
    if not isinstance(key[0], int):
        raise InvalidArgument([(field, "is not a token this service issued")])
    return key[0]
