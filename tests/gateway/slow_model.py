"""A small OpenAI-compatible model server over real HTTP, for the gateway's deadline and planner tests.

It answers ``/v1/models`` and ``/metrics`` at once (so clients take it as a healthy vLLM). A non-streamed chat
request is answered with the next of ``answers`` (the planner's JSON-schema call). Any other chat request is
held for ``delay_s`` before the first byte while the connection is watched: a client that goes away meanwhile is
recorded as an abort, with the time it happened. That is how the deadline test sees that cancelling a turn at the
gateway reached the model server.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import dataclass, field


@dataclass
class SlowModel:
    """Run with ``with SlowModel(delay_s=5) as model: model.url``."""

    delay_s: float = 5.0
    answers: list[str] = field(default_factory=list)
    bodies: list[dict[str, object]] = field(default_factory=list)
    requests: list[float] = field(default_factory=list)
    aborts: list[float] = field(default_factory=list)
    completed: int = 0
    port: int = 0

    def __post_init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="slow-model", daemon=True)
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> SlowModel:
        self._thread.start()
        if not self._ready.wait(10):
            raise TimeoutError("slow model server did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            self._server.close()
            pending = asyncio.all_tasks(self._loop)  # open keep-alive connections: end them cleanly
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
                headers = {
                    k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)
                }
                body = await reader.readexactly(int(headers.get("content-length", "0") or 0))
                if path.startswith("/v1/models"):
                    payload = {
                        "object": "list",
                        "data": [{"id": "slow", "object": "model", "max_model_len": 4096}],
                    }
                    await self._send(writer, 200, json.dumps(payload).encode(), "application/json")
                elif path.startswith("/metrics"):
                    await self._send(
                        writer,
                        200,
                        b"vllm:num_requests_running 0\nvllm:num_requests_waiting 0\n",
                        "text/plain",
                    )
                elif path.startswith("/v1/chat/completions") and method == "POST":
                    request = json.loads(body or b"{}")
                    self.bodies.append(request)
                    if not request.get("stream") and self.answers:
                        answer = {
                            "choices": [
                                {
                                    "index": 0,
                                    "message": {"role": "assistant", "content": self.answers.pop(0)},
                                    "finish_reason": "stop",
                                }
                            ],
                            "usage": {"prompt_tokens": 50, "completion_tokens": 20},
                        }
                        await self._send(writer, 200, json.dumps(answer).encode(), "application/json")
                        continue
                    await self._slow_completion(reader, writer, request)
                    return
                else:
                    await self._send(writer, 404, b'{"error": "not found"}', "application/json")
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            writer.close()

    async def _slow_completion(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, body: dict[str, object]
    ) -> None:
        self.requests.append(time.monotonic())
        try:
            # The client sends nothing more; EOF on the socket means it gave up.
            await asyncio.wait_for(reader.read(1), timeout=self.delay_s)
            self.aborts.append(time.monotonic())
            return
        except TimeoutError:
            pass
        chunk = {"choices": [{"index": 0, "delta": {"content": "Too late. "}, "finish_reason": None}]}
        end = {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
        stream = f"data: {json.dumps(chunk)}\n\ndata: {json.dumps(end)}\n\ndata: [DONE]\n\n".encode()
        await self._send(writer, 200, stream, "text/event-stream")
        self.completed += 1

    @staticmethod
    async def _send(writer: asyncio.StreamWriter, status: int, payload: bytes, content_type: str) -> None:
        reason = {200: "OK", 404: "Not Found"}[status]
        writer.write(
            f"HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {len(payload)}\r\n\r\n".encode()
            + payload
        )
        await writer.drain()
