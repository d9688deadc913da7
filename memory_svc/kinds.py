"""Small enumerations stored as integers; their values equal the proto enums so mapping is a plain cast."""

from __future__ import annotations

from enum import IntEnum, StrEnum


class Audience(IntEnum):
    """Who may see a row. Stored as SMALLINT; a caller sees rows whose audience is <= its own."""

    UNSPECIFIED = 0
    PLAYER = 1
    DM = 2

    @classmethod
    def of_caller(cls, requested: int, role: str = "") -> Audience:
        """The audience a call actually gets: unspecified means player, and a player role caps it at PLAYER.

        The gateway sets ``x-dm-role``; whatever a request body says, a player key never reads DM secrets.
        """
        audience = cls(requested) if requested in (1, 2) else cls.PLAYER
        if role == "player":
            return cls.PLAYER
        return audience


class EventKind(IntEnum):
    """Kind of campaign event (same numbers as ``dungeonmaster.v1.EventKind``)."""

    UNSPECIFIED = 0
    PLAYER_ACTION = 1
    DM_NARRATION = 2
    DECISION = 3
    SESSION_SUMMARY = 4
    ARC_SUMMARY = 5
    ENCOUNTER = 6
    STATE_CHANGE = 7
    NOTE = 8
    CHECK = 9
    COMBAT = 10
    PINNED_FACT = 11


class VectorScope(StrEnum):
    """Which kind of row a vector belongs to; each scope id (world or campaign) gets its own collection."""

    LORE = "lore"
    EVENTS = "events"


class OutboxOp(StrEnum):
    """What the outbox worker must do to the vector index for one SQL row."""

    UPSERT = "upsert"
    DELETE = "delete"


class ContextSource(IntEnum):
    """Where a retrieved piece comes from (same numbers as ``dungeonmaster.v1.ContextSource``)."""

    UNSPECIFIED = 0
    LORE = 1
    PINNED = 2
    CAMPAIGN = 3
    RECENT_EVENT = 4
    CHARACTER_STATE = 5
