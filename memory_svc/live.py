"""The in-process fan-out behind WatchEvents: "an event committed" signals, live updates and turn changes.

The log itself stays in SQL: a signal only tells a watcher to read the rows after its cursor, so a watcher
that misses a signal (a full queue) loses nothing committed; it re-reads on its next wake-up or poll. Live
updates (narration chunks) are not stored: they go to the watchers subscribed when they are published.
Everything here runs on the event loop thread.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

#: The signal "events were committed in this campaign": read the log after your cursor.
COMMITTED = object()


class Subscription:
    """One watcher's queue of signals and live updates, bounded so a slow watcher cannot grow memory."""

    def __init__(self, max_items: int) -> None:
        self.queue: asyncio.Queue[Any] = asyncio.Queue(max_items)
        self.overflowed = False

    def offer(self, item: Any) -> bool:
        """Queue ``item``; a full queue drops it and marks the watcher to re-read the log."""
        try:
            self.queue.put_nowait(item)
            return True
        except asyncio.QueueFull:
            self.overflowed = True
            return False

    async def next(self, wait_s: float) -> Any:
        """The next item, or None after ``wait_s`` seconds without one."""
        try:
            return await asyncio.wait_for(self.queue.get(), wait_s)
        except TimeoutError:
            return None


class LiveHub:
    """Watchers per campaign and a wake-up for callers waiting for a campaign's turn."""

    def __init__(self, max_items: int = 2048) -> None:
        self.max_items = max_items
        self._watchers: dict[int, set[Subscription]] = {}
        self._turns: dict[int, asyncio.Event] = {}

    @contextlib.contextmanager
    def subscribe(self, campaign_id: int) -> Iterator[Subscription]:
        """Watch a campaign for the duration of the block."""
        sub = Subscription(self.max_items)
        self._watchers.setdefault(campaign_id, set()).add(sub)
        try:
            yield sub
        finally:
            subs = self._watchers.get(campaign_id)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del self._watchers[campaign_id]

    def watchers(self, campaign_id: int) -> int:
        """How many watch streams follow a campaign."""
        return len(self._watchers.get(campaign_id, ()))

    def committed(self, campaign_id: int) -> None:
        """Tell a campaign's watchers that new events are in the log."""
        for sub in self._watchers.get(campaign_id, ()):
            sub.offer(COMMITTED)

    def publish(self, campaign_id: int, update: Any) -> int:
        """Hand a live update to a campaign's watchers; returns how many got it."""
        return sum(sub.offer(update) for sub in list(self._watchers.get(campaign_id, ())))

    def turn_changed(self, campaign_id: int) -> None:
        """Wake the callers waiting for a campaign's turn (a lease was given back)."""
        event = self._turns.pop(campaign_id, None)
        if event is not None:
            event.set()

    async def wait_turn(self, campaign_id: int, wait_s: float) -> None:
        """Wait until the campaign's turn lease changes hands, or ``wait_s`` seconds."""
        event = self._turns.setdefault(campaign_id, asyncio.Event())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), max(wait_s, 0.0))
