"""Server-sent events as the OpenAI-compatible streaming API sends them: ``data: <json>`` lines, ``[DONE]`` last."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

DONE = "[DONE]"


async def sse_events(lines: AsyncIterator[str]) -> AsyncIterator[dict[str, Any] | str]:
    """Decoded ``data:`` payloads: a dict per JSON event, the string ``DONE`` for the terminator.

    Multi-line data fields are joined as the SSE spec says; comments (``:``) and other fields are skipped.
    """
    buffer: list[str] = []
    async for line in lines:
        if line.startswith("data:"):
            buffer.append(line[5:].lstrip(" "))
            continue
        if line.strip() or not buffer:
            continue  # a comment, another field, or a blank line with nothing pending
        payload, buffer = "\n".join(buffer), []
        yield DONE if payload.strip() == DONE else json.loads(payload)
    if buffer:
        payload = "\n".join(buffer)
        yield DONE if payload.strip() == DONE else json.loads(payload)
