"""The shared-table RPCs of MemoryService: the campaign log as a live stream, live relays and the turn queue.

Transport only: checks fields, runs the SQL work off the event loop, and moves signals through the
``LiveHub``. A watcher's order is the campaign log's sequence; live updates are delivered in the order they
reach this process, which for a turn is after the events committed before it started and before its own
recorded events, because turns are serialised by the queue.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

from dungeonmaster.v1 import common_pb2, memory_pb2
from memory_svc import authz, campaign_log, seats, turn_queue
from memory_svc.columns import utcnow
from memory_svc.db import Database
from memory_svc.kinds import Audience
from memory_svc.live import COMMITTED, LiveHub
from mesh import context
from mesh.errors import Violations

#: How often a waiting watcher or turn re-reads SQL anyway (writers in another process signal nobody here).
POLL_S = 1.0
#: The longest a turn waits without a deadline of its own.
MAX_WAIT_S = 600.0
MAX_LIVE_TEXT = 8000


def _audience(requested: int) -> Audience:
    return Audience.of_caller(int(requested), context.identity().role)


def _campaign_required(v: Violations, campaign_id: str) -> None:
    v.check(bool(campaign_id.strip()), "campaign_id", "must not be empty")


class TableRpcs:
    """WatchEvents, PublishLive, AcquireTurn, ReleaseTurn (mixed into the MemoryService servicer)."""

    db: Database
    hub: LiveHub
    _campaign_ids: dict[str, int]

    async def _campaign(self, ref: str) -> int:
        """A campaign's numeric id, cached (ids never change): a narration chunk costs no SQL round trip.

        The caller's access is checked on every call, cached or not.
        """
        cache: dict[str, int] = self.__dict__.setdefault("_campaign_ids", {})
        found = cache.get(ref)
        if found is not None:
            authz.check(found, "campaign", ref)
        else:
            found = await asyncio.to_thread(turn_queue.campaign_id, self.db, ref)
            if len(cache) >= 100_000:
                cache.clear()
            cache[ref] = found
        return found

    def event_message(self, event: Any) -> memory_pb2.Event:  # pragma: no cover - provided by the servicer
        raise NotImplementedError

    async def WatchEvents(
        self, request: memory_pb2.WatchEventsRequest, ctx: Any
    ) -> AsyncIterator[memory_pb2.WatchEventsResponse]:
        v = Violations()
        _campaign_required(v, request.campaign_id)
        v.check(request.after_sequence >= 0, "after_sequence", "must not be negative")
        v.raise_if_any()
        who = _audience(request.audience)
        viewer = seats.viewer_of(who, context.identity().key_id)
        campaign = await self._campaign(request.campaign_id)
        with self.hub.subscribe(campaign) as sub:
            cursor = request.after_sequence
            while True:
                rows, cursor = await asyncio.to_thread(
                    campaign_log.events_after, self.db, campaign, cursor, who, viewer
                )
                for row in rows:
                    yield memory_pb2.WatchEventsResponse(event=self.event_message(row))
                if rows and len(rows) >= 500:
                    continue  # more backlog: read on before waiting
                sub.overflowed = False
                while True:
                    item = await sub.next(POLL_S)
                    if item is None or item is COMMITTED or sub.overflowed:
                        break
                    update: memory_pb2.LiveUpdate = item
                    level = update.audience if update.audience in (1, 2) else common_pb2.AUDIENCE_PLAYER
                    if level <= who and seats.may_see(update.recipients, viewer):
                        yield memory_pb2.WatchEventsResponse(live=update)

    async def PublishLive(
        self, request: memory_pb2.PublishLiveRequest, ctx: Any
    ) -> memory_pb2.PublishLiveResponse:
        v = Violations()
        _campaign_required(v, request.campaign_id)
        update = request.update
        v.check(update.kind != memory_pb2.LIVE_KIND_UNSPECIFIED, "update.kind", "must be given")
        v.check(len(update.text) <= MAX_LIVE_TEXT, "update.text", f"at most {MAX_LIVE_TEXT} characters")
        v.check(len(update.turn_id) <= 128, "update.turn_id", "at most 128 characters")
        v.check(len(update.actor) <= 200, "update.actor", "at most 200 characters")
        v.check(len(update.ref) <= 128, "update.ref", "at most 128 characters")
        v.check(update.after_sequence >= 0, "update.after_sequence", "must not be negative")
        seats.check_recipients(v, list(update.recipients), "update.recipients")
        v.raise_if_any()
        campaign = await self._campaign(request.campaign_id)
        return memory_pb2.PublishLiveResponse(watchers=self.hub.publish(campaign, update))

    async def AcquireTurn(
        self, request: memory_pb2.AcquireTurnRequest, ctx: Any
    ) -> memory_pb2.AcquireTurnResponse:
        v = Violations()
        _campaign_required(v, request.campaign_id)
        v.raise_if_any()
        lease_ms = turn_queue.check(request.turn_id, request.holder, request.lease_ms)
        remaining = context.time_remaining()
        wait_s = MAX_WAIT_S if remaining is None else max(0.0, min(remaining, MAX_WAIT_S))
        campaign = await self._campaign(request.campaign_id)
        started = time.monotonic()
        await asyncio.to_thread(
            turn_queue.enqueue,
            self.db,
            campaign,
            request.turn_id,
            request.holder,
            utcnow() + timedelta(seconds=wait_s),
        )
        granted = False
        try:
            while True:
                grant = await asyncio.to_thread(
                    turn_queue.try_grant, self.db, campaign, request.turn_id, lease_ms
                )
                if grant.granted:
                    granted = True
                    return memory_pb2.AcquireTurnResponse(
                        after_sequence=grant.after_sequence, waited_ms=(time.monotonic() - started) * 1000.0
                    )
                timeout = POLL_S if grant.head_expires_in_s <= 0 else min(POLL_S, grant.head_expires_in_s)
                await self.hub.wait_turn(campaign, timeout)
        finally:
            if not granted:  # cancelled or past the deadline: leave the queue so nobody waits behind us
                await asyncio.shield(
                    asyncio.to_thread(turn_queue.release, self.db, campaign, request.turn_id)
                )
                self.hub.turn_changed(campaign)

    async def ReleaseTurn(
        self, request: memory_pb2.ReleaseTurnRequest, ctx: Any
    ) -> memory_pb2.ReleaseTurnResponse:
        v = Violations()
        _campaign_required(v, request.campaign_id)
        v.check(0 < len(request.turn_id) <= 128, "turn_id", "must be 1-128 characters")
        v.raise_if_any()
        campaign = await self._campaign(request.campaign_id)
        released = await asyncio.to_thread(turn_queue.release, self.db, campaign, request.turn_id)
        self.hub.turn_changed(campaign)
        return memory_pb2.ReleaseTurnResponse(released=released)
