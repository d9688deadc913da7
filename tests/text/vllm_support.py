"""One tiny vLLM server per test session, shared by tests/text and tests/narrative.

The first fixture that needs it builds ``.vllm-venv`` and the tiny model if missing (about 3 minutes on a fresh
machine), starts the server on a free port and waits for ``/health`` with a bounded timeout; it is stopped when
the session ends. Only the failover test starts a second server, and stops it itself.
"""

from __future__ import annotations

import re
import time
import urllib.request

import pytest

from mesh.text.local_vllm import LocalVLLM
from tests.support.tap import Connection, Tap

_shared: dict[str, LocalVLLM] = {}
START_TIMEOUT_S = 300.0


def shared_vllm(request: pytest.FixtureRequest) -> LocalVLLM:
    """The session's server, started on first use; stopped at the end of the session."""
    server = _shared.get("main")
    if server is None:
        server = LocalVLLM().start(timeout=START_TIMEOUT_S)
        _shared["main"] = server

        def stop() -> None:
            _shared.pop("main", None)
            server.stop()

        request.addfinalizer(stop)
    return server


def vllm_counter(base_url: str, name: str, **labels: str) -> float:
    """Sum of a vLLM metric's samples whose labels include ``labels``."""
    with urllib.request.urlopen(base_url + "/metrics", timeout=5) as reply:
        text = reply.read().decode()
    total = 0.0
    for line in text.splitlines():
        match = re.match(rf"^{re.escape(name)}(\{{[^}}]*\}})?\s+(\S+)$", line)
        if match and all(f'{k}="{v}"' in (match.group(1) or "") for k, v in labels.items()):
            total += float(match.group(2))
    return total


def settled_counter(base_url: str, name: str, quiet_s: float = 0.5, timeout_s: float = 15.0) -> float:
    """``name``'s value once the server is idle and the value has stopped moving for ``quiet_s``.

    vLLM updates its counters just after the last bytes of a response leave, so a value read the moment a
    client finishes can still change; tests that compare "before" and "after" read it settled.
    """
    deadline = time.monotonic() + timeout_s
    last = vllm_counter(base_url, name)
    while time.monotonic() < deadline:
        time.sleep(quiet_s)
        now = vllm_counter(base_url, name)
        if now == last and vllm_counter(base_url, "vllm:num_requests_running") == 0:
            return now
        last = now
    raise TimeoutError(f"{name} at {base_url} did not settle within {timeout_s}s")


def wait_idle(base_url: str, timeout_s: float = 60.0) -> None:
    """Wait until the server runs nothing (a test that leaves work behind must not slow the next one).

    A request whose client hung up is not always aborted by this vLLM build at once (its disconnect detection
    races with the response writer), so a cancellation test waits here before it ends.
    """
    settled_counter(base_url, "vllm:generation_tokens_total", timeout_s=timeout_s)


def cut_streams(tap: Tap) -> list[Connection]:
    """Connections through ``tap`` on which the client hung up while a streamed completion was still coming.

    A stream that ends normally carries ``data: [DONE]``; a connection the client closed with more chat
    completions sent than ended is one whose HTTP request was cancelled.
    """
    return [
        c
        for c in tap.connections()
        if c.closed_by == "client"
        and c.sent.count(b"POST /v1/chat/completions") > c.answer.count(b"data: [DONE]")
    ]


def unfinished_streams(tap: Tap) -> int:
    """Chat completions sent through ``tap`` whose answer has not ended (yet, or ever)."""
    return sum(
        c.sent.count(b"POST /v1/chat/completions") - c.answer.count(b"data: [DONE]")
        for c in tap.connections()
    )
