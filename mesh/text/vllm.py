"""The vLLM backend: vLLM's OpenAI-compatible HTTP API on one or many servers.

Per request it takes the least-busy endpoint; when an endpoint refuses, errors or times out the request moves
to another one (tenacity, exponential backoff with full jitter), but only while nothing has been streamed to the
caller. 4xx answers other than 429 are never retried: the request itself is wrong. If an endpoint dies after
the first streamed token, the text delivered so far is not sent again: the stream is *resumed* on another
endpoint with vLLM's ``continue_final_message`` (the partial answer as the final assistant message), so the
caller sees one uninterrupted narration. Deadlines come from the incoming gRPC call (``mesh.context``).
Structured output uses ``response_format`` json_schema (run vLLM with the ``guidance`` structured-output backend
for strictly valid JSON); the base class validates and repairs.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt
from tenacity.stop import stop_base
from tenacity.wait import wait_random_exponential

from mesh import context as call_context
from mesh.errors import DeadlineExceeded, FailedPrecondition, ResourceExhausted, Unavailable
from mesh.text import telemetry
from mesh.text.endpoints import Endpoint, EndpointPool, parse_load
from mesh.text.model import TextModel
from mesh.text.sse import DONE, sse_events
from mesh.text.templates import PromptLibrary
from mesh.text.types import Chunk, Completion, GenParams, Prompt, Provenance

log = logging.getLogger("mesh.text.vllm")
T = TypeVar("T")

#: Text used once per server to learn how many characters its tokenizer packs into a token.
CALIBRATION_TEXT = (
    "The party crosses the salt marsh at dusk. Lady Varrow's knights wait by the drowned chapel, and the "
    'ferryman asks for three silver coins. {"title": "A Debt Come Due", "hooks": ["a signet ring"]}'
)
#: Fraction of the measured characters-per-token used for estimates, so counts err on the high side.
SAFETY = 0.8
DEFAULT_WINDOW = 4096


class EndpointError(Exception):
    """One endpoint failed one request. ``retryable`` is False for 4xx answers other than 429."""

    def __init__(
        self,
        endpoint: str,
        message: str,
        *,
        status: int = 0,
        retryable: bool = True,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{endpoint}: {message}")
        self.endpoint = endpoint
        self.status = status
        self.retryable = retryable
        self.retry_after = retry_after


class ModelRequestRejected(FailedPrecondition):
    """The model server refused the request as invalid (a 4xx other than 429); retrying cannot help."""


class _StopAtDeadline(stop_base):
    def __init__(self, deadline: float) -> None:
        self.deadline = deadline

    def __call__(self, retry_state: RetryCallState) -> bool:
        return time.monotonic() >= self.deadline


@dataclass
class _Stream:
    """An open streamed response: its endpoint, the event iterator and events already read ahead."""

    endpoint: Endpoint
    response: httpx.Response
    events: AsyncIterator[dict[str, Any] | str]
    pending: list[dict[str, Any] | str] = field(default_factory=list)
    released: bool = False

    async def iterate(self) -> AsyncIterator[dict[str, Any] | str]:
        while self.pending:
            yield self.pending.pop(0)
        async for event in self.events:
            yield event


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def _has_text_or_end(event: dict[str, Any] | str) -> bool:
    if event == DONE or not isinstance(event, dict):
        return True
    for choice in event.get("choices") or []:
        if (choice.get("delta") or {}).get("content") or choice.get("finish_reason"):
            return True
    return bool(event.get("error"))


class VLLMBackend(TextModel):
    """Text generation on vLLM servers (any OpenAI-compatible server that accepts vLLM's extra fields)."""

    backend = "vllm"

    def __init__(
        self,
        urls: list[str],
        *,
        model: str = "",
        context_window: int = 0,
        timeout_s: float = 60.0,
        connect_timeout_s: float = 5.0,
        max_attempts: int = 3,
        backoff_initial_s: float = 0.05,
        backoff_max_s: float = 1.0,
        load_poll_s: float = 1.0,
        cooldown_s: float = 5.0,
        max_resumes: int = 2,
        prompts: PromptLibrary | None = None,
    ) -> None:
        super().__init__(prompts)
        self.pool = EndpointPool(urls, cooldown_s=cooldown_s)
        self.model = model
        self._window_override = context_window
        self.timeout_s = timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.max_attempts = max_attempts
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.load_poll_s = load_poll_s
        self.max_resumes = max_resumes
        self._chars_per_token = 3.0
        self._calibrated = False
        self._client: httpx.AsyncClient | None = None
        self._poller: asyncio.Task[None] | None = None

    # --- lifecycle -------------------------------------------------------------------------------------------
    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self.timeout_s, connect=self.connect_timeout_s),
                limits=httpx.Limits(max_connections=512, max_keepalive_connections=128),
            )
        return self._client

    async def start(self) -> None:
        """Discover the model on every reachable endpoint and start scraping their load."""
        await asyncio.gather(*(self._discover_quietly(e) for e in self.pool.endpoints))
        if self._poller is None and self.load_poll_s > 0:
            self._poller = asyncio.create_task(self._poll_loads(), name="vllm-load-poller")

    async def close(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
            self._poller = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def ready(self) -> tuple[bool, str]:
        now = time.monotonic()
        if any(e.discovered and e.healthy(now) for e in self.pool.endpoints):
            return True, ""
        await asyncio.gather(*(self._discover_quietly(e) for e in self.pool.endpoints))
        if any(e.discovered for e in self.pool.endpoints):
            return True, ""
        return False, "no vLLM endpoint answered /v1/models: " + ", ".join(
            e.base_url for e in self.pool.endpoints
        )

    async def _discover_quietly(self, endpoint: Endpoint) -> None:
        with contextlib.suppress(EndpointError):
            await self._discover(endpoint, time.monotonic() + self.connect_timeout_s * 2)

    async def _discover(self, endpoint: Endpoint, deadline: float) -> None:
        """Read the served model and its window from ``/v1/models``; calibrate token counting once."""
        listing = await self._get_json(endpoint, "/v1/models", deadline)
        models = listing.get("data") or []
        if not models:
            raise EndpointError(endpoint.base_url, "lists no models", retryable=True)
        chosen = next((m for m in models if m.get("id") == self.model), None) if self.model else models[0]
        if chosen is None:
            names = ", ".join(str(m.get("id")) for m in models)
            raise EndpointError(
                endpoint.base_url, f"does not serve {self.model!r} (serves {names})", retryable=True
            )
        endpoint.model = str(chosen["id"])
        endpoint.max_model_len = int(chosen.get("max_model_len") or 0)
        endpoint.discovered = True
        if not self.model:
            self.model = endpoint.model
        if not self._calibrated:
            with contextlib.suppress(EndpointError, KeyError, ValueError, TypeError):
                sample = self._calibration_sample()
                answer = await self._post(
                    endpoint, "/tokenize", {"model": endpoint.model, "prompt": sample}, deadline
                )
                count = int(answer["count"])
                if count > 0:
                    self._chars_per_token = len(sample) / count
                    self._calibrated = True

    def _calibration_sample(self) -> str:
        """Representative prompt text: the template sources themselves plus a line of lore and JSON."""
        sources = [p.read_text(encoding="utf-8") for p in sorted(self.prompts.directory.glob("*.j2"))]
        return "\n".join([*sources, CALIBRATION_TEXT])

    async def _poll_loads(self) -> None:
        """Scrape each endpoint's queue every ``load_poll_s``; a failed scrape cools the endpoint down."""
        while True:
            await asyncio.gather(*(self._scrape(e) for e in self.pool.endpoints))
            await asyncio.sleep(self.load_poll_s)

    async def _scrape(self, endpoint: Endpoint) -> None:
        inflight = endpoint.inflight
        try:
            response = await self.client.get(
                endpoint.base_url + "/metrics", timeout=min(2.0, self.load_poll_s * 2 + 0.5)
            )
            response.raise_for_status()
        except httpx.HTTPError:
            self.pool.mark_failure(endpoint)
            return
        self.pool.update_load(endpoint, parse_load(response.text), inflight)
        if not endpoint.healthy(time.monotonic()):
            endpoint.failures, endpoint.down_until = 0, 0.0
        if not endpoint.discovered:
            await self._discover_quietly(endpoint)

    # --- sizes -----------------------------------------------------------------------------------------------
    @property
    def context_window(self) -> int:
        if self._window_override:
            return self._window_override
        lengths = [e.max_model_len for e in self.pool.endpoints if e.max_model_len]
        return min(lengths) if lengths else DEFAULT_WINDOW

    def count_tokens(self, text: str) -> int:
        return math.ceil(len(text) / (self._chars_per_token * SAFETY))

    # --- HTTP helpers ----------------------------------------------------------------------------------------
    def _deadline(self) -> float:
        budget = self.timeout_s
        remaining = call_context.time_remaining()
        if remaining is not None:
            if remaining <= 0:
                raise DeadlineExceeded("the call's deadline passed before the text model was asked")
            budget = min(budget, remaining)
        return time.monotonic() + budget

    def _timeout(self, deadline: float) -> httpx.Timeout:
        left = max(0.001, deadline - time.monotonic())
        return httpx.Timeout(left, connect=min(self.connect_timeout_s, left))

    async def _get_json(self, endpoint: Endpoint, path: str, deadline: float) -> dict[str, Any]:
        try:
            response = await self.client.get(endpoint.base_url + path, timeout=self._timeout(deadline))
        except httpx.HTTPError as exc:
            self.pool.mark_failure(endpoint)
            raise EndpointError(endpoint.base_url, f"{type(exc).__name__}: {exc}") from exc
        self._check_status(endpoint, response, response.text)
        data: dict[str, Any] = response.json()
        return data

    async def _post(
        self, endpoint: Endpoint, path: str, body: dict[str, Any], deadline: float
    ) -> dict[str, Any]:
        self.pool.acquire(endpoint)
        try:
            response = await self.client.post(
                endpoint.base_url + path, json=body, timeout=self._timeout(deadline)
            )
        except httpx.HTTPError as exc:
            self.pool.mark_failure(endpoint)
            telemetry.requests().labels(endpoint.base_url, "error").inc()
            raise EndpointError(endpoint.base_url, f"{type(exc).__name__}: {exc}") from exc
        finally:
            self.pool.release(endpoint)
        self._check_status(endpoint, response, response.text)
        data: dict[str, Any] = response.json()
        return data

    def _check_status(self, endpoint: Endpoint, response: httpx.Response, text: str) -> None:
        status = response.status_code
        if status < 400:
            return
        message = f"HTTP {status}: {text[:300]}"
        if status == 429:
            telemetry.requests().labels(endpoint.base_url, "rejected").inc()
            raise EndpointError(endpoint.base_url, message, status=status, retry_after=_retry_after(response))
        if status < 500:
            telemetry.requests().labels(endpoint.base_url, "rejected").inc()
            raise EndpointError(endpoint.base_url, message, status=status, retryable=False)
        self.pool.mark_failure(endpoint)
        telemetry.requests().labels(endpoint.base_url, "error").inc()
        raise EndpointError(endpoint.base_url, message, status=status)

    def _wait(self, retry_state: RetryCallState) -> float:
        jitter = wait_random_exponential(multiplier=self.backoff_initial_s, max=self.backoff_max_s)
        delay = float(jitter(retry_state))
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None else None
        if isinstance(exc, EndpointError) and exc.retry_after:
            delay = max(delay, min(exc.retry_after, self.backoff_max_s * 4))
        return delay

    async def _with_failover(
        self,
        operation: Callable[[Endpoint, float], Awaitable[T]],
        deadline: float,
        phase: str,
        exclude: set[str] | None = None,
    ) -> T:
        """Run ``operation`` on the least-busy endpoint, moving to another one on retryable failures."""
        tried: set[str] = set(exclude or ())
        attempts = 0
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.max_attempts) | _StopAtDeadline(deadline),
            wait=self._wait,
            retry=retry_if_exception(lambda e: isinstance(e, EndpointError) and e.retryable),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    attempts += 1
                    if len(tried) >= len(self.pool.endpoints):
                        tried = set()  # every endpoint failed once: start over, backoff decides the pace
                    endpoint = self.pool.choose(exclude=tried)
                    tried.add(endpoint.base_url)
                    if attempts > 1 or exclude:
                        telemetry.failovers().labels(phase).inc()
                    if not endpoint.discovered:
                        await self._discover(endpoint, deadline)
                    return await operation(endpoint, deadline)
        except EndpointError as exc:
            raise self._domain_error(exc, deadline) from exc
        raise AssertionError("unreachable: tenacity either returns or raises")

    def _domain_error(self, exc: EndpointError, deadline: float) -> Exception:
        if exc.status and 400 <= exc.status < 500 and exc.status != 429:
            return ModelRequestRejected(f"the text model rejected the request: {exc}")
        if exc.status == 429:
            return ResourceExhausted(f"every text-model endpoint is saturated: {exc}", exc.retry_after)
        if time.monotonic() >= deadline:
            return DeadlineExceeded(f"the text model did not answer before the deadline: {exc}")
        return Unavailable(
            f"no text-model endpoint could serve the request: {exc}", "TEXT_MODEL_UNAVAILABLE", "vllm"
        )

    # --- request bodies --------------------------------------------------------------------------------------
    def _body(self, prompt: Prompt, params: GenParams, *, stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": m.role, "content": m.content} for m in prompt.messages],
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "seed": params.seed,
            "stream": stream,
        }
        if stream:
            body["stream_options"] = {"include_usage": True}
        if params.stop:
            body["stop"] = list(params.stop)
        return body

    # --- generation ------------------------------------------------------------------------------------------
    async def _open_stream(self, body: dict[str, Any], endpoint: Endpoint, deadline: float) -> _Stream:
        """Send a streamed request and read ahead to its first token, so failures before it can be retried."""
        body = {**body, "model": endpoint.model or self.model}
        self.pool.acquire(endpoint)
        response: httpx.Response | None = None
        try:
            request = self.client.build_request(
                "POST", endpoint.base_url + "/v1/chat/completions", json=body, timeout=self._timeout(deadline)
            )
            response = await self.client.send(request, stream=True)
            if response.status_code != 200:
                text = (await response.aread()).decode("utf-8", "replace")
                self._check_status(endpoint, response, text)
            stream = _Stream(endpoint, response, sse_events(response.aiter_lines()))
            async for event in stream.events:
                stream.pending.append(event)
                if _has_text_or_end(event):
                    break
            else:
                raise EndpointError(endpoint.base_url, "stream closed before the first token")
            first = stream.pending[-1]
            if isinstance(first, dict) and first.get("error"):
                raise EndpointError(endpoint.base_url, f"error event: {first['error']}")
            self.pool.mark_success(endpoint, finished=False)
            return stream
        except BaseException as exc:
            self.pool.release(endpoint)
            if response is not None:
                await response.aclose()
            if isinstance(exc, httpx.HTTPError | ValueError):
                self.pool.mark_failure(endpoint)
                telemetry.requests().labels(endpoint.base_url, "error").inc()
                raise EndpointError(endpoint.base_url, f"{type(exc).__name__}: {exc}") from exc
            raise

    async def _close_stream(self, stream: _Stream, outcome: str) -> None:
        if not stream.released:
            stream.released = True
            self.pool.release(stream.endpoint)
            if outcome == "ok":
                self.pool.mark_success(stream.endpoint)
            telemetry.requests().labels(stream.endpoint.base_url, outcome).inc()
            await stream.response.aclose()

    async def stream(self, prompt: Prompt, params: GenParams) -> AsyncGenerator[Chunk, None]:
        params = params.with_seed()
        started = time.perf_counter()
        deadline = self._deadline()
        body = self._body(prompt, params, stream=True)
        stream = await self._with_failover(
            functools.partial(self._open_stream, body), deadline, "before_first_token"
        )
        produced: list[str] = []
        index = prompt_tokens = completion_tokens = segment_chunks = resumes = 0
        finish = ""
        model = stream.endpoint.model or self.model
        outcome = "cancelled"
        try:
            while True:
                saw_end = False
                try:
                    async for event in stream.iterate():
                        if time.monotonic() >= deadline:
                            outcome = "deadline"
                            raise DeadlineExceeded(
                                f"text generation ran past the call's deadline after {completion_tokens + segment_chunks} tokens"
                            )
                        if event == DONE:
                            saw_end = True
                            break
                        assert isinstance(event, dict)
                        if event.get("error"):
                            raise EndpointError(stream.endpoint.base_url, f"error event: {event['error']}")
                        usage = event.get("usage")
                        if usage:
                            prompt_tokens += int(usage.get("prompt_tokens") or 0)
                            completion_tokens += int(usage.get("completion_tokens") or 0)
                            segment_chunks = 0
                        for choice in event.get("choices") or []:
                            text = (choice.get("delta") or {}).get("content") or ""
                            if choice.get("finish_reason"):
                                finish = str(choice["finish_reason"])
                            if text:
                                if index == 0:
                                    telemetry.first_token_seconds().labels(self.backend).observe(
                                        time.perf_counter() - started
                                    )
                                produced.append(text)
                                segment_chunks += 1
                                yield Chunk(text, index)
                                index += 1
                    if not saw_end and not finish:
                        raise EndpointError(stream.endpoint.base_url, "stream ended without finishing")
                    outcome = "ok"
                    break
                except (httpx.HTTPError, EndpointError, ValueError) as exc:
                    self.pool.mark_failure(stream.endpoint)
                    await self._close_stream(stream, "error")
                    completion_tokens += segment_chunks
                    if time.monotonic() >= deadline:
                        raise DeadlineExceeded(f"text stream interrupted at the deadline: {exc}") from exc
                    left = params.max_tokens - completion_tokens
                    if resumes >= self.max_resumes or left <= 0:
                        if left <= 0:
                            finish, outcome = "length", "ok"
                            break
                        raise Unavailable(
                            f"text stream broke after {resumes} resumes: {exc}",
                            "TEXT_MODEL_UNAVAILABLE",
                            "vllm",
                        ) from exc
                    resumes += 1
                    log.warning("resuming text stream on another endpoint after: %s", exc)
                    resume = self._resume_body(body, "".join(produced), left)
                    failed = stream.endpoint.base_url
                    stream = await self._with_failover(
                        functools.partial(self._open_stream, resume), deadline, "mid_stream", exclude={failed}
                    )
                    segment_chunks = 0
        finally:
            await self._close_stream(stream, outcome)
        info = Provenance(
            backend=self.backend,
            model=model,
            seed=params.seed,
            procedural=False,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            latency_ms=(time.perf_counter() - started) * 1000,
        )
        telemetry.record_usage(self.backend, model, prompt_tokens, completion_tokens)
        yield Chunk("", index, done=True, finish_reason=finish or "stop", info=info)

    @staticmethod
    def _resume_body(body: dict[str, Any], produced: str, max_tokens: int) -> dict[str, Any]:
        """The same request continuing the partial answer (vLLM's ``continue_final_message``)."""
        messages = [*body["messages"], {"role": "assistant", "content": produced}]
        return {
            **body,
            "messages": messages,
            "max_tokens": max_tokens,
            "continue_final_message": True,
            "add_generation_prompt": False,
        }

    async def _chat(self, body: dict[str, Any], params: GenParams) -> tuple[str, str, Provenance]:
        """A non-streamed chat request; nothing reaches the caller until it is done, so any failure may retry."""
        started = time.perf_counter()
        deadline = self._deadline()

        async def call(endpoint: Endpoint, dl: float) -> tuple[dict[str, Any], str]:
            answer = await self._post(endpoint, "/v1/chat/completions", {**body, "model": endpoint.model}, dl)
            self.pool.mark_success(endpoint)
            telemetry.requests().labels(endpoint.base_url, "ok").inc()
            return answer, endpoint.model

        answer, model = await self._with_failover(call, deadline, "whole_request")
        choice = (answer.get("choices") or [{}])[0]
        text = str((choice.get("message") or {}).get("content") or "")
        usage = answer.get("usage") or {}
        info = Provenance(
            backend=self.backend,
            model=model,
            seed=params.seed,
            procedural=False,
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            latency_ms=(time.perf_counter() - started) * 1000,
        )
        telemetry.record_usage(self.backend, model, info.prompt_tokens, info.completion_tokens)
        return text, str(choice.get("finish_reason") or "stop"), info

    async def complete(self, prompt: Prompt, params: GenParams) -> Completion:
        params = params.with_seed()
        text, finish, info = await self._chat(self._body(prompt, params, stream=False), params)
        return Completion(text, finish, info)

    async def _json_attempt(
        self, prompt: Prompt, schema: dict[str, Any], params: GenParams
    ) -> tuple[str, Provenance]:
        body = self._body(prompt, params, stream=False)
        body["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": prompt.task or "answer", "schema": schema, "strict": True},
        }
        text, _, info = await self._chat(body, params)
        return text, info
