"""A recording TCP proxy for tests: shows, per connection, which side hung up first and what passed through.

Tests point an HTTP client at ``tap.url`` instead of the server and then ask, for the request they care about,
whether the client closed its connection while the server was still answering (a cancelled request) or only
after the answer ended. It runs on the test's event loop (a thread of its own would compete with the client
for the GIL and distort timing); like any proxy it closes one side as soon as the other side closes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Connection:
    """One proxied connection: the bytes each side sent, and which side hung up first."""

    sent: bytearray = field(default_factory=bytearray)
    answer: bytearray = field(default_factory=bytearray)
    closed_by: str = ""  # "client" or "server"


class Tap:
    """``async with Tap(host, port) as tap:`` proxies ``tap.url`` to ``host:port`` until the block ends."""

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self._connections: list[Connection] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None
        self._open = 0
        self.most_open = (
            0  # the most connections open at one moment: requests the client had in flight together
        )
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> Tap:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def connections(self) -> list[Connection]:
        """The connections so far (live objects: read them, do not keep them)."""
        return list(self._connections)

    async def wait_for(self, condition: Callable[[], bool], within_s: float = 10.0) -> None:
        """Poll ``condition`` until it holds; fail after ``within_s`` seconds."""
        deadline = time.monotonic() + within_s
        while not condition():
            if time.monotonic() > deadline:
                state = [(c.closed_by, len(c.sent), len(c.answer)) for c in self._connections]
                raise TimeoutError(
                    f"tap: condition not met within {within_s}s; (closed by, sent, answer): {state}"
                )
            await asyncio.sleep(0.02)

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        conn = Connection()
        self._connections.append(conn)
        self._open += 1
        self.most_open = max(self.most_open, self._open)
        try:
            server_reader, server_writer = await asyncio.open_connection(*self._target)
        except OSError:
            self._open -= 1
            client_writer.close()
            return

        async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, side: str) -> None:
            # Who hung up: the side whose reading ends, or the other side when writing to it fails.
            other = "server" if side == "client" else "client"
            gone = side
            try:
                while data := await reader.read(65536):
                    (conn.sent if side == "client" else conn.answer).extend(data)
                    gone = other
                    writer.write(data)
                    await writer.drain()
                    gone = side
            except (ConnectionError, OSError):
                pass
            conn.closed_by = conn.closed_by or gone
            writer.close()

        try:
            await asyncio.gather(
                pump(client_reader, server_writer, "client"), pump(server_reader, client_writer, "server")
            )
        finally:
            self._open -= 1
