"""A scripted OpenAI-compatible model server over real HTTP: streams given pieces as server-sent events.

``/v1/models`` and ``/metrics`` answer at once, so the vLLM client takes it for a healthy vLLM. A streamed chat
request gets the next script of ``streams`` (pieces sent one SSE event each, ``pause_s`` apart, the send time of
each recorded in ``sent``); a non-streamed one gets the next of ``answers``. Every request body is kept in
``bodies``, so a test can see what the service asked (e.g. the fact stated in a repair prompt).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import dataclass, field


@dataclass
class ScriptedModel:
    """Run with ``with ScriptedModel(streams=[[...]], answers=[...]) as model: model.url``."""

    streams: list[list[str]] = field(default_factory=list)
    answers: list[str] = field(default_factory=list)
    pause_s: float = 0.0
    bodies: list[dict[str, object]] = field(default_factory=list)
    sent: list[tuple[float, str]] = field(default_factory=list)
    port: int = 0

    def __post_init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="scripted-model", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> ScriptedModel:
        self._thread.start()
        if not self._ready.wait(10):
            raise TimeoutError("scripted model server did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            server.close()
            pending = asyncio.all_tasks(self._loop)
            for task in pending:
                task.cancel()
            self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self._loop.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {k.lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
                body = await reader.readexactly(int(headers.get("content-length", "0") or 0))
                if path.startswith("/v1/models"):
                    models = {
                        "object": "list",
                        "data": [{"id": "scripted", "object": "model", "max_model_len": 4096}],
                    }
                    await self._send(writer, json.dumps(models).encode(), "application/json")
                elif path.startswith("/metrics"):
                    await self._send(
                        writer, b"vllm:num_requests_running 0\nvllm:num_requests_waiting 0\n", "text/plain"
                    )
                elif path.startswith("/v1/chat/completions") and method == "POST":
                    request = json.loads(body or b"{}")
                    self.bodies.append(request)
                    if request.get("stream"):
                        await self._stream(writer, self.streams.pop(0) if self.streams else ["..."])
                        return
                    answer = {
                        "choices": [
                            {
                                "index": 0,
                                "message": {
                                    "role": "assistant",
                                    "content": self.answers.pop(0) if self.answers else "",
                                },
                                "finish_reason": "stop",
                            }
                        ],
                        "usage": {"prompt_tokens": 40, "completion_tokens": 12},
                    }
                    await self._send(writer, json.dumps(answer).encode(), "application/json")
                else:
                    writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                    await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            writer.close()

    async def _stream(self, writer: asyncio.StreamWriter, pieces: list[str]) -> None:
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        for piece in pieces:
            event = {"choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
            await self._chunk(writer, f"data: {json.dumps(event)}\n\n".encode())
            self.sent.append((time.monotonic(), piece))
            await asyncio.sleep(self.pause_s)
        end = {
            "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 60, "completion_tokens": len(pieces)},
        }
        await self._chunk(writer, f"data: {json.dumps(end)}\n\ndata: [DONE]\n\n".encode())
        await self._chunk(writer, b"")

    @staticmethod
    async def _chunk(writer: asyncio.StreamWriter, data: bytes) -> None:
        writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        await writer.drain()

    @staticmethod
    async def _send(writer: asyncio.StreamWriter, payload: bytes, content_type: str) -> None:
        writer.write(
            f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {len(payload)}\r\n\r\n".encode()
            + payload
        )
        await writer.drain()
