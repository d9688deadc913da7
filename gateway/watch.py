"""WatchCampaign: a campaign followed live, relayed from memory's log stream and filtered for the caller.

Event ids are the campaign log's sequence numbers. A live update (narration chunk, whose turn, image ready) is
stamped with the id of the last event this stream delivered, so a client may resume from any message it saw:
the missed events come from the log, in order, with no duplicate. Chunks of a turn played while a client was
away are not replayed; that turn's recorded narration is.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator
from typing import Any, Protocol

from dungeonmaster.v1 import common_pb2, gateway_pb2, memory_pb2
from gateway.keys import Principal
from gateway.live_local import LocalHub, visible
from mesh.errors import Violations

MAX_EVENT_ID = 2**63 - 1


class WatchServices(Protocol):
    """Memory's log stream (implemented over gRPC by ``gateway.table_clients.TableClients``)."""

    def watch_events(
        self, request: memory_pb2.WatchEventsRequest, limit_s: float | None
    ) -> AsyncGenerator[memory_pb2.WatchEventsResponse, None]: ...


def parse_after(req: gateway_pb2.WatchCampaignRequest) -> int:
    """Field checks of WatchCampaign; the sequence to resume after."""
    v = Violations()
    v.check(bool(req.campaign_id.strip()), "campaign_id", "must not be empty")
    text = req.after_event_id.strip()
    ok = text == "" or (text.isdigit() and len(text) <= 19 and int(text) <= MAX_EVENT_ID)
    v.check(ok, "after_event_id", "must be empty or an event_id from this stream (a decimal number)")
    v.raise_if_any()
    return int(text) if text else 0


FAST_KINDS = (memory_pb2.LIVE_KIND_NARRATION, memory_pb2.LIVE_KIND_IMAGE)
#: Local chunks held per turn while its start is still on its way through memory.
MAX_HELD = 4096


async def watch_campaign(
    services: WatchServices,
    principal: Principal,
    req: gateway_pb2.WatchCampaignRequest,
    limit_s: float | None,
    local: LocalHub | None = None,
) -> AsyncGenerator[gateway_pb2.WatchCampaignResponse, None]:
    """Relay the campaign's log and live updates from after ``req.after_event_id``."""
    cursor = parse_after(req)
    audience = common_pb2.AUDIENCE_PLAYER if principal.role == "player" else common_pb2.AUDIENCE_DM
    request = memory_pb2.WatchEventsRequest(
        campaign_id=req.campaign_id, after_sequence=cursor, audience=audience
    )
    merged: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

    async def pump() -> None:
        try:
            async for item in services.watch_events(request, limit_s):
                await merged.put(("memory", item))
            await merged.put(("end", None))
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # handed to the consumer, which raises it in the handler's task
            await merged.put(("error", exc))

    hub = local or LocalHub()
    with hub.subscribe(req.campaign_id, merged) as started:
        held: dict[str, list[memory_pb2.LiveUpdate]] = {}
        task = asyncio.ensure_future(pump())
        try:
            while True:
                source, item = await merged.get()
                if source == "error":
                    raise item
                if source == "end":
                    return
                if source == "local":
                    if not visible(item, principal.role, principal.key_id):
                        continue
                    if item.turn_id in started:
                        yield gateway_pb2.WatchCampaignResponse(event_id=str(cursor), live=item)
                    else:
                        waiting = held.setdefault(item.turn_id, [])
                        if len(waiting) < MAX_HELD:
                            waiting.append(item)
                    continue
                if item.HasField("event"):
                    cursor = max(cursor, item.event.sequence)
                    yield gateway_pb2.WatchCampaignResponse(
                        event_id=str(item.event.sequence), event=item.event
                    )
                    continue
                live = item.live
                if live.origin == hub.origin and live.kind in FAST_KINDS:
                    continue  # this replica's own turn: already handed over directly
                yield gateway_pb2.WatchCampaignResponse(event_id=str(cursor), live=live)
                if live.kind == memory_pb2.LIVE_KIND_TURN_STARTED:
                    started.add(live.turn_id)
                    for early in held.pop(live.turn_id, []):
                        yield gateway_pb2.WatchCampaignResponse(event_id=str(cursor), live=early)
                elif live.kind == memory_pb2.LIVE_KIND_TURN_ENDED:
                    started.discard(live.turn_id)
                    held.pop(live.turn_id, None)
        finally:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
