"""Rolling summaries refreshed as sessions close: when a session is ended through the gateway, narrative_svc
writes its session summary and refreshes the campaign's arc summary (both stored as events by SummarizeSession),
so retrieval can carry what happened long ago once the log outgrows any budget.

Runs after the UpdateSession reply has been sent, in the background, with the caller's identity; a failure is
logged, never turned into an error for a call that already succeeded.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import grpc

from dungeonmaster.v1 import memory_pb2, narrative_pb2
from gateway.upstream import Upstream

log = logging.getLogger("gateway.session_close")
UPDATE_SESSION = "/dungeonmaster.v1.MemoryService/UpdateSession"
SUMMARIZE = "/dungeonmaster.v1.NarrativeService/SummarizeSession"


class SessionCloser:
    """The after-hook of UpdateSession."""

    def __init__(self, upstream: Upstream, timeout_s: float = 120.0) -> None:
        self.upstream = upstream
        self.timeout_s = timeout_s
        self.tasks: set[asyncio.Task[None]] = set()

    def after(self, request: bytes, reply: bytes, metadata: tuple[tuple[str, Any], ...]) -> None:
        """Called with a successful UpdateSession's bytes: start the summaries when it ended the session."""
        if not memory_pb2.UpdateSessionRequest.FromString(request).end:
            return
        session = memory_pb2.UpdateSessionResponse.FromString(reply).session
        task = asyncio.ensure_future(self._summarize(session.campaign_id, session.id, metadata))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _summarize(
        self, campaign_id: str, session_id: str, metadata: tuple[tuple[str, Any], ...]
    ) -> None:
        call = self.upstream.method("narrative", "unary_unary", SUMMARIZE)
        for level in (narrative_pb2.SUMMARY_LEVEL_SESSION, narrative_pb2.SUMMARY_LEVEL_ARC):
            request = narrative_pb2.SummarizeSessionRequest(
                campaign_id=campaign_id, session_id=session_id, level=level
            )
            try:
                await call(request.SerializeToString(), timeout=self.timeout_s, metadata=metadata)
            except grpc.aio.AioRpcError as exc:
                log.warning("summary after session %s closed failed: %s", session_id, exc.details())
                return
