"""An in-tree asyncio TCP fault proxy: put it between a client and a service to inject network faults.

Faults, switchable while traffic flows: ``latency_s`` delays every chunk in both directions, ``black_hole``
accepts connections and swallows everything (nothing answers, nothing closes: the caller's deadline must save
it), ``reset()`` aborts every open connection with a TCP RST. It counts connections, so a test can tell a
client that reconnects sensibly from a storm. ``ThreadedProxy`` runs one on its own event loop in a thread, for
synchronous tests and benchmarks.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress


class FaultProxy:
    """Forwards ``listen_host:port`` (0 = any free port) to ``target_host:target_port`` with faults."""

    def __init__(
        self, target_host: str, target_port: int, listen_host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.target = (target_host, target_port)
        self.listen_host = listen_host
        self.port = port
        self.latency_s = 0.0
        self._flowing = asyncio.Event()
        self._flowing.set()
        self.connections = 0
        self.resets = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def black_hole(self) -> bool:
        """Whether traffic is swallowed (set it from the proxy's event loop)."""
        return not self._flowing.is_set()

    @black_hole.setter
    def black_hole(self, on: bool) -> None:
        if on:
            self._flowing.clear()
        else:
            self._flowing.set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.listen_host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self.reset()
            await self._server.wait_closed()
            self._server = None

    def reset(self) -> int:
        """Abort every open connection (RST, not FIN); returns how many were cut."""
        cut = 0
        for writer in list(self._writers):
            sock = writer.get_extra_info("socket")
            if sock is not None:
                with suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
            cut += 1
        self._writers.clear()
        self.resets += cut
        return cut

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.add(writer)
        if self.black_hole:
            await self._swallow(reader, writer)
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            self._writers.discard(writer)
            writer.transport.abort()
            return
        self._writers.add(up_writer)
        pumps = [
            asyncio.ensure_future(self._pump(reader, up_writer)),
            asyncio.ensure_future(self._pump(up_reader, writer)),
        ]
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pump in pumps:
                pump.cancel()
            for w in (writer, up_writer):
                self._writers.discard(w)
                w.transport.abort()

    async def _swallow(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await reader.read(65536):
                pass
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._writers.discard(writer)
            writer.transport.abort()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    return
                await self._flowing.wait()  # a connection open before the black hole goes silent too
                if self.latency_s:
                    await asyncio.sleep(self.latency_s)
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            return


class ThreadedProxy:
    """A ``FaultProxy`` on a private event loop in a daemon thread; setters are thread-safe."""

    def __init__(self, target_host: str, target_port: int, port: int = 0) -> None:
        self.proxy = FaultProxy(target_host, target_port, port=port)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fault-proxy", daemon=True)

    @property
    def port(self) -> int:
        return self.proxy.port

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.proxy.port}"

    def start(self) -> ThreadedProxy:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.proxy.start(), self._loop).result(10)
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(self.proxy.stop(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        self._loop.close()

    def _call(self, fn: object, *args: object) -> object:
        async def run() -> object:
            return fn(*args)  # type: ignore[operator]

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(10)

    def set_latency(self, seconds: float) -> None:
        self._call(setattr, self.proxy, "latency_s", seconds)

    def set_black_hole(self, on: bool) -> None:
        self._call(setattr, self.proxy, "black_hole", on)

    def reset(self) -> int:
        cut = self._call(self.proxy.reset)
        assert isinstance(cut, int)
        return cut


@contextmanager
def proxied(target_host: str, target_port: int, port: int = 0) -> Iterator[ThreadedProxy]:
    """A started ``ThreadedProxy``, always stopped."""
    proxy = ThreadedProxy(target_host, target_port, port).start()
    try:
        yield proxy
    finally:
        proxy.stop()
