"""WatchCampaign's merge of memory's stream with this replica's own live updates (no gRPC: a fake stream)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

from dungeonmaster.v1 import common_pb2, gateway_pb2, memory_pb2
from gateway.keys import Principal
from gateway.live_local import LocalHub, visible
from gateway.watch import watch_campaign

M = memory_pb2


def live(kind: int, turn: str, text: str = "", origin: str = "", **kw: object) -> M.LiveUpdate:
    return M.LiveUpdate(kind=kind, turn_id=turn, text=text, origin=origin, **kw)  # type: ignore[arg-type]


class FakeMemory:
    """Memory's stream, fed by the test through a queue."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[M.WatchEventsResponse | None] = asyncio.Queue()

    async def watch_events(
        self, request: M.WatchEventsRequest, limit_s: float | None
    ) -> AsyncGenerator[M.WatchEventsResponse, None]:
        while (item := await self.queue.get()) is not None:
            yield item


PLAYER = Principal("p2", "player", frozenset({"c"}), 100.0, 100)


async def test_local_chunks_wait_for_the_turn_start_and_memory_copies_are_dropped() -> None:
    hub = LocalHub("gw-a")
    memory = FakeMemory()
    stream = watch_campaign(memory, PLAYER, gateway_pb2.WatchCampaignRequest(campaign_id="c"), None, hub)
    got: list[gateway_pb2.WatchCampaignResponse] = []

    async def read() -> None:
        async for item in stream:
            got.append(item)

    reader = asyncio.ensure_future(read())
    await asyncio.sleep(0.05)
    await memory.queue.put(M.WatchEventsResponse(event=M.Event(sequence=7, content="before")))
    # A chunk of this replica's turn t1 arrives before memory delivered t1's start: it waits.
    hub.publish("c", live(M.LIVE_KIND_NARRATION, "t1", "one", "gw-a"))
    hub.publish("c", live(M.LIVE_KIND_NARRATION, "t1", "secret", "gw-a", recipients=["p1"]))
    await asyncio.sleep(0.05)
    assert [i.event.content for i in got] == ["before"]
    await memory.queue.put(M.WatchEventsResponse(live=live(M.LIVE_KIND_TURN_STARTED, "t1", origin="gw-a")))
    await memory.queue.put(M.WatchEventsResponse(live=live(M.LIVE_KIND_NARRATION, "t1", "one", "gw-a")))
    hub.publish("c", live(M.LIVE_KIND_NARRATION, "t1", "two", "gw-a"))
    # Another replica's turn comes through memory only.
    await memory.queue.put(M.WatchEventsResponse(live=live(M.LIVE_KIND_TURN_ENDED, "t1", origin="gw-a")))
    await memory.queue.put(M.WatchEventsResponse(live=live(M.LIVE_KIND_TURN_STARTED, "t2", origin="gw-b")))
    await memory.queue.put(M.WatchEventsResponse(live=live(M.LIVE_KIND_NARRATION, "t2", "three", "gw-b")))
    await memory.queue.put(None)
    await asyncio.wait_for(reader, 5)
    shown = [
        (M.LiveKind.Name(i.live.kind).removeprefix("LIVE_KIND_"), i.live.text, i.event_id)
        for i in got
        if i.HasField("live")
    ]
    assert shown == [
        ("TURN_STARTED", "", "7"),
        ("NARRATION", "one", "7"),
        ("NARRATION", "two", "7"),
        ("TURN_ENDED", "", "7"),
        ("TURN_STARTED", "", "7"),
        ("NARRATION", "three", "7"),
    ]


def test_local_visibility_follows_memory_rules() -> None:
    whisper = live(M.LIVE_KIND_NARRATION, "t", recipients=["p1"])
    dm_only = live(M.LIVE_KIND_NARRATION, "t", audience=common_pb2.AUDIENCE_DM)
    assert visible(whisper, "player", "p1") and not visible(whisper, "player", "p2")
    assert visible(whisper, "dm", "dm") and visible(dm_only, "dm", "dm")
    assert not visible(dm_only, "player", "p1")
    assert visible(live(M.LIVE_KIND_NARRATION, "t"), "player", "p2")
