"""This gateway's own turns' live updates handed straight to this gateway's watchers (the fast path).

Memory relays every live update to every gateway, so all replicas see all turns; a replica's watchers take the
narration chunks and images of turns played on that same replica from here instead, without the round trip
through memory (memory's copies, marked with this replica's ``origin``, are dropped). Turn starts and ends still
come through memory only, which keeps the order across replicas: a watcher holds a local turn's chunks until
memory has delivered that turn's start, and memory delivers it after the previous turn's end.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from collections.abc import Iterator
from typing import Any

from dungeonmaster.v1 import common_pb2, memory_pb2

MAX_QUEUED = 4096


class LocalHub:
    """Watcher queues per campaign, and the turns this replica is playing now."""

    def __init__(self, origin: str = "") -> None:
        self.origin = origin or f"gw-{os.getpid()}-{secrets.token_hex(4)}"
        self._watchers: dict[str, set[asyncio.Queue[Any]]] = {}
        self.active: dict[str, set[str]] = {}

    @contextlib.contextmanager
    def subscribe(self, campaign_id: str, queue: asyncio.Queue[Any]) -> Iterator[set[str]]:
        """Feed ``queue`` with ("local", update) for the block; yields the turns already playing."""
        self._watchers.setdefault(campaign_id, set()).add(queue)
        try:
            yield set(self.active.get(campaign_id, ()))
        finally:
            subs = self._watchers.get(campaign_id)
            if subs is not None:
                subs.discard(queue)
                if not subs:
                    del self._watchers[campaign_id]

    def begin(self, campaign_id: str, turn_id: str) -> None:
        self.active.setdefault(campaign_id, set()).add(turn_id)

    def end(self, campaign_id: str, turn_id: str) -> None:
        turns = self.active.get(campaign_id)
        if turns is not None:
            turns.discard(turn_id)
            if not turns:
                del self.active[campaign_id]

    def publish(self, campaign_id: str, update: memory_pb2.LiveUpdate) -> None:
        for queue in self._watchers.get(campaign_id, ()):
            if queue.qsize() < MAX_QUEUED:
                queue.put_nowait(("local", update))


def visible(update: memory_pb2.LiveUpdate, role: str, key_id: str) -> bool:
    """The same rule memory applies: audience level, then whisper recipients (the DM audience sees all)."""
    level = update.audience if update.audience in (1, 2) else common_pb2.AUDIENCE_PLAYER
    viewer_level = common_pb2.AUDIENCE_PLAYER if role == "player" else common_pb2.AUDIENCE_DM
    if level > viewer_level:
        return False
    return viewer_level == common_pb2.AUDIENCE_DM or not update.recipients or key_id in update.recipients
