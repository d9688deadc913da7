"""The size limits every request field has, in one table: the maxima ``mesh.validation`` enforces.

Every string, bytes and repeated field of every request is bounded. Most take the defaults below; free-text
fields whose name says they carry prose or documents (``content``, ``*_json``, ``description``...) get larger
bounds by name, and single fields can be overridden by their full proto name. The proto files repeat these
numbers in their comments so a client author sees them where the field is declared.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Default maximum of a string field, in characters.
MAX_STRING_CHARS = 4096
#: Default maximum number of items of a repeated (or map) field.
MAX_ITEMS = 1000
#: Default maximum of a bytes field (images travel as bytes).
MAX_BYTES = 16 * 1024 * 1024

#: Larger string bounds for fields by their short name: documents and prose, not identifiers.
BY_NAME: dict[str, int] = {
    "content": 1024 * 1024,
    "text": 64 * 1024,
    "description": 16 * 1024,
    "lore": 16 * 1024,
    "notes": 16 * 1024,
    "summary": 64 * 1024,
    "action": 16 * 1024,
    "situation": 16 * 1024,
}
#: Larger string bounds for fields whose short name ends like this (serialized documents).
BY_SUFFIX: dict[str, int] = {"_json": 256 * 1024}

#: Per-field overrides by full proto field name (strings: characters, bytes: bytes, repeated: items).
OVERRIDES: dict[str, int] = {}

#: How much of a bad value an error message may quote.
QUOTE_CHARS = 40
#: Violations reported per request at most (the rest are summarised), so an error trailer stays small.
MAX_VIOLATIONS = 20
#: Longest error message (characters) a status carries; longer ones are clipped.
MAX_MESSAGE_CHARS = 1024


@dataclass(frozen=True, slots=True)
class Limits:
    """The maxima for one server; ``max_request_bytes`` bounds a whole serialized request message."""

    max_request_bytes: int = 4 * 1024 * 1024
    max_string_chars: int = MAX_STRING_CHARS
    max_items: int = MAX_ITEMS
    max_bytes: int = MAX_BYTES
    overrides: dict[str, int] = field(default_factory=lambda: dict(OVERRIDES))

    def string_max(self, full_name: str, name: str) -> int:
        """Maximum characters of the string field ``full_name`` (short name ``name``)."""
        hit = self.overrides.get(full_name)
        if hit is not None:
            return hit
        hit = BY_NAME.get(name)
        if hit is not None:
            return max(hit, self.max_string_chars)
        for suffix, bound in BY_SUFFIX.items():
            if name.endswith(suffix):
                return max(bound, self.max_string_chars)
        return self.max_string_chars

    def bytes_max(self, full_name: str) -> int:
        """Maximum length of the bytes field ``full_name``."""
        return self.overrides.get(full_name, self.max_bytes)

    def items_max(self, full_name: str) -> int:
        """Maximum number of items of the repeated field ``full_name``."""
        return self.overrides.get(full_name, self.max_items)


def quote(value: str | bytes) -> str:
    """A short, printable prefix of a bad value for an error message (never the whole value)."""
    if isinstance(value, bytes):
        head = value[:QUOTE_CHARS].hex()
        return head + ("..." if len(value) > QUOTE_CHARS else "")
    head = value[:QUOTE_CHARS]
    return repr(head) + ("..." if len(value) > QUOTE_CHARS else "")


def clip(message: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """``message`` shortened to ``limit`` characters, marked when clipped."""
    if len(message) <= limit:
        return message
    marker = "... (clipped)"
    return message[: limit - len(marker)] + marker
