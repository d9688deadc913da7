"""WatchCampaign: a campaign followed live, relayed from memory's log stream and filtered for the caller.

Event ids are the campaign log's sequence numbers. A live update (narration chunk, whose turn, image ready) is
stamped with the id of the last event this stream delivered, so a client may resume from any message it saw:
the missed events come from the log, in order, with no duplicate. Chunks of a turn played while a client was
away are not replayed; that turn's recorded narration is.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Protocol

from dungeonmaster.v1 import common_pb2, gateway_pb2, memory_pb2
from gateway.keys import Principal
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


async def watch_campaign(
    services: WatchServices,
    principal: Principal,
    req: gateway_pb2.WatchCampaignRequest,
    limit_s: float | None,
) -> AsyncGenerator[gateway_pb2.WatchCampaignResponse, None]:
    """Relay the campaign's log and live updates from after ``req.after_event_id``."""
    cursor = parse_after(req)
    audience = common_pb2.AUDIENCE_PLAYER if principal.role == "player" else common_pb2.AUDIENCE_DM
    request = memory_pb2.WatchEventsRequest(
        campaign_id=req.campaign_id, after_sequence=cursor, audience=audience
    )
    async for item in services.watch_events(request, limit_s):
        if item.HasField("event"):
            cursor = max(cursor, item.event.sequence)
            yield gateway_pb2.WatchCampaignResponse(event_id=str(item.event.sequence), event=item.event)
        elif item.HasField("live"):
            yield gateway_pb2.WatchCampaignResponse(event_id=str(cursor), live=item.live)
