"""A shared table: seats (who may act for which character), the campaign's turn order, and the live relay.

Seats: a player key acts only for characters whose ``owner`` is its key id; the DM and service roles act for
anyone. Order: every turn takes the campaign's turn lease from memory before it plays (first come first served,
waiting within its deadline), so turns of one campaign never interleave, whichever gateway replica plays them,
and different campaigns never wait for each other. Live relay: while a turn plays, its narration chunks, whose
turn it is and images ready are published through memory to every watcher of the campaign; each update carries
the log sequence the turn started after. A private turn (a whisper) is recorded and relayed for the player's
key only (a DM's private turn: for the DM audience only).

No gRPC here: memory is reached through the ``TableServices`` protocol.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from dungeonmaster.v1 import common_pb2, memory_pb2
from gateway.keys import Principal
from gateway.live_local import LocalHub
from gateway.turn import Built, Narration, TurnEvent
from mesh.errors import DomainError, NotFound, PermissionDenied

log = logging.getLogger("gateway.table")

#: Lease bounds: a crashed gateway blocks its campaign's table at most this long.
MIN_LEASE_MS = 5_000
MAX_LEASE_MS = 600_000
#: Kinds this replica's own watchers get directly (starts and ends keep the cross-replica order via memory).
FAST_KINDS = (memory_pb2.LIVE_KIND_NARRATION, memory_pb2.LIVE_KIND_IMAGE)
#: Live updates queued per turn before the relay drops narration chunks (watchers still get the recorded turn).
RELAY_QUEUE = 1024


class TableServices(Protocol):
    """What the table needs from memory (implemented over gRPC by ``gateway.table_clients.TableClients``)."""

    async def get_character(self, character_id: str) -> memory_pb2.Character: ...
    async def acquire_turn(
        self, request: memory_pb2.AcquireTurnRequest
    ) -> memory_pb2.AcquireTurnResponse: ...
    async def release_turn(self, request: memory_pb2.ReleaseTurnRequest) -> None: ...
    async def publish_live(self, request: memory_pb2.PublishLiveRequest) -> None: ...


#: Checks a turn against the campaign's combat order (initiative) once combat is tracked; raises
#: ``FailedPrecondition`` naming whose turn it is. None: no combat order to honour.
OrderCheck = Callable[[Any, Principal], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Audience:
    """Who sees a turn: its audience level and, for a player's whisper, the recipient keys."""

    level: common_pb2.Audience.ValueType
    recipients: tuple[str, ...]


PUBLIC = Audience(common_pb2.AUDIENCE_PLAYER, ())

#: The audience of the turn being played in this task (read when its events are recorded).
_turn_audience: contextvars.ContextVar[Audience] = contextvars.ContextVar("dm_turn_audience", default=PUBLIC)


def turn_audience(principal: Principal, private: bool) -> Audience:
    """Public, a whisper to the player's own key, or DM-only for a DM's private turn."""
    if not private:
        return PUBLIC
    if principal.role == "player":
        return Audience(common_pb2.AUDIENCE_PLAYER, (principal.key_id,))
    return Audience(common_pb2.AUDIENCE_DM, ())


def stamp_event(request: memory_pb2.RecordEventRequest) -> None:
    """Give an event recorded during a private turn that turn's audience (a no-op for public turns)."""
    who = _turn_audience.get()
    if who is PUBLIC:
        return
    if who.recipients and not request.event.recipients:
        request.event.recipients.extend(who.recipients)
    if who.level > request.event.audience:
        request.event.audience = who.level


def acted_characters(req: Any) -> list[str]:
    """The character ids a turn acts for (``character_id`` where the contract has it, and ``character_ids``)."""
    ids = [str(i) for i in req.character_ids]
    if "character_id" in req.DESCRIPTOR.fields_by_name:
        ids.insert(0, str(req.character_id))
    return list(dict.fromkeys(i for i in ids if i))


class LiveRelay:
    """Publishes a turn's live updates in order, off the player's stream (a slow relay never delays it)."""

    def __init__(
        self,
        services: TableServices,
        campaign_id: str,
        base: memory_pb2.LiveUpdate,
        local: LocalHub | None = None,
    ) -> None:
        self.services = services
        self.campaign_id = campaign_id
        self.base = base
        self.local = local
        if local is not None:
            self.base.origin = local.origin
        self._queue: asyncio.Queue[memory_pb2.LiveUpdate | None] = asyncio.Queue()
        self._task = asyncio.ensure_future(self._run())
        self.dropped = 0

    def send(self, kind: memory_pb2.LiveKind.ValueType, **fields: Any) -> None:
        update = memory_pb2.LiveUpdate()
        update.CopyFrom(self.base)
        update.kind = kind
        for name, value in fields.items():
            setattr(update, name, value)
        if self.local is not None and kind in FAST_KINDS:
            self.local.publish(self.campaign_id, update)  # this replica's watchers get it now
        if kind in FAST_KINDS and self._queue.qsize() >= RELAY_QUEUE:
            self.dropped += 1  # memory is behind: drop a chunk, never a turn's start or end
            return
        self._queue.put_nowait(update)

    def observe(self, event: TurnEvent) -> None:
        """Relay what watchers see live of a turn event (the rest reaches them as recorded events)."""
        if isinstance(event, Narration):
            self.send(memory_pb2.LIVE_KIND_NARRATION, text=event.text, index=event.index)
        elif isinstance(event, Built) and event.kind == "image":
            self.send(memory_pb2.LIVE_KIND_IMAGE, ref=event.ref)

    async def _run(self) -> None:
        while (update := await self._queue.get()) is not None:
            try:
                await self.services.publish_live(
                    memory_pb2.PublishLiveRequest(campaign_id=self.campaign_id, update=update)
                )
            except DomainError as exc:  # watchers miss a chunk, never the recorded turn
                self.dropped += 1
                log.warning("live relay failed: %s", exc.message)

    async def close(self) -> None:
        """Send what is queued, then stop."""
        self._queue.put_nowait(None)
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


class Table:
    """Seats and turn order for the gateway's composite turn."""

    def __init__(
        self, services: TableServices, order_check: OrderCheck | None = None, local: LocalHub | None = None
    ) -> None:
        self.services = services
        self.order_check = order_check
        self.local = local or LocalHub()

    async def check_seat(self, principal: Principal, req: Any) -> None:
        """PermissionDenied when a player key acts for a character another seat controls.

        A character no seat has claimed (no owner, e.g. a pregenerated one) may be played by any player of the
        campaign; an owned one only by its owner. A character of another campaign is not found.
        """
        if principal.role != "player":
            return
        for character_id in acted_characters(req):
            character = await self.services.get_character(character_id)
            if character.campaign_id != req.campaign_id:
                raise NotFound("character", character_id)
            if character.owner and character.owner != principal.key_id:
                raise PermissionDenied(
                    f"character {character_id!r} ({character.name}) is controlled by another player's seat"
                )

    @contextlib.asynccontextmanager
    async def turn(
        self, principal: Principal, req: Any, remaining_s: float | None
    ) -> AsyncIterator[LiveRelay]:
        """Hold the campaign's turn lease for the block; relays live updates; always gives the lease back."""
        if self.order_check is not None:
            await self.order_check(req, principal)
        lease_ms = int(min(MAX_LEASE_MS, max(MIN_LEASE_MS, (remaining_s or MAX_LEASE_MS / 1000) * 1000)))
        granted = await self.services.acquire_turn(
            memory_pb2.AcquireTurnRequest(
                campaign_id=req.campaign_id,
                turn_id=req.turn_id,
                holder=req.actor or principal.key_id,
                lease_ms=lease_ms,
            )
        )
        who = turn_audience(principal, bool(req.private))
        _turn_audience.set(who)
        relay = LiveRelay(
            self.services,
            req.campaign_id,
            memory_pb2.LiveUpdate(
                turn_id=req.turn_id,
                after_sequence=granted.after_sequence,
                actor=req.actor,
                audience=who.level,
                recipients=who.recipients,
            ),
            self.local,
        )
        self.local.begin(req.campaign_id, req.turn_id)
        relay.send(memory_pb2.LIVE_KIND_TURN_STARTED)
        try:
            yield relay
        finally:
            self.local.end(req.campaign_id, req.turn_id)
            relay.send(memory_pb2.LIVE_KIND_TURN_ENDED)
            await asyncio.shield(self._finish(relay, req))

    async def _finish(self, relay: LiveRelay, req: Any) -> None:
        await relay.close()
        try:
            await self.services.release_turn(
                memory_pb2.ReleaseTurnRequest(campaign_id=req.campaign_id, turn_id=req.turn_id)
            )
        except DomainError as exc:  # the lease expires on its own
            log.warning("turn lease release failed: %s", exc.message)
